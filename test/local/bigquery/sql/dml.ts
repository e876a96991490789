// INSERT, UPDATE, DELETE and MERGE: BigQuery's optional keywords made
// explicit, SET targets unqualified (DuckDB refuses T.col there), and for
// MERGE the query that finds target rows matched by several source rows,
// which BigQuery rejects and DuckDB would silently update twice.
import { BigQueryEngineError, duckdbQuote, type TableRef } from "../contracts.js";
import { unsupported } from "./functions.js";
import { readPath } from "./tables.js";
import { isOp, isWord, matchingParen, splitTopLevel, type Token } from "./tokens.js";
import { translateRange, translateTablePath, type TranslateContext } from "./translate.js";

export interface DmlTranslation {
  statementType: "INSERT" | "UPDATE" | "DELETE" | "MERGE";
  target: TableRef;
  /** Whether the statement reads the target's rows (all but INSERT). */
  readsTarget: boolean;
  sql: string;
  /** How the statement names the target (alias or table), to qualify its columns in RETURNING. */
  targetQualifier: string;
  /**
   * MERGE with a WHEN MATCHED ... UPDATE, UPDATE ... FROM: returns a row when
   * a target row the statement acts on matches more than one source row.
   */
  duplicateMatchSql?: string;
}

function target(
  tokens: Token[],
  start: number,
  ctx: TranslateContext,
): { sql: string; end: number; ref: TableRef } {
  const t = translateTablePath(tokens, start, ctx, true);
  if (!t.ref) throw new BigQueryEngineError("invalidQuery", "A DML target must be a table");
  return { sql: t.sql, end: t.end, ref: t.ref };
}

/** Optional `[AS] alias` at k: returns the alias and the index past it. */
function alias(tokens: Token[], k: number, stopWords: string[]): { name?: string; end: number } {
  let j = k;
  if (isWord(tokens[j], "AS")) j++;
  const t = tokens[j];
  if ((t?.kind === "ident" && !stopWords.includes(t.value.toUpperCase())) || t?.kind === "quoted") {
    return { name: t.value, end: j + 1 };
  }
  return { end: k };
}

function indexOfWord(tokens: Token[], start: number, end: number, ...words: string[]): number {
  for (let k = start; k < end; k++) {
    if (isOp(tokens[k], "(", "[")) k = matchingParen(tokens, k);
    else if (isWord(tokens[k], ...words)) return k;
  }
  return -1;
}

/** `col = expr, ...` with the target column's qualifier dropped. */
function setList(tokens: Token[], start: number, end: number, ctx: TranslateContext): string {
  return splitTopLevel(tokens, start, end)
    .map(([s, e]) => {
      let eq = -1;
      for (let j = s; j < e && eq < 0; j++) {
        if (isOp(tokens[j], "(", "[")) j = matchingParen(tokens, j);
        else if (isOp(tokens[j], "=")) eq = j;
      }
      if (eq < 0) throw new BigQueryEngineError("invalidQuery", "Expected column = expression in SET");
      const path = readPath(tokens, s);
      if (!path || path.end !== eq) throw unsupported("SET on a nested field");
      const column = path.parts[path.parts.length - 1] as string;
      return `${duckdbQuote(column)} = ${translateRange(tokens, eq + 1, e, ctx)}`;
    })
    .join(", ");
}

function columnList(tokens: Token[], open: number): { sql: string; end: number } {
  const close = matchingParen(tokens, open);
  const names = splitTopLevel(tokens, open + 1, close).map(([s, e]) => {
    const t = tokens[s];
    if (e - s !== 1 || !t || (t.kind !== "ident" && t.kind !== "quoted")) {
      throw new BigQueryEngineError("invalidQuery", "Expected a column name");
    }
    return duckdbQuote(t.value);
  });
  return { sql: `(${names.join(", ")})`, end: close + 1 };
}

