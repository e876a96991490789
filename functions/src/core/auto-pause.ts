// Auto-pause, the decision: an export whose last N scheduled runs all failed
// for reasons a retry cannot fix (a deleted dataset, a revoked key) gets its
// Cloud Scheduler job paused, so it stops firing runs that cannot succeed.
// Judged from the run listing's metadata (manifestMetadata), newest run
// first. Manual reruns and backfill chunks are a person's or a backfill's
// business and never count; neither do retryable failures (the caller
// retries them) nor runs still in flight (they may yet complete). Only runs
// updated after the last resume count, so resuming clears the count.
import type { ExportDefinition } from "./definition.js";
import type { RunSummary } from "./manifest.js";
import { intervalMs, type Interval } from "./periods.js";

/**
 * Failed scheduled runs in a row before the job is paused, when the export
 * sets no `autoPauseAfter`: about an hour of 5-minute runs, two hours of
 * 15-minute runs, six hours, three days, two weeks. Long enough that a
 * short outage someone is already fixing does not pause the export, short
 * enough that a broken export stops well within a day (or a few periods).
 */
export const DEFAULT_AUTO_PAUSE_AFTER: Readonly<Record<Interval, number>> = {
  "5m": 12,
  "15m": 8,
  hour: 6,
  day: 3,
  week: 2,
};

export function autoPauseThreshold(def: Pick<ExportDefinition, "interval" | "autoPauseAfter">): number {
  return def.autoPauseAfter ?? DEFAULT_AUTO_PAUSE_AFTER[def.interval];
}

/**
 * The earliest period start worth listing: scheduled runs come one per
 * period, so the last `threshold` of them lie within about that many
 * periods. Twice that, plus two, leaves room for runs still in flight and
 * for retryable failures, which are skipped; when the Scheduler missed
 * periods, fewer runs are seen and the export is not paused (yet).
 */
export function autoPauseWindowStart(now: Date, interval: Interval, threshold: number): Date {
  return new Date(now.getTime() - (2 * threshold + 2) * intervalMs(interval));
}

export type AutoPauseDecision =
  /** The newest `threshold` counted runs all failed non-retryably: pause. `failures` newest first. */
  | { pause: true; threshold: number; failures: RunSummary[] }
  /** Not (yet): `streak` non-retryable failures in a row, newest first. */
  | { pause: false; threshold: number; streak: number };

/** Whether a run can count toward auto-pause at all, and if so whether it failed for good. */
function verdict(run: RunSummary, countFrom: number | undefined): "failed" | "succeeded" | "skip" {
  if (run.trigger !== "scheduled") return "skip";
  if (countFrom !== undefined) {
    const updated = run.updatedAt === undefined ? NaN : Date.parse(run.updatedAt);
    // Unknown, or before the resume: from before the count restarted. (The
    // resume is recorded at the schedule time of the first fire after it,
    // so that fire's own run, claimed then or later, counts.)
    if (!(updated >= countFrom)) return "skip";
  }
  if (run.state === "COMPLETED") return "succeeded";
  if (run.state === "FAILED" && run.error !== undefined && !run.error.retryable) return "failed";
  // In flight (it may yet complete), retryably failed (retried), or unreadable.
  return "skip";
}

/**
 * `runs` in period order, oldest first (as the manifest listing returns
 * them); `countFrom` the last resume (ISO time), after which runs count.
 */
export function decideAutoPause(
  runs: readonly RunSummary[],
  threshold: number,
  countFrom: string | undefined,
): AutoPauseDecision {
  const from = countFrom === undefined ? undefined : Date.parse(countFrom);
  const failures: RunSummary[] = [];
  for (let i = runs.length - 1; i >= 0; i--) {
    const v = verdict(runs[i]!, from);
    if (v === "skip") continue;
    if (v === "succeeded") break;
    failures.push(runs[i]!);
    if (failures.length >= threshold) return { pause: true, threshold, failures };
  }
  return { pause: false, threshold, streak: failures.length };
}
