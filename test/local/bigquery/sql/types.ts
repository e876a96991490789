// GoogleSQL type names (with BigQuery's aliases and parameterized forms) →
// the scalar SqlType and its DuckDB column type.
import { DUCKDB_TYPES } from "../contracts.js";
import type { SqlType } from "../../zetasql/analyzer.js";
import { BigQueryEngineError } from "../contracts.js";
import type { Token } from "./tokens.js";

const ALIASES: Record<string, SqlType> = {
  STRING: "STRING",
  INT64: "INT64",
  INT: "INT64",
  INTEGER: "INT64",
  SMALLINT: "INT64",
  BIGINT: "INT64",
  TINYINT: "INT64",
  BYTEINT: "INT64",
  FLOAT64: "FLOAT64",
  FLOAT: "FLOAT64",
  BOOL: "BOOL",
  BOOLEAN: "BOOL",
  BYTES: "BYTES",
  DATE: "DATE",
  DATETIME: "DATETIME",
  TIME: "TIME",
  TIMESTAMP: "TIMESTAMP",
  NUMERIC: "NUMERIC",
  DECIMAL: "NUMERIC",
  BIGNUMERIC: "BIGNUMERIC",
  BIGDECIMAL: "BIGNUMERIC",
  JSON: "JSON",
};

/** The SqlType a type name stands for (REST names like INTEGER included), or undefined. */
export function sqlTypeOf(name: string): SqlType | undefined {
  return ALIASES[name.toUpperCase()];
}

/**
 * Reads a scalar type at tokens[start] (e.g. STRING, STRING(10), NUMERIC(10, 2)).
 * ARRAY and STRUCT are refused: the local tables hold scalar columns only.
 */
export function readType(tokens: Token[], start: number): { type: SqlType; end: number } {
  const t = tokens[start];
  const name = t?.kind === "ident" ? t.value.toUpperCase() : "";
  const type = sqlTypeOf(name);
  if (!type) {
    throw new BigQueryEngineError(
      "invalidQuery",
      `The local BigQuery cannot run the type ${name || t?.text || "(missing)"} yet`,
    );
  }
  let end = start + 1;
  // Parameterized types (STRING(10), NUMERIC(P, S)) keep their base type here.
  if (tokens[end]?.kind === "op" && tokens[end]?.value === "(") {
    while (end < tokens.length && !(tokens[end]?.kind === "op" && tokens[end]?.value === ")")) end++;
    end++;
  }
  return { type, end };
}

/** The DuckDB type for a GoogleSQL type written as tokens (the whole range must be one type). */
export function duckType(tokens: Token[]): string {
  const { type, end } = readType(tokens, 0);
  if (end !== tokens.length) {
    throw new BigQueryEngineError(
      "invalidQuery",
      `The local BigQuery cannot run the type ${tokens.map((t) => t.text).join(" ")} yet`,
    );
  }
  return DUCKDB_TYPES[type];
}
