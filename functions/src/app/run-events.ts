// The log lines that mark a run's end, in one place: Cloud Monitoring's
// log-based metrics (infra/alerting.tf) count them by their `event` field, so
// their shape is a contract. Cloud Logging reads each JSON line as the
// entry's jsonPayload: { event, export, run, attempt, trigger, … }.
import type { ExportError } from "../core/errors.js";
import type { RunManifest } from "../core/manifest.js";
import type { Logger } from "../log.js";

/** The `event` values infra/alerting.tf filters on. */
export const RUN_EVENTS = {
  completed: "run_completed",
  failed: "run_failed",
  paused: "export_paused",
  resumed: "export_resumed",
} as const;

function runFields(m: RunManifest): Record<string, unknown> {
  return { export: m.exportId, run: m.runId, attempt: m.attempt, trigger: m.trigger ?? "manual" };
}

export function logRunCompleted(log: Logger, m: RunManifest, detail: string | undefined = undefined): void {
  log.info(detail ? `run completed: ${detail}` : "run completed", {
    event: RUN_EVENTS.completed,
    ...runFields(m),
    rows: m.rows,
    ...(m.loadedRows !== undefined ? { loadedRows: m.loadedRows } : {}),
    ...(m.mergedRows !== undefined ? { mergedRows: m.mergedRows } : {}),
    ...(m.mergeBytesProcessed !== undefined ? { mergeBytesProcessed: m.mergeBytesProcessed } : {}),
  });
}

export function logRunFailed(log: Logger, m: RunManifest, error: ExportError): void {
  log.error("run failed", { event: RUN_EVENTS.failed, ...runFields(m), error: error.toJSON() });
}

/**
 * Auto-pause paused the export's Scheduler job after `failures` failed
 * scheduled runs: the one line the export_paused alert matches, saying how
 * to resume.
 */
export function logExportPaused(log: Logger, exportId: string, failures: number): void {
  log.error(`export paused after ${failures} failed runs; resume with: bqx resume ${exportId}`, {
    event: RUN_EVENTS.paused,
    export: exportId,
    failures,
  });
}

/** A scheduled run arrived for a paused export: its job was resumed, and the failure count starts again. */
export function logExportResumed(log: Logger, exportId: string, job: string): void {
  log.info("export resumed: its Scheduler job fires again; failed runs count from zero", {
    event: RUN_EVENTS.resumed,
    export: exportId,
    job,
  });
}
