// JSON text as BigQuery's JSON type takes it: one scan over a document that
// follows Google's JSON parser (ZetaSQL PARSE_JSON, wide_number_mode exact)
// and rewrites only what BigQuery would refuse or change, so documents that
// are already loadable are copied as they are, never parsed into objects:
//   * invalid JSON, or nesting deeper than BigQuery's 500 levels: reported,
//     so the caller can load the text as a JSON string instead;
//   * "\uD800"-style escapes of unpaired surrogates: replaced by \uFFFD;
//   * numbers that cannot round-trip exactly (integers outside
//     [-2^63, 2^64-1], decimals that float64 would change, overflow,
//     underflow): kept as JSON strings with their original digits;
//   * newlines and other whitespace between tokens: removed.
// Also strings: unpaired UTF-16 surrogates, which UTF-8 cannot carry, become U+FFFD.

/** BigQuery's nesting limit for the JSON type. */
export const JSON_MAX_DEPTH = 500;

/** What a scan changed, for run logs and tests. Counts values, not rows. */
export interface TextFixes {
  /** Numbers inside JSON documents turned into strings to keep their digits. */
  wideNumbers: number;
  /** Unpaired surrogates (raw or escaped) replaced by U+FFFD. */
  loneSurrogates: number;
}

// ---------------------------------------------------------------- strings

// Without the u flag these match UTF-16 code units, which is what we need.
const SURROGATE = /[\uD800-\uDFFF]/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

// String.prototype.isWellFormed (Node 20+, not in TypeScript's ES2023 lib) is
// about twice as fast as the regex test; the regex covers older runtimes.
const nativeIsWellFormed = (String.prototype as { isWellFormed?: (this: string) => boolean }).isWellFormed;
const isWellFormed: (s: string) => boolean = nativeIsWellFormed
  ? (s) => nativeIsWellFormed.call(s)
  : (s) => !SURROGATE.test(s);

/** The string with unpaired surrogates replaced by U+FFFD (same string when there are none). */
export function wellFormed(s: string, stats?: TextFixes): string {
  if (isWellFormed(s)) return s;
  return s.replace(LONE_SURROGATE, () => {
    if (stats) stats.loneSurrogates++;
    return "\uFFFD";
  });
}

// ---------------------------------------------------------------- JSON documents

export type JsonDocument =
  | { kind: "null" }
  /** `text` is loadable as it is (possibly rewritten from the source). */
  | { kind: "json"; text: string }
  | { kind: "invalid" }
  | { kind: "tooDeep" };

const INT64_MIN = -(2n ** 63n);
const UINT64_MAX = 2n ** 64n - 1n;

/** Sign, significant digits and exponent of a decimal literal, for exact comparison. */
function decimalKey(literal: string): string {
  const m = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(literal);
  if (!m) return literal;
  const frac = m[3] ?? "";
  let digits = (m[2] ?? "") + frac;
  let exp = Number(m[4] ?? "0") - frac.length;
  digits = digits.replace(/^0+/, "");
  const trimmed = digits.replace(/0+$/, "");
  exp += digits.length - trimmed.length;
  if (trimmed === "") return "0";
  return `${m[1] ?? ""}${trimmed}e${exp}`;
}

/**
 * Whether BigQuery's JSON type holds this number literal exactly: integers in
 * int64/uint64, other numbers when float64 gives back the same decimal value.
 */
export function jsonNumberFits(literal: string): boolean {
  const isInteger = !/[.eE]/.test(literal);
  if (isInteger) {
    const digits = literal.charCodeAt(0) === 45 ? literal.length - 1 : literal.length;
    if (digits <= 18) return true;
    const n = BigInt(literal);
    return n >= INT64_MIN && n <= UINT64_MAX;
  }
  const d = Number(literal);
  if (!Number.isFinite(d)) return false;
  if (literal.length <= 16 && !/[eE]/.test(literal)) return true; // ≤ 15 significant digits round-trip
  return decimalKey(literal) === decimalKey(String(d));
}

