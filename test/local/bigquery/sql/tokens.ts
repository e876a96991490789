// A GoogleSQL lexer: enough to re-emit a statement for DuckDB. Literals are
// decoded (GoogleSQL escapes differ from DuckDB's), identifiers keep whether
// they were backtick-quoted, and every token remembers where it started.
import { BigQueryEngineError } from "../contracts.js";

export type TokenKind =
  | "ident" // unquoted identifier or keyword
  | "quoted" // `backtick` identifier (value is unescaped)
  | "string" // string literal (value is decoded)
  | "bytes" // bytes literal (value is decoded, latin1)
  | "number"
  | "param" // @name (value is the name)
  | "op"; // punctuation and operators

export interface Token {
  kind: TokenKind;
  /** Source text as written. */
  text: string;
  /** Decoded value (identifier name, literal contents, parameter name). */
  value: string;
  line: number;
  column: number;
  /** Character offset in the statement. */
  offset: number;
}

const OPERATORS = ["<=>", "<>", "!=", "<=", ">=", "||", "<<", ">>", "=>", "->"];
const SINGLE = "()[],.;+-*/%=<>|&^~?:{}";

function syntaxError(message: string, line: number, column: number): BigQueryEngineError {
  return new BigQueryEngineError("invalidQuery", `Syntax error: ${message} at [${line}:${column}]`);
}

