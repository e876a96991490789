// NDJSON rows for a BigQuery load (sourceFormat NEWLINE_DELIMITED_JSON) with
// the model's schema. On the hot path: a line is built by concatenation from a
// per-model plan, and JSON documents that are already loadable are copied as
// they are, never parsed into objects and serialised again.
//
// Rules for hostile values (the README's table repeats them):
// - STRING columns (and the JSON-ish columns of the STRING variant) keep the
//   source text verbatim: JSON.stringify escapes quotes, newlines and NUL;
//   unpaired UTF-16 surrogates, which UTF-8 cannot carry, become U+FFFD.
//   An empty JSON-ish text is NULL, as in the JSON variant.
// - JSON columns receive the document itself as the field's value (BigQuery
//   loads "the raw JSON values" into a JSON column). Checked by one scan that
//   follows Google's JSON parser (ZetaSQL PARSE_JSON, wide_number_mode exact):
//     * invalid JSON, or nesting deeper than BigQuery's 500 levels: loaded as
//       a JSON string holding the source text (JSON_TYPE(...) = 'string');
//     * "\uD800"-style escapes of unpaired surrogates: replaced by \uFFFD;
//     * numbers that cannot round-trip exactly (integers outside
//       [-2^63, 2^64-1], decimals that float64 would change, overflow,
//       underflow): kept as JSON strings with their original digits;
//     * newlines and other whitespace between tokens: removed;
//     * empty or whitespace-only text, or SQL NULL: NULL.
// - INT64: numbers or decimal strings; beyond 2^53 they are written quoted,
//   as BigQuery asks for integers JSON numbers cannot carry exactly.
// - TIMESTAMP: ISO 8601 / ClickHouse "YYYY-MM-DD hh:mm:ss[.ffffff]" in UTC,
//   written as "YYYY-MM-DDThh:mm:ss[.ffffff]Z" (at most microseconds).
import { ExportError } from "./errors.js";
import { jsonDocument, wellFormed, type TextFixes } from "./json-text.js";
import { jsonColumns, loadFields, type ModelName } from "./models.js";

/** What the encoder changed, for run logs and tests. Counts values, not rows. */
export interface EncodeStats extends TextFixes {
  rows: number;
  /** JSON column values that were not valid JSON, loaded as JSON strings. */
  invalidJson: number;
  /** JSON column values nested deeper than BigQuery allows, loaded as JSON strings. */
  tooDeep: number;
  /**
   * Events: the earliest and latest `timestamp` encoded, as
   * "YYYY-MM-DDThh:mm:ss.ffffffZ" (six digits, so they compare as text).
   * The insert-only MERGE is bounded to them.
   */
  timestampMin?: string;
  timestampMax?: string;
}

/** A canonical timestamp value ("…ss[.f…]Z", quoted) as fixed-width text. */
function timestampKey(quoted: string): string {
  const text = quoted.slice(1, -1);
  const dot = text.indexOf(".");
  const fraction = dot < 0 ? "" : text.slice(dot + 1, -1);
  return `${dot < 0 ? text.slice(0, -1) : text.slice(0, dot)}.${fraction.padEnd(6, "0")}Z`;
}

export function emptyStats(): EncodeStats {
  return { rows: 0, invalidJson: 0, tooDeep: 0, wideNumbers: 0, loneSurrogates: 0 };
}

// ---------------------------------------------------------------- strings and JSON values

function stringValue(v: unknown, stats: EncodeStats): string {
  if (v === null || v === undefined) return "null";
  if (typeof v === "string") return JSON.stringify(wellFormed(v, stats));
  if (typeof v === "number" || typeof v === "bigint" || typeof v === "boolean") return `"${String(v)}"`;
  // A source that hands us a parsed document: keep it as JSON text.
  return JSON.stringify(wellFormed(JSON.stringify(v) ?? "", stats));
}

function jsonValue(v: unknown, stats: EncodeStats): string {
  const doc = jsonDocument(v, stats);
  switch (doc.kind) {
    case "null":
      return "null";
    case "json":
      return doc.text;
    case "invalid":
      stats.invalidJson++;
      return stringValue(typeof v === "string" ? v : String(v), stats);
    case "tooDeep":
      stats.tooDeep++;
      return stringValue(typeof v === "string" ? v : JSON.stringify(v), stats);
  }
}

// ---------------------------------------------------------------- INT64, TIMESTAMP

const INTEGER = /^-?(?:0|[1-9][0-9]*)$/;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

