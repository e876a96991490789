// GoogleSQL → DuckDB, token by token. The statement has already passed ZetaSQL
// analysis, so this only rewrites what differs between the dialects: table
// paths, literals, parameters, functions (functions.ts), ORDER BY null order,
// SELECT * EXCEPT. Whatever it does not know is refused by name.
import { BigQueryEngineError, duckdbQuote, duckdbTableName, type TableRef } from "../contracts.js";
import { canonicalJson } from "./json-text.js";
import { DIVIDE } from "./udfs.js";
import { NILADIC, translateCall, unsupported } from "./functions.js";
import { readPath, resolveTable, type ResolveContext } from "./tables.js";
import { duckString, isOp, isWord, matchingParen, splitTopLevel, type Token } from "./tokens.js";
import { duckType } from "./types.js";
import { DUCKDB_TYPES } from "../contracts.js";
import type { SqlType } from "../../zetasql/analyzer.js";

// GoogleSQL reserved keywords: never function names, never quoted.
const RESERVED = new Set(
  (
    "ALL AND ANY ARRAY AS ASC ASSERT_ROWS_MODIFIED AT BETWEEN BY CASE CAST COLLATE CONTAINS CREATE CROSS CUBE " +
    "CURRENT DEFAULT DEFINE DESC DISTINCT ELSE END ENUM ESCAPE EXCEPT EXCLUDE EXISTS EXTRACT FALSE FETCH " +
    "FOLLOWING FOR FROM FULL GROUP GROUPING GROUPS HASH HAVING IF IGNORE IN INNER INTERSECT INTERVAL INTO IS " +
    "JOIN LATERAL LEFT LIKE LIMIT LOOKUP MERGE NATURAL NEW NO NOT NULL NULLS OF ON OR ORDER OUTER OVER " +
    "PARTITION PRECEDING PROTO QUALIFY RANGE RECURSIVE RESPECT RIGHT ROLLUP ROWS SELECT SET SOME STRUCT " +
    "TABLESAMPLE THEN TO TREAT TRUE UNBOUNDED UNION UNNEST USING WHEN WHERE WINDOW WITH WITHIN"
  ).split(" "),
);
// Reserved keywords that are also called like functions.
const KEYWORD_FUNCTIONS = new Set(["IF", "CAST", "EXTRACT", "LEFT", "RIGHT"]);
// Words DuckDB reserves but GoogleSQL does not: quoted when used as names.
const DUCKDB_ONLY_RESERVED = new Set(
  (
    "ANALYSE ANALYZE ASYMMETRIC BOTH CHECK COLUMN CONSTRAINT DEFERRABLE DESCRIBE DO FOREIGN INITIALLY LAMBDA " +
    "LEADING ONLY PIVOT PIVOT_LONGER PIVOT_WIDER PLACING PRIMARY REFERENCES RETURNING SHOW SUMMARIZE " +
    "SYMMETRIC TRAILING UNIQUE UNPIVOT VARIADIC"
  ).split(" "),
);
// Keywords that end a FROM clause or an ORDER BY list at the same nesting level.
const CLAUSE_END = new Set([
  "WHERE",
  "GROUP",
  "HAVING",
  "QUALIFY",
  "WINDOW",
  "ORDER",
  "LIMIT",
  "UNION",
  "EXCEPT",
  "INTERSECT",
  "SELECT",
  "WHEN",
  "SET",
]);
const ORDER_END = new Set(["LIMIT", "OFFSET", "ROWS", "RANGE", "UNION", "EXCEPT", "INTERSECT", "QUALIFY"]);
// Scalar functions that may take the SAFE. prefix here (DuckDB's try() turns their errors into NULL).
const SAFE_FUNCTIONS = new Set([
  "PARSE_JSON",
  "CAST",
  "SUBSTR",
  "TIMESTAMP",
  "DATE",
  "PARSE_TIMESTAMP",
  "PARSE_DATE",
  "JSON_VALUE",
  "JSON_QUERY",
  "LOG",
  "LN",
  "SQRT",
  "POW",
  "POWER",
  "DIV",
  "MOD",
  "TIMESTAMP_ADD",
  "TIMESTAMP_SUB",
  "DATE_ADD",
  "DATE_SUB",
  "REGEXP_CONTAINS",
  "REGEXP_EXTRACT",
  "REGEXP_REPLACE",
  "TIMESTAMP_MICROS",
  "TIMESTAMP_MILLIS",
  "TIMESTAMP_SECONDS",
]);
const TYPED_LITERALS = new Set(["TIMESTAMP", "DATE", "DATETIME", "TIME", "JSON", "NUMERIC", "BIGNUMERIC"]);