// Character codes the scanner compares against.
const Ch = {
  Tab: 9,
  Lf: 10,
  Cr: 13,
  Space: 32,
  Quote: 34,
  Plus: 43,
  Comma: 44,
  Minus: 45,
  Dot: 46,
  Zero: 48,
  Nine: 57,
  Colon: 58,
  E: 69,
  LBracket: 91,
  Backslash: 92,
  RBracket: 93,
  LowerE: 101,
  LBrace: 123,
  RBrace: 125,
} as const;

const LITERALS = ["true", "false", "null"] as const;
// Characters inside a JSON string that need no attention (sticky: matches at lastIndex).
// eslint-disable-next-line no-control-regex -- raw control characters are what JSON strings may not hold
const PLAIN_RUN = /[^"\\\u0000-\u001f\ud800-\udfff]*/y;

interface ScanOptions {
  /** Remove all whitespace between tokens (JSONExtractRaw's spelling), not only whitespace holding a newline. */
  compact?: boolean;
  /** Text for a STRING column: leave numbers and surrogate escapes as written. */
  keepText?: boolean;
  /** Top-level member names whose value spans to record. */
  wanted?: ReadonlySet<string>;
}

class InvalidJson extends Error {}
class TooDeep extends Error {}

function hex4(text: string, at: number): number {
  if (at + 4 > text.length) return -1;
  let v = 0;
  for (let k = at; k < at + 4; k++) {
    const c = text.charCodeAt(k);
    const h = c >= 48 && c <= 57 ? c - 48 : c >= 65 && c <= 70 ? c - 55 : c >= 97 && c <= 102 ? c - 87 : -1;
    if (h < 0) return -1;
    v = v * 16 + h;
  }
  return v;
}

/**
 * One pass over a JSON text: validates it (RFC 8259) and records the edits
 * that make it loadable. Output is only assembled when there is an edit.
 */
class JsonScanner {
  private i = 0;
  private copiedTo = 0;
  private parts: string[] | undefined;
  wideNumbers = 0;
  loneSurrogates = 0;
  /** Source spans [start, end) of the wanted top-level members' values, first occurrence each. */
  readonly members = new Map<string, [number, number]>();

  private readonly compact: boolean;
  private readonly keepText: boolean;
  private readonly wanted: ReadonlySet<string> | undefined;
  private readonly wantedLengths: ReadonlySet<number> | undefined;
  /** Whether the string just scanned held an escape (its text is not its literal's inside). */
  private stringEscaped = false;

  constructor(
    private readonly text: string,
    opts: ScanOptions = {},
  ) {
    this.compact = opts.compact ?? false;
    this.keepText = opts.keepText ?? false;
    this.wanted = opts.wanted;
    this.wantedLengths = opts.wanted && new Set([...opts.wanted].map((name) => name.length));
  }

  /** The loadable text, or "" when there is no document (empty or only whitespace). */
  run(): string {
    this.skipWs();
    if (this.i === this.text.length) return "";
    this.value(0);
    this.skipWs();
    if (this.i !== this.text.length) throw new InvalidJson();
    if (!this.parts) return this.text;
    this.parts.push(this.text.slice(this.copiedTo));
    return this.parts.join("");
  }

  /** Replaces text[from, to) by `replacement` in the output. */
  private edit(from: number, to: number, replacement: string): void {
    (this.parts ??= []).push(this.text.slice(this.copiedTo, from), replacement);
    this.copiedTo = to;
  }

  private skipWs(): void {
    const t = this.text;
    const start = this.i;
    let newline = false;
    for (;;) {
      const c = t.charCodeAt(this.i);
      if (c === Ch.Space || c === Ch.Tab) this.i++;
      else if (c === Ch.Lf || c === Ch.Cr) {
        newline = true;
        this.i++;
      } else break;
    }
    // A raw newline would end the NDJSON line: drop whitespace that holds one.
    if (newline || (this.compact && this.i > start)) this.edit(start, this.i, "");
  }

  private value(depth: number): void {
    const t = this.text;
    const c = t.charCodeAt(this.i);
    if (c === Ch.LBrace || c === Ch.LBracket) {
      if (depth + 1 > JSON_MAX_DEPTH) throw new TooDeep();
      const close = c === Ch.LBrace ? Ch.RBrace : Ch.RBracket;
      this.i++;
      this.skipWs();
      if (t.charCodeAt(this.i) === close) {
        this.i++;
        return;
      }
      for (;;) {
        let member: string | undefined;
        if (c === Ch.LBrace) {
          if (t.charCodeAt(this.i) !== Ch.Quote) throw new InvalidJson();
          const keyStart = this.i;
          this.string();
          if (depth === 0 && this.wanted) member = this.wantedKey(keyStart, this.i);
          this.skipWs();
          if (t.charCodeAt(this.i) !== Ch.Colon) throw new InvalidJson();
          this.i++;
          this.skipWs();
        }
        const valueStart = this.i;
        this.value(depth + 1);
        // The first of duplicate keys, as BigQuery's JSON keeps it.
        if (member !== undefined && !this.members.has(member)) this.members.set(member, [valueStart, this.i]);
        this.skipWs();
        const next = t.charCodeAt(this.i);
        this.i++;
        if (next === close) return;
        if (next !== Ch.Comma) throw new InvalidJson();
        this.skipWs();
      }
    }
    if (c === Ch.Quote) return this.string();
    if (c === Ch.Minus || (c >= Ch.Zero && c <= Ch.Nine)) return this.number();
    for (const word of LITERALS) {
      if (t.startsWith(word, this.i)) {
        this.i += word.length;
        return;
      }
    }
    throw new InvalidJson();
  }

  private string(): void {
    const t = this.text;
    this.stringEscaped = false;
    this.i++; // opening quote
    for (;;) {
      // Skip the run of ordinary characters natively: far faster than a char loop.
      PLAIN_RUN.lastIndex = this.i;
      PLAIN_RUN.test(t);
      this.i = PLAIN_RUN.lastIndex;
      const c = t.charCodeAt(this.i);
      if (Number.isNaN(c) || c < 0x20) throw new InvalidJson(); // end of text, raw control char
      if (c === Ch.Quote) {
        this.i++;
        return;
      }
      if (c === Ch.Backslash) {
        this.stringEscaped = true;
        const e = t.charCodeAt(this.i + 1);
        if (e === 117 /* u */) {
          const u = hex4(t, this.i + 2);
          if (u < 0) throw new InvalidJson();
          if (u >= 0xd800 && u <= 0xdbff) {
            const low =
              t.charCodeAt(this.i + 6) === Ch.Backslash && t.charCodeAt(this.i + 7) === 117
                ? hex4(t, this.i + 8)
                : -1;
            if (low >= 0xdc00 && low <= 0xdfff) {
              this.i += 12;
              continue;
            }
            this.loneSurrogate(6);
          } else if (u >= 0xdc00 && u <= 0xdfff) {
            this.loneSurrogate(6);
          } else this.i += 6;
          continue;
        }
        // " \ / b f n r t
        if (
          e === 34 ||
          e === 92 ||
          e === 47 ||
          e === 98 ||
          e === 102 ||
          e === 110 ||
          e === 114 ||
          e === 116
        ) {
          this.i += 2;
          continue;
        }
        throw new InvalidJson();
      }
      if (c >= 0xd800 && c <= 0xdfff) {
        const next = t.charCodeAt(this.i + 1);
        if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
          this.i += 2;
          continue;
        }
        this.loneSurrogate(1);
        continue;
      }
      this.i++;
    }
  }

  /** The key literal text[from, to) if it names a wanted member (escapes decoded), else undefined. */
  private wantedKey(from: number, to: number): string | undefined {
    if (!this.stringEscaped) {
      // Most keys differ in length from every wanted name: no slice for them.
      if (!this.wantedLengths?.has(to - from - 2)) return undefined;
      const raw = this.text.slice(from + 1, to - 1);
      return this.wanted?.has(raw) ? raw : undefined;
    }
    const key = JSON.parse(this.text.slice(from, to)) as string;
    return this.wanted?.has(key) ? key : undefined;
  }

  private loneSurrogate(width: number): void {
    if (this.keepText) {
      this.i += width;
      return;
    }
    this.loneSurrogates++;
    this.edit(this.i, this.i + width, "\\ufffd");
    this.i += width;
  }

  private number(): void {
    const t = this.text;
    const start = this.i;
    if (t.charCodeAt(this.i) === Ch.Minus) this.i++;
    const digitsFrom = this.i;
    this.digits();
    // No leading zeros ("01"), at least one digit.
    if (this.i === digitsFrom || (t.charCodeAt(digitsFrom) === Ch.Zero && this.i - digitsFrom > 1)) {
      throw new InvalidJson();
    }
    if (t.charCodeAt(this.i) === Ch.Dot) {
      this.i++;
      const from = this.i;
      this.digits();
      if (this.i === from) throw new InvalidJson();
    }
    const e = t.charCodeAt(this.i);
    if (e === Ch.E || e === Ch.LowerE) {
      this.i++;
      const s = t.charCodeAt(this.i);
      if (s === Ch.Plus || s === Ch.Minus) this.i++;
      const from = this.i;
      this.digits();
      if (this.i === from) throw new InvalidJson();
    }
    const literal = t.slice(start, this.i);
    if (!this.keepText && !jsonNumberFits(literal)) {
      this.wideNumbers++;
      this.edit(start, this.i, `"${literal}"`);
    }
  }

  private digits(): void {
    const t = this.text;
    for (;;) {
      const c = t.charCodeAt(this.i);
      if (c >= Ch.Zero && c <= Ch.Nine) this.i++;
      else return;
    }
  }
}

