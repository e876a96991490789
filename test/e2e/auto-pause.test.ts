// End to end on the local stack, driven by the local Cloud Scheduler: an
// export whose dataset is missing fails every scheduled run; after N of them
// exportRun pauses its Scheduler job (as @google-cloud/scheduler then sees
// it), GET / shows who paused it, when and why, the one ERROR line is logged
// and the run history shows the pause. Resumed through the Scheduler API, the
// job fires again and failures count from zero. The alert filters of
// infra/alerting.tf, evaluated on the log lines the functions wrote here
// (wrapped as Cloud Logging wraps Cloud Run stdout), select exactly their
// lines; representative lines are kept in test/fixtures/function-log-lines.json
// for test/infra/alerting.test.ts (BQX_CAPTURE_LOG_LINES=1 rewrites it).
import { readFileSync, writeFileSync } from "node:fs";
import { CloudSchedulerClient } from "@google-cloud/scheduler";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadJobId, runId } from "../../functions/src/core/names.js";
import { periodBefore, type Period } from "../../functions/src/core/periods.js";
import { EVENT_ROWS, PERIOD, TEAM, dt64, unixSeconds } from "../fixtures/posthog-fixtures.js";
import {
  LOG_LINES_FIXTURE,
  normalizedLine,
  parseLogLinesFixture,
  type CapturedLine,
} from "../fixtures/function-log-lines.js";
import { insertRows, readManifest, waitForRun, destinationOf } from "../helpers/stack-helpers.js";
import { ALERT_FILTERS, alertLogFilter, serviceNames, type AlertFilterName } from "../infra/alert-filters.js";
import { loadModule, type Module } from "../infra/hcl.js";
import { parseLogFilter } from "../local/logging/filter.js";
import { containerLogEntry } from "../local/logging/container-log.js";
import {
  LOCAL_REGION,
  SCHEDULER_JOB_PREFIX,
  startLocalStack,
  type Destination,
  type LocalStack,
} from "../local/stack.js";

const BROKEN = "gone-hourly";
const FRESH = "fresh-hourly";
const N = 3;

let stack: LocalStack;
let scheduler: CloudSchedulerClient;
let mod: Module;
/** The functions' and the Scheduler's clock: each fire sets it just after the schedule time. */
let clock = new Date("2026-11-25T10:30:00Z");
const captured: CapturedLine[] = [];

function definition(id: string, dest: Destination, extra: Record<string, unknown> = {}) {
  return {
    id,
    model: "events",
    teamId: TEAM,
    interval: "hour",
    destination: destinationOf(stack, dest, "events"),
    ...extra,
  };
}

/** The Scheduler job as Terraform makes it (infra/scheduler.tf), without retries to keep the test short. */
function schedulerJob(id: string) {
  return {
    name: `${SCHEDULER_JOB_PREFIX}${id}`,
    schedule: "1 * * * *",
    timeZone: "Etc/UTC",
    httpTarget: {
      uri: stack.functions.exportRunUrl,
      httpMethod: "POST" as const,
      headers: { "Content-Type": "application/json" },
      body: Buffer.from(JSON.stringify({ exportId: id })),
      oidcToken: {
        serviceAccountEmail: `bqx-scheduler@${stack.projectId}.iam.gserviceaccount.com`,
        audience: stack.functions.exportRunUrl,
      },
    },
    retryConfig: { retryCount: 0 },
  };
}

/**
 * Cloud Scheduler fires what is due at `at`; returns the HTTP status per
 * export, once the healthy export's run (loaded or empty) has completed.
 */
async function fire(at: string): Promise<Record<string, number | undefined>> {
  clock = new Date(Date.parse(at) + 1000);
  const fired = await stack.scheduler.fireDue(new Date(at));
  const statuses = Object.fromEntries(
    fired.map((f) => [f.job.split("/jobs/bqx-")[1], f.attempts.at(-1)?.httpStatus]),
  );
  expect([200, 202]).toContain(statuses[FRESH]);
  expect((await waitForRun(stack, FRESH, hourBefore(at))).state).toBe("COMPLETED");
  return statuses;
}

async function jobState(id: string): Promise<unknown> {
  const [job] = await scheduler.getJob({ name: `${SCHEDULER_JOB_PREFIX}${id}` });
  return job.state;
}

async function get(query = ""): Promise<any> {
  const res = await fetch(`${stack.functions.exportRunUrl}${query}`);
  expect(res.status).toBe(200);
  return res.json();
}

