// The run state machine's branches, one by one, on in-memory fakes through
// the app layer (the randomized fault schedules mix them; these name them):
// claim races, write-ahead of the load job, lost runs and completion events,
// the sweep, and how a retry writes after an attempt that may have written.
import { beforeEach, describe, expect, it } from "vitest";
import { finalizeJob } from "../../functions/src/app/finalize-run.js";
import { runExportRequest } from "../../functions/src/app/export-request.js";
import { RETRY_FAILED_AFTER_MS } from "../../functions/src/app/sweep.js";
import { parseManifest, type RunManifest } from "../../functions/src/core/manifest.js";
import { loadJobId, manifestObject, mergeJobId, runId } from "../../functions/src/core/names.js";
import type { Period } from "../../functions/src/core/periods.js";
import type { RunRequest } from "../../functions/src/core/request.js";
import { fakeExport, fakeWorld, type FakeWorld } from "../helpers/fakes/fake-deps.js";

const P1: Period = { start: new Date("2026-11-25T08:00:00Z"), end: new Date("2026-11-25T09:00:00Z") };
const P2: Period = { start: new Date("2026-11-25T09:00:00Z"), end: new Date("2026-11-25T10:00:00Z") };

let w: FakeWorld;

function addEvents(period: Period, n: number, team = 7): void {
  for (let i = 0; i < n; i++) {
    const at = new Date(period.start.getTime() + i * 1000);
    w.source.events.push({
      uuid: `00000000-0000-4000-8000-${String(w.source.events.length + 1).padStart(12, "0")}`,
      teamId: team,
      event: "$pageview",
      distinctId: "d",
      properties: "{}",
      timestamp: at,
      ingestedAt: at,
    });
  }
}

const request = (period: Period, force = false): RunRequest => ({
  kind: "run",
  exportId: "e",
  range: { start: period.start, end: period.end },
  force,
});
const call = (period: Period, force = false) => runExportRequest(request(period, force), undefined, w.deps);
async function manifest(period: Period): Promise<RunManifest> {
  const found = await w.store.read(manifestObject("e", period));
  return parseManifest(found!.text, "m");
}
const finalRows = () => w.warehouse.table({ projectId: "fake-project", datasetId: "ds", tableId: "events" });
const uuidsOnce = () => new Set(finalRows().map((r) => r["uuid"])).size === finalRows().length;

/** Delivers every pending completion event to finalizeRun, as Pub/Sub would. */
async function deliverAll(): Promise<void> {
  for (const message of w.warehouse.audit.splice(0)) {
    const entry = JSON.parse(Buffer.from(message.message.data, "base64").toString()) as {
      protoPayload: {
        metadata: { jobChange: { job: { jobName: string; jobConfig: { labels: Record<string, string> } } } };
      };
    };
    const job = entry.protoPayload.metadata.jobChange.job;
    await finalizeJob(
      {
        exportId: job.jobConfig.labels["bqx_export"]!,
        runId: job.jobConfig.labels["bqx_run"]!,
        jobId: job.jobName.split("/").pop()!,
      },
      w.deps,
    );
  }
}

beforeEach(async () => {
  w = fakeWorld({ now: new Date("2026-11-25T12:00:00Z") });
  await fakeExport(w, "e");
  addEvents(P1, 12);
  addEvents(P2, 5);
});

describe("claiming a run", () => {
  it("of two calls at once, one exports and the other finds the run in flight", async () => {
    w.warehouse.faults = { loadDoneAtOnce: () => false };
    const [a, b] = await Promise.all([call(P1), call(P1)]);
    const kinds = [a.outcomes[0]!.kind, b.outcomes[0]!.kind].sort();
    expect(kinds).toEqual(["in-flight", "started"]);
    expect((await manifest(P1)).attempt).toBe(1);
    w.warehouse.completeJobs();
    await deliverAll();
    expect((await manifest(P1)).state).toBe("COMPLETED");
    expect(finalRows()).toHaveLength(12);
  });

  it("a COMPLETED period is left alone, unless forced (then it merges on uuid and adds nothing)", async () => {
    await call(P1);
    expect((await call(P1)).outcomes[0]).toMatchObject({ kind: "completed", alreadyDone: true });
    const forced = await call(P1, true);
    expect(forced.outcomes[0]!.manifest).toMatchObject({
      attempt: 2,
      writePath: "insert-new",
      state: "COMPLETED",
      mergedRows: 0,
    });
    expect(finalRows()).toHaveLength(12);
  });
});

