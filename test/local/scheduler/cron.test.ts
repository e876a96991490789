// The local Cloud Scheduler's unix-cron reader: parsing, matching (incl. the
// day-of-month/day-of-week OR rule), next fire times in UTC and IANA zones across DST.
import { describe, it, expect } from "vitest";
import {
  parseCron,
  matches,
  wallClock,
  nextFireTime,
  fireTimesBetween,
  isValidTimeZone,
  CronError,
} from "./cron.js";

describe("parseCron rejects what unix-cron rejects", () => {
  const bad: [string, RegExp][] = [
    ["", /5 fields/],
    ["* * * *", /5 fields/],
    ["* * * * * *", /5 fields/],
    ["60 * * * *", /minute: 60 is outside 0-59/],
    ["* 24 * * *", /hour: 24/],
    ["* * 0 * *", /day of month: 0/],
    ["* * * 13 *", /month: 13/],
    ["* * * * 8", /day of week: 8/],
    ["5-1 * * * *", /backwards/],
    ["*/0 * * * *", /step/],
    ["5/10 * * * *", /step needs/],
    ["a * * * *", /not a number/],
    ["* * * FOO *", /not a number/],
    ["every 5 minutes", /5 fields/],
  ];
  it.each(bad)("%j", (expr, message) => {
    expect(() => parseCron(expr)).toThrow(CronError);
    expect(() => parseCron(expr)).toThrow(message);
  });
});

describe("matches (UTC wall clock)", () => {
  const table: [string, string, boolean][] = [
    ["*/15 * * * *", "2026-11-25T10:30:00Z", true],
    ["*/15 * * * *", "2026-11-25T10:31:00Z", false],
    ["0 9-17/2 * * MON-FRI", "2026-11-25T11:00:00Z", true], // Wednesday
    ["0 9-17/2 * * MON-FRI", "2026-11-25T12:00:00Z", false],
    ["0 9-17/2 * * MON-FRI", "2026-11-28T11:00:00Z", false], // Saturday
    ["0 0 1,15 * 1", "2026-11-23T00:00:00Z", true], // a Monday: day-of-week alone suffices
    ["0 0 1,15 * 1", "2026-11-15T00:00:00Z", true], // a Sunday the 15th: day-of-month alone suffices
    ["0 0 1,15 * 1", "2026-11-24T00:00:00Z", false],
    ["0 0 */2 * 1", "2026-11-23T00:00:00Z", true], // "*"-based day-of-month: both must match (23 is odd)
    ["0 0 */2 * 1", "2026-11-30T00:00:00Z", false], // Monday the 30th, not in 1,3,…,31
    ["0 0 * * 7", "2026-11-29T00:00:00Z", true], // 7 is Sunday
    ["0 0 * * 0", "2026-11-29T00:00:00Z", true],
    ["0 0 1 jan *", "2027-01-01T00:00:00Z", true],
    ["0 0 1 JAN *", "2027-02-01T00:00:00Z", false],
    ["5,10-12 3 * * *", "2026-11-25T03:11:00Z", true],
    ["5,10-12 3 * * *", "2026-11-25T03:13:00Z", false],
  ];
  it.each(table)("%s at %s → %s", (expr, iso, expected) => {
    expect(matches(parseCron(expr), wallClock(Date.parse(iso), "UTC"))).toBe(expected);
  });
});

describe("nextFireTime", () => {
  const table: [string, string, string, string | undefined][] = [
    ["0 * * * *", "UTC", "2026-11-25T10:00:00Z", "2026-11-25T11:00:00.000Z"], // strictly after
    ["*/5 * * * *", "UTC", "2026-11-25T10:07:30Z", "2026-11-25T10:10:00.000Z"],
    ["0 0 * * *", "utc", "2026-11-25T12:00:00Z", "2026-11-26T00:00:00.000Z"],
    ["0 0 * * 1", "UTC", "2026-11-25T00:00:00Z", "2026-11-30T00:00:00.000Z"],
    ["0 9 * * *", "America/New_York", "2026-11-25T00:00:00Z", "2026-11-25T14:00:00.000Z"], // EST
    ["0 9 * * *", "America/New_York", "2026-07-01T00:00:00Z", "2026-07-01T13:00:00.000Z"], // EDT
    ["0 * * * *", "Asia/Kolkata", "2026-11-25T10:00:00Z", "2026-11-25T10:30:00.000Z"], // +05:30
    ["0 0 29 2 *", "UTC", "2026-03-01T00:00:00Z", "2028-02-29T00:00:00.000Z"],
    ["0 0 30 2 *", "UTC", "2026-03-01T00:00:00Z", undefined], // never
    // Spring forward: 02:30 does not exist on 2026-03-08 in New York, so the next is the 9th.
    ["30 2 * * *", "America/New_York", "2026-03-07T12:00:00Z", "2026-03-09T06:30:00.000Z"],
  ];
  it.each(table)("%s in %s after %s", (expr, tz, after, expected) => {
    expect(nextFireTime(parseCron(expr), new Date(after), tz)?.toISOString()).toBe(expected);
  });

  it("fires a fixed-hour schedule once when clocks go back", () => {
    // 2026-11-01 in New York: 01:00–02:00 happens twice (EDT, then EST).
    const times = fireTimesBetween(
      parseCron("30 1 * * *"),
      new Date("2026-10-31T12:00:00Z"),
      new Date("2026-11-02T12:00:00Z"),
      "America/New_York",
    ).map((d) => d.toISOString());
    expect(times).toEqual(["2026-11-01T05:30:00.000Z", "2026-11-02T06:30:00.000Z"]);
  });

  it("fires a '*'-hour schedule in both copies of the repeated hour", () => {
    const times = fireTimesBetween(
      parseCron("*/30 * * * *"),
      new Date("2026-11-01T04:45:00Z"),
      new Date("2026-11-01T07:00:00Z"),
      "America/New_York",
    ).map((d) => d.toISOString());
    expect(times).toEqual([
      "2026-11-01T05:00:00.000Z",
      "2026-11-01T05:30:00.000Z",
      "2026-11-01T06:00:00.000Z",
      "2026-11-01T06:30:00.000Z",
      "2026-11-01T07:00:00.000Z",
    ]);
  });

  it("lists an hourly schedule's fire times over a day", () => {
    const times = fireTimesBetween(
      parseCron("0 * * * *"),
      new Date("2026-11-25T00:00:00Z"),
      new Date("2026-11-26T00:00:00Z"),
    );
    expect(times).toHaveLength(24);
    expect(times[0]?.toISOString()).toBe("2026-11-25T01:00:00.000Z");
  });
});

describe("isValidTimeZone", () => {
  it.each([
    ["UTC", true],
    ["utc", true],
    ["Etc/UTC", true],
    ["Europe/Berlin", true],
    ["America/New_York", true],
    ["Mars/Olympus_Mons", false],
    ["+01:00", false],
    ["", false],
  ] as const)("%j → %s", (tz, ok) => {
    expect(isValidTimeZone(tz)).toBe(ok);
  });
});