function scan(scanner: JsonScanner, stats: TextFixes): JsonDocument {
  try {
    const out = scanner.run();
    stats.wideNumbers += scanner.wideNumbers;
    stats.loneSurrogates += scanner.loneSurrogates;
    // No document, or one that is only `null`: SQL NULL in a load either way.
    if (out === "" || out.trim() === "null") return { kind: "null" };
    return { kind: "json", text: out };
  } catch (err) {
    if (err instanceof TooDeep) return { kind: "tooDeep" };
    if (err instanceof InvalidJson) return { kind: "invalid" };
    throw err;
  }
}

function sourceText(source: unknown): string {
  return typeof source === "string" ? source : (JSON.stringify(source) ?? "");
}

/**
 * Classifies a JSON-ish source value for a JSON column and, when it is
 * loadable, returns the text to embed (the source text itself unless an edit
 * was needed).
 */
export function jsonDocument(
  source: unknown,
  stats: TextFixes = { wideNumbers: 0, loneSurrogates: 0 },
): JsonDocument {
  if (source === null || source === undefined) return { kind: "null" };
  return scan(new JsonScanner(sourceText(source)), stats);
}

/** A document and the raw source text of some of its top-level members. */
export interface DocumentWithMembers {
  doc: JsonDocument;
  /**
   * Wanted member name → its value's source text (the first of duplicate
   * keys). Empty unless the document is a loadable JSON object.
   */
  members: Map<string, string>;
}