function badValue(column: string, type: string, v: unknown): ExportError {
  const shown = typeof v === "string" ? JSON.stringify(v.slice(0, 80)) : String(v);
  return new ExportError("SOURCE_FAILED", `Column ${column}: ${shown} is not a valid ${type}.`, {
    details: { column, type },
  });
}

function int64Value(column: string, v: unknown): string {
  if (v === null || v === undefined) return "null";
  if (typeof v === "number") {
    if (Number.isSafeInteger(v)) return String(v);
    throw badValue(column, "INT64", v);
  }
  const s = typeof v === "bigint" ? v.toString() : typeof v === "string" ? v : undefined;
  if (s === undefined || !INTEGER.test(s)) throw badValue(column, "INT64", v);
  if (s.length <= 16 && Number.isSafeInteger(Number(s))) return s;
  const n = BigInt(s);
  if (n < INT64_MIN || n > INT64_MAX) throw badValue(column, "INT64", v);
  // Beyond 2^53 JSON numbers lose digits in many readers: BigQuery asks for a string.
  return `"${s}"`;
}

function boolValue(column: string, v: unknown): string {
  if (v === null || v === undefined) return "null";
  if (v === true || v === 1 || v === "1" || v === "true") return "true";
  if (v === false || v === 0 || v === "0" || v === "false") return "false";
  throw badValue(column, "BOOL", v);
}

const CANONICAL_TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?Z$/;
const TIMESTAMP = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]00:?00)?$/;

function timestampValue(column: string, v: unknown): string {
  if (v === null || v === undefined) return "null";
  if (typeof v === "string") {
    if (CANONICAL_TIMESTAMP.test(v)) return `"${v}"`;
    const m = TIMESTAMP.exec(v);
    if (m) {
      // ClickHouse's own format has no zone: our source columns are UTC.
      const frac = m[3] ? `.${m[3].slice(0, 6)}` : "";
      return `"${m[1]}T${m[2]}${frac}Z"`;
    }
  } else if (v instanceof Date && !Number.isNaN(v.getTime())) {
    return `"${v.toISOString()}"`;
  }
  throw badValue(column, "TIMESTAMP", v);
}

// ---------------------------------------------------------------- rows

/** "document": a JSON-ish column of the STRING variant (its text, "" as NULL). */
type ColumnKind = "string" | "document" | "json" | "int64" | "timestamp" | "bool";
interface ColumnPlan {
  name: string;
  /** `{"name":` or `,"name":` */
  prefix: string;
  kind: ColumnKind;
}

function plan(model: ModelName, useJsonType: boolean): ColumnPlan[] {
  const jsonish = new Set(jsonColumns(model));
  return loadFields(model, useJsonType).map((f, index) => {
    const kind: ColumnKind =
      f.type === "INT64"
        ? "int64"
        : f.type === "BOOL"
          ? "bool"
          : f.type === "TIMESTAMP"
            ? "timestamp"
            : jsonish.has(f.name)
              ? useJsonType
                ? "json"
                : "document"
              : "string";
    return { name: f.name, prefix: `${index === 0 ? "{" : ","}${JSON.stringify(f.name)}:`, kind };
  });
}

export interface RowEncoder {
  /** One NDJSON line for the row, without the trailing newline. */
  encode(row: Record<string, unknown>): string;
  readonly stats: EncodeStats;
}

/** An encoder for one model and variant; keep one per stream for its stats. */
/** The events column whose range bounds the insert-only MERGE (the partitioning column). */
const EVENT_TIME = "timestamp";

export function createRowEncoder(model: ModelName, useJsonType: boolean): RowEncoder {
  const columns = plan(model, useJsonType);
  const stats = emptyStats();
  return {
    stats,
    encode(row) {
      let line = "";
      for (const c of columns) {
        const v = row[c.name];
        line += c.prefix;
        switch (c.kind) {
          case "string":
            line += stringValue(v, stats);
            break;
          case "document":
            // No document is NULL in both variants (as the source query maps '').
            line += v === "" ? "null" : stringValue(v, stats);
            break;
          case "json":
            line += jsonValue(v, stats);
            break;
          case "int64":
            line += int64Value(c.name, v);
            break;
          case "bool":
            line += boolValue(c.name, v);
            break;
          case "timestamp": {
            const value = timestampValue(c.name, v);
            line += value;
            if (c.name === EVENT_TIME && value !== "null") {
              const key = timestampKey(value);
              if (stats.timestampMin === undefined || key < stats.timestampMin) stats.timestampMin = key;
              if (stats.timestampMax === undefined || key > stats.timestampMax) stats.timestampMax = key;
            }
            break;
          }
        }
      }
      stats.rows++;
      return line + "}";
    },
  };
}
