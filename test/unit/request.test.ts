// The exportRun request: it names an export and nothing else, parsed once
// into typed values; and the periods a request covers, decided with the
// export's interval and the settle delay.
import { describe, expect, it } from "vitest";
import { periodsToRun } from "../../functions/src/app/export-request.js";
import type { AppDeps } from "../../functions/src/app/deps.js";
import type { ExportDefinition } from "../../functions/src/core/definition.js";
import { isExportError, type ExportError } from "../../functions/src/core/errors.js";
import { DEFAULT_SETTLE_MS, type Interval } from "../../functions/src/core/periods.js";
import { parseExportRequest, type RunRequest } from "../../functions/src/core/request.js";

function refusal(body: unknown): ExportError {
  try {
    parseExportRequest(body);
  } catch (err) {
    if (isExportError(err)) return err;
    throw err;
  }
  throw new Error("accepted");
}

describe("parseExportRequest", () => {
  it("takes an export id, an optional interval and force, as typed values", () => {
    expect(
      parseExportRequest({
        exportId: "events-hourly",
        dataInterval: { start: "2026-11-25T11:00:00+01:00", end: "2026-11-25T12:00:00Z" },
        force: true,
      }),
    ).toEqual({
      kind: "run",
      exportId: "events-hourly",
      range: { start: new Date("2026-11-25T10:00:00Z"), end: new Date("2026-11-25T12:00:00Z") },
      force: true,
    });
    expect(parseExportRequest({ exportId: "e" })).toEqual({
      kind: "run",
      exportId: "e",
      range: undefined,
      force: false,
    });
  });

  it("refuses an inline definition and says how to name the export instead", () => {
    const err = refusal({ export: { id: "x", model: "events" } });
    expect(err.code).toBe("INVALID_REQUEST");
    expect(err.message).toMatch(/export: inline export definitions are not accepted/);
    expect(err.message).toMatch(/"exportId"/);
    expect(err.message).toMatch(/exportId: required/);
  });

  it.each([
    ["path characters", "../../etc"],
    ["a slash", "events/hourly"],
    ["uppercase", "Events"],
    ["too long", "a".repeat(30)],
    ["a number", 7],
  ])("refuses an export id with %s", (_name, exportId) => {
    const err = refusal({ exportId });
    expect(err.details?.["issues"]).toEqual([{ path: "exportId", message: expect.any(String) }]);
  });

  it.each([
    [
      "start after end",
      { start: "2026-11-25T12:00:00Z", end: "2026-11-25T10:00:00Z" },
      "dataInterval.start",
      /must be before end/,
    ],
    [
      "no zone",
      { start: "2026-11-25T10:00:00", end: "2026-11-25T11:00:00Z" },
      "dataInterval.start",
      /time zone/,
    ],
    ["not a timestamp", { start: "2026-11-25T10:00:00Z", end: "tomorrow" }, "dataInterval.end", /ISO 8601/],
    [
      "an extra key",
      { start: "2026-11-25T10:00:00Z", end: "2026-11-25T11:00:00Z", tz: "UTC" },
      "dataInterval.tz",
      /unknown field/,
    ],
  ])("dataInterval: %s", (_name, dataInterval, path, message) => {
    const issues = refusal({ exportId: "e", dataInterval }).details?.["issues"] as {
      path: string;
      message: string;
    }[];
    expect(issues.map((i) => i.path)).toEqual([path]);
    expect(issues[0]?.message).toMatch(message);
  });

  it("names every problem at once, and a typo as an unknown field", () => {
    const err = refusal({ exportId: "Bad", forse: true, force: "yes" });
    expect(err.message).toContain("exportId: ");
    expect(err.message).toContain("forse: unknown field");
    expect(err.message).toContain("force: ");
  });

  it("bounds the answer to a body with very many fields", () => {
    const body: Record<string, unknown> = { exportId: "e" };
    for (let i = 0; i < 100_000; i++) body[`k${i}`] = i;
    const err = refusal(body);
    expect(err.message.length).toBeLessThan(600);
    expect(err.message).toMatch(/and 99992 more problems/);
  });
});

