// NDJSON rows for a BigQuery load (sourceFormat NEWLINE_DELIMITED_JSON) with
// the model's schema. Events come from a "lines" query (source-sql.ts): most
// rows arrive finished by ClickHouse and are only checked and counted here
// (encodeLine, finishedLine); the rest, and persons, are encoded by these
// rules. Encoding cuts the source's JSONEachRow line into its fields' literals
// (no JSON.parse of the row), builds the line by concatenation from a
// per-model plan, copies string literals that are already loadable, and
// embeds JSON documents that are already loadable as they are, never parsed
// into objects and serialised again. A line the cutter does not recognise goes
// through JSON.parse and the same rules.
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
// - set / set_once / ip (events): the first top-level `$set`, `$set_once`,
//   `$ip` of a properties document that loads as a JSON object, whatever else
//   it holds; set/set_once as JSONExtractRaw spells the value (no whitespace),
//   NULL when absent or JSON null; ip NULL unless a non-empty string. A
//   properties text that is not a JSON object yields NULL for all three.
// - INT64: numbers or decimal strings; beyond 2^53 they are written quoted,
//   as BigQuery asks for integers JSON numbers cannot carry exactly.
// - TIMESTAMP: ISO 8601 / ClickHouse "YYYY-MM-DD hh:mm:ss[.ffffff]" in UTC,
//   written as "YYYY-MM-DDThh:mm:ss[.ffffff]Z" (at most microseconds).
import { ExportError } from "./errors.js";
import {
  compactJson,
  jsonDocument,
  jsonDocumentWithMembers,
  wellFormed,
  type JsonDocument,
  type TextFixes,
} from "./json-text.js";
import { jsonColumns, loadFields, PROPERTIES_MEMBERS, sourceColumns, type ModelName } from "./models.js";
import { RAW_ROW_MARKER } from "./source-sql.js";

/** What the encoder changed, for run logs and tests. Counts values, not rows. */
export interface EncodeStats extends TextFixes {
  rows: number;
  /** JSON column values that were not valid JSON, loaded as JSON strings. */
  invalidJson: number;
  /** JSON column values nested deeper than BigQuery allows, loaded as JSON strings. */
  tooDeep: number;
  /** Rows of a "lines" query that ClickHouse finished (the rest were encoded here). */
  finishedLines: number;
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
  return { rows: 0, invalidJson: 0, tooDeep: 0, wideNumbers: 0, loneSurrogates: 0, finishedLines: 0 };
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
  return documentValue(jsonDocument(v, stats), v, stats);
}

/** A scanned document as a JSON column's value. */
function documentValue(doc: JsonDocument, v: unknown, stats: EncodeStats): string {
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
  /** Taken from this top-level member of `properties`, not from the source row. */
  member?: string;
}

function plan(model: ModelName, useJsonType: boolean): ColumnPlan[] {
  const jsonish = new Set(jsonColumns(model));
  const members = PROPERTIES_MEMBERS[model];
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
    const member = members[f.name];
    return {
      name: f.name,
      prefix: `${index === 0 ? "{" : ","}${JSON.stringify(f.name)}:`,
      kind,
      ...(member !== undefined ? { member } : {}),
    };
  });
}

export interface RowEncoder {
  /** One NDJSON line for a source row given as JSON text (a JSONEachRow line), without the newline. */
  encodeText(text: string): string;
  /**
   * One NDJSON line for a row of a "lines" query (source-sql.ts): a finished
   * line, counted and passed on as it is, or a marked source row, encoded.
   */
  encodeLine(line: string): string;
  /**
   * Counts a finished line of a "lines" query, given as bytes (without its
   * newline), as encodeLine would: checked for shape, its timestamp noted.
   */
  finishedLine(bytes: Buffer, start: number, end: number): void;
  /** One NDJSON line for a source row given as an object, without the trailing newline. */
  encode(row: Record<string, unknown>): string;
  readonly stats: EncodeStats;
}

