// Export periods in UTC: the period a scheduled run covers, validation of an
// explicit interval, and the split of a backfill range into periods.
import { ExportError } from "./errors.js";

export const INTERVALS = ["5m", "15m", "hour", "day", "week"] as const;
export type Interval = (typeof INTERVALS)[number];

/** A half-open range [start, end) of UTC instants. */
export interface Period {
  start: Date;
  end: Date;
}

const MINUTE = 60_000;
const INTERVAL_MS: Record<Interval, number> = {
  "5m": 5 * MINUTE,
  "15m": 15 * MINUTE,
  hour: 60 * MINUTE,
  day: 24 * 60 * MINUTE,
  week: 7 * 24 * 60 * MINUTE,
};
// 1970-01-05 was a Monday: weeks start on Monday 00:00 UTC (ISO weeks).
const WEEK_ORIGIN_MS = Date.UTC(1970, 0, 5);

export function intervalMs(interval: Interval): number {
  return INTERVAL_MS[interval];
}

/** The start of the interval that contains `t`. */
export function floorToInterval(t: Date, interval: Interval): Date {
  const step = INTERVAL_MS[interval];
  const origin = interval === "week" ? WEEK_ORIGIN_MS : 0;
  const ms = t.getTime();
  return new Date(Math.floor((ms - origin) / step) * step + origin);
}

export function isAligned(t: Date, interval: Interval): boolean {
  return floorToInterval(t, interval).getTime() === t.getTime();
}

/**
 * The full period before a scheduled time: a job scheduled at 11:00 (or fired
 * late, at 11:00:37) exports [10:00, 11:00).
 */
export function periodBefore(scheduleTime: Date, interval: Interval): Period {
  if (Number.isNaN(scheduleTime.getTime())) {
    throw new ExportError("INVALID_INTERVAL", "The schedule time is not a valid timestamp.");
  }
  const end = floorToInterval(scheduleTime, interval);
  return { start: new Date(end.getTime() - INTERVAL_MS[interval]), end };
}

/**
 * Validates an explicit [start, end): both valid, start before end, both on
 * the interval's boundaries. Throws an INVALID_INTERVAL error naming the fix.
 */
export function checkRange(start: Date, end: Date, interval: Interval): Period {
  if (Number.isNaN(start.getTime()) || Number.isNaN(end.getTime())) {
    throw new ExportError(
      "INVALID_INTERVAL",
      "dataInterval.start and dataInterval.end must be ISO 8601 timestamps.",
    );
  }
  if (start.getTime() >= end.getTime()) {
    throw new ExportError(
      "INVALID_INTERVAL",
      `dataInterval.start (${start.toISOString()}) must be before dataInterval.end (${end.toISOString()}).`,
    );
  }
  for (const [name, t] of [
    ["start", start],
    ["end", end],
  ] as const) {
    if (!isAligned(t, interval)) {
      const before = floorToInterval(t, interval);
      const after = new Date(before.getTime() + INTERVAL_MS[interval]);
      throw new ExportError(
        "INVALID_INTERVAL",
        `dataInterval.${name} (${t.toISOString()}) is not on a ${interval} boundary; use ${before.toISOString()} or ${after.toISOString()}.`,
        { details: { field: `dataInterval.${name}` } },
      );
    }
  }
  return { start, end };
}

/** Splits a validated range into consecutive periods of the interval. */
export function splitIntoPeriods(range: Period, interval: Interval): Period[] {
  const checked = checkRange(range.start, range.end, interval);
  const step = INTERVAL_MS[interval];
  const periods: Period[] = [];
  for (let t = checked.start.getTime(); t < checked.end.getTime(); t += step) {
    periods.push({ start: new Date(t), end: new Date(t + step) });
  }
  return periods;
}

/** "2026-11-25T10:00:00Z" → "20261125T100000Z": sortable and safe in names. */
export function compactTimestamp(t: Date): string {
  return t
    .toISOString()
    .replace(/\.\d{3}Z$/, "Z")
    .replace(/[-:]/g, "");
}
