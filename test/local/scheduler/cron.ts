// Unix-cron (5 fields) as Cloud Scheduler reads it: minute hour day-of-month month
// day-of-week, with *, lists, ranges, steps, month/day names, 7 = Sunday, and the
// Vixie rule that when both day fields are restricted a day matching either fires.
// Pure: no clock, no I/O. Time zones come from Intl (the tz database in ICU).

export class CronError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CronError";
  }
}

export interface CronSchedule {
  source: string;
  minutes: ReadonlySet<number>;
  hours: ReadonlySet<number>;
  daysOfMonth: ReadonlySet<number>;
  months: ReadonlySet<number>;
  /** 0 = Sunday … 6 = Saturday (7 is folded into 0). */
  daysOfWeek: ReadonlySet<number>;
  /** A day field "is restricted" when it does not start with "*" (Vixie cron's rule). */
  domRestricted: boolean;
  dowRestricted: boolean;
  hourRestricted: boolean;
}

/** Wall-clock fields of an instant in some time zone. */
export interface WallClock {
  year: number;
  month: number; // 1-12
  day: number; // 1-31
  hour: number;
  minute: number;
  dayOfWeek: number; // 0 = Sunday
}

interface FieldSpec {
  name: string;
  min: number;
  max: number;
  names?: readonly string[];
  namesStart?: number;
}

const MONTH_NAMES = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
const DAY_NAMES = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
const FIELDS: readonly FieldSpec[] = [
  { name: "minute", min: 0, max: 59 },
  { name: "hour", min: 0, max: 23 },
  { name: "day of month", min: 1, max: 31 },
  { name: "month", min: 1, max: 12, names: MONTH_NAMES, namesStart: 1 },
  { name: "day of week", min: 0, max: 7, names: DAY_NAMES, namesStart: 0 },
];

function parseValue(text: string, spec: FieldSpec): number {
  const upper = text.toUpperCase();
  const named = spec.names?.indexOf(upper) ?? -1;
  if (named >= 0) return named + (spec.namesStart ?? 0);
  if (!/^\d+$/.test(text)) throw new CronError(`${spec.name}: "${text}" is not a number`);
  const value = Number(text);
  if (value < spec.min || value > spec.max) {
    throw new CronError(`${spec.name}: ${value} is outside ${spec.min}-${spec.max}`);
  }
  return value;
}

function parseField(text: string, spec: FieldSpec): Set<number> {
  const values = new Set<number>();
  for (const part of text.split(",")) {
    const m = /^([^/]+)(?:\/(\d+))?$/.exec(part);
    if (!m?.[1]) throw new CronError(`${spec.name}: "${part}" is not a value, range or step`);
    const step = m[2] === undefined ? 1 : Number(m[2]);
    if (step < 1) throw new CronError(`${spec.name}: step must be at least 1 in "${part}"`);
    let lo: number;
    let hi: number;
    if (m[1] === "*") {
      lo = spec.min;
      hi = spec.max;
    } else if (m[1].includes("-")) {
      const [a, b, ...rest] = m[1].split("-");
      if (a === undefined || b === undefined || rest.length > 0)
        throw new CronError(`${spec.name}: bad range "${m[1]}"`);
      lo = parseValue(a, spec);
      hi = parseValue(b, spec);
      if (lo > hi) throw new CronError(`${spec.name}: range "${m[1]}" runs backwards`);
    } else {
      if (m[2] !== undefined) throw new CronError(`${spec.name}: a step needs "*" or a range, not "${part}"`);
      lo = hi = parseValue(m[1], spec);
    }
    for (let v = lo; v <= hi; v += step) values.add(v);
  }
  return values;
}

/** Parses a 5-field unix-cron expression; throws CronError saying which field is wrong. */
export function parseCron(expression: string): CronSchedule {
  const parts = expression.trim().split(/\s+/);
  if (parts.length !== 5 || parts[0] === "") {
    throw new CronError(
      `expected 5 fields (minute hour day-of-month month day-of-week), got ${parts.filter(Boolean).length}`,
    );
  }
  const [, hour, dom, , dow] = parts as [string, string, string, string, string];
  const sets = parts.map((p, i) => parseField(p, FIELDS[i] as FieldSpec));
  const daysOfWeek = new Set([...(sets[4] ?? [])].map((d) => d % 7));
  return {
    source: expression,
    minutes: sets[0] ?? new Set(),
    hours: sets[1] ?? new Set(),
    daysOfMonth: sets[2] ?? new Set(),
    months: sets[3] ?? new Set(),
    daysOfWeek,
    domRestricted: !dom.startsWith("*"),
    dowRestricted: !dow.startsWith("*"),
    hourRestricted: !hour.startsWith("*"),
  };
}

