// DuckDB result values → the Cell normal form of contracts.ts, driven by the
// BigQuery type ZetaSQL assigned to the column (DuckDB's own type may differ,
// e.g. SUM(BIGINT) is HUGEINT, a 1.5 literal is DECIMAL).
import {
  DuckDBBlobValue,
  DuckDBDateValue,
  DuckDBDecimalValue,
  DuckDBTimeValue,
  DuckDBTimestampTZValue,
  DuckDBTimestampValue,
  type DuckDBValue,
} from "@duckdb/node-api";
import { BigQueryEngineError, type Cell } from "../contracts.js";
import type { SqlType } from "../../zetasql/analyzer.js";

function conversionError(type: SqlType, value: DuckDBValue): BigQueryEngineError {
  return new BigQueryEngineError(
    "internalError",
    `The local BigQuery produced a ${typeof value} value for a ${type} column`,
    500,
  );
}

function decimalText(d: DuckDBDecimalValue): string {
  const negative = d.value < 0n;
  const digits = (negative ? -d.value : d.value).toString().padStart(d.scale + 1, "0");
  const whole = digits.slice(0, digits.length - d.scale);
  const fraction = digits.slice(digits.length - d.scale).replace(/0+$/, "");
  return `${negative ? "-" : ""}${whole}${fraction ? `.${fraction}` : ""}`;
}

type JsonNode =
  | { kind: "literal"; text: string }
  | { kind: "array"; items: JsonNode[] }
  | { kind: "object"; entries: [string, JsonNode][] };

/** A small JSON parser that keeps number texts (JS numbers would lose int64 precision). */
function parseJson(text: string): JsonNode {
  let i = 0;
  const ws = () => {
    while (i < text.length && /\s/.test(text[i] as string)) i++;
  };
  const fail = (): never => {
    throw new BigQueryEngineError("internalError", `Invalid JSON in a result: ${text.slice(0, 80)}`, 500);
  };
  const stringToken = (): string => {
    const m = /^"(?:[^"\\]|\\.)*"/.exec(text.slice(i));
    if (!m) return fail();
    i += m[0].length;
    return m[0];
  };
  const value = (): JsonNode => {
    ws();
    const c = text[i];
    if (c === "{") {
      i++;
      const entries: [string, JsonNode][] = [];
      ws();
      if (text[i] === "}") {
        i++;
        return { kind: "object", entries };
      }
      for (;;) {
        ws();
        const key = JSON.parse(stringToken()) as string;
        ws();
        if (text[i++] !== ":") fail();
        entries.push([key, value()]);
        ws();
        const sep = text[i++];
        if (sep === "}") return { kind: "object", entries };
        if (sep !== ",") fail();
      }
    }
    if (c === "[") {
      i++;
      const items: JsonNode[] = [];
      ws();
      if (text[i] === "]") {
        i++;
        return { kind: "array", items };
      }
      for (;;) {
        items.push(value());
        ws();
        const sep = text[i++];
        if (sep === "]") return { kind: "array", items };
        if (sep !== ",") fail();
      }
    }
    if (c === '"') return { kind: "literal", text: JSON.stringify(JSON.parse(stringToken())) };
    const m = /^(?:true|false|null|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/.exec(text.slice(i));
    if (!m) return fail();
    i += m[0].length;
    return { kind: "literal", text: canonicalNumber(m[0]) };
  };
  const node = value();
  ws();
  if (i !== text.length) fail();
  return node;
}

const INT64_MIN = -(2n ** 63n);
const UINT64_MAX = 2n ** 64n - 1n;

// Integers that fit int64/uint64 stay exact; other numbers are doubles.
function canonicalNumber(text: string): string {
  if (!/^-?\d/.test(text)) return text;
  if (/^-?\d+$/.test(text)) {
    const n = BigInt(text);
    if (n >= INT64_MIN && n <= UINT64_MAX) return n.toString();
  }
  return String(Number(text));
}

function render(node: JsonNode): string {
  switch (node.kind) {
    case "literal":
      return node.text;
    case "array":
      return `[${node.items.map(render).join(",")}]`;
    case "object": {
      // Keys sorted (byte order), the first of duplicate keys kept: as BigQuery stores JSON.
      const seen = new Map<string, JsonNode>();
      for (const [k, v] of node.entries) if (!seen.has(k)) seen.set(k, v);
      const keys = [...seen.keys()].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
      return `{${keys.map((k) => `${JSON.stringify(k)}:${render(seen.get(k) as JsonNode)}`).join(",")}}`;
    }
  }
}

/** BigQuery's canonical text of a JSON value. */
export function canonicalJson(text: string): string {
  return render(parseJson(text));
}

export function toCell(type: SqlType, value: DuckDBValue): Cell {
  if (value === null || value === undefined) return null;
  switch (type) {
    case "STRING":
      return typeof value === "string" ? value : String(value);
    case "JSON":
      if (typeof value !== "string") throw conversionError(type, value);
      return canonicalJson(value);
    case "INT64":
      if (typeof value === "bigint" || typeof value === "number") return BigInt(value).toString();
      if (value instanceof DuckDBDecimalValue) return decimalText(value);
      throw conversionError(type, value);
    case "FLOAT64":
      if (typeof value === "number") return value;
      if (typeof value === "bigint") return Number(value);
      if (value instanceof DuckDBDecimalValue) return Number(decimalText(value));
      throw conversionError(type, value);
    case "BOOL":
      if (typeof value === "boolean") return value;
      throw conversionError(type, value);
    case "NUMERIC":
    case "BIGNUMERIC":
      if (value instanceof DuckDBDecimalValue) return decimalText(value);
      if (typeof value === "bigint" || typeof value === "number") return String(value);
      throw conversionError(type, value);
    case "TIMESTAMP":
      if (value instanceof DuckDBTimestampTZValue || value instanceof DuckDBTimestampValue) {
        return value.micros.toString();
      }
      throw conversionError(type, value);
    case "DATE":
      if (value instanceof DuckDBDateValue) return value.toString();
      throw conversionError(type, value);
    case "DATETIME":
      if (value instanceof DuckDBTimestampValue) return value.toString().replace(" ", "T");
      throw conversionError(type, value);
    case "TIME":
      if (value instanceof DuckDBTimeValue) return value.toString();
      throw conversionError(type, value);
    case "BYTES":
      if (value instanceof DuckDBBlobValue) return Buffer.from(value.bytes).toString("base64");
      throw conversionError(type, value);
  }
}
