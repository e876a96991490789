import { describe, it, expect } from "vitest";
import {
  compactTimestamp,
  floorToInterval,
  INTERVALS,
  intervalMs,
  isAligned,
  periodBefore,
  splitIntoPeriods,
  type Interval,
} from "../../functions/src/core/periods.js";
import { ExportError } from "../../functions/src/core/errors.js";

const d = (iso: string) => new Date(iso);
const iso = (p: { start: Date; end: Date }) => [p.start.toISOString(), p.end.toISOString()];

describe("periodBefore: the full period before the scheduled time (UTC)", () => {
  const cases: [Interval, string, string, string][] = [
    ["5m", "2026-11-25T11:00:00Z", "2026-11-25T10:55:00.000Z", "2026-11-25T11:00:00.000Z"],
    ["5m", "2026-11-25T11:04:59.999Z", "2026-11-25T10:55:00.000Z", "2026-11-25T11:00:00.000Z"],
    ["15m", "2026-11-25T11:15:00Z", "2026-11-25T11:00:00.000Z", "2026-11-25T11:15:00.000Z"],
    ["15m", "2026-11-25T00:07:00Z", "2026-11-24T23:45:00.000Z", "2026-11-25T00:00:00.000Z"],
    ["hour", "2026-11-25T11:00:00Z", "2026-11-25T10:00:00.000Z", "2026-11-25T11:00:00.000Z"],
    // Cloud Scheduler fires a little late: the period is still the one that just ended.
    ["hour", "2026-11-25T11:00:37Z", "2026-11-25T10:00:00.000Z", "2026-11-25T11:00:00.000Z"],
    ["hour", "2026-11-25T00:00:00Z", "2026-11-24T23:00:00.000Z", "2026-11-25T00:00:00.000Z"],
    ["day", "2026-11-25T00:00:00Z", "2026-11-24T00:00:00.000Z", "2026-11-25T00:00:00.000Z"],
    ["day", "2026-01-01T00:10:00Z", "2025-12-31T00:00:00.000Z", "2026-01-01T00:00:00.000Z"],
    ["day", "2028-03-01T06:00:00Z", "2028-02-29T00:00:00.000Z", "2028-03-01T00:00:00.000Z"],
    // 2026-11-30 is a Monday: the week before runs Monday 23rd to Monday 30th.
    ["week", "2026-11-30T00:00:00Z", "2026-11-23T00:00:00.000Z", "2026-11-30T00:00:00.000Z"],
    // Wednesday 25th: the last full week is still 16th–23rd.
    ["week", "2026-11-25T12:00:00Z", "2026-11-16T00:00:00.000Z", "2026-11-23T00:00:00.000Z"],
    // Across the new year: Monday 2026-12-28 to Monday 2027-01-04.
    ["week", "2027-01-04T00:00:01Z", "2026-12-28T00:00:00.000Z", "2027-01-04T00:00:00.000Z"],
  ];
  it.each(cases)("%s at %s → [%s, %s)", (interval, at, start, end) => {
    expect(iso(periodBefore(d(at), interval))).toEqual([start, end]);
  });

  it.each(INTERVALS.map((i) => [i]))("%s periods last exactly one interval", (interval) => {
    const p = periodBefore(d("2026-11-25T13:37:42.123Z"), interval);
    expect(p.end.getTime() - p.start.getTime()).toBe(intervalMs(interval));
    expect(isAligned(p.start, interval) && isAligned(p.end, interval)).toBe(true);
  });

  it("weeks start on Monday", () => {
    for (const at of ["2026-11-25T00:00:00Z", "2026-12-31T23:59:59Z", "2027-06-15T08:00:00Z"]) {
      expect(floorToInterval(d(at), "week").getUTCDay()).toBe(1);
    }
  });

  it("rejects an invalid schedule time", () => {
    expect(() => periodBefore(d("not a time"), "hour")).toThrow(ExportError);
  });
});