const lines = (event: string) =>
  captured
    .map((c) => ({ ...c, json: JSON.parse(c.line) as Record<string, unknown> }))
    .filter((c) => c.json.event === event);

const hourBefore = (at: string): Period => periodBefore(new Date(at), "hour");

/** Polls until `found` returns something (for what happens asynchronously). */
async function until<T>(found: () => T | undefined, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = found();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 20));
  }
}

beforeAll(async () => {
  mod = await loadModule();
  stack = await startLocalStack({
    logLevel: "INFO",
    now: () => clock,
    schedulerNow: () => clock,
    logSink: (line, fn) => captured.push({ fn, line }),
  });
  await insertRows(stack, "events", EVENT_ROWS);
  const fresh = await stack.createDestination({ datasetId: "Fresh" });
  // A dataset that does not exist (deleted, say): every run fails for good.
  const gone = await stack.createDestination({ datasetId: "Gone", createDataset: false });
  await stack.registerExport(definition(FRESH, fresh));
  await stack.registerExport(definition(BROKEN, gone, { autoPauseAfter: N }));
  scheduler = new CloudSchedulerClient(stack.scheduler.clientOptions());
  for (const id of [FRESH, BROKEN]) {
    await scheduler.createJob({
      parent: SCHEDULER_JOB_PREFIX.replace(/\/jobs\/.*$/, ""),
      job: schedulerJob(id),
    });
  }
});

afterAll(async () => {
  await scheduler?.close();
  await stack?.stop();
});

describe("auto-pause on the local stack", () => {
  it(`pauses the Scheduler job of an export whose last ${N} scheduled runs failed for good`, async () => {
    expect(PERIOD).toEqual(hourBefore("2026-11-25T11:01:00Z"));
    expect((await fire("2026-11-25T11:01:00Z"))[BROKEN]).toBe(422);
    expect((await fire("2026-11-25T12:01:00Z"))[BROKEN]).toBe(422);
    expect(await jobState(BROKEN)).toBe("ENABLED");
    expect(lines("export_paused")).toEqual([]);

    expect((await fire("2026-11-25T13:01:00Z"))[BROKEN]).toBe(422);
    expect(await jobState(BROKEN)).toBe("PAUSED");
    expect(await jobState(FRESH)).toBe("ENABLED");

    // The one ERROR line, from exportRun, saying how to resume.
    const paused = lines("export_paused");
    expect(
      paused.map((p) => [p.fn, p.json.severity, p.json.message, p.json.export, p.json.failures]),
    ).toEqual([
      [
        "exportRun",
        "ERROR",
        `export paused after ${N} failed runs; resume with: bqx resume ${BROKEN}`,
        BROKEN,
        N,
      ],
    ]);

    // GET / shows who paused it, when and why.
    const { exports } = await get();
    const broken = exports.find((e: { id: string }) => e.id === BROKEN);
    expect(broken.paused).toMatchObject({ at: "2026-11-25T13:01:01.000Z", by: "auto-pause" });
    expect(broken.paused.reason).toMatch(
      /^The last 3 scheduled runs failed with errors a retry cannot fix \(DATASET_NOT_FOUND ×3\)/,
    );
    expect(broken.paused.failures.map((f: { run: string }) => f.run)).toEqual(
      ["2026-11-25T13:01:00Z", "2026-11-25T12:01:00Z", "2026-11-25T11:01:00Z"].map((at) =>
        runId(BROKEN, hourBefore(at)),
      ),
    );
    for (const f of broken.paused.failures) {
      expect(f.error.code).toBe("DATASET_NOT_FOUND");
      expect(f.error.message).toContain("Gone");
    }
    expect(exports.find((e: { id: string }) => e.id === FRESH).paused).toBeNull();

    // The history shows the pause next to the failed runs.
    const history = await get(`?export=${BROKEN}`);
    expect(history.runs.map((r: any) => [r.state, r.trigger, r.error?.code])).toEqual(
      Array(N).fill(["FAILED", "scheduled", "DATASET_NOT_FOUND"]),
    );
    expect(history.events).toEqual([
      {
        event: "paused",
        at: "2026-11-25T13:01:01.000Z",
        by: "auto-pause",
        reason: broken.paused.reason,
        job: `${SCHEDULER_JOB_PREFIX}${BROKEN}`,
        failures: N,
      },
    ]);

    // Paused, the job no longer fires; the healthy export's does.
    expect(Object.keys(await fire("2026-11-25T14:01:00Z"))).toEqual([FRESH]);
    expect(await readManifest(stack, BROKEN, hourBefore("2026-11-25T14:01:00Z"))).toBeUndefined();
  });

  it("resumed through the Scheduler API, the job fires again and failures count from zero", async () => {
    clock = new Date("2026-11-25T14:30:00Z");
    const [resumed] = await scheduler.resumeJob({ name: `${SCHEDULER_JOB_PREFIX}${BROKEN}` });
    expect(resumed.state).toBe("ENABLED");

    // The dataset is still missing: the run fails, but it is the first of a new count.
    expect((await fire("2026-11-25T15:01:00Z"))[BROKEN]).toBe(422);
    expect(await jobState(BROKEN)).toBe("ENABLED");
    expect(lines("export_resumed").map((l) => [l.fn, l.json.export, l.json.job])).toEqual([
      ["exportRun", BROKEN, `${SCHEDULER_JOB_PREFIX}${BROKEN}`],
    ]);
    const { exports } = await get();
    expect(exports.find((e: { id: string }) => e.id === BROKEN).paused).toBeNull();
    const history = await get(`?export=${BROKEN}`);
    expect(history.events.map((e: { event: string; at: string }) => [e.event, e.at])).toEqual([
      ["resumed", "2026-11-25T15:01:00.000Z"],
      ["paused", "2026-11-25T13:01:01.000Z"],
    ]);

    expect((await fire("2026-11-25T16:01:00Z"))[BROKEN]).toBe(422);
    expect(await jobState(BROKEN)).toBe("ENABLED");
    expect((await fire("2026-11-25T17:01:00Z"))[BROKEN]).toBe(422);
    expect(await jobState(BROKEN)).toBe("PAUSED");
    expect(lines("export_paused")).toHaveLength(2);
    expect((await get()).exports.find((e: { id: string }) => e.id === BROKEN).paused.failures).toHaveLength(
      N,
    );
  });
});