/** The events column whose range bounds the insert-only MERGE (the partitioning column). */
const EVENT_TIME = "timestamp";
// How a finished events line starts and ends (source-sql.ts writes it):
// `{"uuid":…,"timestamp":"…","bq_ingested_timestamp":"…"}`, timestamps of 27
// characters (six fractional digits), so the event's timestamp sits at a fixed
// distance from the end.
const FIRST_KEY_BYTES = Buffer.from('{"uuid":', "latin1");
const TIMESTAMP_KEY_BYTES = Buffer.from(',"timestamp":"', "latin1");
const LINE_END_BYTES = Buffer.from('"}', "latin1");
const TIMESTAMP_CHARS = 27;
const FINISHED_TAIL_LENGTH =
  TIMESTAMP_KEY_BYTES.length +
  TIMESTAMP_CHARS +
  '","bq_ingested_timestamp":"'.length +
  TIMESTAMP_CHARS +
  LINE_END_BYTES.length;

function sameBytes(bytes: Buffer, at: number, expected: Buffer): boolean {
  for (let k = 0; k < expected.length; k++) if (bytes[at + k] !== expected[k]) return false;
  return true;
}

/** bytes[at, at + other.length) against other, as text compares. */
function compareBytes(bytes: Buffer, at: number, other: Buffer): number {
  for (let k = 0; k < other.length; k++) {
    const d = (bytes[at + k] ?? 0) - (other[k] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}
const PROPERTIES = "properties";

// ---------------------------------------------------------------- field literals

const QUOTE = 34;
const BACKSLASH = 92;
const COMMA = 44;
const RBRACE = 125;

/** Whether the string literal text[from, to) ends in a quote that is not escaped. */
function closesAt(text: string, from: number, to: number): boolean {
  if (to - from < 2 || text.charCodeAt(to - 1) !== QUOTE) return false;
  let slashes = 0;
  while (text.charCodeAt(to - 2 - slashes) === BACKSLASH) slashes++;
  return slashes % 2 === 0;
}

/**
 * Cuts a JSONEachRow line with exactly these keys in this order into its
 * values' literals (ClickHouse writes rows so: no whitespace, columns in
 * SELECT order). A value ends where `,"<next key>":` begins: that text cannot
 * occur inside a string literal (its quote would be unescaped), so one native
 * search finds the end, however many escapes a document holds. Undefined for
 * any other shape: the caller parses the line instead.
 */
function cutFields(
  text: string,
  keys: readonly string[],
  separators: readonly string[],
): string[] | undefined {
  const last = keys.length - 1;
  if (text.charCodeAt(0) !== 123 || !text.startsWith(keys[0]!, 1)) return undefined;
  const values: string[] = new Array<string>(keys.length);
  let i = 1 + keys[0]!.length;
  for (let k = 0; k <= last; k++) {
    const end = k === last ? text.length - 1 : text.indexOf(separators[k + 1]!, i);
    if (end < i) return undefined;
    const c = text.charCodeAt(i);
    if (c === QUOTE ? !closesAt(text, i, end) : text.charCodeAt(end) !== (k === last ? RBRACE : COMMA)) {
      return undefined;
    }
    values[k] = text.slice(i, end);
    if (k < last) i = end + separators[k + 1]!.length;
  }
  return text.charCodeAt(text.length - 1) === RBRACE ? values : undefined;
}

/** A string literal whose text needs no rewriting: no escapes that could hide a surrogate, none raw. */
function plainLiteral(literal: string): boolean {
  return literal.charCodeAt(0) === QUOTE && !literal.includes("\\u") && wellFormed(literal) === literal;
}

/** A string literal's text (JSON.parse only when it has escapes). */
function literalText(literal: string): unknown {
  if (literal.charCodeAt(0) === QUOTE && !literal.includes("\\")) return literal.slice(1, -1);
  return JSON.parse(literal) as unknown;
}

// ---------------------------------------------------------------- encoder

/** An encoder for one model and variant; keep one per stream for its stats. */
export function createRowEncoder(model: ModelName, useJsonType: boolean): RowEncoder {
  const columns = plan(model, useJsonType);
  const stats = emptyStats();
  const sourceKeys = sourceColumns(model);
  // Per load column: its index among the source's fields (-1: derived from properties).
  const sourceIndex = columns.map((c) => (c.member === undefined ? sourceKeys.indexOf(c.name) : -1));
  const keyPrefixes = sourceKeys.map((name) => `${JSON.stringify(name)}:`);
  const separators = keyPrefixes.map((key) => `,${key}`);
  const wanted = new Set(columns.flatMap((c) => (c.member === undefined ? [] : [c.member])));
  const wantedNames = [...wanted];
  const propertiesKind = columns.find((c) => c.name === PROPERTIES)?.kind;
  // Throwaway counts for scans whose text is not what gets loaded.
  const uncounted: TextFixes = { wideNumbers: 0, loneSurrogates: 0 };

  const noteTimestamp = (value: string) => {
    if (value === "null") return;
    const key = timestampKey(value);
    if (stats.timestampMin === undefined || key < stats.timestampMin) stats.timestampMin = key;
    if (stats.timestampMax === undefined || key > stats.timestampMax) stats.timestampMax = key;
  };

  /** A column's value given as a JS value (the object path, or a literal that needs parsing). */
  const fromValue = (c: ColumnPlan, v: unknown): string => {
    switch (c.kind) {
      case "string":
        return stringValue(v, stats);
      case "document":
        // No document is NULL in both variants (as the source query maps '').
        return v === "" ? "null" : stringValue(v, stats);
      case "json":
        return jsonValue(v, stats);
      case "int64":
        return int64Value(c.name, v);
      case "bool":
        return boolValue(c.name, v);
      case "timestamp":
        return timestampValue(c.name, v);
    }
  };

  /** A column's value given as its literal in the source line. */
  const fromLiteral = (c: ColumnPlan, literal: string): string => {
    if (literal === "null") return "null";
    switch (c.kind) {
      case "string":
        return plainLiteral(literal) ? literal : fromValue(c, literalText(literal));
      case "document":
        if (literal === '""') return "null";
        return plainLiteral(literal) ? literal : fromValue(c, literalText(literal));
      case "int64":
        return int64Value(c.name, literal.charCodeAt(0) === QUOTE ? literalText(literal) : literal);
      case "timestamp":
        return timestampValue(c.name, literalText(literal));
      case "bool":
      case "json":
        return fromValue(c, JSON.parse(literal) as unknown);
    }
  };

  /**
   * properties, and its members for the derived columns. The JSON variant
   * scans the document anyway; the STRING variant copies it and scans only
   * when it may hold a wanted key (its name, or an escape that could spell one).
   * `literal`: the field as the source line wrote it (the text path).
   */
  const properties = (
    c: ColumnPlan,
    literal: string | undefined,
    v: () => unknown,
  ): { value: string; members: Map<string, string> | undefined } => {
    if (c.kind === "json") {
      const source = v();
      const { doc, members } = jsonDocumentWithMembers(source, wanted, stats);
      return { value: documentValue(doc, source, stats), members };
    }
    const value = literal !== undefined ? fromLiteral(c, literal) : fromValue(c, v());
    if (wanted.size === 0 || value === "null") return { value, members: undefined };
    const probe = literal ?? value;
    if (!wantedNames.some((name) => probe.includes(name)) && !probe.includes("\\u")) {
      return { value, members: undefined };
    }
    // jsonDocumentWithMembers takes the value as it is (a parsed document is stringified there).
    return { value, members: jsonDocumentWithMembers(v(), wanted, uncounted).members };
  };

  /** A derived column from its member's source text (undefined: absent). */
  const fromMember = (c: ColumnPlan, text: string | undefined): string => {
    if (text === undefined) return "null";
    if (c.kind === "string") {
      // JSONExtractString: the text of a string, nothing for any other value.
      if (text.charCodeAt(0) !== QUOTE) return "null";
      const s = JSON.parse(text) as string;
      return s === "" ? "null" : stringValue(s, stats);
    }
    const doc = compactJson(text, c.kind !== "json", stats);
    if (doc.kind !== "json") return "null";
    return c.kind === "json" ? doc.text : stringValue(doc.text, stats);
  };

  const build = (valueOf: (c: ColumnPlan, index: number) => string): string => {
    let line = "";
    for (let k = 0; k < columns.length; k++) {
      const c = columns[k]!;
      const value = valueOf(c, k);
      if (c.name === EVENT_TIME && c.kind === "timestamp") noteTimestamp(value);
      line += c.prefix + value;
    }
    stats.rows++;
    return line + "}";
  };

  const encode = (row: Record<string, unknown>): string => {
    let members: Map<string, string> | undefined;
    return build((c) => {
      if (c.member !== undefined) return fromMember(c, members?.get(c.member));
      if (c.name === PROPERTIES && propertiesKind !== undefined) {
        const p = properties(c, undefined, () => row[c.name]);
        members = p.members;
        return p.value;
      }
      return fromValue(c, row[c.name]);
    });
  };

  // The bounds of finished lines' timestamps, as bytes (fixed width: they compare as text).
  let timestampMinBytes: Buffer | undefined;
  let timestampMaxBytes: Buffer | undefined;

  /** A line that is neither finished nor marked; the stage reading the answer tells a ClickHouse error apart. */
  const wrongShape = (text: string): ExportError =>
    new ExportError(
      "SOURCE_FAILED",
      `ClickHouse sent a line that is neither a finished row nor a marked one: ${text.slice(0, 300)}`,
    );

  const finishedLine = (bytes: Buffer, start: number, end: number): void => {
    // Byte by byte in JS: a line costs a few dozen comparisons, no native
    // call and no string unless the line moves a bound.
    const at = end - FINISHED_TAIL_LENGTH;
    const from = at + TIMESTAMP_KEY_BYTES.length;
    const shaped =
      at > start &&
      sameBytes(bytes, start, FIRST_KEY_BYTES) &&
      sameBytes(bytes, at, TIMESTAMP_KEY_BYTES) &&
      sameBytes(bytes, end - LINE_END_BYTES.length, LINE_END_BYTES);
    if (!shaped || model !== "events") throw wrongShape(bytes.toString("utf8", start, end));
    if (timestampMinBytes === undefined || compareBytes(bytes, from, timestampMinBytes) < 0) {
      timestampMinBytes = Buffer.from(bytes.subarray(from, from + TIMESTAMP_CHARS));
      noteTimestamp(`"${timestampMinBytes.toString("latin1")}"`);
    }
    if (timestampMaxBytes === undefined || compareBytes(bytes, from, timestampMaxBytes) > 0) {
      timestampMaxBytes = Buffer.from(bytes.subarray(from, from + TIMESTAMP_CHARS));
      noteTimestamp(`"${timestampMaxBytes.toString("latin1")}"`);
    }
    stats.rows++;
    stats.finishedLines++;
  };

  const encodeText = (text: string): string => {
    const literals = cutFields(text, keyPrefixes, separators);
    if (!literals) return encode(JSON.parse(text) as Record<string, unknown>);
    let members: Map<string, string> | undefined;
    return build((c, k) => {
      if (c.member !== undefined) return fromMember(c, members?.get(c.member));
      const literal = literals[sourceIndex[k]!]!;
      if (c.name === PROPERTIES) {
        const p = properties(c, literal, () => (literal === "null" ? null : literalText(literal)));
        members = p.members;
        return p.value;
      }
      return fromLiteral(c, literal);
    });
  };

  return {
    stats,
    encode,
    encodeText,
    encodeLine(line) {
      if (line.startsWith(RAW_ROW_MARKER)) return encodeText(line.slice(RAW_ROW_MARKER.length));
      const bytes = Buffer.from(line, "utf8");
      finishedLine(bytes, 0, bytes.length);
      return line;
    },
    finishedLine,
  };
}
