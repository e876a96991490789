// A chdb (embedded ClickHouse) session with PostHog's tables, for tests that
// run our source SQL on the real engine. Parameters are bound by the engine
// itself (Session.queryBindAsync → chdb_query_with_params, the same
// {name:Type} binding as ClickHouse's HTTP param_<name>), never spliced into
// the SQL text. chdb binds one data directory per process: open one session
// per test file.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Session, type ChdbQueryStream } from "chdb";
import { posthogSchemaDdl } from "../local/clickhouse/posthog-schema.js";

export interface ChdbPosthog {
  readonly database: string;
  /** Inserts rows (objects keyed by column name) as JSONEachRow. */
  insert(table: string, rows: readonly object[]): Promise<void>;
  /** Runs a query with bound parameters and returns its JSONEachRow rows. */
  query<T = Record<string, unknown>>(sql: string, params?: Record<string, unknown>): Promise<T[]>;
  /** The query's raw output (JSONEachRow unless told), as an HTTP client would receive it. */
  queryText(sql: string, params?: Record<string, unknown>, format?: string): Promise<string>;
  /** Streams the query's JSONEachRow output chunk by chunk (one stream at a time). */
  stream(sql: string, params?: Record<string, unknown>): ChdbQueryStream;
  close(): void;
}

const TABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export interface PosthogSessionOptions {
  /** Database for PostHog's tables (default "posthog"). */
  database?: string;
  /**
   * chdb data directory. Default: a fresh temp dir, removed on close. Pass the
   * directory of a local ClickHouse server (test/local/clickhouse) to share
   * its tables: chdb allows one data directory per process.
   */
  dir?: string;
}

export function openPosthogSession(opts: PosthogSessionOptions = {}): ChdbPosthog {
  const database = opts.database ?? "posthog";
  const ownDir = opts.dir === undefined;
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), "bqx-chdb-"));
  const session = new Session(dir);
  for (const ddl of posthogSchemaDdl(database)) session.query(ddl);

  async function queryText(
    sql: string,
    params: Record<string, unknown> = {},
    format = "JSONEachRow",
  ): Promise<string> {
    const result = await session.queryBindAsync(sql, params, { format });
    return result.text();
  }

  return {
    database,
    async insert(table, rows) {
      if (!TABLE_NAME.test(table)) throw new Error(`bad table name ${table}`);
      if (rows.length === 0) return;
      await session.insert({
        table: `${database}.${table}`,
        values: rows.map((r) => JSON.stringify(r)).join("\n") + "\n",
        format: "JSONEachRow",
      });
    },
    queryText,
    stream(sql, params = {}) {
      return session.queryStreamBind(sql, params, { format: "JSONEachRow" });
    },
    async query<T>(sql: string, params: Record<string, unknown> = {}): Promise<T[]> {
      const text = await queryText(sql, params);
      return text
        .split("\n")
        .filter((line) => line.length > 0)
        .map((line) => JSON.parse(line) as T);
    },
    close() {
      session.close();
      if (ownDir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Opens a session and inserts the given rows per table. */
export async function openWithRows(
  tables: Record<string, readonly object[]>,
  opts: PosthogSessionOptions = {},
): Promise<ChdbPosthog> {
  const ch = openPosthogSession(opts);
  for (const [table, rows] of Object.entries(tables)) await ch.insert(table, rows);
  return ch;
}
