// A local ClickHouse HTTP endpoint backed by chdb, for @clickhouse/client to use
// unchanged. What it does as ClickHouse does: /ping, credentials (headers, Basic,
// URL parameters), settings and typed parameters from the URL or a multipart
// form, gzip/deflate/br request bodies and responses (enable_http_compression),
// X-ClickHouse-* headers, errors as "Code: N. DB::Exception: ..." with the
// status ClickHouse picks, errors after the first bytes as the tagged
// __exception__ block (25.11+), wait_end_of_query=1 (the whole result is
// spooled to a file before the first byte is sent).
// What it refuses with NOT_IMPLEMENTED: sessions (session_id), native
// compression (compress/decompress=1), external data tables. Not sent: progress
// headers; written_rows is only counted for INSERT ... FORMAT <text format> + data.
//
// chdb is in-process and binds one data directory per process: one server per
// process at a time (stop() releases the directory).
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { createReadStream, createWriteStream, mkdirSync, rmSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { createBrotliCompress, createDeflate, createGzip } from "node:zlib";
import type { Writable } from "node:stream";
import { startHttpServer } from "../common/net.js";
import { checkCredentials, readCredentials, type Credentials } from "./auth.js";
import { ChdbEngine, type EngineCursor } from "./engine.js";
import { ClickHouseServerError, fromEngineError, httpStatusForCode } from "./errors.js";
import { readHttpQuery, sqlIdentifier, type HttpQuery, type ResponseEncoding } from "./request.js";

export interface ClickHouseServerOptions {
  /** Where chdb keeps its databases (created if missing). */
  dataDir: string;
  port?: number;
  /** The one user this server knows (default "default"). */
  user?: string;
  /** Its password (default empty). */
  password?: string;
  /** The user's default database, created at start (default "default"). */
  database?: string;
  /** Queries running in the engine at once; more wait in line (default 3). */
  maxConcurrentQueries?: number;
  /** Largest accepted request body after decompression (default 256 MiB). */
  maxBodyBytes?: number;
}

export interface ClickHouseServer {
  /** e.g. "http://127.0.0.1:41234" */
  url: string;
  port: number;
  user: string;
  password: string;
  database: string;
  stop(): Promise<void>;
  /** Runs one statement directly in the engine (seeding, DDL); no auth, no HTTP. */
  exec(sql: string): Promise<void>;
  /** Runs a small query directly in the engine and returns its rows (JSONEachRow, parsed). */
  queryRows<T>(sql: string): Promise<T[]>;
  /**
   * Fault hook: the next `count` queries find the server unreachable (the
   * connection is reset before any answer, as when ClickHouse restarts).
   */
  dropNext(count: number): void;
}

const DISPLAY_NAME = "chdb-local";
const KEEP_ALIVE_SECONDS = 10;

const CONTENT_TYPES: Record<string, string> = {
  JSON: "application/json; charset=UTF-8",
  JSONCompact: "application/json; charset=UTF-8",
  JSONEachRow: "application/x-ndjson; charset=UTF-8",
  JSONCompactEachRow: "application/x-ndjson; charset=UTF-8",
  JSONStringsEachRow: "application/x-ndjson; charset=UTF-8",
  TabSeparated: "text/tab-separated-values; charset=UTF-8",
  TSV: "text/tab-separated-values; charset=UTF-8",
  CSV: "text/csv; charset=UTF-8; header=absent",
  CSVWithNames: "text/csv; charset=UTF-8; header=present",
};

// The output format a query asked for with a trailing FORMAT clause (the client appends one).
const TRAILING_FORMAT_RE = /\bFORMAT\s+([A-Za-z][A-Za-z0-9_]*)\s*;?\s*$/i;

function outputFormat(query: HttpQuery): string {
  return TRAILING_FORMAT_RE.exec(query.sql)?.[1] ?? query.defaultFormat ?? "TabSeparated";
}

interface Summary {
  read_rows: string;
  read_bytes: string;
  written_rows: string;
  written_bytes: string;
  total_rows_to_read: string;
  result_rows: string;
  result_bytes: string;
  elapsed_ns: string;
}

function summary(cursor: EngineCursor | undefined, startedNs: bigint): Summary {
  const s = cursor?.stats ?? {
    readRows: 0,
    readBytes: 0,
    resultRows: 0,
    resultBytes: 0,
    writtenRows: 0,
    writtenBytes: 0,
  };
  return {
    read_rows: String(s.readRows),
    read_bytes: String(s.readBytes),
    written_rows: String(s.writtenRows),
    written_bytes: String(s.writtenBytes),
    total_rows_to_read: String(s.readRows),
    result_rows: String(s.resultRows),
    result_bytes: String(s.resultBytes),
    elapsed_ns: String(process.hrtime.bigint() - startedNs),
  };
}

function sendError(
  res: ServerResponse,
  err: ClickHouseServerError,
  queryId: string | undefined,
  tag: string,
): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const body = err.toBody();
  res.writeHead(httpStatusForCode(err.code), {
    "Content-Type": "text/plain; charset=UTF-8",
    "Content-Length": String(Buffer.byteLength(body)),
    "X-ClickHouse-Server-Display-Name": DISPLAY_NAME,
    "X-ClickHouse-Exception-Code": String(err.code),
    "X-ClickHouse-Exception-Tag": tag,
    "Keep-Alive": `timeout=${KEEP_ALIVE_SECONDS}`,
    ...(queryId ? { "X-ClickHouse-Query-Id": queryId } : {}),
  });
  res.end(body);
}