describe("periodsToRun", () => {
  const def = (interval: Interval) => ({ id: "e", interval }) as ExportDefinition;
  const deps = (now: string, slept: number[] = []) =>
    ({
      now: () => new Date(now),
      sleep: (ms: number) => {
        slept.push(ms);
        return Promise.resolve();
      },
      settings: { settleMs: DEFAULT_SETTLE_MS },
    }) as unknown as AppDeps;
  const run = (range?: { start: string; end: string }): RunRequest => ({
    kind: "run",
    exportId: "e",
    range: range && { start: new Date(range.start), end: new Date(range.end) },
    force: false,
  });
  const iso = (ps: { start: Date; end: Date }[]) =>
    ps.map((p) => [p.start.toISOString(), p.end.toISOString()]);

  it("splits an explicit range into the export's periods", async () => {
    const ps = await periodsToRun(
      run({ start: "2026-11-25T08:00:00Z", end: "2026-11-25T10:00:00Z" }),
      def("hour"),
      undefined,
      deps("2026-11-25T12:00:00Z"),
    );
    expect(iso(ps)).toEqual([
      ["2026-11-25T08:00:00.000Z", "2026-11-25T09:00:00.000Z"],
      ["2026-11-25T09:00:00.000Z", "2026-11-25T10:00:00.000Z"],
    ]);
  });

  it("says which boundaries to use for a misaligned range, in the export's interval", async () => {
    await expect(
      periodsToRun(
        run({ start: "2026-11-25T10:30:00Z", end: "2026-11-25T12:00:00Z" }),
        def("hour"),
        undefined,
        deps("2026-11-26T00:00:00Z"),
      ),
    ).rejects.toThrow(
      "dataInterval.start 2026-11-25T10:30:00Z is not on an hour boundary; use 2026-11-25T10:00:00Z or 2026-11-25T11:00:00Z.",
    );
    await expect(
      periodsToRun(
        run({ start: "2026-11-25T00:00:00Z", end: "2026-11-25T12:00:00Z" }),
        def("day"),
        undefined,
        deps("2026-11-27T00:00:00Z"),
      ),
    ).rejects.toThrow(/dataInterval\.end 2026-11-25T12:00:00Z is not on a day \(00:00 UTC\) boundary/);
  });

  it.each([
    [
      "the current, unfinished period",
      "2026-11-25T10:00:00Z",
      "2026-11-25T11:00:00Z",
      "2026-11-25T10:30:00Z",
    ],
    ["a future period", "2026-11-25T12:00:00Z", "2026-11-25T13:00:00Z", "2026-11-25T10:30:00Z"],
    ["a period that ended 10 s ago", "2026-11-25T10:00:00Z", "2026-11-25T11:00:00Z", "2026-11-25T11:00:10Z"],
  ])("refuses %s with 400 naming the earliest time it may run", async (_n, start, end, now) => {
    const err = await periodsToRun(run({ start, end }), def("hour"), undefined, deps(now)).catch(
      (e: unknown) => e,
    );
    expect(isExportError(err) && err.code).toBe("INVALID_INTERVAL");
    const ready = new Date(Date.parse(end) + 60_000).toISOString().replace(".000Z", "Z");
    expect((err as Error).message).toContain(`can be exported from ${ready}`);
    expect((err as ExportError).details?.["earliestRunAt"]).toBe(
      new Date(Date.parse(end) + 60_000).toISOString(),
    );
  });

  it("accepts a period once its settle delay has passed (30 s for 5-minute exports)", async () => {
    const ps = await periodsToRun(
      run({ start: "2026-11-25T10:00:00Z", end: "2026-11-25T10:05:00Z" }),
      def("5m"),
      undefined,
      deps("2026-11-25T10:05:30Z"),
    );
    expect(ps).toHaveLength(1);
  });

  it("a scheduled call exports the period before its schedule time, waiting out the settle delay when early", async () => {
    const slept: number[] = [];
    const ps = await periodsToRun(
      run(),
      def("hour"),
      "2026-11-25T11:00:00Z",
      deps("2026-11-25T11:00:20Z", slept),
    );
    expect(iso(ps)).toEqual([["2026-11-25T10:00:00.000Z", "2026-11-25T11:00:00.000Z"]]);
    expect(slept).toEqual([40_000]);
    const onTime: number[] = [];
    await periodsToRun(run(), def("hour"), "2026-11-25T11:01:00Z", deps("2026-11-25T11:01:02Z", onTime));
    expect(onTime).toEqual([]);
  });

  it("a scheduled call far ahead of its period's settle time is a retryable refusal, not a wait", async () => {
    const err = await periodsToRun(
      run(),
      def("hour"),
      "2026-11-25T11:00:00Z",
      deps("2026-11-25T10:50:00Z"),
    ).catch((e: unknown) => e);
    expect(isExportError(err) && err.retryable).toBe(true);
    expect((err as Error).message).toMatch(/settles at 2026-11-25T11:01:00Z/);
  });

  it("a call with neither exports the newest settled period", async () => {
    expect(iso(await periodsToRun(run(), def("hour"), undefined, deps("2026-11-25T11:00:30Z")))).toEqual([
      ["2026-11-25T09:00:00.000Z", "2026-11-25T10:00:00.000Z"],
    ]);
    expect(iso(await periodsToRun(run(), def("hour"), undefined, deps("2026-11-25T11:01:00Z")))).toEqual([
      ["2026-11-25T10:00:00.000Z", "2026-11-25T11:00:00.000Z"],
    ]);
  });

  it("caps one call at 48 periods and points to a backfill", async () => {
    await expect(
      periodsToRun(
        run({ start: "2026-11-20T00:00:00Z", end: "2026-11-23T00:00:00Z" }),
        def("hour"),
        undefined,
        deps("2026-11-26T00:00:00Z"),
      ),
    ).rejects.toThrow(/72 hour periods; one call exports at most 48\. Post a backfill/);
  });
});

