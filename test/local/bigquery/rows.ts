// Table rows in the seam's Cell form, read from DuckDB, and their REST form
// ({f:[{v}]}) with TIMESTAMP as the request's formatOptions ask.
import type { DuckDBConnection } from "@duckdb/node-api";
import { duckdbQuote, duckdbTableName, type Cell, type FieldSchema, type TableRef } from "./contracts.js";

// SELECT expression giving each type's Cell normal form.
function cellExpr(f: FieldSchema): string {
  const c = duckdbQuote(f.name);
  switch (f.type) {
    case "STRING":
    case "FLOAT64":
    case "BOOL":
      return c;
    case "TIMESTAMP":
      return `CAST(epoch_us(${c}) AS VARCHAR)`;
    case "BYTES":
      return `to_base64(${c})`;
    case "DATE":
      return `strftime(${c}, '%Y-%m-%d')`;
    case "DATETIME":
      return `strftime(${c}, '%Y-%m-%dT%H:%M:%S.%f')`;
    case "INT64":
    case "TIME":
    case "NUMERIC":
    case "BIGNUMERIC":
    case "JSON":
      return `CAST(${c} AS VARCHAR)`;
  }
}

function toCell(f: FieldSchema, v: unknown): Cell {
  if (v === null || v === undefined) return null;
  if (f.type === "FLOAT64") return Number(v);
  if (f.type === "BOOL") return v === true;
  const s = typeof v === "string" ? v : JSON.stringify(v);
  if (f.type === "NUMERIC" || f.type === "BIGNUMERIC") return s.includes(".") ? s.replace(/\.?0+$/, "") : s;
  return s;
}

export async function readTableRows(
  conn: DuckDBConnection,
  ref: TableRef,
  fields: FieldSchema[],
  offset: number,
  limit: number,
): Promise<Cell[][]> {
  if (fields.length === 0) return [];
  const sql = `SELECT ${fields.map(cellExpr).join(", ")} FROM ${duckdbTableName(ref)} LIMIT ${limit} OFFSET ${offset}`;
  const reader = await conn.runAndReadAll(sql);
  return reader.getRowsJS().map((row) => fields.map((f, i) => toCell(f, row[i])));
}

export interface FormatOptions {
  useInt64Timestamp?: boolean;
  timestampOutputFormat?: string;
}

/** Reads formatOptions from query-string parameters (tabledata.list, getQueryResults). */
export function formatOptionsFromQuery(q: URLSearchParams): FormatOptions {
  const use = q.get("formatOptions.useInt64Timestamp");
  const fmt = q.get("formatOptions.timestampOutputFormat");
  return {
    ...(use !== null ? { useInt64Timestamp: use === "true" } : {}),
    ...(fmt !== null ? { timestampOutputFormat: fmt } : {}),
  };
}

// Float seconds in BigQuery's default REST form, e.g. "1.7640648001234E9".
function floatSeconds(micros: bigint): string {
  const negative = micros < 0n;
  const abs = negative ? -micros : micros;
  const digits = `${abs / 1_000_000n}${(abs % 1_000_000n).toString().padStart(6, "0")}`.replace(/^0+/, "");
  if (digits === "") return "0.0";
  const exponent = digits.length - 7;
  const mantissa = `${digits[0]}.${digits.slice(1).replace(/0+$/, "") || "0"}`;
  return `${negative ? "-" : ""}${mantissa}E${exponent}`;
}

function isoMicros(micros: bigint): string {
  const ms = Number(micros / 1000n);
  const frac = (((micros % 1_000_000n) + 1_000_000n) % 1_000_000n).toString().padStart(6, "0");
  return `${new Date(ms).toISOString().slice(0, 19)}.${frac}Z`;
}

export function restValue(f: FieldSchema, cell: Cell, fmt: FormatOptions): string | null {
  if (cell === null) return null;
  if (f.type === "TIMESTAMP") {
    const micros = BigInt(String(cell));
    if (fmt.timestampOutputFormat === "ISO8601_STRING") return isoMicros(micros);
    if (fmt.useInt64Timestamp === true || fmt.timestampOutputFormat === "INT64") return micros.toString();
    return floatSeconds(micros);
  }
  if (f.type === "FLOAT64") {
    const n = Number(cell);
    if (Number.isNaN(n)) return "NaN";
    if (!Number.isFinite(n)) return n > 0 ? "Infinity" : "-Infinity";
    return String(n);
  }
  return String(cell);
}

export function restRows(
  fields: FieldSchema[],
  rows: Cell[][],
  fmt: FormatOptions,
): Array<{ f: Array<{ v: string | null }> }> {
  return rows.map((row) => ({ f: fields.map((f, i) => ({ v: restValue(f, row[i] ?? null, fmt) })) }));
}
