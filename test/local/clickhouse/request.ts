// Turns an HTTP request into what ClickHouse's HTTP handler would execute: the
// query text (URL `query` + body, or a multipart form), the typed query
// parameters (`param_<name>`), the settings (every other URL parameter that is
// not reserved by the handler), database, default format, query id and the
// compression that was asked for.
import { randomUUID } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { brotliDecompressSync, gunzipSync, inflateSync } from "node:zlib";
import { readBody } from "../common/net.js";
import { CH_ERROR, ClickHouseServerError } from "./errors.js";
import { splitInsert, type RawInsert } from "./insert.js";

/** URL parameters the handler consumes itself (ClickHouse's reserved_param_names + database/default_format). */
const RESERVED = new Set([
  "query",
  "compress",
  "decompress",
  "user",
  "password",
  "quota_key",
  "query_id",
  "stacktrace",
  "role",
  "buffer_size",
  "wait_end_of_query",
  "session_id",
  "session_timeout",
  "session_check",
  "client_protocol_version",
  "close_session",
  "database",
  "default_format",
]);

const NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const SETTING_RE = /^[A-Za-z_][A-Za-z0-9_.]*$/;

export type ResponseEncoding = "gzip" | "deflate" | "br";

export interface HttpQuery {
  /** The statement (for an insert with data: without the data). */
  sql: string;
  /** INSERT ... FORMAT <text format> with its data, run as a raw insert. */
  insert: RawInsert | undefined;
  queryId: string;
  database: string | undefined;
  defaultFormat: string | undefined;
  /** [name, value] as sent; applied as SET name = 'value' before the query. */
  settings: Array<[string, string]>;
  /** [name, raw text] as sent in param_<name>; the engine parses it as the declared type. */
  params: Array<[string, string]>;
  /** GET requests are read-only in ClickHouse (readonly = 2). */
  readonly: boolean;
  waitEndOfQuery: boolean;
  /** Set when enable_http_compression=1 and the client accepts a codec we can produce. */
  responseEncoding: ResponseEncoding | undefined;
}

function bad(message: string, code: number = CH_ERROR.BAD_ARGUMENTS): ClickHouseServerError {
  return new ClickHouseServerError(code, message);
}

function decodeBody(body: Buffer, encoding: string | undefined): Buffer {
  const codec = (encoding ?? "").trim().toLowerCase();
  if (codec === "" || codec === "identity" || body.length === 0) return body;
  try {
    if (codec === "gzip" || codec === "x-gzip") return gunzipSync(body);
    if (codec === "deflate") return inflateSync(body);
    if (codec === "br") return brotliDecompressSync(body);
  } catch (err) {
    throw bad(`Cannot decompress request body (${codec}): ${String(err)}`, CH_ERROR.CANNOT_DECOMPRESS);
  }
  throw bad(`Unknown compression method '${codec}'`, CH_ERROR.UNKNOWN_COMPRESSION_METHOD);
}

function chooseResponseEncoding(acceptEncoding: string | undefined): ResponseEncoding | undefined {
  const offered = (acceptEncoding ?? "")
    .split(",")
    .map((part) => part.split(";")[0]?.trim().toLowerCase() ?? "");
  // ClickHouse prefers the first codec it knows in the client's list.
  for (const codec of offered) {
    if (codec === "gzip" || codec === "x-gzip") return "gzip";
    if (codec === "deflate") return "deflate";
    if (codec === "br") return "br";
  }
  return undefined;
}

/** Parses multipart/form-data fields (the client sends `query` and `param_*` this way for long parameters). */
export function parseMultipart(body: Buffer, contentType: string): Map<string, string> {
  const match = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(contentType);
  const boundary = match?.[1] ?? match?.[2];
  if (!boundary) throw bad("multipart/form-data without a boundary");
  const fields = new Map<string, string>();
  const delimiter = Buffer.from(`--${boundary}`);
  let pos = body.indexOf(delimiter);
  while (pos >= 0) {
    const start = pos + delimiter.length;
    if (body.subarray(start, start + 2).toString() === "--") break;
    const next = body.indexOf(delimiter, start);
    if (next < 0) break;
    const part = body.subarray(start, next);
    const headerEnd = part.indexOf("\r\n\r\n");
    if (headerEnd >= 0) {
      const headers = part.subarray(0, headerEnd).toString("utf8");
      const name = /name="([^"]*)"/i.exec(headers)?.[1];
      if (name === undefined) throw bad("multipart part without a name");
      if (/filename=/i.test(headers)) {
        throw bad("External data (file parts) is not supported by this emulator", CH_ERROR.NOT_IMPLEMENTED);
      }
      // The part ends with CRLF before the next delimiter.
      let value = part.subarray(headerEnd + 4);
      if (value.subarray(-2).toString() === "\r\n") value = value.subarray(0, -2);
      fields.set(name, value.toString("utf8"));
    }
    pos = next;
  }
  return fields;
}

