// Export periods in UTC: the period a scheduled run covers, the periods of an
// explicit range (checked against the interval's boundaries), and when a
// period has settled enough to be read.
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

/** How each interval's boundaries read in messages ("not on an hour boundary"). */
const BOUNDARY_NAME: Record<Interval, string> = {
  "5m": "a 5-minute",
  "15m": "a 15-minute",
  hour: "an hour",
  day: "a day (00:00 UTC)",
  week: "a week (Monday 00:00 UTC)",
};

/** An instant as people write it: 2026-11-25T10:00:00Z (milliseconds only when there are some). */
export function isoSeconds(t: Date): string {
  return t.toISOString().replace(/\.000Z$/, "Z");
}

/**
 * The periods of an explicit range [start, end) (start before end, checked
 * where the range was parsed): both ends must lie on the interval's
 * boundaries. The one check of a requested range; `field` names it in the
 * error ("dataInterval", "backfill"), which proposes the boundaries around a
 * misaligned end.
 */
export function splitIntoPeriods(range: Period, interval: Interval, field = "dataInterval"): Period[] {
  for (const [name, t] of [
    ["start", range.start],
    ["end", range.end],
  ] as const) {
    if (!isAligned(t, interval)) {
      const before = floorToInterval(t, interval);
      const after = new Date(before.getTime() + INTERVAL_MS[interval]);
      throw new ExportError(
        "INVALID_INTERVAL",
        `${field}.${name} ${isoSeconds(t)} is not on ${BOUNDARY_NAME[interval]} boundary; use ${isoSeconds(before)} or ${isoSeconds(after)}.`,
        { details: { field: `${field}.${name}` } },
      );
    }
  }
  const step = INTERVAL_MS[interval];
  const periods: Period[] = [];
  for (let t = range.start.getTime(); t < range.end.getTime(); t += step) {
    periods.push({ start: new Date(t), end: new Date(t + step) });
  }
  return periods;
}

/**
 * How long after a period's end its rows are read. Rows ingested just before
 * the end can become visible in ClickHouse a little later, so PostHog's batch
 * exports wait 30 s after a 5-minute period and 1 minute after longer ones;
 * we default to the same. The Scheduler jobs fire one minute after each
 * boundary (infra/main.tf), which covers both.
 */
export const DEFAULT_SETTLE_MS: Record<Interval, number> = {
  "5m": 30_000,
  "15m": 60_000,
  hour: 60_000,
  day: 60_000,
  week: 60_000,
};

/** The earliest instant a period may be read: its end plus the settle delay. */
export function settledAt(period: Period, settleMs: number): Date {
  return new Date(period.end.getTime() + settleMs);
}

/** The newest period whose settle delay has passed at `now`. */
export function lastSettledPeriod(now: Date, interval: Interval, settleMs: number): Period {
  return periodBefore(new Date(now.getTime() - settleMs), interval);
}

/** "2026-11-25T10:00:00Z" → "20261125T100000Z": sortable and safe in names. */
export function compactTimestamp(t: Date): string {
  return t
    .toISOString()
    .replace(/\.\d{3}Z$/, "Z")
    .replace(/[-:]/g, "");
}
