// Job lifecycle and result shapes of the local BigQuery: states observed by
// polling, cancel, injected job failures, result paging, tabledata TIMESTAMP
// formats, and tables surviving a restart on the same data directory.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { BigQuery } from "@google-cloud/bigquery";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { staticTokenAuth } from "./client-auth.js";
import { startBigQueryServer, type BigQueryServer } from "./server.js";

const PROJECT = "bqx-jobs-project";
const DATASET = "ds";

interface JobResource {
  status: { state: string; errorResult?: { reason: string; message: string } };
}

describe("job lifecycle and results", () => {
  let dir: string;
  let server: BigQueryServer;
  let bq: BigQuery;

  async function start(): Promise<void> {
    server = await startBigQueryServer({
      dataDir: dir,
      gcs: { url: "http://127.0.0.1:9" },
      jobStateDelayMs: 400,
    });
    bq = new BigQuery({ projectId: PROJECT, apiEndpoint: server.url, authClient: staticTokenAuth() });
  }

  async function getJob(jobId: string): Promise<JobResource> {
    const res = await fetch(`${server.baseUrl}/projects/${PROJECT}/jobs/${jobId}?location=US`);
    return (await res.json()) as JobResource;
  }

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "bq-jobs-"));
    await start();
    await bq.createDataset(DATASET);
    await bq.query({
      query: `CREATE TABLE ${DATASET}.t (n INT64, ts TIMESTAMP)`,
    });
    await bq.query({
      query: `INSERT INTO ${DATASET}.t (n, ts) VALUES (1, TIMESTAMP '2026-11-25 10:00:00.25 UTC'), (2, NULL), (3, TIMESTAMP '1970-01-01 00:00:01 UTC'), (4, NULL), (5, NULL)`,
    });
  });
  afterAll(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("goes PENDING → RUNNING → DONE, observed by polling jobs.get", async () => {
    await bq.createQueryJob({ query: `SELECT COUNT(*) AS c FROM ${DATASET}.t`, jobId: "states_1" });
    const seen = new Set<string>();
    for (let i = 0; i < 100 && !seen.has("DONE"); i++) {
      seen.add((await getJob("states_1")).status.state);
      await new Promise((r) => setTimeout(r, 20));
    }
    expect([...seen]).toEqual(["PENDING", "RUNNING", "DONE"]);
  });

  it("cancels a job before it runs: DONE with reason stopped", async () => {
    const [job] = await bq.createQueryJob({
      query: `DELETE FROM ${DATASET}.t WHERE TRUE`,
      jobId: "cancel_1",
    });
    await job.cancel();
    const done = await job.promise().then(
      () => undefined,
      (e: unknown) => e as { errors?: Array<{ reason?: string }> },
    );
    expect(done?.errors?.[0]?.reason).toBe("stopped");
    const [rows] = await bq.query(`SELECT COUNT(*) AS c FROM ${DATASET}.t`);
    expect(rows).toEqual([{ c: 5 }]);
  });

  it("fails a chosen job with the injected error", async () => {
    server.faults.failJob("doomed_1", { reason: "backendError", message: "Backend error. Job aborted." });
    const [job] = await bq.createQueryJob({ query: `SELECT 1 AS x`, jobId: "doomed_1" });
    const err = await job.promise().then(
      () => undefined,
      (e: unknown) => e as { message: string; errors?: Array<{ reason?: string }> },
    );
    expect(err?.errors?.[0]?.reason).toBe("backendError");
    expect((await getJob("doomed_1")).status.errorResult?.message).toBe("Backend error. Job aborted.");
  });

  it("pages query results with maxResults and pageToken", async () => {
    const [job] = await bq.createQueryJob({ query: `SELECT n FROM ${DATASET}.t ORDER BY n` });
    const [page1, next] = await job.getQueryResults({ maxResults: 2, autoPaginate: false });
    expect(page1).toEqual([{ n: 1 }, { n: 2 }]);
    expect(next?.pageToken).toBeDefined();
    const [page2] = await job.getQueryResults({
      maxResults: 2,
      autoPaginate: false,
      pageToken: next?.pageToken,
    });
    expect(page2).toEqual([{ n: 3 }, { n: 4 }]);
    const [all] = await job.getQueryResults();
    expect(all.map((r) => (r as { n: number }).n)).toEqual([1, 2, 3, 4, 5]);
  });

  it("pages jobs.query results with maxResults, the client fetching the rest", async () => {
    const [rows] = await bq.query({ query: `SELECT n FROM ${DATASET}.t ORDER BY n`, maxResults: 2 });
    expect(rows.map((r) => (r as { n: number }).n)).toEqual([1, 2, 3, 4, 5]);
  });

  it("answers tabledata.list TIMESTAMPs as the requested format", async () => {
    const url = `${server.baseUrl}/projects/${PROJECT}/datasets/${DATASET}/tables/t/data`;
    type Data = { totalRows: string; rows: Array<{ f: Array<{ v: string | null }> }> };
    const cell = (d: Data, n: string) => d.rows.find((r) => r.f[0]?.v === n)?.f[1]?.v;
    const float = (await (await fetch(url)).json()) as Data;
    expect(float.totalRows).toBe("5");
    expect(Number(cell(float, "1"))).toBeCloseTo(1795600800.25, 3);
    expect(Number(cell(float, "3"))).toBe(1);
    const micros = (await (await fetch(`${url}?formatOptions.useInt64Timestamp=true`)).json()) as Data;
    expect(cell(micros, "1")).toBe("1795600800250000");
    const [rows] = await bq.dataset(DATASET).table("t").getRows();
    const one = rows.find((r) => r.n === 1) as { ts: { value: string } };
    expect(Date.parse(one.ts.value)).toBe(Date.parse("2026-11-25T10:00:00.25Z"));
  });

  it("keeps datasets, tables and rows across a restart on the same data directory", async () => {
    await server.stop();
    await start();
    const [rows] = await bq.dataset(DATASET).table("t").getRows();
    expect(rows).toHaveLength(5);
  });
});