describe("the load job, written ahead", () => {
  it("a 5xx before the job exists leaves the run LOADING; the next call starts that job once", async () => {
    let once = true;
    w.warehouse.faults = { startLoad: () => (once ? ((once = false), "before") : undefined) };
    const first = await call(P1);
    expect(first.outcomes[0]).toMatchObject({ kind: "failed", error: { retryable: true } });
    expect((await manifest(P1)).state).toBe("LOADING");
    expect(w.warehouse.jobs.has(loadJobId(runId("e", P1), 1))).toBe(false);
    const second = await call(P1);
    expect(second.outcomes[0]!.manifest.state).toBe("COMPLETED");
    expect((await manifest(P1)).attempt).toBe(1);
    expect(finalRows()).toHaveLength(12);
  });

  it("a 5xx after the job exists (a lost answer) leaves it LOADING; the job is followed, not superseded", async () => {
    let once = true;
    w.warehouse.faults = {
      startLoad: () => (once ? ((once = false), "after") : undefined),
      loadDoneAtOnce: () => false,
    };
    await call(P1);
    expect((await manifest(P1)).state).toBe("LOADING");
    expect((await call(P1)).outcomes[0]!.kind).toBe("in-flight");
    w.warehouse.completeJobs();
    await deliverAll();
    expect(await manifest(P1)).toMatchObject({ state: "COMPLETED", attempt: 1 });
    expect(finalRows()).toHaveLength(12);
  });
});

describe("lost runs and events", () => {
  it("a lost completion event is recovered by the next call for the period, or by another period's sweep", async () => {
    w.warehouse.faults = { loadDoneAtOnce: () => false };
    await call(P1);
    w.warehouse.completeJobs();
    w.warehouse.audit.splice(0); // lost
    expect((await manifest(P1)).state).toBe("LOADING");
    const other = await call(P2);
    expect(other.sweep?.finalized).toEqual([runId("e", P1)]);
    expect((await manifest(P1)).state).toBe("COMPLETED");
  });

  it("a run stuck in STAGING is taken over with a new attempt once stale, and still appends (nothing was loaded)", async () => {
    await call(P1);
    const m = await manifest(P1);
    // Rewind it to STAGING, as a crashed worker leaves it.
    const found = await w.store.read(manifestObject("e", P1));
    const staging: RunManifest = {
      ...m,
      state: "STAGING",
      history: m.history.filter((h) => h.state === "STAGING"),
    };
    await w.store.writeIfGeneration(manifestObject("e", P1), JSON.stringify(staging), found!.generation, {
      bqx_state: "STAGING",
      bqx_updated: m.updatedAt,
    });
    w.warehouse.tables.clear();
    expect((await call(P1)).outcomes[0]!.kind).toBe("in-flight");
    w.clock.now += w.deps.settings.staleAfterMs;
    const retried = await call(P1);
    expect(retried.outcomes[0]!.manifest).toMatchObject({
      attempt: 2,
      writePath: "append",
      state: "COMPLETED",
    });
  });

  it("a run FAILED for a retryable reason is retried by the sweep once Cloud Scheduler's retries are over", async () => {
    let down = true;
    w.source.faults = { unavailable: () => down };
    const failed = await call(P1);
    expect(failed.outcomes[0]).toMatchObject({ kind: "failed", error: { retryable: true } });
    down = false;
    w.clock.now += RETRY_FAILED_AFTER_MS - 1000;
    expect((await call(P2)).sweep?.retried).toEqual([]);
    w.clock.now += 2000;
    expect((await call(P2)).sweep?.retried).toEqual([runId("e", P1)]);
    expect(await manifest(P1)).toMatchObject({ state: "COMPLETED", attempt: 2 });
  });
});

