// CREATE TABLE and DROP TABLE, parsed into what the catalog records
// (columns, partitioning, clustering, options); the catalog creates and drops
// the DuckDB tables itself.
import { BigQueryEngineError, type FieldSchema, type TableMeta, type TableRef } from "../contracts.js";
import { unsupported } from "./functions.js";
import { readPath, resolveTable, type ResolveContext } from "./tables.js";
import { isOp, isWord, matchingParen, splitTopLevel, type Token } from "./tokens.js";
import { readType } from "./types.js";

export type NewTable = Omit<TableMeta, "creationTime" | "lastModifiedTime">;

export type DdlPlan =
  | {
      kind: "CREATE_TABLE";
      ref: TableRef;
      ifNotExists: boolean;
      orReplace: boolean;
      /** Columns from the statement; for CREATE TABLE ... AS SELECT they come from the analysis. */
      table: NewTable;
      /** Token range of the AS query, if any. */
      asQuery?: [number, number];
    }
  | { kind: "DROP_TABLE"; ref: TableRef; ifExists: boolean };

const invalid = (message: string) => new BigQueryEngineError("invalidQuery", message);

export function parseDdl(tokens: Token[], end: number, ctx: ResolveContext): DdlPlan {
  if (isWord(tokens[0], "DROP")) {
    if (!isWord(tokens[1], "TABLE")) throw unsupported(`DROP ${tokens[1]?.text ?? ""}`.trim());
    let k = 2;
    const ifExists = isWord(tokens[k], "IF") && isWord(tokens[k + 1], "EXISTS");
    if (ifExists) k += 2;
    const path = readPath(tokens, k);
    if (!path || path.end !== end) throw invalid("Expected a table name after DROP TABLE");
    return { kind: "DROP_TABLE", ref: resolveTable(path.parts, ctx), ifExists };
  }
  let k = 1;
  const orReplace = isWord(tokens[k], "OR") && isWord(tokens[k + 1], "REPLACE");
  if (orReplace) k += 2;
  if (isWord(tokens[k], "TEMP", "TEMPORARY")) throw unsupported("temporary tables");
  if (!isWord(tokens[k], "TABLE")) throw unsupported(`CREATE ${tokens[k]?.text ?? ""}`.trim());
  k++;
  const ifNotExists =
    isWord(tokens[k], "IF") && isWord(tokens[k + 1], "NOT") && isWord(tokens[k + 2], "EXISTS");
  if (ifNotExists) k += 3;
  const path = readPath(tokens, k);
  if (!path) throw invalid("Expected a table name after CREATE TABLE");
  const ref = resolveTable(path.parts, ctx);
  k = path.end;
  const table: NewTable = { ref, fields: [] };
  if (isOp(tokens[k], "(")) {
    const close = matchingParen(tokens, k);
    table.fields = splitTopLevel(tokens, k + 1, close).map(([s, e]) => columnDefinition(tokens, s, e));
    k = close + 1;
  }
  let asQuery: [number, number] | undefined;
  while (k < end) {
    if (isWord(tokens[k], "PARTITION") && isWord(tokens[k + 1], "BY")) {
      const stop = clauseEnd(tokens, k + 2, end);
      table.timePartitioning = partitioning(tokens, k + 2, stop);
      k = stop;
    } else if (isWord(tokens[k], "CLUSTER") && isWord(tokens[k + 1], "BY")) {
      const stop = clauseEnd(tokens, k + 2, end);
      table.clustering = {
        fields: splitTopLevel(tokens, k + 2, stop).map(([s, e]) => {
          const t = tokens[s];
          if (e - s !== 1 || !t) throw invalid("CLUSTER BY takes column names");
          return t.value;
        }),
      };
      k = stop;
    } else if (isWord(tokens[k], "OPTIONS") && isOp(tokens[k + 1], "(")) {
      const close = matchingParen(tokens, k + 1);
      tableOptions(tokens, k + 2, close, table);
      k = close + 1;
    } else if (isWord(tokens[k], "AS")) {
      asQuery = [k + 1, end];
      k = end;
    } else {
      throw unsupported(`CREATE TABLE ... ${tokens[k]?.text ?? ""}`);
    }
  }
  if (!asQuery && table.fields.length === 0) throw invalid("CREATE TABLE needs a column list or AS SELECT");
  if (asQuery && table.fields.length > 0)
    throw unsupported("CREATE TABLE with both a column list and AS SELECT");
  return { kind: "CREATE_TABLE", ref, ifNotExists, orReplace, table, asQuery };
}

function clauseEnd(tokens: Token[], start: number, end: number): number {
  for (let k = start; k < end; k++) {
    if (isOp(tokens[k], "(")) k = matchingParen(tokens, k);
    else if (isWord(tokens[k], "CLUSTER", "OPTIONS", "AS", "PARTITION")) return k;
  }
  return end;
}

