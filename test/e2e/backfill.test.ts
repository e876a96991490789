// End to end on the local stack: backfills. One request plans any range into
// chunks, the chunks fan out on the local Cloud Tasks (the queue as
// Terraform configures it) back to exportRun, each chunk loads a stage table
// and MERGEs insert-only on uuid (persons: on versions) into the final table.
// Exactly once next to scheduled runs and other backfills, no table
// modification spent per period, resumable, bounded by the queue's cap.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Period } from "../../functions/src/core/periods.js";
import {
  eventsQuery,
  personsSnapshotQuery,
  DEFAULT_LOOKBACK_DAYS,
} from "../../functions/src/core/source-sql.js";
import {
  callExportRun,
  interval,
  query,
  runExport,
  waitForRun,
  destinationOf,
  backfillProgress,
  waitForBackfill,
} from "../helpers/stack-helpers.js";
import { generateSampleData } from "../local/clickhouse/sample-data.js";
import { BACKFILL_QUEUE, startLocalStack, type Destination, type LocalStack } from "../local/stack.js";
import { Faults } from "../local/bigquery/faults.js";

let stack: LocalStack;
let dest: Destination;
let team: number;
const RANGE: Period = { start: new Date("2026-08-01T00:00:00Z"), end: new Date("2026-11-01T00:00:00Z") };
const HOURS = (RANGE.end.getTime() - RANGE.start.getTime()) / 3_600_000;

function definition(id: string, extra: Record<string, unknown> = {}) {
  return {
    id,
    model: "events",
    teamId: team,
    interval: "hour",
    destination: destinationOf(stack, dest, id.replace(/-/g, "_")),
    ...extra,
  };
}

async function postBackfill(def: { id: string }, range: Period, extra: Record<string, unknown> = {}) {
  await stack.registerExport(def);
  return callExportRun(stack, { exportId: def.id, backfill: interval(range), ...extra });
}

const progress = (exportId: string, backfillId: string) => backfillProgress(stack, exportId, backfillId);
const settle = (exportId: string, backfillId: string, until?: string[]) =>
  waitForBackfill(stack, exportId, backfillId, until);

/** The uuids a backfill of `range` must land: events of the team by timestamp, once each. */
async function sourceUuids(range: Period): Promise<Set<string>> {
  const q = eventsQuery({
    teamId: team,
    period: range,
    exportedAt: new Date(),
    includeEvents: [],
    excludeEvents: [],
    selection: "backfill",
    lookbackDays: DEFAULT_LOOKBACK_DAYS,
  });
  const out = new Set<string>();
  for await (const line of stack.deps.source.rows(q)) out.add((JSON.parse(line) as { uuid: string }).uuid);
  return out;
}

async function landed(tableId: string): Promise<{ n: number; uuids: Set<string> }> {
  const rows = await query(stack, `SELECT uuid FROM \`${stack.projectId}.${dest.datasetId}.${tableId}\``);
  return { n: rows.length, uuids: new Set(rows.map((r) => r.uuid as string)) };
}

beforeAll(async () => {
  stack = await startLocalStack({ backfillRowsPerChunk: 400, tasksTimeScale: 50 });
  dest = await stack.createDestination({ datasetId: "Backfills" });
  const sample = await generateSampleData(stack.clickhouse, {
    events: 3000,
    teams: 1,
    firstTeamId: 40,
    seed: 7,
    start: RANGE.start,
    end: RANGE.end,
    lateFraction: 0.05,
    duplicateFraction: 0.02,
  });
  team = sample.teams[0]!.teamId;
});

afterAll(async () => {
  await stack?.stop();
});

