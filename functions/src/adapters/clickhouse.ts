// The ClickHouse source through @clickhouse/client: queries with typed
// parameters, results streamed as JSONEachRow rows.
import { ClickHouseError, createClient, type ClickHouseClient } from "@clickhouse/client";
import { ExportError } from "../core/errors.js";
import type { SourceDatabase } from "../app/ports.js";
import type { SourceQuery } from "../core/source-sql.js";

// ClickHouse error codes worth a retry: timeouts, memory pressure, too many
// simultaneous queries, network and replica trouble.
const RETRYABLE_CODES = new Set([
  "159",
  "160",
  "164",
  "202",
  "209",
  "210",
  "241",
  "242",
  "279",
  "319",
  "425",
]);

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

export class ClickHouseSource implements SourceDatabase {
  constructor(private readonly client: ClickHouseClient) {}

  async *rows(query: SourceQuery): AsyncIterable<string> {
    try {
      const result = await this.client.query({
        query: query.sql,
        query_params: query.params,
        // Output settings travel in the query's own SETTINGS clause (core/source-sql.ts).
        format: "JSONEachRow",
      });
      for await (const batch of result.stream()) {
        for (const row of batch) yield row.text;
      }
    } catch (err) {
      throw toSourceError(err);
    }
  }
}

function toSourceError(err: unknown): ExportError {
  if (err instanceof ExportError) return err;
  if (err instanceof ClickHouseError) {
    return new ExportError("SOURCE_FAILED", `ClickHouse rejected the export query: ${err.message}`, {
      retryable: RETRYABLE_CODES.has(err.code),
      cause: err,
      details: { clickhouseCode: err.code, clickhouseType: err.type },
    });
  }
  const message = err instanceof Error ? err.message : String(err);
  return new ExportError("SOURCE_FAILED", `ClickHouse could not be reached: ${message}`, {
    retryable: true,
    cause: err,
  });
}
