// Enough of cron to check the Scheduler schedules: five fields (minute hour
// day-of-month month day-of-week), each "*", "*/n", "a", "a-b" or "a,b",
// evaluated in UTC (the jobs use time_zone Etc/UTC).

const RANGES: [number, number][] = [
  [0, 59],
  [0, 23],
  [1, 31],
  [1, 12],
  [0, 6],
];

function field(spec: string, [lo, hi]: [number, number]): Set<number> {
  const out = new Set<number>();
  for (const part of spec.split(",")) {
    const m = /^(\*|(\d+)(?:-(\d+))?)(?:\/(\d+))?$/.exec(part);
    if (!m) throw new Error(`unsupported cron field ${spec}`);
    const step = m[4] ? Number(m[4]) : 1;
    const from = m[1] === "*" ? lo : Number(m[2]);
    const to = m[1] === "*" ? hi : m[3] ? Number(m[3]) : m[4] ? hi : from;
    if (from < lo || to > hi || step < 1) throw new Error(`cron field ${spec} out of range`);
    for (let v = from; v <= to; v += step) out.add(v);
  }
  return out;
}

export function cronMatcher(expr: string): (t: Date) => boolean {
  const parts = expr.trim().split(/\s+/);
  if (parts.length !== 5) throw new Error(`expected 5 cron fields in ${expr}`);
  const [min, hour, dom, mon, dow] = parts.map((p, i) => field(p, RANGES[i] as [number, number]));
  const domAny = parts[2] === "*";
  const dowAny = parts[4] === "*";
  return (t) => {
    if (t.getUTCSeconds() !== 0 || t.getUTCMilliseconds() !== 0) return false;
    if (!min?.has(t.getUTCMinutes()) || !hour?.has(t.getUTCHours()) || !mon?.has(t.getUTCMonth() + 1)) {
      return false;
    }
    const domOk = dom?.has(t.getUTCDate()) ?? false;
    const dowOk = dow?.has(t.getUTCDay()) ?? false;
    // Vixie cron: when both day fields are restricted, either may match.
    if (domAny && dowAny) return true;
    if (domAny) return dowOk;
    if (dowAny) return domOk;
    return domOk || dowOk;
  };
}

/** Every firing time in [from, to), minute resolution. */
export function firings(expr: string, from: Date, to: Date): Date[] {
  const matches = cronMatcher(expr);
  const out: Date[] = [];
  for (let ms = Math.ceil(from.getTime() / 60_000) * 60_000; ms < to.getTime(); ms += 60_000) {
    const t = new Date(ms);
    if (matches(t)) out.push(t);
  }
  return out;
}