describe("a backfill", () => {
  let firstId = "";

  it(`over ${HOURS} hourly periods lands exactly the source's rows, spending no table modification per period`, async () => {
    expect(HOURS).toBeGreaterThanOrEqual(2000);
    const def = definition("bf-events");
    const res = await postBackfill(def, RANGE);
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const plan = res.body.backfill;
    firstId = plan.id;
    expect(plan.id).toMatch(/^bf-[0-9a-f]{16}$/);
    expect(plan.event).toBe("planned");
    expect(plan.chunks).toBeGreaterThan(3);
    expect(plan.periodsPerChunk.reduce((a: number, b: number) => a + b, 0)).toBe(HOURS);
    expect(plan.estimatedRows).toBeGreaterThan(2500);
    const done = await settle(def.id, plan.id);
    expect(done.state).toBe("COMPLETED");
    expect(done.chunks.completed).toBe(plan.chunks);
    const want = await sourceUuids(RANGE);
    const got = await landed("bf_events");
    expect(got.n).toBe(want.size);
    expect(got.uuids).toEqual(want);
    // Loads went to the chunks' stage tables; the final table was written by MERGE (DML) only.
    const final = { projectId: stack.projectId, datasetId: dest.datasetId, tableId: "bf_events" };
    expect(stack.bigquery.quota.used(final, true)).toBe(0);
    expect(stack.tasks.stats(BACKFILL_QUEUE).peakInFlight).toBeLessThanOrEqual(2);
    // Nothing left behind.
    const [tables] = await stack.adminBigQuery().dataset(dest.datasetId).getTables();
    expect(tables.map((t) => t.id).filter((id) => id?.startsWith("bf_events_bqx_stage_"))).toEqual([]);
  });

  it("posted again is the same backfill: one plan, each chunk run once", async () => {
    const res = await postBackfill(definition("bf-events"), RANGE);
    expect(res.status).toBe(202);
    expect(res.body.backfill.id).toBe(firstId);
    expect(res.body.backfill.event).toBe("reposted");
    expect(res.body.backfill.enqueued).toBe(0);
    const runs = await stack.deps.store.list(`runs/bf-events/backfill-${firstId}/`);
    expect(runs.map((r) => r.metadata["bqx_attempt"])).toEqual(runs.map(() => "1"));
    const got = await landed("bf_events");
    expect(got.n).toBe(got.uuids.size);
  });

  it("over periods scheduled runs exported, and beside an overlapping backfill, adds no row twice", async () => {
    const def = definition("bf-mixed");
    const hours: Period[] = [0, 1, 2, 30].map((d) => ({
      start: new Date(RANGE.start.getTime() + d * 24 * 3_600_000 + 10 * 3_600_000),
      end: new Date(RANGE.start.getTime() + d * 24 * 3_600_000 + 11 * 3_600_000),
    }));
    for (const hour of hours) {
      await runExport(stack, def, { dataInterval: interval(hour) });
      expect((await waitForRun(stack, def.id, hour)).state).toBe("COMPLETED");
    }
    const before = await landed("bf_mixed");
    expect(before.n).toBeGreaterThan(0);
    const first = await postBackfill(def, RANGE, { concurrency: 2 });
    const half: Period = { start: new Date("2026-09-01T00:00:00Z"), end: new Date("2026-10-15T00:00:00Z") };
    const second = await postBackfill(def, half);
    expect(second.body.backfill.id).not.toBe(first.body.backfill.id);
    await settle(def.id, first.body.backfill.id);
    await settle(def.id, second.body.backfill.id);
    const got = await landed("bf_mixed");
    expect(got.n).toBe(got.uuids.size);
    const want = await sourceUuids(RANGE);
    for (const u of want) expect(got.uuids.has(u)).toBe(true);
  });

  it("cancelled half-way stops dispatching; posted again it resumes and completes once", async () => {
    const def = definition("bf-cancel");
    const res = await postBackfill(def, RANGE, { concurrency: 1 });
    const id = res.body.backfill.id as string;
    const chunks = res.body.backfill.chunks as number;
    for (let p = await progress(def.id, id); p.chunks.completed < 1; p = await progress(def.id, id)) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const cancel = await callExportRun(stack, { exportId: def.id, cancelBackfill: id });
    expect(cancel.status).toBe(200);
    const stopped = await settle(def.id, id, ["CANCELLED", "COMPLETED"]);
    expect(stopped.state).toBe("CANCELLED");
    expect(stopped.chunks.pending).toBeGreaterThan(0);
    expect(stopped.chunks.completed).toBeLessThan(chunks);
    const again = await postBackfill(def, RANGE, { concurrency: 2 });
    expect(again.body.backfill).toMatchObject({ id, event: "resumed", round: 2 });
    const done = await settle(def.id, id);
    expect(done.state).toBe("COMPLETED");
    expect(done.history.map((h: any) => h.event)).toEqual(["planned", "cancelled", "resumed"]);
    const got = await landed("bf_cancel");
    expect(got.n).toBe(got.uuids.size);
    expect(got.uuids).toEqual(await sourceUuids(RANGE));
  });

  it("retries, on the queue, chunks whose load start failed or whose ClickHouse was unreachable, and MERGEs that hit a concurrent update", async () => {
    const def = definition("bf-faults");
    const final = { projectId: stack.projectId, datasetId: dest.datasetId, tableId: "bf_faults" };
    const failedBefore = stack.tasks.stats(BACKFILL_QUEUE).failedAttempts;
    // More 5xx than the client library's own retries; the first MERGE hits a concurrent update.
    stack.bigquery.faults.failNext("jobs.insert", 8, { reason: "backendError", message: "Backend error" });
    stack.bigquery.faults.failNextStatementOn(final, Faults.concurrentUpdate(final));
    const res = await postBackfill(def, RANGE, { concurrency: 2 });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    // Then ClickHouse resets the chunks' first connections (as when it restarts).
    stack.clickhouse.dropNext(2);
    const done = await settle(def.id, res.body.backfill.id);
    expect(done.state).toBe("COMPLETED");
    expect(stack.tasks.stats(BACKFILL_QUEUE).failedAttempts).toBeGreaterThan(failedBefore);
    const got = await landed("bf_faults");
    expect(got.n).toBe(got.uuids.size);
    expect(got.uuids).toEqual(await sourceUuids(RANGE));
  });

  it("refuses an end past the last full period, and a misaligned start, naming what to use", async () => {
    const def = definition("bf-refused");
    const future = await postBackfill(def, {
      start: RANGE.start,
      end: new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000 + 7 * 24 * 3_600_000),
    });
    expect(future.status).toBe(400);
    expect(future.body.error.message).toMatch(/later than the last full period/);
    const misaligned = await postBackfill(def, { start: new Date("2026-08-01T00:30:00Z"), end: RANGE.end });
    expect(misaligned.status).toBe(400);
    expect(misaligned.body.error.message).toMatch(
      /backfill\.start 2026-08-01T00:30:00Z is not on an hour boundary/,
    );
  });
});

