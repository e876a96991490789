// Auto-pause, the hooks: after a scheduled run ends FAILED for a reason a
// retry cannot fix, pause the export's Cloud Scheduler job once its last N
// scheduled runs all did (core/auto-pause.ts decides), record who, when and
// why in the export's state (export-state/<id>.json) and log the one ERROR
// line the export_paused alert matches. A person resumes the job (bqx resume,
// gcloud or the console); the next scheduled call then finds the export
// marked paused, records the resume, and failures count from zero again.
// Nothing here may fail a run: every error is logged and swallowed.
import { autoPauseThreshold, autoPauseWindowStart, decideAutoPause } from "../core/auto-pause.js";
import type { ExportDefinition } from "../core/definition.js";
import { toExportError, type ExportError } from "../core/errors.js";
import {
  MAX_FAILURE_MESSAGE,
  pauseReason,
  recordPause,
  recordResume,
  type PauseFailure,
  type PauseRecord,
} from "../core/export-state.js";
import { parseManifest, summaryFromMetadata, type RunManifest, type RunSummary } from "../core/manifest.js";
import { manifestPrefix } from "../core/names.js";
import { compactTimestamp } from "../core/periods.js";
import type { AppDeps } from "./deps.js";
import { readExportState, updateExportState } from "./export-state.js";
import { loadExport } from "./export-store.js";
import type { ObjectStore } from "./ports.js";
import { logExportPaused, logExportResumed } from "./run-events.js";

/** Who paused, as the export's state, GET / and `bqx exports` show it. */
export const AUTO_PAUSE_BY = "auto-pause";
/** How a resume is noticed (recorded on the resume event). */
export const RESUME_SEEN_BY = "a scheduled run arrived";
/** Failed runs whose manifests are read for their error messages when pausing. */
const MAX_DESCRIBED_FAILURES = 20;

/**
 * exportRun, after a call from Cloud Scheduler (`scheduleTime` is its
 * X-CloudScheduler-ScheduleTime). An export marked paused whose job fires
 * for a time after the pause was resumed: that is recorded first, with the
 * schedule time as the moment from which runs count. Then the export is
 * paused if its last N scheduled runs failed for good, including runs that
 * finalizeRun failed (it cannot pause jobs itself).
 */
export async function afterScheduledCall(
  def: ExportDefinition,
  scheduleTime: string,
  deps: AppDeps,
): Promise<void> {
  await guarded(def.id, deps, async () => {
    await noteResume(def.id, scheduleTime, deps);
    await pauseIfDue(def, deps);
  });
}

/**
 * completeLoad, after recording a run FAILED (its load or MERGE failed): in
 * finalizeRun, in the sweep or in a later call. Only scheduled runs that a
 * retry cannot fix count. The export's current definition decides N.
 */
export async function afterRunFailed(m: RunManifest, error: ExportError, deps: AppDeps): Promise<void> {
  if (m.trigger !== "scheduled" || error.retryable) return;
  await guarded(m.exportId, deps, async () => {
    await pauseIfDue((await loadExport(m.exportId, deps.store)).definition, deps);
  });
}

async function guarded(exportId: string, deps: AppDeps, work: () => Promise<void>): Promise<void> {
  try {
    await work();
  } catch (err) {
    const e = toExportError(err);
    const fields = { export: exportId, error: e.toJSON() };
    const message = "auto-pause could not check or pause the export; its runs are not affected";
    if (e.retryable) deps.log.warn(message, fields);
    else deps.log.error(message, fields);
  }
}

async function noteResume(exportId: string, scheduleTime: string, deps: AppDeps): Promise<void> {
  const at = new Date(scheduleTime);
  if (Number.isNaN(at.getTime())) return;
  let job = "";
  const written = await updateExportState(deps.store, exportId, (state) => {
    // A Scheduler retry of a fire from before the pause is no resume; a fire
    // scheduled after it is: a paused job does not fire.
    if (!state.paused || at.getTime() <= Date.parse(state.paused.at)) return undefined;
    job = state.paused.job;
    return recordResume(state, at.toISOString(), RESUME_SEEN_BY);
  });
  if (written) logExportResumed(deps.log, exportId, job);
}

async function pauseIfDue(def: ExportDefinition, deps: AppDeps): Promise<void> {
  const { state } = await readExportState(deps.store, def.id);
  if (state.paused) return;
  const threshold = autoPauseThreshold(def);
  const prefix = manifestPrefix(def.id);
  const since = autoPauseWindowStart(deps.now(), def.interval, threshold);
  const listed = await deps.store.list(prefix, prefix + compactTimestamp(since));
  // Period runs only, in period order (their names start with the period;
  // backfill chunks' manifests, under backfill-<id>/, sort after them).
  const runs = listed
    .filter((o) => /^\d/.test(o.name.slice(prefix.length)))
    .map((o) => summaryFromMetadata(o.name, o.metadata));
  const decision = decideAutoPause(runs, threshold, state.resumedAt);
  if (!decision.pause) return;

  const log = deps.log.child({ export: def.id });
  const scheduler = deps.scheduler;
  if (!scheduler) {
    log.warn(
      `auto-pause: the last ${threshold} scheduled runs failed with errors a retry cannot fix, but this function cannot pause Scheduler jobs (BQX_SCHEDULER_JOB_PREFIX is unset); exportRun pauses it at its next scheduled call`,
      { failures: threshold, runs: decision.failures.map((r) => r.object) },
    );
    return;
  }
  const job = scheduler.jobName(def.id);
  const jobState = await scheduler.state(def.id);
  if (jobState !== "ENABLED" && jobState !== "PAUSED") {
    log.error(
      `auto-pause: the last ${threshold} scheduled runs failed with errors a retry cannot fix, but Cloud Scheduler job ${job} ${jobState === undefined ? "does not exist" : `is ${jobState}`}, so it was not paused`,
      { failures: threshold, job },
    );
    return;
  }
  // PAUSED: a person (or a concurrent call) paused it already; record why it stays paused.
  if (jobState === "ENABLED") await scheduler.pause(def.id);
  const failures = await describeFailures(decision.failures, deps.store);
  const pause: PauseRecord = {
    at: deps.now().toISOString(),
    by: AUTO_PAUSE_BY,
    reason: pauseReason(failures) + (jobState === "PAUSED" ? " (the job was already paused)" : ""),
    job,
    failures,
  };
  // One call records the pause and logs it; a concurrent one finds it recorded.
  const written = await updateExportState(deps.store, def.id, (current) =>
    current.paused ? undefined : recordPause(current, pause),
  );
  if (written) logExportPaused(deps.log, def.id, failures.length);
}

/** The failed runs with their error messages (from their manifests), newest first. */
async function describeFailures(runs: readonly RunSummary[], store: ObjectStore): Promise<PauseFailure[]> {
  return Promise.all(
    runs.map(async (run, i): Promise<PauseFailure> => {
      const code = run.error?.code ?? "UNKNOWN";
      const found =
        i < MAX_DESCRIBED_FAILURES ? await store.read(run.object).catch(() => undefined) : undefined;
      if (!found) return { run: run.object, error: { code, message: "" } };
      try {
        const m = parseManifest(found.text, run.object);
        return {
          run: m.runId,
          period: m.period,
          error: {
            code: m.error?.code ?? code,
            message: (m.error?.message ?? "").slice(0, MAX_FAILURE_MESSAGE),
          },
        };
      } catch {
        return { run: run.object, error: { code, message: "" } };
      }
    }),
  );
}
