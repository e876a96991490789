// Mutating DML on one table as BigQuery runs it
// (https://cloud.google.com/bigquery/docs/data-manipulation-language#update_delete_merge_dml_concurrency):
// 2 running, 20 queued as PENDING, more fail; concurrent statements that
// rewrite the same partition conflict, BigQuery reruns the later one up to
// three times; and the fault hook that fails the next statement on a table.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { BigQuery } from "@google-cloud/bigquery";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { staticTokenAuth } from "./client-auth.js";
import {
  MAX_QUEUED_MUTATING_DML,
  MAX_RUNNING_MUTATING_DML,
  MutatingDmlScheduler,
  type DmlSlot,
} from "./dml-concurrency.js";
import { Faults } from "./faults.js";
import { startBigQueryServer, type BigQueryServer } from "./server.js";

const PROJECT = "bqx-dml";
const TABLE = { projectId: PROJECT, datasetId: "ds", tableId: "t" };

describe("the per-table queue of mutating DML", () => {
  it("runs 2, queues 20 as pending, and refuses the next with BigQuery's error", async () => {
    expect([MAX_RUNNING_MUTATING_DML, MAX_QUEUED_MUTATING_DML]).toEqual([2, 20]);
    const scheduler = new MutatingDmlScheduler();
    const running: DmlSlot[] = [await scheduler.acquire(TABLE), await scheduler.acquire(TABLE)];
    let started = 0;
    const queued = Array.from({ length: 20 }, () =>
      scheduler.acquire(TABLE).then((slot) => {
        started++;
        return slot;
      }),
    );
    await new Promise((r) => setTimeout(r, 10));
    expect(started).toBe(0);
    await expect(scheduler.acquire(TABLE)).rejects.toMatchObject({
      reason: "resourcesExceeded",
      message: `Resources exceeded during query execution: Too many DML statements outstanding against table ${PROJECT}:ds.t, limit is 20.`,
    });
    // Another table has its own queue.
    const other = await scheduler.acquire({ ...TABLE, tableId: "other" });
    other.release();
    // A finished statement hands its slot to the first queued one.
    running[0]?.release();
    const first = await queued[0];
    expect(started).toBe(1);
    first?.release();
    running[1]?.release();
    for (const q of queued.slice(1)) (await q).release();
    expect(started).toBe(20);
  });

  it("conflicts only on a partition another statement rewrote since the snapshot", async () => {
    const scheduler = new MutatingDmlScheduler();
    const a = await scheduler.acquire(TABLE);
    const b = await scheduler.acquire(TABLE);
    a.committed(["day1"]);
    expect(b.conflicts(["day2"])).toBe(false);
    expect(b.conflicts([])).toBe(false);
    expect(b.conflicts(["day1"])).toBe(true);
    b.snapshot();
    expect(b.conflicts(["day1"])).toBe(false);
    a.release();
    b.release();
  });
});