export interface TranslateContext extends ResolveContext {
  /** Names of WITH tables (lower case); a one-part FROM path naming one is not a table. */
  cteNames: Set<string>;
  /** Declared query parameters (lower-case name → type). */
  params: Map<string, SqlType>;
  /** Tables read, collected while translating. */
  reads: TableRef[];
}

/** WITH names anywhere in the statement (`name AS (` after WITH or a comma). */
export function collectCteNames(tokens: Token[]): Set<string> {
  const names = new Set<string>();
  for (let k = 1; k + 2 < tokens.length; k++) {
    const prev = tokens[k - 1];
    const t = tokens[k] as Token;
    if (
      (isWord(prev, "WITH", "RECURSIVE") || isOp(prev, ",")) &&
      (t.kind === "ident" || t.kind === "quoted") &&
      isWord(tokens[k + 1], "AS") &&
      isOp(tokens[k + 2], "(")
    ) {
      names.add(t.value.toLowerCase());
    }
  }
  return names;
}

interface Piece {
  text: string;
  glued: boolean;
  /** Ends a left operand of "/": an operator or keyword of lower precedence. */
  boundary: boolean;
}

/** Output assembly: pieces separated by spaces, except around dots. */
class Out {
  private pieces: Piece[] = [];
  private glueNext = true;
  push(text: string, options: { glueBefore?: boolean; glueAfter?: boolean; boundary?: boolean } = {}): void {
    this.pieces.push({ text, glued: this.glueNext || !!options.glueBefore, boundary: !!options.boundary });
    this.glueNext = !!options.glueAfter;
  }
  /** Removes the operand that ends the output so far (back to the last boundary; CASE ... END whole). */
  takeLeftOperand(): string {
    let k = this.pieces.length;
    let caseDepth = 0;
    while (k > 0) {
      const p = this.pieces[k - 1] as Piece;
      const word = p.text.toUpperCase();
      if (word === "END") caseDepth++;
      else if (word === "CASE") caseDepth--;
      else if (p.boundary && caseDepth === 0) break;
      k--;
    }
    const taken = this.pieces.splice(k);
    if (taken.length === 0) throw new BigQueryEngineError("invalidQuery", 'Syntax error: Unexpected "/"');
    this.glueNext = this.pieces.length === 0;
    return join(taken);
  }
  hasOperand(): boolean {
    const last = this.pieces[this.pieces.length - 1];
    return last !== undefined && !last.boundary;
  }
  /** Removes the primary expression ending the output (a name path like a.b, a call, a parenthesis). */
  takePrimary(): string {
    let k = this.pieces.length - 1;
    while (k > 0 && (this.pieces[k] as Piece).glued) k--;
    const taken = this.pieces.splice(k);
    this.glueNext = this.pieces.length === 0;
    return join(taken);
  }
  toString(): string {
    return join(this.pieces);
  }
}

function join(pieces: Piece[]): string {
  return pieces.map((p, i) => (p.glued || i === 0 ? p.text : ` ${p.text}`)).join("");
}