/** ClickHouse 25.11+'s in-band error after a 200: marker, tag, text, its length, tag, marker. */
function exceptionBlock(err: ClickHouseServerError, tag: string): Buffer {
  const text = err.toBody().replace(/\n$/, "");
  const length = Buffer.byteLength(text) + 1; // counts the newline after the text
  return Buffer.from(`\r\n__exception__\r\n${tag}\r\n${text}\n${length} ${tag}\r\n__exception__\r\n`);
}

function compressor(encoding: ResponseEncoding): Writable & NodeJS.ReadableStream {
  // Level 3 is ClickHouse's http_zlib_compression_level default.
  if (encoding === "gzip") return createGzip({ level: 3 });
  if (encoding === "deflate") return createDeflate({ level: 3 });
  return createBrotliCompress();
}

/** Writes with backpressure; gives up waiting if `peer` (the response) closes first. */
async function write(out: Writable, chunk: Uint8Array, peer: Writable = out): Promise<void> {
  // A response whose client went away never drains nor closes again: do not wait on it.
  if (peer.destroyed) return;
  if (out.write(chunk) || peer.destroyed) return;
  const stop = new AbortController();
  try {
    await Promise.race([
      once(out, "drain", { signal: stop.signal }),
      once(peer, "close", { signal: stop.signal }),
    ]);
  } finally {
    stop.abort();
  }
}