describe("auto-pause when loads fail (finalizeRun records the failures)", () => {
  const LOADS = "badload-hourly";
  const LOAD_TEAM = 7;

  it("finalizeRun cannot pause (no job prefix) and says so; exportRun's next scheduled call pauses", async () => {
    // One event of the export's team ingested in each hour, so every period loads.
    const base = EVENT_ROWS[0]!;
    await insertRows(
      stack,
      "events",
      [17, 18, 19, 20].map((h, i) => {
        const at = `2026-11-25T${h}:10:00Z`;
        return {
          ...base,
          uuid: `018f0000-0000-7000-8000-00000000070${i}`,
          team_id: LOAD_TEAM,
          timestamp: dt64(at),
          created_at: dt64(at),
          inserted_at: dt64(at),
          _timestamp: unixSeconds(at),
        };
      }),
    );
    const dest = await stack.createDestination({ datasetId: "Loads" });
    await stack.registerExport({ ...definition(LOADS, dest, { autoPauseAfter: 2 }), teamId: LOAD_TEAM });
    clock = new Date("2026-11-25T17:30:00Z");
    await scheduler.createJob({
      parent: SCHEDULER_JOB_PREFIX.replace(/\/jobs\/.*$/, ""),
      job: schedulerJob(LOADS),
    });
    // BigQuery fails every load job of the export (say, the table was changed under it).
    for (const at of ["2026-11-25T18:01:00Z", "2026-11-25T19:01:00Z", "2026-11-25T20:01:00Z"]) {
      stack.bigquery.faults.failJob(loadJobId(runId(LOADS, hourBefore(at)), 1), {
        reason: "invalid",
        message: "Provided Schema does not match Table local-project:Loads.events.",
      });
    }

    // Each load's completion event reaches finalizeRun only after exportRun
    // answered the Scheduler (Pub/Sub delivers when it does): held, then sent.
    const audit = stack.bigquery.audit;
    for (const at of ["2026-11-25T18:01:00Z", "2026-11-25T19:01:00Z"]) {
      const before = audit.records.length;
      audit.dropNext(1);
      expect((await fire(at))[LOADS]).toBe(202);
      const held = await until(() => audit.records.slice(before).find((r) => r.dropped));
      audit.publish(held.entry as Record<string, unknown>, stack.projectId);
      // finalizeRun has answered the push (so its auto-pause check is done too).
      await audit.drain();
      const m = await waitForRun(stack, LOADS, hourBefore(at));
      expect([m.state, m.trigger, m.error?.code, m.error?.retryable]).toEqual([
        "FAILED",
        "scheduled",
        "LOAD_FAILED",
        false,
      ]);
    }
    expect(await jobState(LOADS)).toBe("ENABLED");
    const cannot = captured.filter((c) => c.line.includes("cannot pause Scheduler jobs"));
    expect(cannot.map((c) => [c.fn, JSON.parse(c.line).severity, JSON.parse(c.line).export])).toEqual([
      ["finalizeRun", "WARNING", LOADS],
    ]);
    expect(lines("export_paused").filter((l) => l.json.export === LOADS)).toEqual([]);

    expect((await fire("2026-11-25T20:01:00Z"))[LOADS]).toBe(202);
    expect(await jobState(LOADS)).toBe("PAUSED");
    expect(
      lines("export_paused")
        .filter((l) => l.json.export === LOADS)
        .map((l) => l.fn),
    ).toEqual(["exportRun"]);
    const paused = (await get()).exports.find((e: { id: string }) => e.id === LOADS).paused;
    expect(paused.reason).toMatch(/\(LOAD_FAILED ×2\); the latest, .*Provided Schema does not match/);
  });
});