describe("a persons backfill", () => {
  it("lands the latest state of every key of the team", async () => {
    const def = { ...definition("bf-persons"), model: "persons" };
    const res = await postBackfill(def, RANGE);
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const done = await settle(def.id, res.body.backfill.id);
    expect(done.state).toBe("COMPLETED");
    const want: Record<string, unknown>[] = [];
    for await (const line of stack.deps.source.rows(
      personsSnapshotQuery({ teamId: team, bucket: { index: 0, of: 1 } }),
    )) {
      const r = JSON.parse(line) as Record<string, unknown>;
      if (!r["bqx_deleted"])
        want.push({
          distinct_id: r["distinct_id"],
          person_id: r["person_id"],
          v: String(r["person_version"]),
        });
    }
    const rows = await query(
      stack,
      `SELECT distinct_id, person_id, person_version FROM \`${stack.projectId}.${dest.datasetId}.bf_persons\``,
    );
    const got = rows.map((r) => ({
      distinct_id: r.distinct_id,
      person_id: r.person_id,
      v: String(r.person_version),
    }));
    const order = (a: any, b: any) => String(a.distinct_id).localeCompare(String(b.distinct_id));
    expect(got.sort(order)).toEqual(want.sort(order));
    expect(want.length).toBeGreaterThan(10);
  });
});
