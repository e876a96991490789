// The local ClickHouse endpoint, exercised only through @clickhouse/client, as
// the export code will use it.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ClickHouseError, createClient, type ClickHouseClient } from "@clickhouse/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startClickHouseServer, type ClickHouseServer } from "../local/clickhouse/server.js";

const USER = "exporter";
const PASSWORD = "s3cret: with spaces & symbols";

let dir: string;
let server: ClickHouseServer;
let client: ClickHouseClient;

function clientWith(options: Parameters<typeof createClient>[0] = {}): ClickHouseClient {
  return createClient({
    url: server.url,
    username: USER,
    password: PASSWORD,
    database: "posthog",
    ...options,
  });
}

/** Runs a query and returns its rows parsed from JSONEachRow. */
async function rows<T>(
  c: ClickHouseClient,
  query: string,
  query_params?: Record<string, unknown>,
): Promise<T[]> {
  const result = await c.query({ query, format: "JSONEachRow", ...(query_params ? { query_params } : {}) });
  return result.json<T>();
}

async function failure(promise: Promise<unknown>): Promise<ClickHouseError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof ClickHouseError) return err;
    throw err;
  }
  throw new Error("expected the call to fail");
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ch-it-"));
  server = await startClickHouseServer({ dataDir: dir, user: USER, password: PASSWORD, database: "posthog" });
  client = clientWith();
});

