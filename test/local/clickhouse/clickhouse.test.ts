// The local ClickHouse endpoint, exercised only through @clickhouse/client, as
// the export code will use it.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ClickHouseError, ClickHouseLogLevel, createClient, type ClickHouseClient } from "@clickhouse/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clientTarget, generateSampleData, sampleDataFingerprint } from "./sample-data.js";
import { startClickHouseServer, type ClickHouseServer } from "./server.js";

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
    // The errors provoked here are expected; the client would log each one at ERROR level.
    log: { level: ClickHouseLogLevel.OFF },
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

  it("takes the query and parameters from a multipart body", async () => {
    const long = "x".repeat(20_000) + "'\\\t✓";
    const result = await client.query({
      query: "SELECT length({s:String}) AS n, {s:String} = {same:String} AS eq, {k:UInt8} AS k",
      query_params: { s: long, same: long, k: 7 },
      format: "JSONEachRow",
      use_multipart_params: true,
    });
    const [row] = await result.json<{ n: number; eq: number | boolean; k: number }>();
    expect(row?.n).toBe(new TextEncoder().encode(long).length);
    expect(Boolean(row?.eq)).toBe(true);
    expect(row?.k).toBe(7);
  });

  it("stays usable after clients abandon streams half-way", async () => {
    for (let i = 0; i < 6; i++) {
      const controller = new AbortController();
      const result = await client.query({
        query: "SELECT number, repeat('x', 200) AS pad FROM numbers(5000000)",
        format: "JSONEachRow",
        abort_signal: controller.signal,
      });
      const stream = result.stream();
      for await (const batch of stream) {
        expect(batch.length).toBeGreaterThan(0);
        break; // leaves the response unread: the server must cancel the query and free its slot
      }
      controller.abort();
      result.close();
    }
    // More abandoned queries than the engine's concurrency: new queries still run.
    const answers = await Promise.all(
      Array.from({ length: 4 }, (_, i) => rows<{ v: number }>(client, `SELECT ${i} AS v`)),
    );
    expect(answers.map((a) => a[0]?.v)).toEqual([0, 1, 2, 3]);
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

  it("refuses mixing Basic auth with credentials in the URL", async () => {
    const response = await fetch(`${server.url}/?user=${encodeURIComponent(USER)}&query=SELECT%201`, {
      headers: { Authorization: `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString("base64")}` },
    });
    expect(response.status).toBe(403);
    expect(await response.text()).toMatch(
      /not allowed to use Authorization HTTP header and authentication via parameters/,
    );
  });

  it("refuses HTTP sessions instead of silently ignoring them", async () => {
    const err = await failure(client.query({ query: "SELECT 1", session_id: "s1" }));
    expect(err.type).toBe("NOT_IMPLEMENTED");
  });

  it("treats GET queries as read-only, as ClickHouse does", async () => {
    const auth = { "X-ClickHouse-User": USER, "X-ClickHouse-Key": PASSWORD };
    const ddl = encodeURIComponent("CREATE TABLE posthog.from_get (a Int8) ENGINE = Memory");
    const refused = await fetch(`${server.url}/?query=${ddl}`, { headers: auth });
    expect(refused.headers.get("x-clickhouse-exception-code")).toBe("164");
    expect(await refused.text()).toMatch(/\(READONLY\)/);
    const allowed = await fetch(`${server.url}/?query=${ddl}`, { method: "POST", headers: auth });
    expect(allowed.status).toBe(200);
  });

  it("creates tables, inserts and reads back, with gzip both ways", async () => {
    const zipped = clientWith({ compression: { request: true, response: true } });
    try {
      await zipped.command({ query: "CREATE TABLE kv (k String, v Int64) ENGINE = MergeTree ORDER BY k" });
      const inserted = await zipped.insert({
        table: "kv",
        values: [
          { k: "a", v: 1 },
          { k: "b", v: 2 },
        ],
        format: "JSONEachRow",
      });
      expect(inserted.summary?.written_rows).toBe("2");
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

  it("inserts in every way the client and curl send data", async () => {
    await client.command({
      query:
        "CREATE TABLE ins (id UInt32, name String, note Nullable(String)) ENGINE = MergeTree ORDER BY id",
    });
    // Column subset, CSV, TSV through client.insert.
    await client.insert({
      table: "ins",
      values: [{ id: 1, name: 'ünï "q" \\' }],
      columns: ["id", "name"],
      format: "JSONEachRow",
    });
    await client.insert({ table: "posthog.ins", values: [[2, "csv", null]], format: "JSONCompactEachRow" });
    // Statement and data in one body, as `curl --data-binary` sends them.
    const auth = { "X-ClickHouse-User": USER, "X-ClickHouse-Key": PASSWORD };
    const body = "INSERT INTO posthog.ins FORMAT TabSeparated\n3\ttsv\t\\N\n4\ttsv\tx\n";
    const viaBody = await fetch(`${server.url}/`, { method: "POST", headers: auth, body });
    expect(viaBody.status).toBe(200);
    expect(JSON.parse(viaBody.headers.get("x-clickhouse-summary") ?? "{}")).toMatchObject({
      written_rows: "2",
    });
    // A quoted table name takes the plain SQL path.
    const quoted = await client.insert({
      table: "`ins`",
      values: [{ id: 5, name: "quoted", note: "n" }],
      format: "JSONEachRow",
    });
    expect(quoted.summary).toBeDefined();
    const got = await rows<{ id: number; name: string; note: string | null }>(
      client,
      "SELECT * FROM ins ORDER BY id",
    );
    expect(got).toEqual([
      { id: 1, name: 'ünï "q" \\', note: null },
      { id: 2, name: "csv", note: null },
      { id: 3, name: "tsv", note: null },
      { id: 4, name: "tsv", note: "x" },
      { id: 5, name: "quoted", note: "n" },
    ]);
    // Errors in the data come back as ClickHouse errors.
    const err = await failure(
      client.insert({ table: "ins", values: [{ id: "not a number" }], format: "JSONEachRow" }),
    );
    expect(err.type).toMatch(/PARSE|INCORRECT_DATA|TYPE_MISMATCH/);
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

describe("sample data generator", () => {
  const window = { start: new Date("2026-11-24T00:00:00Z"), end: new Date("2026-11-25T00:00:00Z") };

  it("is deterministic: same seed, same data; another seed, other data", async () => {
    const a = await generateSampleData(server, { events: 20_000, seed: 11, ...window, database: "gen_a" });
    const b = await generateSampleData(server, { events: 20_000, seed: 11, ...window, database: "gen_b" });
    const c = await generateSampleData(server, { events: 20_000, seed: 12, ...window, database: "gen_c" });
    const [fa, fb, fc] = await Promise.all(
      ["gen_a", "gen_b", "gen_c"].map((d) => sampleDataFingerprint(server, d)),
    );
    expect(fa).toBe(fb);
    expect(fc).not.toBe(fa);
    expect(a.teams).toEqual(b.teams);
    expect(c.events).toBe(20_000);

    // The same statements sent over HTTP (as against a real ClickHouse) give the same data.
    const overHttp = clientTarget(client);
    const d = await generateSampleData(overHttp, { events: 20_000, seed: 11, ...window, database: "gen_d" });
    expect(await sampleDataFingerprint(overHttp, "gen_d")).toBe(fa);
    expect(d.teams).toEqual(a.teams);
  });

  it("has PostHog's shapes: teams, merged ids, person versions, late and duplicate events, valid JSON", async () => {
    const summary = await generateSampleData(server, {
      events: 30_000,
      teams: 4,
      seed: 5,
      ...window,
      lateFraction: 0.05,
      duplicateFraction: 0.01,
      database: "gen_shape",
    });
    expect(summary.events).toBe(30_000);
    expect(summary.teams.map((t) => t.teamId)).toEqual([1, 2, 3, 4]);
    expect(summary.duplicateRows).toBeGreaterThan(0);
    expect(summary.eventRows).toBe(summary.events + summary.duplicateRows);

    const [facts] = await rows<Record<string, number | string>>(
      client,
      `SELECT
         countIf(NOT isValidJSON(properties)) AS bad_json,
         countIf(timestamp < {start:DateTime64(6, 'UTC')} OR timestamp >= {end:DateTime64(6, 'UTC')}) AS outside,
         countIf(inserted_at < timestamp) AS inserted_before_timestamp,
         countIf(dateDiff('second', timestamp, inserted_at) > 3600) AS late,
         countIf(inserted_at IS NULL) AS legacy,
         countIf(event = '$autocapture' AND elements_chain = '') AS autocapture_without_chain,
         countIf(JSONHas(properties, '$set')) AS with_set,
         countIf(JSONHas(properties, '$set_once')) AS with_set_once,
         countIf(JSONType(properties, '$feature_flags') = 'Object') AS nested_objects,
         countIf(match(properties, '[^\\x00-\\x7F]')) AS unicode,
         uniqExact(event) AS event_names
       FROM gen_shape.events`,
      { start: "2026-11-24 00:00:00", end: "2026-11-25 00:00:00" },
    );
    expect(facts).toMatchObject({
      bad_json: 0,
      outside: 0,
      inserted_before_timestamp: 0,
      autocapture_without_chain: 0,
    });
    // About 5% late: between 3% and 7%.
    expect(Number(facts?.["late"])).toBeGreaterThan(30_000 * 0.03);
    expect(Number(facts?.["late"])).toBeLessThan(30_000 * 0.07);
    for (const key of ["legacy", "with_set", "with_set_once", "nested_objects", "unicode"]) {
      expect(Number(facts?.[key]), key).toBeGreaterThan(0);
    }
    expect(Number(facts?.["event_names"])).toBeGreaterThanOrEqual(6);

    const [people] = await rows<Record<string, number>>(
      client,
      `SELECT
         (SELECT max(c) FROM (SELECT count() AS c FROM gen_shape.person_distinct_id2 FINAL GROUP BY team_id, person_id)) AS max_ids_per_person,
         (SELECT count() FROM (SELECT team_id, distinct_id FROM gen_shape.person_distinct_id2
                               GROUP BY team_id, distinct_id HAVING uniqExact(person_id) > 1)) AS remapped_ids,
         (SELECT max(version) FROM gen_shape.person) AS max_person_version,
         (SELECT countIf(is_deleted = 1) FROM gen_shape.person FINAL) AS deleted_persons,
         (SELECT countIf(is_deleted = 1) FROM gen_shape.person_distinct_id2 FINAL) AS deleted_ids,
         (SELECT count() FROM gen_shape.events AS e
            LEFT ANTI JOIN gen_shape.person_distinct_id2 AS d USING (team_id, distinct_id)) AS events_without_mapping`,
    );
    expect(Number(people?.["max_ids_per_person"])).toBe(3);
    expect(Number(people?.["remapped_ids"])).toBeGreaterThan(0);
    expect(Number(people?.["max_person_version"])).toBe(3);
    expect(Number(people?.["deleted_persons"])).toBeGreaterThan(0);
    expect(Number(people?.["deleted_ids"])).toBeGreaterThanOrEqual(Number(people?.["deleted_persons"]));
    expect(Number(people?.["events_without_mapping"])).toBe(0);
  });
});

describe("streaming a million events", () => {
  it(
    "streams 1M generated events through resultSet.stream() with bounded memory",
    { timeout: 180_000 },
    async () => {
      const generatedAt = performance.now();
      const summary = await generateSampleData(server, {
        events: 1_000_000,
        seed: 2026,
        start: new Date("2026-11-24T00:00:00Z"),
        end: new Date("2026-11-25T00:00:00Z"),
        database: "big",
      });
      const generateMs = performance.now() - generatedAt;
      expect(summary.events).toBe(1_000_000);

      globalThis.gc?.();
      const baseline = process.memoryUsage().rss;
      let peak = baseline;
      const sampler = setInterval(() => {
        peak = Math.max(peak, process.memoryUsage().rss);
      }, 50);

      const started = performance.now();
      let count = 0;
      let bytes = 0;
      let pingsDuringStream = 0;
      let streaming = true;
      const side = clientWith();
      const pinger = (async () => {
        while (streaming) {
          const [r] = await rows<{ one: number }>(side, "SELECT 1 AS one");
          if (streaming && r?.one === 1) pingsDuringStream++;
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
      })();
      try {
        const result = await client.query({
          query: "SELECT * FROM big.events",
          format: "JSONEachRow",
        });
        for await (const batch of result.stream<Record<string, unknown>>()) {
          for (const row of batch) bytes += row.text.length + 1;
          count += batch.length;
        }
      } finally {
        streaming = false;
        clearInterval(sampler);
        await pinger;
        await side.close();
      }
      const seconds = (performance.now() - started) / 1000;
      const growthMb = (peak - baseline) / 2 ** 20;
      const streamedMb = bytes / 2 ** 20;
      console.log(
        `1M events: generated in ${(generateMs / 1000).toFixed(1)} s; streamed ${count} rows, ${streamedMb.toFixed(0)} MB ` +
          `in ${seconds.toFixed(1)} s (${Math.round(count / seconds)} rows/s, ${(streamedMb / seconds).toFixed(1)} MB/s); ` +
          `RSS growth ${growthMb.toFixed(0)} MB; ${pingsDuringStream} queries answered meanwhile`,
      );
      expect(count).toBe(summary.eventRows);
      // The result is several times larger than the allowed growth, so holding it would fail.
      expect(streamedMb).toBeGreaterThan(3 * 300);
      expect(growthMb).toBeLessThan(300);
      expect(pingsDuringStream).toBeGreaterThan(0);
    },
  );
});