export function translateDml(tokens: Token[], end: number, ctx: TranslateContext): DmlTranslation {
  const verb = (tokens[0] as Token).value.toUpperCase();
  switch (verb) {
    case "INSERT": {
      let k = isWord(tokens[1], "INTO") ? 2 : 1;
      const t = target(tokens, k, ctx);
      k = t.end;
      let columns = "";
      if (isOp(tokens[k], "(") && !isWord(tokens[k + 1], "SELECT", "WITH")) {
        const list = columnList(tokens, k);
        columns = ` ${list.sql}`;
        k = list.end;
      }
      return {
        statementType: "INSERT",
        target: t.ref,
        readsTarget: false,
        targetQualifier: duckdbQuote(t.ref.tableId),
        sql: `INSERT INTO ${t.sql}${columns} ${translateRange(tokens, k, end, ctx)}`,
      };
    }
    case "DELETE": {
      let k = isWord(tokens[1], "FROM") ? 2 : 1;
      const t = target(tokens, k, ctx);
      const a = alias(tokens, t.end, ["WHERE"]);
      k = a.end;
      const as = a.name ? ` AS ${duckdbQuote(a.name)}` : "";
      return {
        statementType: "DELETE",
        target: t.ref,
        readsTarget: true,
        targetQualifier: duckdbQuote(a.name ?? t.ref.tableId),
        sql: `DELETE FROM ${t.sql}${as} ${translateRange(tokens, k, end, ctx)}`,
      };
    }
    case "UPDATE": {
      const t = target(tokens, 1, ctx);
      const a = alias(tokens, t.end, ["SET"]);
      if (!isWord(tokens[a.end], "SET")) throw new BigQueryEngineError("invalidQuery", "Expected SET");
      const setEnd = indexOfWord(tokens, a.end + 1, end, "FROM", "WHERE");
      const stop = setEnd < 0 ? end : setEnd;
      const as = a.name ? ` AS ${duckdbQuote(a.name)}` : "";
      const rest = translateRange(tokens, stop, end, ctx);
      // UPDATE ... FROM joins: BigQuery rejects a target row that joins several source rows.
      const targetName = duckdbQuote(a.name ?? t.ref.tableId);
      const duplicateMatchSql = isWord(tokens[stop], "FROM")
        ? `SELECT 1 ${rest.replace(/^FROM /, `FROM ${t.sql} AS ${targetName}, `)} GROUP BY ${targetName}.rowid HAVING count(*) > 1 LIMIT 1`
        : undefined;
      return {
        statementType: "UPDATE",
        target: t.ref,
        readsTarget: true,
        targetQualifier: targetName,
        sql: `UPDATE ${t.sql}${as} SET ${setList(tokens, a.end + 1, stop, ctx)} ${rest}`,
        duplicateMatchSql,
      };
    }
    case "MERGE":
      return translateMerge(tokens, end, ctx);
    default:
      throw unsupported(`${verb} statements`);
  }
}

function translateMerge(tokens: Token[], end: number, ctx: TranslateContext): DmlTranslation {
  let k = isWord(tokens[1], "INTO") ? 2 : 1;
  const t = target(tokens, k, ctx);
  const targetAlias = alias(tokens, t.end, ["USING"]);
  k = targetAlias.end;
  if (!isWord(tokens[k], "USING")) throw new BigQueryEngineError("invalidQuery", "Expected USING");
  k++;
  let source: string;
  if (isOp(tokens[k], "(")) {
    const close = matchingParen(tokens, k);
    source = `(${translateRange(tokens, k + 1, close, ctx)})`;
    k = close + 1;
  } else {
    const s = translateTablePath(tokens, k, ctx);
    if (s.ref) ctx.reads.push(s.ref);
    source = s.sql;
    k = s.end;
  }
  const sourceAlias = alias(tokens, k, ["ON"]);
  k = sourceAlias.end;
  if (!isWord(tokens[k], "ON")) throw new BigQueryEngineError("invalidQuery", "Expected ON");
  const firstWhen = indexOfWord(tokens, k + 1, end, "WHEN");
  if (firstWhen < 0) throw new BigQueryEngineError("invalidQuery", "Expected WHEN");
  const on = translateRange(tokens, k + 1, firstWhen, ctx);

  // Split into WHEN clauses at top-level WHENs that start a clause (not CASE ... WHEN).
  const starts: number[] = [];
  let caseDepth = 0;
  for (let j = firstWhen; j < end; j++) {
    if (isOp(tokens[j], "(", "[")) j = matchingParen(tokens, j);
    else if (isWord(tokens[j], "CASE")) caseDepth++;
    else if (isWord(tokens[j], "END")) caseDepth--;
    else if (caseDepth === 0 && isWord(tokens[j], "WHEN")) starts.push(j);
  }
  const clauses = starts.map((s, i) => mergeClause(tokens, s, starts[i + 1] ?? end, ctx));

  const tAs = targetAlias.name ? ` AS ${duckdbQuote(targetAlias.name)}` : "";
  const sAs = sourceAlias.name ? ` AS ${duckdbQuote(sourceAlias.name)}` : "";
  const targetName = targetAlias.name ? duckdbQuote(targetAlias.name) : duckdbQuote(t.ref.tableId);
  // "If there is at least one matched_clause performing an UPDATE operation, a
  // runtime error is returned when multiple rows from the source table match
  // one row from the target table, and you are trying to update or delete
  // that row" (https://cloud.google.com/bigquery/docs/reference/standard-sql/dml-syntax#merge_statement):
  // a row is acted on when some WHEN MATCHED condition holds for one of its matches.
  const matched = clauses.filter((c) => c.matched);
  const duplicateMatchSql = matched.some((c) => c.action === "UPDATE")
    ? `SELECT 1 FROM ${t.sql} AS ${targetName} JOIN ${source}${sAs} ON ${on} GROUP BY ${targetName}.rowid HAVING count(*) > 1 AND bool_or(${matched.map((c) => `coalesce(${c.condition ?? "TRUE"}, FALSE)`).join(" OR ")}) LIMIT 1`
    : undefined;
  return {
    statementType: "MERGE",
    target: t.ref,
    readsTarget: true,
    targetQualifier: targetName,
    sql: `MERGE INTO ${t.sql}${tAs} USING ${source}${sAs} ON ${on} ${clauses.map((c) => c.sql).join(" ")}`,
    duplicateMatchSql,
  };
}

