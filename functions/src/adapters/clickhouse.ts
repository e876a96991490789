// The ClickHouse source through @clickhouse/client: queries with typed
// parameters, results streamed as JSONEachRow rows.
import { ClickHouseError, createClient, type ClickHouseClient } from "@clickhouse/client";
import { ExportError } from "../core/errors.js";
import type { SourceDatabase } from "../app/ports.js";
import type { SourceQuery } from "../core/source-sql.js";

// ClickHouse error codes worth a retry (src/Common/ErrorCodes.cpp): 159
// TIMEOUT_EXCEEDED, 160 TOO_SLOW, 202 TOO_MANY_SIMULTANEOUS_QUERIES, 209
// SOCKET_TIMEOUT, 210 NETWORK_ERROR, 241 MEMORY_LIMIT_EXCEEDED, 242
// TABLE_IS_READ_ONLY (a replica catching up), 279 ALL_CONNECTION_TRIES_FAILED,
// 319 UNKNOWN_STATUS_OF_INSERT, 425 SYSTEM_ERROR. Not 164 READONLY: a user
// with readonly=1 refuses every query that sets settings, and ours do.
const RETRYABLE_CODES = new Set(["159", "160", "202", "209", "210", "241", "242", "279", "319", "425"]);

/** What to do about the errors that are setup mistakes, by ClickHouse code. */
const FIXES: Record<string, string> = {
  "164":
    "the ClickHouse user is readonly=1, which refuses the export queries' SETTINGS: give it readonly=2 (read-only, settings allowed)",
  "516": "ClickHouse refused the user or password: check BQX_CLICKHOUSE_USER and the password secret",
  "497":
    "the ClickHouse user may not read PostHog's tables: GRANT SELECT on events, person and person_distinct_id2",
  "60": "a PostHog table is missing: check BQX_CLICKHOUSE_DATABASE",
  "81": "the database does not exist: check BQX_CLICKHOUSE_DATABASE",
};

export interface ClickHouseConnection {
  url: string;
  user: string;
  password: string;
  database: string;
}

/** The client the exports read with (the benchmark's raw-copy floor uses the same). */
export function createClickHouseClient(conn: ClickHouseConnection): ClickHouseClient {
  return createClient({
    url: conn.url,
    username: conn.user,
    password: conn.password,
    database: conn.database,
    request_timeout: 30 * 60 * 1000,
    compression: { response: true },
    // Progress headers keep long exports' connections alive through proxies.
    clickhouse_settings: { send_progress_in_http_headers: 1, http_headers_progress_interval_ms: "60000" },
  });
}

/** "lines": one text column, each value written as it is, one per line. */
function formatOf(query: SourceQuery): "TabSeparatedRaw" | "JSONEachRow" {
  return query.output === "lines" ? "TabSeparatedRaw" : "JSONEachRow";
}

export class ClickHouseSource implements SourceDatabase {
  constructor(private readonly client: ClickHouseClient) {}

  async *rows(query: SourceQuery): AsyncIterable<string> {
    try {
      const result = await this.client.query({
        query: query.sql,
        query_params: query.params,
        // Output settings travel in the query's own SETTINGS clause (core/source-sql.ts).
        format: formatOf(query),
      });
      for await (const batch of result.stream()) {
        for (const row of batch) yield row.text;
      }
    } catch (err) {
      throw toSourceError(err);
    }
  }

  /** The raw answer (the client still gunzips it): no per-row strings for rows ClickHouse finished. */
  async *bytes(query: SourceQuery): AsyncIterable<Buffer> {
    try {
      const result = await this.client.exec({
        query: `${query.sql}\nFORMAT ${formatOf(query)}`,
        query_params: query.params,
      });
      for await (const chunk of result.stream) yield chunk as Buffer;
    } catch (err) {
      throw toSourceError(err);
    }
  }
}

/** A ClickHouse failure as a typed error: retryable or not by its code, with the fix for setup mistakes. */
export function toSourceError(err: unknown): ExportError {
  if (err instanceof ExportError) return err;
  if (err instanceof ClickHouseError) {
    const fix = FIXES[err.code];
    return new ExportError(
      "SOURCE_FAILED",
      `ClickHouse rejected the export query${fix ? ` (${fix})` : ""}: ${err.message}`,
      {
        retryable: RETRYABLE_CODES.has(err.code),
        cause: err,
        details: { clickhouseCode: err.code, clickhouseType: err.type },
      },
    );
  }
  const message = err instanceof Error ? err.message : String(err);
  return new ExportError("SOURCE_FAILED", `ClickHouse could not be reached: ${message}`, {
    retryable: true,
    cause: err,
  });
}
