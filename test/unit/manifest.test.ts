import { describe, expect, it } from "vitest";
import {
  decideClaim,
  newAttempt,
  parseManifest,
  summaryFromMetadata,
  manifestMetadata,
  transition,
  type RunManifest,
  type RunState,
} from "../../functions/src/core/manifest.js";
import { runId } from "../../functions/src/core/names.js";

const period = { start: new Date("2026-11-25T10:00:00Z"), end: new Date("2026-11-25T11:00:00Z") };
const now = new Date("2026-11-25T11:05:00Z");

function manifest(state: RunState, updatedAt = "2026-11-25T11:04:00.000Z"): RunManifest {
  return {
    version: 1,
    exportId: "events-hourly",
    runId: runId("events-hourly", period),
    definition: {
      id: "events-hourly",
      model: "events",
      teamId: 1,
      interval: "hour",
      destination: { projectId: "my-project", datasetId: "BatchExports", tableId: "events", location: "US" },
      useJsonType: false,
      includeEvents: [],
      excludeEvents: [],
      deduplicate: false,
    },
    period: { start: period.start.toISOString(), end: period.end.toISOString() },
    selection: "ingested",
    attempt: 1,
    state,
    createdAt: "2026-11-25T11:00:01.000Z",
    updatedAt,
    useJsonType: false,
    writePath: "append",
    files: ["staging/x/part-00000.ndjson.gz"],
    rows: 10,
    bytes: 1000,
    stagedBytes: 100,
    job: { projectId: "my-project", jobId: "j", location: "US" },
    history: [{ at: "2026-11-25T11:00:01.000Z", state: "STAGING", attempt: 1 }],
  };
}

const opts = { force: false, staleAfterMs: 3600_000 };

describe("decideClaim", () => {
  it.each([
    ["no manifest", undefined, opts, "create"],
    ["COMPLETED", manifest("COMPLETED"), opts, "completed"],
    ["COMPLETED, forced", manifest("COMPLETED"), { ...opts, force: true }, "retry"],
    ["FAILED", manifest("FAILED"), opts, "retry"],
    ["STAGING, recent", manifest("STAGING"), opts, "in-flight"],
    ["STAGING, stale", manifest("STAGING", "2026-11-25T09:00:00.000Z"), opts, "retry"],
    ["LOADING (even forced)", manifest("LOADING"), { ...opts, force: true }, "in-flight"],
  ] as const)("%s → %s", (_name, existing, o, kind) => {
    expect(decideClaim(existing, now, o).kind).toBe(kind);
  });

  it("a forced rerun of a completed run is marked, so events go through the uuid MERGE", () => {
    const d = decideClaim(manifest("COMPLETED"), now, { ...opts, force: true });
    expect(d).toMatchObject({ kind: "retry", attempt: 2, forced: true });
    const f = decideClaim(manifest("FAILED"), now, opts);
    expect(f).toMatchObject({ kind: "retry", attempt: 2, forced: false });
  });
});

describe("transition", () => {
  it.each([
    ["STAGING", "LOADING"],
    ["STAGING", "COMPLETED"],
    ["STAGING", "FAILED"],
    ["LOADING", "COMPLETED"],
    ["LOADING", "FAILED"],
  ] as const)("%s → %s is allowed and recorded", (from, to) => {
    const next = transition(manifest(from), to, now, {}, "why");
    expect(next.state).toBe(to);
    expect(next.updatedAt).toBe(now.toISOString());
    expect(next.history.at(-1)).toEqual({ at: now.toISOString(), state: to, attempt: 1, note: "why" });
  });

  it.each([
    ["COMPLETED", "LOADING"],
    ["FAILED", "COMPLETED"],
    ["LOADING", "STAGING"],
    ["COMPLETED", "FAILED"],
  ] as const)("%s → %s is refused", (from, to) => {
    expect(() => transition(manifest(from), to, now)).toThrow(/cannot go from/);
  });
});

describe("newAttempt", () => {
  it("starts over in STAGING, drops the old job and counters, keeps the history", () => {
    const failed = { ...manifest("FAILED"), error: { code: "LOAD_FAILED", message: "x", retryable: false } };
    const next = newAttempt(failed, 2, now, { writePath: "insert-new", note: "retry" });
    expect(next).toMatchObject({ attempt: 2, state: "STAGING", rows: 0, files: [], writePath: "insert-new" });
    expect(next.job).toBeUndefined();
    expect(next.error).toBeUndefined();
    expect(next.history).toHaveLength(failed.history.length + 1);
  });
});

describe("manifest text", () => {
  it("parses what it writes, and names the object when it cannot", () => {
    const m = manifest("LOADING");
    expect(parseManifest(JSON.stringify(m), "runs/x.json")).toEqual(m);
    expect(() => parseManifest("{", "runs/x.json")).toThrow(/runs\/x\.json is not JSON/);
    expect(() => parseManifest('{"version":1}', "runs/x.json")).toThrow(/runs\/x\.json is malformed/);
  });

  it("summarises from object metadata", () => {
    const m = manifest("LOADING");
    expect(summaryFromMetadata("o", manifestMetadata(m))).toEqual({
      object: "o",
      state: "LOADING",
      attempt: 1,
      rows: 10,
      bytes: m.bytes,
      startedAt: m.createdAt,
      job: "my-project:US.j",
      updatedAt: m.updatedAt,
      definitionHash: undefined,
    });
    expect(summaryFromMetadata("o", {}).state).toBe("UNKNOWN");
  });

  it("summarises what bqx runs shows: the period from the name, the attempt's start, the error's first line", () => {
    const failed = transition(
      newAttempt(manifest("FAILED"), 2, new Date("2026-11-25T12:00:00Z"), {
        writePath: "insert-new",
        note: "retry",
      }),
      "FAILED",
      new Date("2026-11-25T12:00:09Z"),
      { error: { code: "PERMISSION_DENIED", message: "denied: grant x\nsecond line", retryable: false } },
    );
    const summary = summaryFromMetadata(
      "runs/events-hourly/20261125T100000Z--20261125T110000Z.json",
      manifestMetadata(failed),
    );
    expect(summary).toMatchObject({
      period: { start: "2026-11-25T10:00:00.000Z", end: "2026-11-25T11:00:00.000Z" },
      attempt: 2,
      startedAt: "2026-11-25T12:00:00.000Z",
      updatedAt: "2026-11-25T12:00:09.000Z",
      error: { code: "PERMISSION_DENIED", retryable: false, message: "denied: grant x" },
    });
    expect(summary.job).toBeUndefined();
    const long = manifestMetadata({
      ...failed,
      error: { code: "X", message: "y".repeat(5000), retryable: true },
    });
    expect(long.bqx_error_line).toHaveLength(400);
  });
});