export async function startClickHouseServer(opts: ClickHouseServerOptions): Promise<ClickHouseServer> {
  mkdirSync(opts.dataDir, { recursive: true });
  const spoolDir = join(opts.dataDir, "http-spool");
  mkdirSync(spoolDir, { recursive: true });
  const expected: Credentials = { user: opts.user ?? "default", password: opts.password ?? "" };
  const database = opts.database ?? "default";
  const maxBodyBytes = opts.maxBodyBytes ?? 256 << 20;
  const engine = new ChdbEngine(opts.dataDir, opts.maxConcurrentQueries ?? 3);
  await engine.exec(`CREATE DATABASE IF NOT EXISTS ${sqlIdentifier(database)}`);
  let spoolSeq = 0;

  async function streamResult(
    res: ServerResponse,
    query: HttpQuery,
    cursor: EngineCursor,
    headers: Record<string, string>,
    startedNs: bigint,
  ): Promise<void> {
    const tag = headers["X-ClickHouse-Exception-Tag"] ?? "";
    // Pull the first chunk before committing to 200, so early failures get their real status.
    const first = await cursor.next();
    res.writeHead(200, { ...headers, "X-ClickHouse-Summary": JSON.stringify(summary(cursor, startedNs)) });
    let out: Writable = res;
    let done: Promise<void> = Promise.resolve();
    if (query.responseEncoding) {
      const zip = compressor(query.responseEncoding);
      // A client that hangs up mid-stream is not an error of ours.
      done = pipeline(zip, res).catch(() => undefined);
      out = zip;
    }
    try {
      let chunk = first;
      while (chunk !== undefined) {
        if (res.destroyed) return; // the client went away; close() cancels the query
        await write(out, chunk, res);
        chunk = await cursor.next();
      }
    } catch (err) {
      await write(out, exceptionBlock(fromEngineError(err), tag), res);
    }
    out.end();
    await done;
  }

  async function spoolThenSend(
    res: ServerResponse,
    query: HttpQuery,
    cursor: EngineCursor,
    headers: Record<string, string>,
    startedNs: bigint,
  ): Promise<void> {
    // wait_end_of_query=1: the whole result goes to disk first (bounded memory),
    // so errors anywhere in it still get their HTTP status.
    const file = join(spoolDir, `${process.pid}-${++spoolSeq}.out`);
    try {
      const sink = createWriteStream(file);
      try {
        for (let chunk = await cursor.next(); chunk !== undefined; chunk = await cursor.next()) {
          await write(sink, chunk);
        }
      } finally {
        sink.end();
        await once(sink, "close");
      }
      res.writeHead(200, { ...headers, "X-ClickHouse-Summary": JSON.stringify(summary(cursor, startedNs)) });
      const source = createReadStream(file);
      if (query.responseEncoding) await pipeline(source, compressor(query.responseEncoding), res);
      else await pipeline(source, res);
    } finally {
      rmSync(file, { force: true });
    }
  }

  let drops = 0;
  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://localhost");
    if (drops > 0 && url.pathname === "/") {
      drops--;
      req.socket.destroy();
      return;
    }
    const tag = randomBytes(8).toString("hex");
    if (url.pathname === "/ping" || url.pathname === "/replicas_status") {
      res.writeHead(200, { "Content-Type": "text/html; charset=UTF-8", "Content-Length": "4" });
      res.end("Ok.\n");
      return;
    }
    if (url.pathname !== "/") {
      const body = `There is no handle ${url.pathname}\n\nUse / or /ping for health checks.\n`;
      res.writeHead(404, {
        "Content-Type": "text/plain; charset=UTF-8",
        "Content-Length": String(body.length),
      });
      res.end(body);
      return;
    }
    if (req.method === "GET" && !url.searchParams.has("query")) {
      res.writeHead(200, { "Content-Type": "text/html; charset=UTF-8", "Content-Length": "4" });
      res.end("Ok.\n");
      return;
    }
    let queryId = url.searchParams.get("query_id") ?? undefined;
    let cursor: EngineCursor | undefined;
    try {
      if (req.method !== "GET" && req.method !== "POST") {
        throw new ClickHouseServerError(48, `HTTP method ${req.method ?? ""} is not supported`);
      }
      checkCredentials(readCredentials(req.headers, url.searchParams), expected);
      const query = await readHttpQuery(req, url, maxBodyBytes);
      queryId = query.queryId;
      const startedNs = process.hrtime.bigint();
      const format = outputFormat(query);
      cursor = await engine.open({
        sql: query.sql,
        database: query.database ?? database,
        format: query.defaultFormat ?? "TabSeparated",
        settings: query.settings,
        params: query.params,
        readonly: query.readonly,
        insert: query.insert,
      });
      const openCursor = cursor;
      res.once("close", () => openCursor.close());
      const headers: Record<string, string> = {
        "Content-Type": CONTENT_TYPES[format] ?? "text/plain; charset=UTF-8",
        "X-ClickHouse-Server-Display-Name": DISPLAY_NAME,
        "X-ClickHouse-Query-Id": query.queryId,
        "X-ClickHouse-Format": format,
        "X-ClickHouse-Timezone": "UTC",
        "X-ClickHouse-Exception-Tag": tag,
        "Keep-Alive": `timeout=${KEEP_ALIVE_SECONDS}`,
        ...(query.responseEncoding ? { "Content-Encoding": query.responseEncoding } : {}),
      };
      if (query.waitEndOfQuery) await spoolThenSend(res, query, cursor, headers, startedNs);
      else await streamResult(res, query, cursor, headers, startedNs);
    } catch (err) {
      sendError(res, fromEngineError(err), queryId, tag);
    } finally {
      cursor?.close();
    }
  }

  const http = await startHttpServer(handle, opts.port ?? 0);
  // Longer than the client's default idle-socket TTL, as on a real server.
  http.server.keepAliveTimeout = KEEP_ALIVE_SECONDS * 1000;

  let stopped = false;
  return {
    url: http.url,
    port: http.port,
    user: expected.user,
    password: expected.password,
    database,
    exec: (sql: string) => engine.exec(sql, database),
    queryRows: <T>(sql: string) => engine.queryRows<T>(sql, database),
    dropNext(count: number) {
      drops += count;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await http.close();
      await engine.close();
    },
  };
}
