// Auto-pause: the decision on run summaries (N by interval or per export;
// retryable failures, manual reruns, backfill chunks and runs in flight not
// counted; a completed run ends the streak; runs before the last resume not
// counted), and the hooks on an in-memory bucket with a fake Cloud Scheduler
// (the pause recorded once with who/when/why, the one ERROR line, resume
// noticed by a later fire, errors never failing the caller).
import { runManifest } from "../fixtures/run-manifest.js";
import { beforeEach, describe, expect, it } from "vitest";
import {
  DEFAULT_AUTO_PAUSE_AFTER,
  autoPauseThreshold,
  decideAutoPause,
} from "../../functions/src/core/auto-pause.js";
import { afterRunFailed, afterScheduledCall, AUTO_PAUSE_BY } from "../../functions/src/app/auto-pause.js";
import type { AppDeps } from "../../functions/src/app/deps.js";
import { exportEvents, readExportState } from "../../functions/src/app/export-state.js";
import { listExports, registerExport } from "../../functions/src/app/export-store.js";
import type { SchedulerControl, SchedulerJobState } from "../../functions/src/app/ports.js";
import { exportDefinitionSchema, type ExportDefinition } from "../../functions/src/core/definition.js";
import { ExportError } from "../../functions/src/core/errors.js";
import {
  manifestMetadata,
  summaryFromMetadata,
  type RunSummary,
  type RunTrigger,
} from "../../functions/src/core/manifest.js";
import { manifestObject, runId } from "../../functions/src/core/names.js";
import { INTERVALS, intervalMs, type Period } from "../../functions/src/core/periods.js";
import { createLogger } from "../../functions/src/log.js";
import { MemoryStore } from "../helpers/fakes/memory-store.js";

const HOUR = 3600_000;
const T0 = Date.parse("2026-11-25T00:00:00Z");

function summary(
  i: number,
  state: RunSummary["state"],
  opts: { trigger?: RunTrigger; retryable?: boolean; updatedAt?: number } = {},
): RunSummary {
  return {
    object: `runs/x/${i}.json`,
    state,
    attempt: 1,
    rows: 0,
    updatedAt: new Date(opts.updatedAt ?? T0 + i * HOUR).toISOString(),
    definitionHash: "h",
    trigger: opts.trigger ?? "scheduled",
    ...(state === "FAILED"
      ? { error: { code: "DATASET_NOT_FOUND", retryable: opts.retryable ?? false } }
      : {}),
  };
}

const failed = (i: number, opts: Parameters<typeof summary>[2] = {}) => summary(i, "FAILED", opts);

describe("the threshold", () => {
  it("defaults by interval and follows autoPauseAfter", () => {
    expect(DEFAULT_AUTO_PAUSE_AFTER).toEqual({ "5m": 12, "15m": 8, hour: 6, day: 3, week: 2 });
    for (const interval of INTERVALS) {
      expect(autoPauseThreshold({ interval })).toBe(DEFAULT_AUTO_PAUSE_AFTER[interval]);
      expect(autoPauseThreshold({ interval, autoPauseAfter: 1 })).toBe(1);
    }
  });

  it("is a whole number of failed runs, at least 1, in the definition", () => {
    const base = {
      id: "e",
      model: "events",
      teamId: 1,
      interval: "hour",
      destination: { projectId: "my-project", datasetId: "d", tableId: "t", location: "US" },
    };
    expect(exportDefinitionSchema.parse({ ...base, autoPauseAfter: 4 }).autoPauseAfter).toBe(4);
    expect(exportDefinitionSchema.parse(base).autoPauseAfter).toBeUndefined();
    for (const bad of [0, -1, 2.5, "3", null]) {
      expect(exportDefinitionSchema.safeParse({ ...base, autoPauseAfter: bad }).success, String(bad)).toBe(
        false,
      );
    }
  });
});