describe("request kinds", () => {
  it("a backfill names a range and may set its concurrency; a task names its chunk", () => {
    expect(
      parseExportRequest({
        exportId: "e",
        backfill: { start: "2025-11-01T00:00:00Z", end: "2026-11-01T00:00:00Z" },
        concurrency: 4,
      }),
    ).toEqual({
      kind: "backfill",
      exportId: "e",
      range: { start: new Date("2025-11-01T00:00:00Z"), end: new Date("2026-11-01T00:00:00Z") },
      concurrency: 4,
      chunk: undefined,
    });
    expect(
      parseExportRequest({
        exportId: "e",
        backfill: { start: "2025-11-01T00:00:00Z", end: "2025-11-02T00:00:00Z" },
        chunk: 3,
      }),
    ).toMatchObject({ kind: "backfill", chunk: 3 });
  });

  it("cancelBackfill names a backfill id; check is a preflight", () => {
    expect(parseExportRequest({ exportId: "e", cancelBackfill: "bf-0123456789abcdef" })).toEqual({
      kind: "cancelBackfill",
      exportId: "e",
      backfillId: "bf-0123456789abcdef",
    });
    expect(parseExportRequest({ exportId: "e", check: true })).toEqual({ kind: "check", exportId: "e" });
  });

  it.each([
    [
      { backfill: { start: "2025-11-01T00:00:00Z", end: "2025-11-02T00:00:00Z" }, check: true },
      "check",
      /cannot be combined/,
    ],
    [
      { backfill: { start: "2025-11-01T00:00:00Z", end: "2025-11-02T00:00:00Z" }, force: true },
      "force",
      /applies to a run, not to backfill/,
    ],
    [
      { check: true, dataInterval: { start: "2025-11-01T00:00:00Z", end: "2025-11-02T00:00:00Z" } },
      "dataInterval",
      /not to check/,
    ],
    [{ concurrency: 2 }, "concurrency", /applies to a backfill/],
    [{ cancelBackfill: "../x" }, "cancelBackfill", /bf-0123456789abcdef/],
    [{ check: false }, "check", /./],
    [
      { backfill: { start: "2025-11-01T00:00:00Z", end: "2025-11-02T00:00:00Z" }, concurrency: 0 },
      "concurrency",
      /./,
    ],
  ])("refuses %j naming %s", (extra, path, message) => {
    const issues = refusal({ exportId: "e", ...extra }).details?.["issues"] as {
      path: string;
      message: string;
    }[];
    expect(issues.map((i) => i.path)).toContain(path);
    expect(issues.find((i) => i.path === path)?.message).toMatch(message);
  });
});
