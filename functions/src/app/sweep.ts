// The sweep: finishes runs of an export that a crash, a lost completion event
// or a transient failure left behind. LOADING runs whose job is DONE are
// finalized (a missing job is started from the manifest); STAGING runs
// untouched past the stale limit, and runs FAILED for a reason a retry can
// fix (ClickHouse or BigQuery unavailable) once Cloud Scheduler's own retries
// are over, are retried with a new attempt. Only
// the last SWEEP_DAYS of manifests are listed (names sort by period start),
// and only their metadata is read unless a run needs work.
import type { ExportDefinition } from "../core/definition.js";
import { toExportError } from "../core/errors.js";
import { manifestPeriod, summaryFromMetadata } from "../core/manifest.js";
import { manifestPrefix } from "../core/names.js";
import { compactTimestamp } from "../core/periods.js";
import type { AppDeps } from "./deps.js";
import { exportPeriod } from "./export-period.js";
import { completeLoad } from "./complete-load.js";
import { RunRecord } from "./run-record.js";

const SWEEP_DAYS = 8;
/** Runs re-run per sweep (stale or retryably failed), to keep one call's duration bounded. */
const MAX_RETRIES_PER_SWEEP = 2;
/** A retryably FAILED run is left this long to Cloud Scheduler's own retries before the sweep takes it. */
export const RETRY_FAILED_AFTER_MS = 5 * 60_000;

export interface SweepReport {
  finalized: string[];
  retried: string[];
  stillRunning: string[];
  errors: { run: string; message: string }[];
}

/**
 * Sweeps the runs of `def`'s export. A stale STAGING run is retried with the
 * export's current definition (the one this call loaded), as the next
 * scheduled call would.
 */
export async function sweepExport(
  def: ExportDefinition,
  definitionHash: string,
  deps: AppDeps,
  skipObject?: string,
): Promise<SweepReport> {
  const report: SweepReport = { finalized: [], retried: [], stillRunning: [], errors: [] };
  const prefix = manifestPrefix(def.id);
  const since = new Date(deps.now().getTime() - SWEEP_DAYS * 24 * 3600 * 1000);
  const listed = await deps.store.list(prefix, prefix + compactTimestamp(since));
  const now = deps.now().getTime();
  for (const obj of listed) {
    if (obj.name === skipObject) continue;
    const summary = summaryFromMetadata(obj.name, obj.metadata);
    const idle = summary.updatedAt ? now - new Date(summary.updatedAt).getTime() : Infinity;
    // Backfill chunks are retried by their Cloud Tasks queue (and a re-posted
    // backfill), not here; a LOADING chunk is finished like any run.
    const chunk = obj.name.includes("/backfill-");
    const retry =
      !chunk &&
      report.retried.length < MAX_RETRIES_PER_SWEEP &&
      ((summary.state === "STAGING" && idle >= deps.settings.staleAfterMs) ||
        (summary.state === "FAILED" && summary.error?.retryable === true && idle >= RETRY_FAILED_AFTER_MS));
    const wanted = summary.state === "LOADING" || retry;
    if (!wanted) continue;
    try {
      const record = await RunRecord.read(deps.store, obj.name);
      if (!record) continue;
      const m = record.manifest;
      if (m.state === "LOADING") {
        const done = await completeLoad(record, deps);
        if (done.kind === "not-done") report.stillRunning.push(m.runId);
        else if (done.kind !== "ignored") report.finalized.push(m.runId);
      } else if (m.state === "STAGING" || m.state === "FAILED") {
        await exportPeriod(
          def,
          manifestPeriod(m),
          { force: false, selection: m.selection, definitionHash, trigger: m.trigger ?? "scheduled" },
          deps,
        );
        report.retried.push(m.runId);
      }
    } catch (err) {
      report.errors.push({ run: obj.name, message: toExportError(err).message });
    }
  }
  return report;
}