interface MergeClause {
  sql: string;
  matched: boolean;
  action: "UPDATE" | "DELETE" | "INSERT";
  /** The clause's search condition in DuckDB SQL, if it has one. */
  condition?: string;
}

function mergeClause(tokens: Token[], start: number, end: number, ctx: TranslateContext): MergeClause {
  let k = start + 1;
  let head = "WHEN";
  let matched = true;
  if (isWord(tokens[k], "NOT")) {
    head += " NOT";
    matched = false;
    k++;
  }
  if (!isWord(tokens[k], "MATCHED")) throw new BigQueryEngineError("invalidQuery", "Expected MATCHED");
  head += " MATCHED";
  k++;
  if (isWord(tokens[k], "BY") && isWord(tokens[k + 1], "TARGET", "SOURCE")) {
    head += ` BY ${(tokens[k + 1] as Token).value.toUpperCase()}`;
    k += 2;
  }
  const then = indexOfWord(tokens, k, end, "THEN");
  if (then < 0) throw new BigQueryEngineError("invalidQuery", "Expected THEN");
  const condition = isWord(tokens[k], "AND") ? `(${translateRange(tokens, k + 1, then, ctx)})` : undefined;
  if (condition) head += ` AND ${condition}`;
  const cond = condition !== undefined ? { condition } : {};
  k = then + 1;
  const action = tokens[k];
  if (isWord(action, "DELETE")) return { sql: `${head} THEN DELETE`, matched, action: "DELETE", ...cond };
  if (isWord(action, "UPDATE") && isWord(tokens[k + 1], "SET")) {
    return {
      sql: `${head} THEN UPDATE SET ${setList(tokens, k + 2, end, ctx)}`,
      matched,
      action: "UPDATE",
      ...cond,
    };
  }
  if (isWord(action, "INSERT")) {
    k++;
    if (isWord(tokens[k], "ROW")) throw unsupported("MERGE ... INSERT ROW");
    let columns = "";
    if (isOp(tokens[k], "(")) {
      const list = columnList(tokens, k);
      columns = ` ${list.sql}`;
      k = list.end;
    }
    if (!isWord(tokens[k], "VALUES") || !isOp(tokens[k + 1], "(")) {
      throw new BigQueryEngineError("invalidQuery", "Expected VALUES");
    }
    const close = matchingParen(tokens, k + 1);
    return {
      sql: `${head} THEN INSERT${columns} VALUES (${translateRange(tokens, k + 2, close, ctx)})`,
      matched,
      action: "INSERT",
      ...cond,
    };
  }
  throw unsupported(`the MERGE action ${action?.text ?? "(missing)"}`);
}
