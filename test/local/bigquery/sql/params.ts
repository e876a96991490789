// REST QueryParameters → the types the analyzer declares and the values DuckDB
// binds. Values are bound as text and cast in SQL (CAST($name AS type)), so
// DuckDB parses them with the column type's own rules.
import { BigQueryEngineError, type QueryParameter } from "../contracts.js";
import type { SqlType } from "../../zetasql/analyzer.js";
import { unsupported } from "./functions.js";
import { sqlTypeOf } from "./types.js";

export interface BoundParams {
  /** Lower-case name → type, for the analyzer and the translator. */
  types: Map<string, SqlType>;
  /** Lower-case name → text value (null for NULL), for DuckDB. */
  values: Record<string, string | null>;
}

const CHECKS: Partial<Record<SqlType, RegExp>> = {
  INT64: /^[+-]?\d+$/,
  FLOAT64: /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$|^([+-]?inf(inity)?|nan)$/i,
  BOOL: /^(true|false)$/i,
  DATE: /^\d{4}-\d{1,2}-\d{1,2}$/,
};

export function bindParams(params: QueryParameter[] | undefined): BoundParams {
  const types = new Map<string, SqlType>();
  const values: Record<string, string | null> = {};
  for (const p of params ?? []) {
    if (!p.name) throw unsupported("positional query parameters");
    const declared = p.parameterType.type;
    const type = sqlTypeOf(declared);
    if (!type) throw unsupported(`query parameters of type ${declared}`);
    const name = p.name.toLowerCase();
    if (types.has(name)) {
      throw new BigQueryEngineError("invalidQuery", `Duplicate query parameter name: ${p.name}`);
    }
    let value = p.parameterValue.value ?? null;
    if (value !== null) {
      const check = CHECKS[type];
      if (check && !check.test(value.trim())) {
        throw new BigQueryEngineError(
          "invalidQuery",
          `Invalid ${type} value for query parameter ${p.name}: ${value}`,
        );
      }
      // BigQuery accepts a trailing " UTC"; DuckDB wants an offset.
      if (type === "TIMESTAMP") value = value.trim().replace(/\s*UTC$/i, "+00");
    }
    types.set(name, type);
    values[name] = value;
  }
  return { types, values };
}