describe("the alert filters on the lines the functions wrote", () => {
  const services = () => serviceNames(mod);
  const entryOf = (c: CapturedLine, service = services()[c.fn]) =>
    containerLogEntry(c.line, {
      projectId: "my-exports-project",
      serviceName: service,
      location: LOCAL_REGION,
    });

  it("each selects exactly the lines of its event, from either function of this deployment", () => {
    // The lines the scenario must have produced, by event and function.
    const kinds = new Set(captured.map((c) => `${String(JSON.parse(c.line).event)}@${c.fn}`));
    for (const kind of [
      "run_failed@exportRun",
      "run_failed@finalizeRun",
      "run_completed@exportRun",
      "run_completed@finalizeRun",
      "export_paused@exportRun",
    ]) {
      expect(kinds, kind).toContain(kind);
    }
    for (const [name, event] of Object.entries(ALERT_FILTERS) as [AlertFilterName, string][]) {
      const filter = parseLogFilter(alertLogFilter(mod, name));
      for (const c of captured) {
        const entry = entryOf(c);
        const ours = entry.jsonPayload?.event === event;
        expect(filter.matches(entry), `${name} on ${c.fn}: ${c.line}`).toBe(ours);
        // Another deployment's functions in the same project are not ours.
        expect(filter.matches(entryOf(c, `acme-${services()[c.fn].split("-").slice(1).join("-")}`))).toBe(
          false,
        );
      }
    }
  });

  it("are held to the lines kept for the infra tests (BQX_CAPTURE_LOG_LINES=1 rewrites them)", () => {
    const pick = (
      event: string,
      fn: CapturedLine["fn"],
      where: (j: Record<string, unknown>) => boolean = () => true,
    ) => {
      const found = captured.find(
        (c) => c.fn === fn && JSON.parse(c.line).event === event && where(JSON.parse(c.line)),
      );
      if (!found) throw new Error(`no ${event} line from ${fn}`);
      return found;
    };
    const contract: Record<string, CapturedLine> = {
      failed: pick("run_failed", "exportRun"),
      failedAfterLoad: pick("run_failed", "finalizeRun"),
      completedAfterLoad: pick("run_completed", "finalizeRun"),
      completedEmpty: pick("run_completed", "exportRun"),
      paused: pick("export_paused", "exportRun"),
      resumed: pick("export_resumed", "exportRun"),
    };
    // Lines no filter may select: one of each other message, per function.
    const others = new Map<string, CapturedLine>();
    for (const c of captured) {
      const json = JSON.parse(c.line) as Record<string, unknown>;
      if (json.event === undefined)
        others.set(`${c.fn}:${String(json.message)}`, others.get(`${c.fn}:${String(json.message)}`) ?? c);
    }
    if (process.env.BQX_CAPTURE_LOG_LINES === "1") {
      writeFileSync(
        LOG_LINES_FIXTURE,
        JSON.stringify(
          { capturedBy: "test/e2e/auto-pause.test.ts", contract, others: [...others.values()] },
          null,
          2,
        ) + "\n",
      );
    }
    const kept = parseLogLinesFixture(readFileSync(LOG_LINES_FIXTURE, "utf8"));
    for (const [kind, line] of Object.entries(contract)) {
      expect(kept.contract[kind]?.fn, kind).toBe(line.fn);
      expect(
        normalizedLine(kept.contract[kind]!.line),
        `${kind}: the product's line changed; rerun with BQX_CAPTURE_LOG_LINES=1`,
      ).toEqual(normalizedLine(line.line));
    }
  });
});
