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
import { canonicalJson } from "./json-text.js";
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

const DAY_MICROS = 86_400_000_000n;

/** HH:MM:SS[.ffffff] for microseconds since midnight. */
function timeOfDay(micros: bigint): string {
  const two = (n: bigint) => n.toString().padStart(2, "0");
  const seconds = micros / 1_000_000n;
  const fraction = micros % 1_000_000n;
  const hms = `${two(seconds / 3600n)}:${two((seconds / 60n) % 60n)}:${two(seconds % 60n)}`;
  return fraction === 0n ? hms : `${hms}.${fraction.toString().padStart(6, "0")}`;
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
      if (value instanceof DuckDBTimestampValue) {
        const micros = value.micros;
        const days = micros / DAY_MICROS - (micros % DAY_MICROS < 0n ? 1n : 0n);
        const date = new Date(Number(days) * 86_400_000).toISOString().slice(0, 10);
        return `${date}T${timeOfDay(micros - days * DAY_MICROS)}`;
      }
      throw conversionError(type, value);
    case "TIME":
      if (value instanceof DuckDBTimeValue) return timeOfDay(value.micros);
      throw conversionError(type, value);
    case "BYTES":
      if (value instanceof DuckDBBlobValue) return Buffer.from(value.bytes).toString("base64");
      throw conversionError(type, value);
  }
}