describe("splitIntoPeriods: explicit ranges must lie on the interval's boundaries", () => {
  it.each([
    ["hour", "2026-11-25T10:00:00Z", "2026-11-25T11:00:00Z"],
    ["hour", "2026-11-25T10:00:00Z", "2026-11-26T10:00:00Z"],
    ["day", "2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z"],
    ["week", "2026-11-23T00:00:00Z", "2026-12-07T00:00:00Z"],
    ["5m", "2026-11-25T10:05:00Z", "2026-11-25T10:10:00Z"],
  ] as [Interval, string, string][])("%s [%s, %s) is accepted", (interval, start, end) => {
    const periods = splitIntoPeriods({ start: d(start), end: d(end) }, interval);
    expect([periods[0]!.start.toISOString(), periods.at(-1)!.end.toISOString()]).toEqual([
      d(start).toISOString(),
      d(end).toISOString(),
    ]);
  });

  const invalid: [string, Interval, string, string, RegExp][] = [
    [
      "misaligned start names both neighbours",
      "hour",
      "2026-11-25T10:30:00Z",
      "2026-11-25T12:00:00Z",
      /^dataInterval\.start 2026-11-25T10:30:00Z is not on an hour boundary; use 2026-11-25T10:00:00Z or 2026-11-25T11:00:00Z\.$/,
    ],
    [
      "misaligned end",
      "15m",
      "2026-11-25T10:00:00Z",
      "2026-11-25T10:20:00Z",
      /dataInterval\.end 2026-11-25T10:20:00Z is not on a 15-minute boundary; use 2026-11-25T10:15:00Z or 2026-11-25T10:30:00Z/,
    ],
    [
      "a week that starts on Wednesday",
      "week",
      "2026-11-25T00:00:00Z",
      "2026-12-02T00:00:00Z",
      /not on a week \(Monday 00:00 UTC\) boundary; use 2026-11-23T00:00:00Z or 2026-11-30T00:00:00Z/,
    ],
    ["day not at midnight UTC", "day", "2026-11-25T01:00:00+01:00", "2026-11-26T01:00:00Z", /end/],
  ];
  it.each(invalid)("%s", (_name, interval, start, end, message) => {
    try {
      splitIntoPeriods({ start: d(start), end: d(end) }, interval);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ExportError);
      expect((err as ExportError).code).toBe("INVALID_INTERVAL");
      expect((err as ExportError).retryable).toBe(false);
      expect((err as Error).message).toMatch(message);
    }
  });
});

describe("splitIntoPeriods: backfills", () => {
  it("splits a range into consecutive periods that cover it exactly", () => {
    const periods = splitIntoPeriods(
      { start: d("2026-11-24T22:00:00Z"), end: d("2026-11-25T02:00:00Z") },
      "hour",
    );
    expect(periods.map(iso)).toEqual([
      ["2026-11-24T22:00:00.000Z", "2026-11-24T23:00:00.000Z"],
      ["2026-11-24T23:00:00.000Z", "2026-11-25T00:00:00.000Z"],
      ["2026-11-25T00:00:00.000Z", "2026-11-25T01:00:00.000Z"],
      ["2026-11-25T01:00:00.000Z", "2026-11-25T02:00:00.000Z"],
    ]);
  });

  it.each([
    ["5m", "2026-11-25T00:00:00Z", "2026-11-25T01:00:00Z", 12],
    ["15m", "2026-11-25T00:00:00Z", "2026-11-26T00:00:00Z", 96],
    ["day", "2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z", 30],
    ["week", "2026-11-02T00:00:00Z", "2026-11-30T00:00:00Z", 4],
  ] as [Interval, string, string, number][])("%s from %s to %s → %i periods", (interval, start, end, n) => {
    const periods = splitIntoPeriods({ start: d(start), end: d(end) }, interval);
    expect(periods).toHaveLength(n);
    expect(periods[0]?.start.toISOString()).toBe(d(start).toISOString());
    expect(periods.at(-1)?.end.toISOString()).toBe(d(end).toISOString());
    for (let i = 1; i < periods.length; i++) {
      expect(periods[i]?.start.getTime()).toBe(periods[i - 1]?.end.getTime());
    }
  });

  it("refuses a misaligned backfill instead of rounding it", () => {
    expect(() =>
      splitIntoPeriods(
        { start: d("2026-11-25T00:30:00Z"), end: d("2026-11-25T03:00:00Z") },
        "hour",
        "backfill",
      ),
    ).toThrow(/backfill\.start 2026-11-25T00:30:00Z is not on an hour boundary/);
  });
});

describe("compactTimestamp", () => {
  it.each([
    ["2026-11-25T10:00:00Z", "20261125T100000Z"],
    ["2026-01-02T03:04:05.000Z", "20260102T030405Z"],
  ])("%s → %s", (input, expected) => {
    expect(compactTimestamp(d(input))).toBe(expected);
  });

  it("sorts like the times it names", () => {
    const times = ["2026-11-25T10:00:00Z", "2026-11-25T09:00:00Z", "2027-01-01T00:00:00Z"].map(d);
    const byName = [...times].sort((a, b) => compactTimestamp(a).localeCompare(compactTimestamp(b)));
    const byTime = [...times].sort((a, b) => a.getTime() - b.getTime());
    expect(byName).toEqual(byTime);
  });
});