describe("a load job that failed", () => {
  it("for BigQuery's internalError fails the run retryably; the sweep's new attempt loads every row once", async () => {
    let failLoad = true;
    w.warehouse.faults = {
      loadError: () =>
        failLoad ? { reason: "internalError", message: "An internal error occurred (injected)" } : undefined,
    };
    const failed = await call(P1);
    expect(failed.outcomes[0]).toMatchObject({
      kind: "failed",
      error: { code: "LOAD_FAILED", retryable: true },
    });
    expect(await manifest(P1)).toMatchObject({ state: "FAILED", error: { retryable: true } });
    failLoad = false;
    w.clock.now += RETRY_FAILED_AFTER_MS + 1000;
    expect((await call(P2)).sweep?.retried).toEqual([runId("e", P1)]);
    expect(await manifest(P1)).toMatchObject({ state: "COMPLETED", attempt: 2, writePath: "insert-new" });
    expect(finalRows()).toHaveLength(17);
    expect(uuidsOnce()).toBe(true);
  });

  it("for a bad file fails the run for good, naming the reason", async () => {
    w.warehouse.faults = {
      loadError: () => ({ reason: "invalid", message: "JSON parsing error (injected)" }),
    };
    const failed = await call(P1);
    expect(failed.outcomes[0]).toMatchObject({
      kind: "failed",
      error: { code: "LOAD_FAILED", retryable: false, details: { reason: "invalid" } },
    });
    expect(await manifest(P1)).toMatchObject({ state: "FAILED", error: { retryable: false } });
  });
});

describe("writing after an attempt that may have written", () => {
  it("a forced rerun whose MERGE failed is followed by attempts that merge on uuid: every row once", async () => {
    await call(P1);
    let failMerge = true;
    w.warehouse.faults = {
      queryError: () => (failMerge ? { reason: "invalid", message: "Syntax error (injected)" } : undefined),
    };
    const forced = await call(P1, true);
    expect(forced.outcomes[0]!.manifest).toMatchObject({ state: "FAILED", attempt: 2 });
    failMerge = false;
    const next = await call(P1);
    expect(next.outcomes[0]!.manifest).toMatchObject({
      attempt: 3,
      writePath: "insert-new",
      state: "COMPLETED",
    });
    expect(finalRows()).toHaveLength(12);
    expect(uuidsOnce()).toBe(true);
  });

  it("a MERGE that hits a concurrent update is tried again under a new job id", async () => {
    await fakeExport(w, "e", { deduplicate: true });
    let conflicts = 1;
    w.warehouse.faults = {
      queryError: () =>
        conflicts-- > 0
          ? {
              reason: "invalidQuery",
              message: "Could not serialize access to table fake-project:ds.events due to concurrent update",
            }
          : undefined,
    };
    const first = await call(P1);
    expect(first.outcomes[0]).toMatchObject({ kind: "failed", error: { retryable: true } });
    const after = await manifest(P1);
    expect({ state: after.state, mergeTries: after.mergeTries }).toEqual({ state: "LOADING", mergeTries: 2 });
    const second = await call(P1);
    expect(second.outcomes[0]!.manifest.state).toBe("COMPLETED");
    const run = runId("e", P1);
    expect(w.warehouse.jobs.has(mergeJobId(run, 1, 1))).toBe(true);
    expect(w.warehouse.jobs.has(mergeJobId(run, 1, 2))).toBe(true);
    expect(finalRows()).toHaveLength(12);
  });

  it("a stage table that cannot be dropped leaves the run COMPLETED with a warning", async () => {
    await fakeExport(w, "e", { deduplicate: true });
    w.warehouse.faults = { deleteTableDenied: () => true };
    const done = await call(P1);
    expect(done.outcomes[0]!.manifest.state).toBe("COMPLETED");
    expect(done.outcomes[0]!.manifest.warnings).toEqual([
      expect.stringMatching(/bigquery\.tables\.delete denied.*expires 7 days/),
    ]);
    expect(w.logs.some((l) => l.includes('"severity":"WARNING"') && l.includes("could not be dropped"))).toBe(
      true,
    );
  });
});

describe("the run's end, as the log says it", () => {
  it("writes one run_completed line with the export, run, attempt and trigger", async () => {
    await call(P1);
    const lines = w.logs
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l["event"] === "run_completed");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      severity: "INFO",
      export: "e",
      run: runId("e", P1),
      attempt: 1,
      trigger: "manual",
      rows: 12,
    });
    expect(Date.parse(String(lines[0]!["time"]))).toBeGreaterThan(0);
  });
});