/** Reads and interprets one request; throws ClickHouseServerError on what ClickHouse would refuse. */
export async function readHttpQuery(
  req: IncomingMessage,
  url: URL,
  maxBodyBytes: number,
): Promise<HttpQuery> {
  const search = url.searchParams;
  if (search.get("decompress") === "1" || search.get("compress") === "1") {
    throw bad(
      "ClickHouse's native block compression (compress/decompress=1) is not emulated",
      CH_ERROR.NOT_IMPLEMENTED,
    );
  }
  if (search.has("session_id")) {
    // Refused rather than ignored: a caller relying on session state must find out here.
    throw bad(
      "HTTP sessions (session_id) are not emulated: each query runs on its own connection",
      CH_ERROR.NOT_IMPLEMENTED,
    );
  }
  const raw = req.method === "POST" ? await readBody(req, maxBodyBytes) : Buffer.alloc(0);
  const body = decodeBody(raw, req.headers["content-encoding"]);

  const fields = new Map<string, string>();
  const contentType = req.headers["content-type"] ?? "";
  const multipart = contentType.toLowerCase().startsWith("multipart/form-data");
  if (multipart) {
    for (const [k, v] of parseMultipart(body, contentType)) fields.set(k, v);
  }

  const settings: Array<[string, string]> = [];
  const params: Array<[string, string]> = [];
  const all: Array<[string, string]> = [...search.entries(), ...fields.entries()];
  for (const [key, value] of all) {
    if (key === "" || RESERVED.has(key)) continue;
    if (key.startsWith("param_")) {
      const name = key.slice("param_".length);
      if (!NAME_RE.test(name)) throw bad(`Invalid query parameter name '${name}'`);
      params.push([name, value]);
    } else {
      if (!SETTING_RE.test(key)) throw bad(`Invalid setting name '${key}'`);
      settings.push([key, value]);
    }
  }

  // ClickHouse joins the URL query and the body with a newline (the body may be INSERT data).
  const queryPart = fields.get("query") ?? search.get("query") ?? "";
  const insert = multipart ? undefined : splitInsert(queryPart, body);
  // Insert data stays bytes; only other bodies become query text.
  const bodyText = multipart || insert ? "" : body.toString("utf8");
  const sql =
    insert?.head ??
    (queryPart !== "" && bodyText !== "" ? `${queryPart}\n${bodyText}` : queryPart + bodyText);
  if (sql.trim() === "") throw bad("Empty query", CH_ERROR.SYNTAX_ERROR);

  const enableCompression = settings.some(
    ([k, v]) => k === "enable_http_compression" && v !== "0" && v !== "",
  );
  const header = (name: string): string | undefined => {
    const value = req.headers[name];
    return Array.isArray(value) ? value[0] : value;
  };
  return {
    sql,
    insert,
    queryId: search.get("query_id") || randomUUID(),
    database: header("x-clickhouse-database") || search.get("database") || undefined,
    defaultFormat: header("x-clickhouse-format") || search.get("default_format") || undefined,
    settings,
    params,
    readonly: req.method === "GET",
    waitEndOfQuery: search.get("wait_end_of_query") === "1",
    responseEncoding: enableCompression ? chooseResponseEncoding(header("accept-encoding")) : undefined,
  };
}

/** A ClickHouse string literal holding exactly `value` (only `\` and `'` need escaping). */
export function sqlString(value: string): string {
  return `'${value.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
}

/** A backtick-quoted ClickHouse identifier. */
export function sqlIdentifier(name: string): string {
  return `\`${name.replace(/\\/g, "\\\\").replace(/`/g, "\\`")}\``;
}