/** Index past the operand that starts at tokens[start] (the right side of "/"). */
function rightOperandEnd(tokens: Token[], start: number, end: number): number {
  let k = start;
  while (isOp(tokens[k], "-", "+", "~")) k++;
  const t = tokens[k];
  if (!t || k >= end)
    throw new BigQueryEngineError("invalidQuery", 'Syntax error: Expected an operand after "/"');
  if (isOp(t, "(")) k = matchingParen(tokens, k) + 1;
  else if (isWord(t, "CASE")) {
    let depth = 0;
    for (; k < end; k++) {
      if (isOp(tokens[k], "(", "[")) k = matchingParen(tokens, k);
      else if (isWord(tokens[k], "CASE")) depth++;
      else if (isWord(tokens[k], "END") && --depth === 0) break;
    }
    k++;
  } else if (t.kind === "ident" && isOp(tokens[k + 1], "(")) k = matchingParen(tokens, k + 1) + 1;
  else if (
    t.kind === "ident" &&
    TYPED_LITERALS.has(t.value.toUpperCase()) &&
    tokens[k + 1]?.kind === "string"
  )
    k += 2;
  else k++;
  // Field paths: a.b.c
  while (isOp(tokens[k], ".") && (tokens[k + 1]?.kind === "ident" || tokens[k + 1]?.kind === "quoted"))
    k += 2;
  return Math.min(k, end);
}

// Operators that bind like "/" (so stay inside its left operand) or tighter.
const SAME_LEVEL_OPS = new Set([".", "*", "/", "||"]);
const LITERAL_WORDS = new Set(["NULL", "TRUE", "FALSE", "END"]);

/** A table at tokens[start]; returns the DuckDB name and the index past the path. */
export function translateTablePath(
  tokens: Token[],
  start: number,
  ctx: TranslateContext,
  /** A DML target may be followed by its column list. */
  columnListMayFollow = false,
): { sql: string; end: number; ref?: TableRef } {
  const path = readPath(tokens, start);
  if (!path) {
    const t = tokens[start];
    throw unsupported(`a FROM item starting with ${t?.text ?? "nothing"}`);
  }
  if (isOp(tokens[path.end], "(") && !columnListMayFollow)
    throw unsupported(`the table function ${path.parts.join(".")}`);
  if (isWord(tokens[path.end], "FOR") && isWord(tokens[path.end + 1], "SYSTEM_TIME")) {
    throw unsupported("FOR SYSTEM_TIME AS OF");
  }
  if (path.parts.length === 1 && ctx.cteNames.has((path.parts[0] as string).toLowerCase())) {
    return { sql: duckdbQuote(path.parts[0] as string), end: path.end };
  }
  const ref = resolveTable(path.parts, ctx);
  return { sql: duckdbTableName(ref), end: path.end, ref };
}

function canonicalLiteral(token: Token): string {
  try {
    return canonicalJson(token.value);
  } catch {
    throw new BigQueryEngineError(
      "invalidQuery",
      `Invalid JSON literal: ${token.value.slice(0, 50)} at [${token.line}:${token.column}]`,
    );
  }
}

function numberLiteral(text: string): string {
  if (/^0[xX]/.test(text)) return BigInt(text).toString();
  // GoogleSQL 1.5 is FLOAT64; DuckDB would make it DECIMAL.
  if (/[.]/.test(text) && !/[eE]/.test(text)) return `${text}e0`;
  return text;
}