export function tokenize(sql: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  let line = 1;
  let lineStart = 0;
  const advanceTo = (end: number) => {
    for (let k = i; k < end; k++) {
      if (sql[k] === "\n") {
        line++;
        lineStart = k + 1;
      }
    }
    i = end;
  };
  while (i < sql.length) {
    const ch = sql[i] as string;
    const startLine = line;
    const startColumn = i - lineStart + 1;
    const push = (kind: TokenKind, end: number, value: string) => {
      tokens.push({ kind, text: sql.slice(i, end), value, line: startLine, column: startColumn, offset: i });
      advanceTo(end);
    };
    if (/\s/.test(ch)) {
      advanceTo(i + 1);
      continue;
    }
    if (ch === "#" || (ch === "-" && sql[i + 1] === "-")) {
      const nl = sql.indexOf("\n", i);
      advanceTo(nl < 0 ? sql.length : nl);
      continue;
    }
    if (ch === "/" && sql[i + 1] === "*") {
      const close = sql.indexOf("*/", i + 2);
      if (close < 0) throw syntaxError("Unclosed comment", startLine, startColumn);
      advanceTo(close + 2);
      continue;
    }
    // String and bytes literals, with optional r/b prefixes in either order.
    const prefix = /^(?:[rR][bB]?|[bB][rR]?)?(?=['"])/.exec(sql.slice(i, i + 3))?.[0] ?? "";
    if (prefix.length > 0 || ch === "'" || ch === '"') {
      const raw = /r/i.test(prefix);
      const bytes = /b/i.test(prefix);
      const { end, value } = readString(sql, i + prefix.length, raw, startLine, startColumn);
      push(bytes ? "bytes" : "string", end, value);
      continue;
    }
    if (ch === "`") {
      let j = i + 1;
      let value = "";
      while (j < sql.length && sql[j] !== "`") {
        if (sql[j] === "\\" && j + 1 < sql.length) {
          value += sql[j + 1];
          j += 2;
        } else {
          value += sql[j];
          j++;
        }
      }
      if (j >= sql.length) throw syntaxError("Unclosed identifier literal", startLine, startColumn);
      push("quoted", j + 1, value);
      continue;
    }
    if (/[A-Za-z_]/.test(ch)) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(sql.slice(i)) as RegExpExecArray;
      push("ident", i + m[0].length, m[0]);
      continue;
    }
    if (/[0-9]/.test(ch) || (ch === "." && /[0-9]/.test(sql[i + 1] ?? ""))) {
      const m = /^(?:0[xX][0-9a-fA-F]+|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)/.exec(
        sql.slice(i),
      ) as RegExpExecArray;
      push("number", i + m[0].length, m[0]);
      continue;
    }
    if (ch === "@") {
      const m = /^@@?([A-Za-z_][A-Za-z0-9_.]*)/.exec(sql.slice(i));
      if (!m) throw syntaxError('Unexpected "@"', startLine, startColumn);
      if (m[0].startsWith("@@")) {
        throw new BigQueryEngineError(
          "invalidQuery",
          `The local BigQuery cannot run system variables (${m[0]}) yet`,
        );
      }
      push("param", i + m[0].length, m[1] as string);
      continue;
    }
    const op = OPERATORS.find((o) => sql.startsWith(o, i));
    if (op) {
      push("op", i + op.length, op);
      continue;
    }
    if (SINGLE.includes(ch)) {
      push("op", i + 1, ch);
      continue;
    }
    throw syntaxError(`Illegal input character "${ch}"`, startLine, startColumn);
  }
  return tokens;
}

const ESCAPES: Record<string, string> = {
  a: "\x07",
  b: "\b",
  f: "\f",
  n: "\n",
  r: "\r",
  t: "\t",
  v: "\v",
  "\\": "\\",
  "?": "?",
  '"': '"',
  "'": "'",
  "`": "`",
};

function readString(
  sql: string,
  start: number,
  raw: boolean,
  line: number,
  column: number,
): { end: number; value: string } {
  const quote = sql[start] as string;
  const triple = sql.startsWith(quote.repeat(3), start);
  const delimiter = triple ? quote.repeat(3) : quote;
  let j = start + delimiter.length;
  let value = "";
  for (;;) {
    if (j >= sql.length) throw syntaxError("Unclosed string literal", line, column);
    if (sql.startsWith(delimiter, j)) return { end: j + delimiter.length, value };
    const c = sql[j] as string;
    if (!triple && c === "\n") throw syntaxError("Unclosed string literal", line, column);
    if (c !== "\\") {
      value += c;
      j++;
      continue;
    }
    const next = sql[j + 1] ?? "";
    if (raw) {
      // Raw strings keep the backslash; it only stops the quote from closing.
      value += c + next;
      j += 2;
      continue;
    }
    if (next in ESCAPES) {
      value += ESCAPES[next];
      j += 2;
    } else if (/[xX]/.test(next)) {
      value += String.fromCharCode(parseInt(sql.slice(j + 2, j + 4), 16));
      j += 4;
    } else if (next === "u") {
      value += String.fromCodePoint(parseInt(sql.slice(j + 2, j + 6), 16));
      j += 6;
    } else if (next === "U") {
      value += String.fromCodePoint(parseInt(sql.slice(j + 2, j + 10), 16));
      j += 10;
    } else if (/[0-7]/.test(next)) {
      value += String.fromCharCode(parseInt(sql.slice(j + 1, j + 4), 8));
      j += 4;
    } else {
      throw syntaxError(`Illegal escape sequence: \\${next}`, line, column);
    }
  }
}

/** True for an unquoted identifier or keyword spelled `word` (case-insensitive). */
export function isWord(token: Token | undefined, ...words: string[]): boolean {
  return token?.kind === "ident" && words.includes(token.value.toUpperCase());
}

export function isOp(token: Token | undefined, ...ops: string[]): boolean {
  return token?.kind === "op" && ops.includes(token.value);
}

/** Index of the ")" that closes the "(" at `open`. */
export function matchingParen(tokens: Token[], open: number): number {
  let depth = 0;
  for (let k = open; k < tokens.length; k++) {
    const t = tokens[k] as Token;
    if (isOp(t, "(", "[")) depth++;
    else if (isOp(t, ")", "]")) {
      depth--;
      if (depth === 0) return k;
    }
  }
  const t = tokens[open] as Token;
  throw syntaxError('Unbalanced "("', t.line, t.column);
}

/** Splits [start, end) at commas that are not nested in brackets. */
export function splitTopLevel(tokens: Token[], start: number, end: number, sep = ","): [number, number][] {
  const parts: [number, number][] = [];
  let from = start;
  for (let k = start; k < end; k++) {
    const t = tokens[k] as Token;
    if (isOp(t, "(", "[")) k = matchingParen(tokens, k);
    else if (isOp(t, sep)) {
      parts.push([from, k]);
      from = k + 1;
    }
  }
  if (end > start) parts.push([from, end]);
  return parts;
}

/** A DuckDB string literal with the given contents. */
export function duckString(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}