afterAll(async () => {
  await client?.close();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("ClickHouse HTTP endpoint (chdb)", () => {
  it("answers ping", async () => {
    const result = await client.ping();
    expect(result.success).toBe(true);
  });

  it("binds typed parameters as ClickHouse parses them", async () => {
    const text = "it's a \\ backslash,\ta tab,\na newline and ünïcødé ✓";
    const [row] = await rows<{ s: string; i: string; t: string; a: string[]; n: string | null }>(
      client,
      `SELECT {s:String} AS s, toString({i:Int64}) AS i, {t:DateTime64(6, 'UTC')} AS t,
              {a:Array(String)} AS a, {n:Nullable(String)} AS n`,
      {
        s: text,
        i: -9007199254740993n,
        t: "2026-11-25 10:00:00.123456",
        a: ["x'y", "back\\slash", ""],
        n: null,
      },
    );
    expect(row).toBeDefined();
    expect(row?.s).toBe(text);
    // Int64 beyond 2^53 must survive exactly: compare as text.
    expect(row?.i).toBe("-9007199254740993");
    expect(row?.t).toBe("2026-11-25 10:00:00.123456");
    expect(row?.a).toEqual(["x'y", "back\\slash", ""]);
    expect(row?.n).toBeNull();
  });

  it("refuses a parameter value that does not parse as its type", async () => {
    const err = await failure(
      client.query({ query: "SELECT {i:Int64} AS i", query_params: { i: "12; DROP TABLE x" } }),
    );
    expect(err.type).toBe("BAD_QUERY_PARAMETER");
  });

  it("keeps concurrent parameterised queries apart", async () => {
    const values = Array.from({ length: 8 }, (_, i) => `value-${i}`);
    const answers = await Promise.all(
      values.map((v) =>
        rows<{ v: string }>(client, "SELECT {v:String} AS v, count() AS c FROM numbers(200000)", { v }),
      ),
    );
    expect(answers.map((a) => a[0]?.v)).toEqual(values);
  });

  it("reports a syntax error as ClickHouse does", async () => {
    const err = await failure(client.query({ query: "SELEC 1" }));
    expect(err.code).toBe("62");
    expect(err.type).toBe("SYNTAX_ERROR");
    expect(err.message).toMatch(/Syntax error/);
  });

  it("reports an unknown table with its code", async () => {
    const err = await failure(client.query({ query: "SELECT * FROM no_such_table" }));
    expect(err.code).toBe("60");
    expect(err.type).toBe("UNKNOWN_TABLE");
  });

  it("rejects a wrong password with AUTHENTICATION_FAILED", async () => {
    const intruder = clientWith({ password: "wrong" });
    try {
      const err = await failure(intruder.query({ query: "SELECT 1" }));
      expect(err.code).toBe("516");
      expect(err.type).toBe("AUTHENTICATION_FAILED");
    } finally {
      await intruder.close();
    }
  });

  it("rejects a wrong password over raw HTTP with status 403 and the exception header", async () => {
    const response = await fetch(`${server.url}/?query=SELECT%201`, {
      headers: { "X-ClickHouse-User": USER, "X-ClickHouse-Key": "nope" },
    });
    expect(response.status).toBe(403);
    expect(response.headers.get("x-clickhouse-exception-code")).toBe("516");
    expect(await response.text()).toMatch(/^Code: 516\. DB::Exception: .*\(AUTHENTICATION_FAILED\)/);
  });

  it("accepts credentials as URL parameters and as headers", async () => {
    const viaParams = await fetch(
      `${server.url}/?user=${encodeURIComponent(USER)}&password=${encodeURIComponent(PASSWORD)}&query=SELECT%2042`,
    );
    expect(viaParams.status).toBe(200);
    expect(await viaParams.text()).toBe("42\n");
    const viaHeaders = await fetch(`${server.url}/?query=SELECT%2043`, {
      headers: { "X-ClickHouse-User": USER, "X-ClickHouse-Key": PASSWORD },
    });
    expect(await viaHeaders.text()).toBe("43\n");
  });

  it("creates tables, inserts and reads back, with gzip both ways", async () => {
    const zipped = clientWith({ compression: { request: true, response: true } });
    try {
      await zipped.command({ query: "CREATE TABLE kv (k String, v Int64) ENGINE = MergeTree ORDER BY k" });
      await zipped.insert({
        table: "kv",
        values: [
          { k: "a", v: 1 },
          { k: "b", v: 2 },
        ],
        format: "JSONEachRow",
      });
      const result = await zipped.query({ query: "SELECT k, v FROM kv ORDER BY k", format: "JSONEachRow" });
      expect(result.response_headers["content-encoding"]).toBe("gzip");
      const got = await result.json<{ k: string; v: number | string }>();
      expect(got.map((r) => [r.k, Number(r.v)])).toEqual([
        ["a", 1],
        ["b", 2],
      ]);
    } finally {
      await zipped.close();
    }
  });

  it("applies settings sent by the client", async () => {
    const err = await failure(
      client
        .query({
          query: "SELECT number FROM numbers(10)",
          format: "JSONEachRow",
          clickhouse_settings: { max_result_rows: "3", result_overflow_mode: "throw" },
        })
        .then((r) => r.json()),
    );
    expect(err.type).toBe("TOO_MANY_ROWS_OR_BYTES");
    const unknown = await failure(
      client.query({
        query: "SELECT 1",
        clickhouse_settings: Object.fromEntries([["no_such_setting", "1"]]),
      }),
    );
    expect(unknown.type).toBe("UNKNOWN_SETTING");
  });

  it("surfaces an error raised after rows were streamed", async () => {
    const result = await client.query({
      query: "SELECT number, throwIf(number = 300000) FROM numbers(1000000)",
      format: "JSONEachRow",
    });
    let seen = 0;
    const err = await failure(
      (async () => {
        for await (const batch of result.stream()) seen += batch.length;
      })(),
    );
    expect(err.code).toBe("395");
    expect(seen).toBeLessThan(1_000_000);
  });

  it("sends the whole result after the end with wait_end_of_query", async () => {
    const result = await client.query({
      query: "SELECT number FROM numbers(1000)",
      format: "JSONEachRow",
      clickhouse_settings: { wait_end_of_query: 1 },
    });
    const summary = JSON.parse(result.response_headers["x-clickhouse-summary"] as string) as Record<
      string,
      string
    >;
    expect(summary["result_rows"]).toBe("1000");
    expect(await result.json()).toHaveLength(1000);
  });
});