describe("concurrent mutating DML through the REST API", () => {
  let dir: string;
  let server: BigQueryServer;
  let strict: BigQueryServer;
  let bq: BigQuery;
  let bqStrict: BigQuery;

  async function seed(client: BigQuery): Promise<void> {
    await client.query(
      `CREATE OR REPLACE TABLE ds.t (id INT64, ts TIMESTAMP, v INT64) PARTITION BY DATE(ts)`,
    );
    await client.query(
      `INSERT INTO ds.t VALUES (1, TIMESTAMP '2026-11-01 01:00:00+00', 1), (2, TIMESTAMP '2026-11-01 02:00:00+00', 2), (3, TIMESTAMP '2026-11-02 01:00:00+00', 3)`,
    );
  }

  /** Starts statements back to back (both RUNNING before either executes), then waits for all. */
  async function together(client: BigQuery, queries: string[]) {
    const jobs = [];
    for (const query of queries) jobs.push((await client.createQueryJob({ query }))[0]);
    return Promise.all(
      jobs.map((job) =>
        job.promise().then(
          async () => ({ ok: true as const, meta: (await job.getMetadata())[0] as Record<string, never> }),
          (err: unknown) => ({
            ok: false as const,
            err: err as { message: string; errors?: { reason: string }[] },
          }),
        ),
      ),
    );
  }

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "bq-dml-"));
    const common = { gcs: { url: "http://127.0.0.1:9" }, jobStateDelayMs: 150 };
    server = await startBigQueryServer({ dataDir: path.join(dir, "a"), ...common });
    // No reruns: the first conflict fails the statement (BigQuery gives up after its three). Jobs
    // stay RUNNING longer, so two started back to back overlap even on a busy machine.
    strict = await startBigQueryServer({
      dataDir: path.join(dir, "b"),
      ...common,
      jobStateDelayMs: 500,
      dmlConflictReruns: 0,
    });
    bq = new BigQuery({ projectId: PROJECT, apiEndpoint: server.url, authClient: staticTokenAuth() });
    bqStrict = new BigQuery({ projectId: PROJECT, apiEndpoint: strict.url, authClient: staticTokenAuth() });
    await bq.createDataset("ds");
    await bqStrict.createDataset("ds");
  });
  afterAll(async () => {
    await server?.stop();
    await strict?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("reruns the later of two statements rewriting the same partition, which then sees the first's result", async () => {
    await seed(bq);
    const [a, b] = await together(bq, [
      "UPDATE ds.t SET v = v * 10 WHERE DATE(ts) = '2026-11-01'",
      "UPDATE ds.t SET v = v + 1 WHERE DATE(ts) = '2026-11-01'",
    ]);
    expect(a?.ok && b?.ok).toBe(true);
    const [rows] = await bq.query("SELECT v FROM ds.t ORDER BY id");
    // Both applied, one after the other (whichever committed first), never one over a stale snapshot.
    expect([
      [{ v: 11 }, { v: 21 }, { v: 3 }],
      [{ v: 20 }, { v: 30 }, { v: 3 }],
    ]).toContainEqual(rows);
  });

  it("fails the later statement with BigQuery's concurrent-update error when the conflict persists", async () => {
    await seed(bqStrict);
    const queries = ["DELETE FROM ds.t WHERE id = 1", "UPDATE ds.t SET v = 0 WHERE id = 2"];
    const results = await together(bqStrict, queries);
    // Whichever commits first wins; on a loaded machine that need not be the one started first.
    const won = results.findIndex((r) => r.ok);
    const lost = results.find((r) => !r.ok);
    expect(results.filter((r) => r.ok)).toHaveLength(1);
    expect(lost?.ok).toBe(false);
    if (lost && !lost.ok) {
      expect(lost.err.errors?.[0]?.reason).toBe("invalidQuery");
      expect(lost.err.message).toBe(
        `Could not serialize access to table ${PROJECT}:ds.t due to concurrent update`,
      );
    }
    const [rows] = await bqStrict.query("SELECT id, v FROM ds.t ORDER BY id");
    // Only the winner's change is in the table: the loser changed nothing.
    expect(rows).toEqual(
      won === 0
        ? [
            { id: 2, v: 2 },
            { id: 3, v: 3 },
          ]
        : [
            { id: 1, v: 1 },
            { id: 2, v: 0 },
            { id: 3, v: 3 },
          ],
    );
  });

  it("lets statements on different partitions, and MERGEs that only insert, run concurrently", async () => {
    await seed(bqStrict);
    const results = await together(bqStrict, [
      "UPDATE ds.t SET v = 100 WHERE DATE(ts) = '2026-11-01'",
      "DELETE FROM ds.t WHERE DATE(ts) = '2026-11-02'",
    ]);
    expect(results.every((r) => r.ok)).toBe(true);
    const inserts = await together(bqStrict, [
      "DELETE FROM ds.t WHERE id = 1",
      "MERGE ds.t AS t USING (SELECT 9 AS id, TIMESTAMP '2026-11-01 05:00:00+00' AS ts, 9 AS v) AS s ON t.id = s.id WHEN MATCHED THEN DELETE WHEN NOT MATCHED THEN INSERT (id, ts, v) VALUES (s.id, s.ts, s.v)",
    ]);
    expect(inserts.every((r) => r.ok)).toBe(true);
    const [rows] = await bqStrict.query("SELECT id, v FROM ds.t ORDER BY id");
    expect(rows).toEqual([
      { id: 2, v: 100 },
      { id: 9, v: 9 },
    ]);
  });

  it("keeps a third mutating statement PENDING while two run", async () => {
    await seed(bq);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const [job] = await bq.createQueryJob({ query: `UPDATE ds.t SET v = v WHERE id = ${10 + i}` });
      ids.push(job.id as string);
    }
    const states = async () =>
      Promise.all(
        ids.map(
          async (id) => ((await bq.job(id).getMetadata())[0] as { status: { state: string } }).status.state,
        ),
      );
    let seen: string[] = [];
    for (let i = 0; i < 50; i++) {
      seen = await states();
      if (seen.filter((s) => s === "RUNNING").length === 2) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    // Which of three statements sent back to back gets the queue's place is not promised
    // (each is analyzed before it queues); that two run and one waits is.
    expect([...seen].sort()).toEqual(["PENDING", "RUNNING", "RUNNING"]);
    await Promise.all(ids.map((id) => bq.job(id).promise()));
  });

  it("fails the next statement on a table on demand, with a concurrent-update error or a retryable 5xx", async () => {
    await seed(bq);
    server.faults.failNextStatementOn(TABLE, Faults.concurrentUpdate(TABLE));
    server.faults.failNextStatementOn(TABLE, Faults.backendError());
    const post = (query: string) =>
      fetch(`${server.baseUrl}/projects/${PROJECT}/queries`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ query, useLegacySql: false }),
      });
    const merge = "MERGE ds.t AS t USING (SELECT 1 AS id) AS s ON t.id = s.id WHEN MATCHED THEN DELETE";
    const first = await post(merge);
    expect(first.status).toBe(400);
    const firstBody = (await first.json()) as { error: { message: string; errors: { reason: string }[] } };
    expect(firstBody.error.errors[0]?.reason).toBe("invalidQuery");
    expect(firstBody.error.message).toBe(
      `Could not serialize access to table ${PROJECT}:ds.t due to concurrent update`,
    );
    const second = await post("SELECT COUNT(*) FROM ds.t");
    expect(second.status).toBe(503);
    expect(
      ((await second.json()) as { error: { errors: { reason: string }[] } }).error.errors[0]?.reason,
    ).toBe("backendError");
    const third = await post(merge);
    expect(((await third.json()) as { numDmlAffectedRows?: string }).numDmlAffectedRows).toBe("1");
  });
});