describe("decideAutoPause", () => {
  it("pauses when the newest N counted runs all failed for good, not at N-1", () => {
    const runs = [summary(0, "COMPLETED"), failed(1), failed(2), failed(3)];
    expect(decideAutoPause(runs, 3, undefined)).toMatchObject({ pause: true, threshold: 3 });
    const d = decideAutoPause(runs, 3, undefined);
    expect(d.pause && d.failures.map((r) => r.object)).toEqual([
      "runs/x/3.json",
      "runs/x/2.json",
      "runs/x/1.json",
    ]);
    expect(decideAutoPause(runs, 4, undefined)).toEqual({ pause: false, threshold: 4, streak: 3 });
  });

  it("ends the streak at a completed run", () => {
    const runs = [failed(0), failed(1), summary(2, "COMPLETED"), failed(3)];
    expect(decideAutoPause(runs, 2, undefined)).toEqual({ pause: false, threshold: 2, streak: 1 });
  });

  it("does not count retryable failures, manual reruns, backfill chunks or runs in flight", () => {
    const between = [
      failed(10, { retryable: true }),
      failed(11, { trigger: "manual" }),
      summary(12, "COMPLETED", { trigger: "manual" }),
      failed(13, { trigger: "backfill" }),
      summary(14, "COMPLETED", { trigger: "backfill" }),
      summary(15, "STAGING"),
      summary(16, "LOADING"),
      summary(17, "UNKNOWN"),
    ];
    // Neither counted nor breaking the streak of scheduled failures around them.
    expect(decideAutoPause([failed(1), ...between, failed(20)], 2, undefined).pause).toBe(true);
    expect(decideAutoPause([failed(1), ...between], 2, undefined)).toMatchObject({ pause: false, streak: 1 });
    // Without a trigger (runs from before triggers were recorded) a run is not a scheduled one.
    const { trigger: _t, ...untriggered } = failed(2);
    expect(decideAutoPause([failed(1), untriggered], 2, undefined)).toMatchObject({
      pause: false,
      streak: 1,
    });
  });

  it("counts only runs updated at or after the last resume", () => {
    const runs = [failed(1), failed(2), failed(3), failed(4)];
    const resumed = new Date(T0 + 3 * HOUR).toISOString();
    expect(decideAutoPause(runs, 3, resumed)).toEqual({ pause: false, threshold: 3, streak: 2 });
    expect(decideAutoPause([...runs, failed(5)], 3, resumed).pause).toBe(true);
    expect(decideAutoPause(runs, 3, undefined).pause).toBe(true);
  });
});

// The hooks, on an in-memory bucket and a fake Cloud Scheduler.

class FakeScheduler implements SchedulerControl {
  readonly jobs = new Map<string, SchedulerJobState>();
  pauses = 0;
  failure: Error | undefined;
  jobName(exportId: string): string {
    return `projects/p/locations/us-central1/jobs/bqx-${exportId}`;
  }
  state(exportId: string): Promise<SchedulerJobState | undefined> {
    if (this.failure) return Promise.reject(this.failure);
    return Promise.resolve(this.jobs.get(exportId));
  }
  /** As the port promises (and the adapter does): a job already paused is left as it is. */
  pause(exportId: string): Promise<void> {
    if (this.jobs.get(exportId) !== "PAUSED") this.pauses++;
    this.jobs.set(exportId, "PAUSED");
    return Promise.resolve();
  }
}

const ID = "events-hourly";
let store: MemoryStore;
let scheduler: FakeScheduler;
let lines: Record<string, unknown>[];
let clock: number;
let def: ExportDefinition;

function deps(withScheduler = true): AppDeps {
  return {
    store,
    source: { rows: () => (async function* () {})(), bytes: () => (async function* () {})() },
    warehouses: { forDestination: () => Promise.reject(new Error("no BigQuery here")) },
    tasks: undefined,
    settings: {
      partBytes: 1024,
      lookbackDays: 7,
      settleMs: { "5m": 30_000, "15m": 60_000, hour: 60_000, day: 60_000, week: 60_000 },
      staleAfterMs: HOUR,
      database: "posthog",
      backfillRowsPerChunk: 1000,
      exportRunUrl: undefined,
    },
    now: () => new Date(clock),
    sleep: () => Promise.resolve(),
    log: createLogger("DEBUG", (line) => lines.push(JSON.parse(line) as Record<string, unknown>)),
    ...(withScheduler ? { scheduler } : {}),
  };
}

function periodAt(i: number): Period {
  const start = new Date(T0 + i * intervalMs("hour"));
  return { start, end: new Date(start.getTime() + intervalMs("hour")) };
}

/** Writes the run of period `i` as a call would leave it, updated now. */
async function run(
  i: number,
  state: "COMPLETED" | "FAILED" | "LOADING",
  opts: { trigger?: RunTrigger; error?: ExportError } = {},
) {
  const period = periodAt(i);
  const at = new Date(clock).toISOString();
  const error = opts.error ?? new ExportError("DATASET_NOT_FOUND", `Dataset d was not found (period ${i}).`);
  const m = runManifest(def, period, state, at, {
    trigger: opts.trigger ?? "scheduled",
    ...(state === "FAILED"
      ? { error: { code: error.code, message: error.message, retryable: error.retryable } }
      : {}),
  });
  const object = manifestObject(ID, period);
  const current = await store.read(object);
  await store.writeIfGeneration(object, JSON.stringify(m), current?.generation ?? "0", manifestMetadata(m));
  return m;
}