/**
 * jsonDocument, and in the same scan the values of the wanted top-level
 * members (`$set`, `$ip` of event properties), with the tolerance of the
 * document itself: whatever else the document holds (lone surrogates, numbers
 * beyond int64, 1e400), a loadable document yields its members.
 */
export function jsonDocumentWithMembers(
  source: unknown,
  wanted: ReadonlySet<string>,
  stats: TextFixes = { wideNumbers: 0, loneSurrogates: 0 },
): DocumentWithMembers {
  if (source === null || source === undefined) return { doc: { kind: "null" }, members: new Map() };
  const text = sourceText(source);
  const scanner = new JsonScanner(text, { wanted });
  const doc = scan(scanner, stats);
  const members = new Map<string, string>();
  if (doc.kind === "json") {
    for (const [name, [from, to]] of scanner.members) members.set(name, text.slice(from, to));
  }
  return { doc, members };
}

/**
 * A member's value (a slice of a valid document) as JSONExtractRaw spells it:
 * no whitespace between tokens. For a JSON column (`keepText` false) also
 * loadable: lone surrogates and wide numbers rewritten as in documents; for a
 * STRING column the text keeps them as written.
 */
export function compactJson(
  valueText: string,
  keepText: boolean,
  stats: TextFixes = { wideNumbers: 0, loneSurrogates: 0 },
): JsonDocument {
  return scan(new JsonScanner(valueText, { compact: true, keepText }), stats);
}
