// An exportRun call: load the named export's stored definition, decide the
// period(s) it covers, export each in turn, then sweep the export's leftover
// runs; and the run history for GET.
import { ExportError, toExportError } from "../core/errors.js";
import type { ExportDefinition } from "../core/definition.js";
import { summaryFromMetadata, type RunSummary } from "../core/manifest.js";
import { manifestObject, manifestPrefix } from "../core/names.js";
import {
  compactTimestamp,
  isoSeconds,
  lastSettledPeriod,
  periodBefore,
  settledAt,
  splitIntoPeriods,
  type Period,
} from "../core/periods.js";
import type { RunRequest } from "../core/request.js";
import { afterScheduledCall } from "./auto-pause.js";
import type { AppDeps } from "./deps.js";
import { exportPeriod, type RunOutcome } from "./export-period.js";
import { loadExport } from "./export-store.js";
import { sweepExport, type SweepReport } from "./sweep.js";

/** Periods one call may cover; a longer range is a backfill. */
export const MAX_PERIODS_PER_CALL = 48;
/**
 * A scheduled call that arrives before its period has settled waits at most
 * this long; later than that it answers 503 and Cloud Scheduler retries. The
 * Scheduler jobs fire a minute after each boundary, so this only covers a
 * settle delay configured longer than that.
 */
export const MAX_SETTLE_WAIT_MS = 2 * 60_000;

export interface ExportRequestResult {
  definition: ExportDefinition;
  outcomes: RunOutcome[];
  sweep: SweepReport | undefined;
}

/**
 * The periods a run request covers: its range (on the interval's boundaries,
 * settled), or the full period before the Cloud Scheduler schedule time, or
 * the newest settled period. A period is never read before its end plus the
 * settle delay, so no run completes a period whose rows are still arriving.
 */
export async function periodsToRun(
  request: RunRequest,
  def: ExportDefinition,
  scheduleTime: string | undefined,
  deps: AppDeps,
): Promise<Period[]> {
  const settleMs = deps.settings.settleMs[def.interval];
  const now = deps.now();
  if (request.range) {
    const periods = splitIntoPeriods(request.range, def.interval);
    if (periods.length > MAX_PERIODS_PER_CALL) {
      throw new ExportError(
        "INVALID_INTERVAL",
        `dataInterval covers ${periods.length} ${def.interval} periods; one call exports at most ${MAX_PERIODS_PER_CALL}. Post a backfill for longer ranges.`,
      );
    }
    const ready = settledAt(periods.at(-1)!, settleMs);
    if (ready.getTime() > now.getTime()) {
      throw new ExportError(
        "INVALID_INTERVAL",
        `dataInterval.end ${isoSeconds(request.range.end)} is too recent: a period is read ${settleMs / 1000} s after it ends, so this range can be exported from ${isoSeconds(ready)}.`,
        { details: { field: "dataInterval.end", earliestRunAt: ready.toISOString() } },
      );
    }
    return periods;
  }
  if (scheduleTime !== undefined) {
    const t = new Date(scheduleTime);
    if (Number.isNaN(t.getTime())) {
      throw new ExportError(
        "INVALID_REQUEST",
        `X-CloudScheduler-ScheduleTime ${JSON.stringify(scheduleTime.slice(0, 40))} is not a timestamp.`,
      );
    }
    const period = periodBefore(t, def.interval);
    const wait = settledAt(period, settleMs).getTime() - now.getTime();
    if (wait > MAX_SETTLE_WAIT_MS) {
      throw new ExportError(
        "UNAVAILABLE",
        `The period ${isoSeconds(period.start)}–${isoSeconds(period.end)} settles at ${isoSeconds(settledAt(period, settleMs))}; call again then.`,
      );
    }
    if (wait > 0) await deps.sleep(wait);
    return [period];
  }
  // A call without a schedule time or range ("run now"): the newest settled period.
  return [lastSettledPeriod(now, def.interval, settleMs)];
}

export async function runExportRequest(
  request: RunRequest,
  scheduleTime: string | undefined,
  deps: AppDeps,
): Promise<ExportRequestResult> {
  const stored = await loadExport(request.exportId, deps.store);
  const def = stored.definition;
  const periods = await periodsToRun(request, def, scheduleTime, deps);
  const outcomes: RunOutcome[] = [];
  for (const period of periods) {
    const outcome = await exportPeriod(
      def,
      period,
      {
        force: request.force,
        selection: "ingested",
        definitionHash: stored.hash,
        // Cloud Scheduler's calls carry its schedule time; anything else is a person (or bqx).
        trigger: scheduleTime !== undefined ? "scheduled" : "manual",
      },
      deps,
    );
    outcomes.push(outcome);
    // A retryable failure: stop here so the caller retries the whole call.
    if (outcome.kind === "failed" && outcome.error.retryable) break;
  }
  let sweep: SweepReport | undefined;
  try {
    const skip = periods.length === 1 ? manifestObject(def.id, periods[0]!) : undefined;
    sweep = await sweepExport(def, stored.hash, deps, skip);
    if (sweep.finalized.length + sweep.retried.length + sweep.errors.length > 0) {
      deps.log.info("sweep finished leftover runs", { export: def.id, ...sweep });
    }
  } catch (err) {
    // The sweep never fails the call that ran it.
    deps.log.warn("sweep failed", { export: def.id, error: toExportError(err).toJSON() });
  }
  // Cloud Scheduler's calls: note a resumed job, pause one whose runs keep failing (never throws).
  if (scheduleTime !== undefined) await afterScheduledCall(def, scheduleTime, deps);
  return { definition: def, outcomes, sweep };
}

/** A run as the history lists it; `definitionChanged` marks the first run after a definition change. */
export type RunHistoryEntry = RunSummary & { definitionChanged?: true };

/**
 * GET ?export=<id>: the export's runs, newest first, from manifest metadata.
 * An export with neither a definition nor runs is EXPORT_NOT_FOUND.
 */
export async function listRuns(
  exportId: string,
  deps: AppDeps,
  limit = 100,
  /** Only runs whose period starts in [start, end) (bqx follows a rerun's periods with it). */
  range?: Period,
): Promise<RunHistoryEntry[]> {
  const prefix = manifestPrefix(exportId);
  // Manifest names sort by period start (runs/<export>/<compact start>--<end>.json).
  const listed = range
    ? (await deps.store.list(prefix, prefix + compactTimestamp(range.start))).filter(
        (o) => o.name < prefix + compactTimestamp(range.end),
      )
    : await deps.store.list(prefix);
  if (listed.length === 0) await loadExport(exportId, deps.store);
  const runs = listed
    // Backfill chunks are listed by their backfill (GET ?export=&backfill=).
    .filter((o) => !o.name.includes("/backfill-"))
    .map((o) => summaryFromMetadata(o.name, o.metadata))
    .reverse()
    .slice(0, limit + 1);
  return runs.slice(0, limit).map((run, i) => {
    const older = runs[i + 1];
    const changed =
      older?.definitionHash !== undefined &&
      run.definitionHash !== undefined &&
      older.definitionHash !== run.definitionHash;
    return changed ? { ...run, definitionChanged: true as const } : run;
  });
}