/** Translates tokens[start, end) (an expression, a query, or a list). */
export function translateRange(tokens: Token[], start: number, end: number, ctx: TranslateContext): string {
  const out = new Out();
  let fromClause = false;
  let tableNext = false;
  for (let k = start; k < end; k++) {
    const t = tokens[k] as Token;
    const prev = tokens[k - 1];
    const next = tokens[k + 1];
    if (tableNext && !isOp(t, "(")) {
      tableNext = false;
      if (isWord(t, "UNNEST")) throw unsupported("UNNEST");
      const table = translateTablePath(tokens, k, ctx);
      if (table.ref) ctx.reads.push(table.ref);
      out.push(table.sql);
      k = table.end - 1;
      continue;
    }
    tableNext = false;
    switch (t.kind) {
      case "string":
        out.push(duckString(t.value));
        continue;
      case "bytes":
        throw unsupported("BYTES literals");
      case "number":
        out.push(numberLiteral(t.text));
        continue;
      case "param": {
        const type = ctx.params.get(t.value.toLowerCase());
        if (!type) throw new BigQueryEngineError("invalidQuery", `Query parameter '${t.value}' not found`);
        out.push(`CAST($${t.value.toLowerCase()} AS ${DUCKDB_TYPES[type]})`);
        continue;
      }
      case "quoted":
        out.push(duckdbQuote(t.value));
        continue;
      case "op":
        if (isOp(t, "(")) {
          const close = matchingParen(tokens, k);
          out.push(`(${translateRange(tokens, k + 1, close, ctx)})`);
          k = close;
        } else if (isOp(t, "[")) {
          // Only JSON values can be subscripted here (no ARRAY values exist): json['key'], json[0].
          const close = matchingParen(tokens, k);
          const key = tokens[k + 1];
          if (
            close !== k + 2 ||
            !key ||
            (key.kind !== "string" && key.kind !== "number") ||
            !out.hasOperand()
          ) {
            throw unsupported("array subscripts, array literals and non-literal JSON subscripts");
          }
          const path =
            key.kind === "string" ? `$."${key.value.replace(/(["\\])/g, "\\$1")}"` : `$[${key.text}]`;
          out.push(`json_extract(${out.takePrimary()}, ${duckString(path)})`);
          k = close;
        } else if (isOp(t, ".")) {
          out.push(".", { glueBefore: true, glueAfter: true });
        } else if (isOp(t, ";") && k === end - 1) {
          // A trailing semicolon ends the statement.
        } else if (isOp(t, "/")) {
          // BigQuery's "/" fails on a zero divisor; DuckDB's returns NULL or infinity.
          const left = out.takeLeftOperand();
          const rightEnd = rightOperandEnd(tokens, k + 1, end);
          out.push(`${DIVIDE}(${left}, ${translateRange(tokens, k + 1, rightEnd, ctx)})`);
          k = rightEnd - 1;
        } else {
          out.push(t.value, { boundary: !SAME_LEVEL_OPS.has(t.value) });
          if (isOp(t, ",") && fromClause) tableNext = true;
        }
        continue;
      case "ident":
        break;
    }
    const word = t.value.toUpperCase();
    // SAFE.F(...): NULL instead of an error.
    if (word === "SAFE" && isOp(next, ".") && tokens[k + 2]?.kind === "ident" && isOp(tokens[k + 3], "(")) {
      const name = (tokens[k + 2] as Token).value.toUpperCase();
      if (!SAFE_FUNCTIONS.has(name)) throw unsupported(`the function SAFE.${name}`);
      const close = matchingParen(tokens, k + 3);
      const inside: [number, number] = [k + 4, close];
      const safe = { handled: false };
      const call = translateCall({
        name,
        tokens,
        inside,
        args: splitTopLevel(tokens, inside[0], inside[1]),
        sql: ([s, e]) => translateRange(tokens, s, e, ctx),
        safe,
      });
      out.push(safe.handled ? call : `try(${call})`);
      k = close;
      continue;
    }
    // Function calls: NAME( ... ), but not after a dot (SAFE.X, NET.X, udf paths).
    if (isOp(next, "(") && (!RESERVED.has(word) || KEYWORD_FUNCTIONS.has(word))) {
      if (isOp(prev, ".")) throw unsupported(`the function ${prev ? tokens[k - 2]?.text : ""}.${t.text}`);
      if (word === "REPLACE" && isOp(prev, "*")) {
        out.push("REPLACE", { boundary: true });
        continue;
      }
      if (word === "INSERT" || word === "VALUES") {
        out.push(word, { boundary: true });
        continue;
      }
      const close = matchingParen(tokens, k + 1);
      const inside: [number, number] = [k + 2, close];
      out.push(
        translateCall({
          name: word,
          tokens,
          inside,
          args: splitTopLevel(tokens, inside[0], inside[1]),
          sql: ([s, e]) => translateRange(tokens, s, e, ctx),
        }),
      );
      k = close;
      continue;
    }
    if (TYPED_LITERALS.has(word) && next?.kind === "string") {
      // JSON literals are stored in BigQuery's canonical form.
      const literal = word === "JSON" ? canonicalLiteral(next) : next.value;
      out.push(`CAST(${duckString(literal)} AS ${duckType([t])})`);
      k++;
      continue;
    }
    if (word in NILADIC && !isOp(prev, ".")) {
      out.push(NILADIC[word] as string);
      continue;
    }
    if (word === "ARRAY" || word === "STRUCT" || word === "UNNEST") throw unsupported(word);
    if (word === "SELECT" && isWord(next, "AS")) throw unsupported("SELECT AS STRUCT / SELECT AS VALUE");
    if (word === "FROM" && !isWord(prev, "DISTINCT")) {
      out.push("FROM", { boundary: true });
      fromClause = true;
      tableNext = true;
      continue;
    }
    if (word === "JOIN") {
      out.push("JOIN", { boundary: true });
      tableNext = true;
      continue;
    }
    if (word === "EXCEPT" && isOp(prev, "*") && isOp(next, "(")) {
      out.push("EXCLUDE", { boundary: true });
      continue;
    }
    if (CLAUSE_END.has(word)) fromClause = false;
    if (word === "ORDER" && isWord(next, "BY")) {
      k = translateOrderBy(tokens, k + 2, end, ctx, out) - 1;
      continue;
    }
    out.push(DUCKDB_ONLY_RESERVED.has(word) ? duckdbQuote(t.value) : t.text, {
      boundary: RESERVED.has(word) && !LITERAL_WORDS.has(word),
    });
  }
  return out.toString();
}