function columnDefinition(tokens: Token[], start: number, end: number): FieldSchema {
  const name = tokens[start];
  if (!name || (name.kind !== "ident" && name.kind !== "quoted")) throw invalid("Expected a column name");
  const { type, end: afterType } = readType(tokens, start + 1);
  const field: FieldSchema = { name: name.value, type, mode: "NULLABLE" };
  let k = afterType;
  while (k < end) {
    if (isWord(tokens[k], "NOT") && isWord(tokens[k + 1], "NULL")) {
      field.mode = "REQUIRED";
      k += 2;
    } else if (isWord(tokens[k], "OPTIONS") && isOp(tokens[k + 1], "(")) {
      const close = matchingParen(tokens, k + 1);
      for (const [key, value] of optionList(tokens, k + 2, close)) {
        if (key !== "description") throw unsupported(`the column option ${key}`);
        field.description = stringValue(tokens, value, key);
      }
      k = close + 1;
    } else {
      throw unsupported(`the column definition clause ${tokens[k]?.text ?? ""}`);
    }
  }
  return field;
}

/** PARTITION BY col | DATE(col) | TIMESTAMP_TRUNC(col, PART) | DATE_TRUNC(col, PART). */
function partitioning(
  tokens: Token[],
  start: number,
  end: number,
): NonNullable<NewTable["timePartitioning"]> {
  const first = tokens[start];
  if (end - start === 1 && first) return { type: "DAY", field: first.value };
  const fn = first?.value.toUpperCase();
  if (!isOp(tokens[start + 1], "(")) throw unsupported("this PARTITION BY expression");
  const args = splitTopLevel(tokens, start + 2, end - 1);
  const column = tokens[args[0]?.[0] ?? -1]?.value;
  if (!column) throw unsupported("this PARTITION BY expression");
  if (fn === "DATE" && args.length === 1) return { type: "DAY", field: column };
  if ((fn === "TIMESTAMP_TRUNC" || fn === "DATE_TRUNC" || fn === "DATETIME_TRUNC") && args.length === 2) {
    const part = tokens[args[1]?.[0] ?? -1]?.value.toUpperCase();
    if (part && ["HOUR", "DAY", "MONTH", "YEAR"].includes(part)) return { type: part, field: column };
  }
  throw unsupported("this PARTITION BY expression");
}

/** `key = value, ...` inside OPTIONS(...), values as token ranges. */
function optionList(tokens: Token[], start: number, end: number): [string, [number, number]][] {
  return splitTopLevel(tokens, start, end).map(([s, e]) => {
    const key = tokens[s];
    if (!key || key.kind !== "ident" || !isOp(tokens[s + 1], "="))
      throw invalid("Expected name = value in OPTIONS");
    return [key.value.toLowerCase(), [s + 2, e]];
  });
}

function stringValue(tokens: Token[], [s, e]: [number, number], key: string): string {
  const t = tokens[s];
  if (e - s !== 1 || t?.kind !== "string") throw unsupported(`a non-literal value for the option ${key}`);
  return t.value;
}

function tableOptions(tokens: Token[], start: number, end: number, table: NewTable): void {
  for (const [key, range] of optionList(tokens, start, end)) {
    const [s, e] = range;
    switch (key) {
      case "description":
        table.description = stringValue(tokens, range, key);
        break;
      case "expiration_timestamp": {
        // TIMESTAMP 'literal' or a bare string literal.
        const literal = isWord(tokens[s], "TIMESTAMP") ? ([s + 1, e] as [number, number]) : range;
        const ms = Date.parse(stringValue(tokens, literal, key).replace(" UTC", "Z"));
        if (Number.isNaN(ms)) throw invalid("Invalid expiration_timestamp");
        table.expirationTime = String(ms);
        break;
      }
      case "partition_expiration_days": {
        const t = tokens[s];
        if (e - s !== 1 || t?.kind !== "number" || !table.timePartitioning) {
          throw unsupported("this partition_expiration_days value");
        }
        table.timePartitioning.expirationMs = String(Math.round(Number(t.text) * 86_400_000));
        break;
      }
      case "labels":
        table.labels = labels(tokens, s, e);
        break;
      default:
        throw unsupported(`the table option ${key}`);
    }
  }
}

/** labels = [("key", "value"), ...] */
function labels(tokens: Token[], start: number, end: number): Record<string, string> {
  if (!isOp(tokens[start], "[") || !isOp(tokens[end - 1], "]"))
    throw invalid("labels must be an array of pairs");
  const out: Record<string, string> = {};
  for (const [s, e] of splitTopLevel(tokens, start + 1, end - 1)) {
    const k = tokens[s + 1];
    const v = tokens[s + 3];
    if (!isOp(tokens[s], "(") || k?.kind !== "string" || v?.kind !== "string" || !isOp(tokens[e - 1], ")")) {
      throw invalid('labels must be pairs like ("key", "value")');
    }
    out[k.value] = v.value;
  }
  return out;
}