/** Whether a calendar day can fire (month, and the day-of-month / day-of-week rule). */
export function dayMatches(s: CronSchedule, w: Pick<WallClock, "month" | "day" | "dayOfWeek">): boolean {
  if (!s.months.has(w.month)) return false;
  const dom = s.daysOfMonth.has(w.day);
  const dow = s.daysOfWeek.has(w.dayOfWeek);
  if (s.domRestricted && s.dowRestricted) return dom || dow;
  return dom && dow;
}

export function matches(s: CronSchedule, w: WallClock): boolean {
  return dayMatches(s, w) && s.hours.has(w.hour) && s.minutes.has(w.minute);
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat("en-US", {
      timeZone,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/** A tz database name (or "utc" in any case), as Cloud Scheduler's time_zone field takes. Offsets are not names. */
export function isValidTimeZone(timeZone: string): boolean {
  if (!timeZone || /^[+-]|^\d/.test(timeZone)) return false;
  try {
    formatter(timeZone);
    return true;
  } catch {
    return false;
  }
}

/** Minutes the zone is ahead of UTC at an instant. */
export function utcOffsetMinutes(at: number, timeZone: string): number {
  const parts: Record<string, number> = {};
  for (const p of formatter(timeZone).formatToParts(new Date(at))) {
    if (p.type !== "literal") parts[p.type] = Number(p.value);
  }
  const asUtc = Date.UTC(
    parts["year"] ?? 1970,
    (parts["month"] ?? 1) - 1,
    parts["day"] ?? 1,
    parts["hour"] ?? 0,
    parts["minute"] ?? 0,
    parts["second"] ?? 0,
  );
  return Math.round((asUtc - Math.floor(at / 1000) * 1000) / 60_000);
}

export function wallClock(at: number, timeZone: string): WallClock {
  const local = new Date(at + utcOffsetMinutes(at, timeZone) * 60_000);
  return {
    year: local.getUTCFullYear(),
    month: local.getUTCMonth() + 1,
    day: local.getUTCDate(),
    hour: local.getUTCHours(),
    minute: local.getUTCMinutes(),
    dayOfWeek: local.getUTCDay(),
  };
}

const MINUTE = 60_000;
/** Far enough for Feb 29 schedules; an expression that never fires (Feb 30) gives undefined. */
const HORIZON = 8 * 366 * 24 * 60 * MINUTE;

/**
 * The first instant strictly after `after` (on a whole minute) at which the schedule fires in
 * `timeZone`. Wall times skipped by a DST jump do not fire; a wall time repeated when clocks go
 * back fires once (its first occurrence) for a fixed-hour schedule, and at each occurrence when
 * the hour field is "*"-based — as Vixie cron does.
 */
export function nextFireTime(s: CronSchedule, after: Date, timeZone = "UTC"): Date | undefined {
  let t = Math.floor(after.getTime() / MINUTE) * MINUTE + MINUTE;
  const end = t + HORIZON;
  while (t < end) {
    const w = wallClock(t, timeZone);
    const minuteOfDay = w.hour * 60 + w.minute;
    if (!dayMatches(s, w)) {
      t += (1440 - minuteOfDay) * MINUTE;
    } else if (!s.hours.has(w.hour)) {
      t += (60 - w.minute) * MINUTE;
    } else if (!s.minutes.has(w.minute)) {
      t += MINUTE;
    } else if (s.hourRestricted && isRepeatedWallTime(t, timeZone)) {
      t += MINUTE;
    } else {
      return new Date(t);
    }
  }
  return undefined;
}

/** True when the wall time at `t` already happened earlier because the clocks went back. */
function isRepeatedWallTime(t: number, timeZone: string): boolean {
  const now = utcOffsetMinutes(t, timeZone);
  const before = utcOffsetMinutes(t - 3 * 60 * MINUTE, timeZone);
  if (before <= now) return false;
  const earlier = t - (before - now) * MINUTE;
  const a = wallClock(earlier, timeZone);
  const b = wallClock(t, timeZone);
  return a.day === b.day && a.hour === b.hour && a.minute === b.minute;
}

/** The fire times in (from, to], in order: what a scheduler that was down for a while would owe. */
export function fireTimesBetween(
  s: CronSchedule,
  from: Date,
  to: Date,
  timeZone = "UTC",
  limit = 10_000,
): Date[] {
  const out: Date[] = [];
  let cursor = from;
  for (;;) {
    const next = nextFireTime(s, cursor, timeZone);
    if (!next || next.getTime() > to.getTime() || out.length >= limit) return out;
    out.push(next);
    cursor = next;
  }
}