/** Period i's scheduled call: its run is written, then the hook runs (as runExportRequest does). */
async function scheduledCall(i: number, state: "COMPLETED" | "FAILED" | "LOADING" = "FAILED", d = deps()) {
  const scheduleTime = new Date(periodAt(i).end.getTime() + 60_000);
  clock = scheduleTime.getTime() + 1000;
  await run(i, state);
  await afterScheduledCall(def, scheduleTime.toISOString(), d);
}

const pausedLines = () => lines.filter((l) => l.event === "export_paused");

beforeEach(async () => {
  store = new MemoryStore();
  scheduler = new FakeScheduler();
  scheduler.jobs.set(ID, "ENABLED");
  lines = [];
  clock = T0;
  def = (
    await registerExport(
      {
        id: ID,
        model: "events",
        teamId: 1,
        interval: "hour",
        destination: { projectId: "my-project", datasetId: "d", tableId: "events", location: "US" },
        autoPauseAfter: 3,
      },
      store,
    )
  ).definition;
});

describe("auto-pause on scheduled calls", () => {
  it("pauses the job after N failed scheduled runs, records who/when/why once, and logs one ERROR line", async () => {
    await scheduledCall(0);
    await scheduledCall(1);
    expect(scheduler.jobs.get(ID)).toBe("ENABLED");
    expect((await readExportState(store, ID)).state.paused).toBeNull();
    await scheduledCall(2);
    expect(scheduler.jobs.get(ID)).toBe("PAUSED");
    const paused = (await readExportState(store, ID)).state.paused!;
    expect(paused).toMatchObject({
      by: AUTO_PAUSE_BY,
      at: new Date(clock).toISOString(),
      job: scheduler.jobName(ID),
    });
    expect(paused.failures.map((f) => f.run)).toEqual([2, 1, 0].map((i) => runId(ID, periodAt(i))));
    expect(paused.failures[0]!.error).toEqual({
      code: "DATASET_NOT_FOUND",
      message: "Dataset d was not found (period 2).",
    });
    expect(paused.reason).toContain("The last 3 scheduled runs failed");
    expect(paused.reason).toContain("DATASET_NOT_FOUND ×3");
    expect(pausedLines()).toEqual([
      {
        severity: "ERROR",
        message: `export paused after 3 failed runs; resume with: bqx resume ${ID}`,
        time: expect.any(String) as string,
        event: "export_paused",
        export: ID,
        failures: 3,
      },
    ]);
    // GET / shows it, the history lists the event.
    const [listed] = await listExports(store);
    expect(listed).toMatchObject({ id: ID, paused: { by: AUTO_PAUSE_BY, reason: paused.reason } });
    expect(await exportEvents(store, ID)).toEqual([
      expect.objectContaining({
        event: "paused",
        by: AUTO_PAUSE_BY,
        failures: 3,
        job: scheduler.jobName(ID),
      }),
    ]);

    // A Scheduler retry of the pausing fire (scheduled before the pause) is no resume, and pauses nothing again.
    await afterScheduledCall(def, new Date(periodAt(2).end.getTime() + 60_000).toISOString(), deps());
    expect(scheduler.pauses).toBe(1);
    expect(pausedLines()).toHaveLength(1);
    expect((await readExportState(store, ID)).state.paused).not.toBeNull();
  });

  it("uses the interval's default without autoPauseAfter", async () => {
    def = (await registerExport({ ...def, autoPauseAfter: undefined }, store)).definition;
    for (let i = 0; i < DEFAULT_AUTO_PAUSE_AFTER.hour - 1; i++) await scheduledCall(i);
    expect(scheduler.pauses).toBe(0);
    await scheduledCall(DEFAULT_AUTO_PAUSE_AFTER.hour - 1);
    expect(scheduler.pauses).toBe(1);
  });

  it("is not due after a completed run, nor while the newest counted run is not a failure", async () => {
    await scheduledCall(0);
    await scheduledCall(1);
    await scheduledCall(2, "COMPLETED");
    await scheduledCall(3);
    await scheduledCall(4);
    expect(scheduler.pauses).toBe(0);
    // A run still in flight does not stop runs that finalizeRun failed from counting.
    await scheduledCall(5, "LOADING");
    await run(5, "FAILED");
    await scheduledCall(6, "LOADING");
    expect(scheduler.pauses).toBe(1);
  });

  it("counts from zero after a resume, noticed when the job fires again", async () => {
    for (const i of [0, 1, 2]) await scheduledCall(i);
    const pausedAt = (await readExportState(store, ID)).state.paused!.at;
    // A person resumes the job (bqx resume, gcloud); its next fire is a resume.
    scheduler.jobs.set(ID, "ENABLED");
    await scheduledCall(5);
    const state = (await readExportState(store, ID)).state;
    expect(state.paused).toBeNull();
    expect(Date.parse(state.resumedAt!)).toBeGreaterThan(Date.parse(pausedAt));
    expect(lines.filter((l) => l.event === "export_resumed")).toEqual([
      expect.objectContaining({ severity: "INFO", export: ID, job: scheduler.jobName(ID) }),
    ]);
    expect((await exportEvents(store, ID)).map((e) => e.event)).toEqual(["resumed", "paused"]);
    expect((await listExports(store))[0]).toMatchObject({ paused: null });
    // That fire's own run is the first of the new count.
    await scheduledCall(6);
    expect(scheduler.pauses).toBe(1);
    await scheduledCall(7);
    expect(scheduler.pauses).toBe(2);
    expect(pausedLines()).toHaveLength(2);
  });

  it("without a Scheduler (no BQX_SCHEDULER_JOB_PREFIX) says it cannot pause, and records nothing", async () => {
    for (const i of [0, 1, 2]) await scheduledCall(i, "FAILED", deps(false));
    expect(pausedLines()).toEqual([]);
    const warning = lines.find((l) => l.severity === "WARNING" && String(l.message).includes("auto-pause"));
    expect(warning?.message).toContain("BQX_SCHEDULER_JOB_PREFIX is unset");
    expect((await readExportState(store, ID)).state.paused).toBeNull();
  });

  it("never fails the caller: a denied pause or a missing job is logged", async () => {
    scheduler.failure = new ExportError(
      "PERMISSION_DENIED",
      "reading the job was denied: needs cloudscheduler.jobs.get",
    );
    for (const i of [0, 1, 2]) await scheduledCall(i);
    expect(lines.find((l) => l.severity === "ERROR" && l.error)?.error).toMatchObject({
      code: "PERMISSION_DENIED",
    });
    scheduler.failure = undefined;
    scheduler.jobs.delete(ID);
    await scheduledCall(3);
    expect(lines.some((l) => String(l.message).includes("does not exist"))).toBe(true);
    expect(pausedLines()).toEqual([]);
    expect((await readExportState(store, ID)).state.paused).toBeNull();
  });

  it("records the pause once when two calls decide it at the same time", async () => {
    await scheduledCall(0);
    await scheduledCall(1);
    clock += 1000;
    await run(2, "FAILED");
    const at = new Date(periodAt(2).end.getTime() + 60_000).toISOString();
    await Promise.all([afterScheduledCall(def, at, deps()), afterScheduledCall(def, at, deps())]);
    expect(scheduler.jobs.get(ID)).toBe("PAUSED");
    expect(pausedLines()).toHaveLength(1);
    expect((await exportEvents(store, ID)).map((e) => e.event)).toEqual(["paused"]);
  });

  it("records why a job someone already paused stays paused", async () => {
    scheduler.jobs.set(ID, "PAUSED");
    for (const i of [0, 1, 2]) await scheduledCall(i);
    expect(scheduler.pauses).toBe(0);
    expect((await readExportState(store, ID)).state.paused?.reason).toMatch(
      /\(the job was already paused\)$/,
    );
  });
});