/**
 * ORDER BY items with BigQuery's null order made explicit (NULLS FIRST for
 * ASC, NULLS LAST for DESC; DuckDB puts NULLs last either way). Returns the
 * index past the list.
 */
function translateOrderBy(
  tokens: Token[],
  start: number,
  end: number,
  ctx: TranslateContext,
  out: Out,
): number {
  let stop = start;
  for (; stop < end; stop++) {
    const t = tokens[stop] as Token;
    if (isOp(t, "(", "[")) stop = matchingParen(tokens, stop);
    else if (isOp(t, ";") || (t.kind === "ident" && ORDER_END.has(t.value.toUpperCase()))) break;
  }
  const items = splitTopLevel(tokens, start, stop).map(([s, e]) => {
    let exprEnd = e;
    let direction = "ASC";
    let nulls = "";
    if (isWord(tokens[exprEnd - 2], "NULLS") && isWord(tokens[exprEnd - 1], "FIRST", "LAST")) {
      nulls = `NULLS ${(tokens[exprEnd - 1] as Token).value.toUpperCase()}`;
      exprEnd -= 2;
    }
    if (isWord(tokens[exprEnd - 1], "ASC", "DESC")) {
      direction = (tokens[exprEnd - 1] as Token).value.toUpperCase();
      exprEnd -= 1;
    }
    if (!nulls) nulls = direction === "ASC" ? "NULLS FIRST" : "NULLS LAST";
    return `${translateRange(tokens, s, exprEnd, ctx)} ${direction} ${nulls}`;
  });
  out.push(`ORDER BY ${items.join(", ")}`, { boundary: true });
  return stop;
}
