// INSERT ... FORMAT <text format> followed by data (what client.insert sends:
// the statement in ?query=, the rows in the body). Such inserts go to chdb's raw
// insert, which takes the payload as bytes (no giant SQL string) and reports the
// rows written, for X-ClickHouse-Summary. Anything else, including binary
// formats and quoted names, runs as ordinary SQL text.

/** The text formats chdb's raw insert accepts (its whitelist). */
const RAW_FORMATS = new Set([
  "JSONEachRow",
  "JSONCompactEachRow",
  "TSV",
  "TabSeparated",
  "TSVWithNames",
  "TabSeparatedWithNames",
  "CSV",
  "CSVWithNames",
]);

export type RawInsertFormat =
  | "JSONEachRow"
  | "JSONCompactEachRow"
  | "TSV"
  | "TabSeparated"
  | "TSVWithNames"
  | "TabSeparatedWithNames"
  | "CSV"
  | "CSVWithNames";

export interface RawInsert {
  /** The statement without its data. */
  head: string;
  table: string;
  columns: string[] | undefined;
  format: RawInsertFormat;
  data: Buffer;
}

// Names chdb's identifier whitelist accepts: [A-Za-z0-9_] segments joined by dots.
const NAME = "[A-Za-z0-9_]+(?:\\.[A-Za-z0-9_]+)?";
const HEAD_RE = new RegExp(
  `^\\s*INSERT\\s+INTO\\s+(?:TABLE\\s+)?(${NAME})\\s*(?:\\(\\s*([A-Za-z0-9_,\\s]*?)\\s*\\))?\\s*FORMAT\\s+([A-Za-z]+)[ \\t]*$`,
  "i",
);

function isRawFormat(format: string): format is RawInsertFormat {
  return RAW_FORMATS.has(format);
}

/** Recognises `head` (an INSERT statement without data) as a raw insert of `data`. */
export function rawInsert(head: string, data: Buffer): RawInsert | undefined {
  const match = HEAD_RE.exec(head);
  if (!match) return undefined;
  const [, table, columnList, format] = match;
  if (table === undefined || format === undefined || !isRawFormat(format)) return undefined;
  const columns = columnList
    ?.split(",")
    .map((c) => c.trim())
    .filter((c) => c !== "");
  if (columns !== undefined && columns.some((c) => !/^[A-Za-z0-9_]+$/.test(c))) return undefined;
  return { head, table, columns: columns && columns.length > 0 ? columns : undefined, format, data };
}

/**
 * Splits a request into an INSERT head and its data: the URL query is the head
 * when both it and a body are present; otherwise the head is the body's first
 * line, when that line is an INSERT ... FORMAT.
 */
export function splitInsert(queryParam: string, body: Buffer): RawInsert | undefined {
  if (body.length === 0) return undefined;
  if (queryParam !== "") return rawInsert(queryParam, body);
  const newline = body.indexOf(0x0a);
  if (newline < 0 || newline > 4096) return undefined;
  const head = body.subarray(0, newline).toString("utf8").replace(/\r$/, "");
  return rawInsert(head, body.subarray(newline + 1));
}
