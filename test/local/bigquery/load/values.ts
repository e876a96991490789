// Converting one NDJSON value to a column's type, as a BigQuery load job
// does: INT64 from integers or decimal strings, TIMESTAMP from "YYYY-MM-DD
// HH:MM[:SS[.ffffff]]" (also "/" in the date, "T", "Z", "UTC", offsets) or
// epoch seconds, JSON columns taking the raw JSON value (a string stays a
// JSON string). Results are in the seam's Cell normal form.
import type { Cell, FieldSchema } from "../contracts.js";

export type Converted = { ok: true; value: Cell } | { ok: false; message: string };

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

// Describes a JSON value the way BigQuery's conversion errors do.
function describe(v: unknown): string {
  if (typeof v === "string") return `string_value: ${JSON.stringify(v)}`;
  if (typeof v === "number") return Number.isInteger(v) ? `int_value: ${v}` : `double_value: ${v}`;
  if (typeof v === "boolean") return `bool_value: ${v}`;
  return JSON.stringify(v);
}

function fail(field: FieldSchema, typeWord: string, v: unknown): Converted {
  const shown = typeof v === "string" ? v : JSON.stringify(v);
  return {
    ok: false,
    message: `Could not convert value '${describe(v)}' to ${typeWord}. Field: ${field.name}; Value: ${shown}`,
  };
}

const TS =
  /^(\d{4})[-/](\d{1,2})[-/](\d{1,2})(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,12}))?)?)?\s*(Z|UTC|[+-]\d{1,2}(?::?\d{2})?)?$/i;

/** Microseconds since the epoch for a BigQuery timestamp literal, or undefined. */
export function parseTimestampMicros(text: string): bigint | undefined {
  const m = TS.exec(text.trim());
  if (!m) return undefined;
  const [, y, mo, d, h = "0", mi = "0", s = "0", frac = "", zone] = m;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = Number(s);
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 59)
    return undefined;
  const dateMs = Date.UTC(year, month - 1, day, hour, minute, second);
  const check = new Date(dateMs);
  if (check.getUTCDate() !== day || check.getUTCMonth() !== month - 1) return undefined;
  let offsetMinutes = 0;
  if (zone && zone.toUpperCase() !== "Z" && zone.toUpperCase() !== "UTC") {
    const z = /^([+-])(\d{1,2}):?(\d{2})?$/.exec(zone);
    if (!z) return undefined;
    offsetMinutes = (z[1] === "-" ? -1 : 1) * (Number(z[2]) * 60 + Number(z[3] ?? 0));
  }
  // Sub-microsecond digits are truncated.
  const micros = BigInt((frac + "000000").slice(0, 6));
  const result = BigInt(dateMs - offsetMinutes * 60_000) * 1000n + micros;
  // BigQuery's range: 0001-01-01 to 9999-12-31 23:59:59.999999 UTC.
  if (result < -62135596800000000n || result > 253402300799999999n) return undefined;
  return result;
}

function toInt64(field: FieldSchema, v: unknown): Converted {
  let n: bigint | undefined;
  if (typeof v === "number" && Number.isInteger(v)) n = BigInt(v);
  else if (typeof v === "string" && /^\s*[+-]?\d+\s*$/.test(v)) n = BigInt(v.trim());
  if (n === undefined || n < INT64_MIN || n > INT64_MAX) return fail(field, "integer", v);
  return { ok: true, value: n.toString() };
}

function toFloat(field: FieldSchema, v: unknown): Converted {
  if (typeof v === "number") return { ok: true, value: v };
  if (typeof v === "string") {
    const t = v.trim();
    if (/^(?:NaN|[+-]?Infinity|[+-]?inf)$/i.test(t)) {
      return { ok: true, value: /nan/i.test(t) ? Number.NaN : t.startsWith("-") ? -Infinity : Infinity };
    }
    if (t !== "" && Number.isFinite(Number(t))) return { ok: true, value: Number(t) };
  }
  return fail(field, "double", v);
}

function toTimestamp(field: FieldSchema, v: unknown): Converted {
  if (typeof v === "number" && Number.isFinite(v)) {
    // Numbers are seconds since the epoch.
    return { ok: true, value: BigInt(Math.round(v * 1_000_000)).toString() };
  }
  if (typeof v === "string") {
    const micros = parseTimestampMicros(v);
    if (micros !== undefined) return { ok: true, value: micros.toString() };
    return {
      ok: false,
      message: `Couldn't convert value to timestamp: Could not parse '${v}' as a timestamp. Required format is YYYY-MM-DD HH:MM[:SS[.SSSSSS]] or YYYY/MM/DD HH:MM[:SS[.SSSSSS]] Field: ${field.name}; Value: ${v}`,
    };
  }
  return fail(field, "timestamp", v);
}

/** Converts one present, non-null JSON value for a column. */
export function convertValue(field: FieldSchema, v: unknown): Converted {
  switch (field.type) {
    case "STRING":
      if (typeof v === "string") return { ok: true, value: v };
      if (typeof v === "number" || typeof v === "boolean") return { ok: true, value: String(v) };
      return fail(field, "string", v);
    case "JSON":
      // The raw JSON value: an object stays an object, a string stays a JSON string.
      return { ok: true, value: JSON.stringify(v) };
    case "INT64":
      return toInt64(field, v);
    case "FLOAT64":
      return toFloat(field, v);
    case "BOOL":
      if (typeof v === "boolean") return { ok: true, value: v };
      if (typeof v === "string" && /^(true|false)$/i.test(v.trim()))
        return { ok: true, value: v.trim().toLowerCase() === "true" };
      return fail(field, "boolean", v);
    case "TIMESTAMP":
      return toTimestamp(field, v);
    case "DATE":
      if (typeof v === "string" && /^\d{4}-\d{1,2}-\d{1,2}$/.test(v.trim())) {
        const [y, m, d] = v.trim().split("-").map(Number) as [number, number, number];
        const dt = new Date(Date.UTC(y, m - 1, d));
        if (dt.getUTCMonth() === m - 1 && dt.getUTCDate() === d)
          return { ok: true, value: dt.toISOString().slice(0, 10) };
      }
      return fail(field, "date", v);
    case "DATETIME": {
      if (typeof v === "string") {
        const micros = /(?:Z|UTC|[+-]\d{2}:?\d{2})$/i.test(v.trim()) ? undefined : parseTimestampMicros(v);
        if (micros !== undefined) {
          const iso = new Date(Number(micros / 1000n)).toISOString().slice(0, 19);
          const frac = (((micros % 1_000_000n) + 1_000_000n) % 1_000_000n).toString().padStart(6, "0");
          return { ok: true, value: `${iso}.${frac}` };
        }
      }
      return fail(field, "datetime", v);
    }
    case "TIME":
      if (typeof v === "string" && /^\d{1,2}:\d{2}(:\d{2}(\.\d{1,6})?)?$/.test(v.trim()))
        return { ok: true, value: v.trim() };
      return fail(field, "time", v);
    case "NUMERIC":
    case "BIGNUMERIC":
      if (typeof v === "number" && Number.isFinite(v)) return { ok: true, value: String(v) };
      if (typeof v === "string" && /^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$/.test(v))
        return { ok: true, value: v.trim() };
      return fail(field, field.type === "NUMERIC" ? "numeric" : "bignumeric", v);
    case "BYTES":
      if (typeof v === "string" && /^[A-Za-z0-9+/]*={0,2}$/.test(v)) return { ok: true, value: v };
      return fail(field, "bytes", v);
  }
}