describe("auto-pause after a failed load (completeLoad)", () => {
  it("counts scheduled runs that a retry cannot fix, and nothing else", async () => {
    await scheduledCall(0);
    await scheduledCall(1);
    const load = new ExportError("LOAD_FAILED", "BigQuery load job failed: schema mismatch");
    const manual = await run(2, "FAILED", { trigger: "manual", error: load });
    await afterRunFailed(manual, load, deps());
    const transient = new ExportError("UNAVAILABLE", "backend error", { retryable: true });
    await afterRunFailed(await run(2, "FAILED", { error: transient }), transient, deps());
    expect(scheduler.pauses).toBe(0);
    await afterRunFailed(await run(2, "FAILED", { error: load }), load, deps());
    expect(scheduler.pauses).toBe(1);
    expect((await readExportState(store, ID)).state.paused?.failures[0]?.error.code).toBe("LOAD_FAILED");
  });

  it("summaries from the real metadata carry what the decision reads", async () => {
    const m = await run(0, "FAILED");
    const s = summaryFromMetadata(manifestObject(ID, periodAt(0)), manifestMetadata(m));
    expect(s).toMatchObject({ state: "FAILED", trigger: "scheduled", error: { retryable: false } });
    expect(s.updatedAt).toBe(m.updatedAt);
  });
});
