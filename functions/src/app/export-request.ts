// An exportRun call: the period(s) it covers, each exported in turn, then the
// sweep of the export's leftover runs; and the run history for GET.
import { requestedPeriod, type ExportRunRequest } from "../core/definition.js";
import { ExportError, toExportError } from "../core/errors.js";
import { summaryFromMetadata, type RunSummary } from "../core/manifest.js";
import { EXPORT_ID_PATTERN, manifestObject, manifestPrefix } from "../core/names.js";
import { periodBefore, splitIntoPeriods, type Period } from "../core/periods.js";
import type { AppDeps } from "./deps.js";
import { exportPeriod, type RunOutcome } from "./export-period.js";
import { sweepExport, type SweepReport } from "./sweep.js";

/** Periods one call may cover; longer backfills are split by the caller. */
export const MAX_PERIODS_PER_CALL = 48;

export interface ExportRequestResult {
  outcomes: RunOutcome[];
  sweep: SweepReport | undefined;
}

/**
 * The periods of a request: the explicit dataInterval (split into periods), or
 * the full period before the Cloud Scheduler schedule time.
 */
export function periodsOf(request: ExportRunRequest, scheduleTime: string | undefined, now: Date): Period[] {
  const explicit = requestedPeriod(request);
  if (explicit) {
    const periods = splitIntoPeriods(explicit, request.export.interval);
    if (periods.length > MAX_PERIODS_PER_CALL) {
      throw new ExportError(
        "INVALID_INTERVAL",
        `dataInterval covers ${periods.length} ${request.export.interval} periods; one call exports at most ${MAX_PERIODS_PER_CALL}. Split it into several calls.`,
      );
    }
    return periods;
  }
  if (scheduleTime !== undefined) {
    const t = new Date(scheduleTime);
    if (Number.isNaN(t.getTime())) {
      throw new ExportError(
        "INVALID_REQUEST",
        `X-CloudScheduler-ScheduleTime ${JSON.stringify(scheduleTime)} is not a timestamp.`,
      );
    }
    return [periodBefore(t, request.export.interval)];
  }
  // A call without a schedule time or interval (e.g. "run now"): the last full period.
  return [periodBefore(now, request.export.interval)];
}

export async function runExportRequest(
  request: ExportRunRequest,
  periods: Period[],
  deps: AppDeps,
): Promise<ExportRequestResult> {
  const outcomes: RunOutcome[] = [];
  for (const period of periods) {
    const outcome = await exportPeriod(
      request.export,
      period,
      { force: request.force ?? false, selection: "ingested" },
      deps,
    );
    outcomes.push(outcome);
    // A retryable failure: stop here so the caller retries the whole call.
    if (outcome.kind === "failed" && outcome.error.retryable) break;
  }
  let sweep: SweepReport | undefined;
  try {
    const skip = periods.length === 1 ? manifestObject(request.export.id, periods[0]!) : undefined;
    sweep = await sweepExport(request.export.id, deps, skip);
    if (sweep.finalized.length + sweep.retried.length + sweep.errors.length > 0) {
      deps.log.info("sweep finished leftover runs", { export: request.export.id, ...sweep });
    }
  } catch (err) {
    // The sweep never fails the call that ran it.
    deps.log.warn("sweep failed", { export: request.export.id, error: toExportError(err).toJSON() });
  }
  return { outcomes, sweep };
}

/** GET ?export=<id>: the export's runs, newest first, from manifest metadata. */
export async function listRuns(exportId: string, deps: AppDeps, limit = 100): Promise<RunSummary[]> {
  if (!EXPORT_ID_PATTERN.test(exportId)) {
    throw new ExportError("INVALID_REQUEST", `export ${JSON.stringify(exportId)} is not an export id.`);
  }
  const listed = await deps.store.list(manifestPrefix(exportId));
  return listed
    .map((o) => summaryFromMetadata(o.name, o.metadata))
    .reverse()
    .slice(0, limit);
}
