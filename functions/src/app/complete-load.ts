// Completing a run whose load job is DONE: record a failed load with
// BigQuery's own message, or MERGE the stage table into the destination, drop
// the stage table, delete the staged objects and record the counts. Safe to
// repeat: the MERGE job id is deterministic (a repeat re-attaches), dropping
// a dropped table is fine, and a run already COMPLETED/FAILED is left alone.
// Called by finalizeRun (the job's completion event), by exportRun (a job
// that finished at once, or a LOADING run found by the next call) and by the
// sweep.
import { eventsInsertMergeSql, personsMergeSql } from "../core/destination-sql.js";
import { ExportError, toExportError } from "../core/errors.js";
import type { TableRef } from "../core/identifiers.js";
import { transition, type RunManifest } from "../core/manifest.js";
import { STAGE_TABLE_TTL_MS } from "../core/models.js";
import { jobLabels, mergeJobId, runStagingPrefix, stageTableId } from "../core/names.js";
import { PATH_PERMISSIONS } from "../core/write-path.js";
import { afterRunFailed } from "./auto-pause.js";
import type { AppDeps } from "./deps.js";
import type { JobInfo, ObjectStore, Warehouse } from "./ports.js";
import { startRecordedLoad } from "./load-job.js";
import { logRunCompleted, logRunFailed } from "./run-events.js";
import type { RunRecord } from "./run-record.js";

export type FinalizeOutcome =
  | { kind: "completed"; manifest: RunManifest }
  | { kind: "failed"; manifest: RunManifest; error: ExportError }
  | { kind: "not-done"; manifest: RunManifest }
  | { kind: "ignored"; reason: string };

/**
 * Finishes a LOADING run if its job is DONE. `known` is the job as the caller
 * already read it (saves a jobs.get).
 */
export async function completeLoad(
  record: RunRecord,
  deps: AppDeps,
  known?: JobInfo,
): Promise<FinalizeOutcome> {
  const m = record.manifest;
  const log = deps.log.child({ export: m.exportId, run: m.runId, attempt: m.attempt });
  if (m.state !== "LOADING" || !m.job) return { kind: "ignored", reason: `run is ${m.state}` };
  const dest = m.definition.destination;
  // Until the load job is known to be DONE the run stays LOADING whatever
  // fails: a job that may still commit rows must never be superseded by a
  // new attempt. Failures are reported (thrown), and the next delivery, call
  // or sweep tries again.
  const warehouse = await deps.warehouses.forDestination(dest);
  const job = known ?? (await recordedLoadJob(m, warehouse, deps.store));
  if (job.state !== "DONE") return { kind: "not-done", manifest: m };
  /** Records the run FAILED (retryable or not, as the error says) and reports it. */
  const fail = async (error: ExportError): Promise<FinalizeOutcome> => {
    const failed = await record.markFailed(error, deps.now());
    logRunFailed(log, failed, error);
    await afterRunFailed(failed, error, deps); // scheduled runs only; never throws
    return { kind: "failed", manifest: failed, error };
  };
  try {
    if (job.error) {
      // The job is DONE: asking again changes nothing, so even a retryable
      // failure ends this attempt. A load is atomic (a failed one wrote
      // nothing), and the attempt that retries it goes through a stage table
      // (write-path.ts); BigQuery's backend trouble is worth that retry.
      return await fail(
        new ExportError(
          "LOAD_FAILED",
          `BigQuery load job ${m.job.jobId} failed: ${job.error.message}` +
            (m.files.length > 0 ? ` (staged data kept at ${m.stagingPrefix ?? ""} for inspection)` : ""),
          { retryable: retryableJobError(job.error), details: { reason: job.error.reason } },
        ),
      );
    }
    let merge: { rows: number | undefined; bytes: number | undefined } | undefined;
    const warnings: string[] = [];
    if (m.stageTable) {
      const final: TableRef = { projectId: dest.projectId, datasetId: dest.datasetId, tableId: dest.tableId };
      const stage: TableRef = { ...final, tableId: m.stageTable };
      merge = await mergeStage(record, warehouse, final, stage, deps);
      const dropped = await dropStage(warehouse, stage, dest.datasetId);
      if (dropped) warnings.push(dropped);
    }
    await cleanUpEarlierAttempts(m, warehouse, deps);
    const done = await record.save(
      transition(record.manifest, "COMPLETED", deps.now(), {
        ...(job.outputRows !== undefined ? { loadedRows: job.outputRows } : {}),
        ...(merge?.rows !== undefined ? { mergedRows: merge.rows } : {}),
        ...(merge?.bytes !== undefined ? { mergeBytesProcessed: merge.bytes } : {}),
        ...(warnings.length > 0 ? { warnings: [...(m.warnings ?? []), ...warnings] } : {}),
      }),
    );
    for (const warning of warnings) log.warn(warning, {});
    logRunCompleted(log, done);
    return { kind: "completed", manifest: done };
  } catch (err) {
    const error = toExportError(err);
    if (error.code === "CONFLICT") return settledElsewhere(record);
    if (error.retryable) throw error; // Pub/Sub redelivers; the sweep also retries.
    return fail(error);
  }
}

// A duplicate delivery finalized the run at the same time: report what it recorded.
async function settledElsewhere(record: RunRecord): Promise<FinalizeOutcome> {
  const m = await record.latest();
  return m.state === "COMPLETED"
    ? { kind: "completed", manifest: m }
    : { kind: "ignored", reason: `run ${m.runId} was changed by another call (now ${m.state})` };
}

/** BigQuery job errors a later try can get past: backend trouble, rate limits, a concurrent DML. */
function retryableJobError(error: { reason: string | undefined; message: string }): boolean {
  return (
    ["backendError", "internalError", "rateLimitExceeded", "jobRateLimitExceeded", "quotaExceeded"].includes(
      error.reason ?? "",
    ) || /concurrent update|could not serialize access/i.test(error.message)
  );
}

/**
 * MERGEs the stage into the final table: insert-only on uuid for events
 * (bounded to the staged rows' timestamps, so BigQuery reads only those
 * partitions), on versions for persons. The MERGE job id is derived from the
 * run, attempt and try: a repeat of this call re-attaches to the same job. A
 * job that failed for a reason a later try can get past bumps the try (saved
 * before it is used) and fails retryably, so the next delivery or sweep
 * starts a new MERGE; both MERGEs are safe to repeat.
 */
async function mergeStage(
  record: RunRecord,
  warehouse: Warehouse,
  final: TableRef,
  stage: TableRef,
  deps: AppDeps,
): Promise<{ rows: number | undefined; bytes: number | undefined }> {
  const m = record.manifest;
  const dest = m.definition.destination;
  const sql =
    m.writePath === "merge-versions"
      ? personsMergeSql(final, stage, m.useJsonType)
      : eventsInsertMergeSql(final, stage, m.timestampBounds);
  const mergeTry = m.mergeTries ?? 1;
  const merge = await warehouse.runQuery({
    job: { ...m.job!, jobId: mergeJobId(m.runId, m.attempt, mergeTry) },
    sql,
    labels: jobLabels(m.exportId, m.runId, m.definition.model),
  });
  if (!merge.error) return { rows: merge.dmlAffectedRows, bytes: merge.bytesProcessed };
  if (retryableJobError(merge.error)) {
    await record.save({ ...m, mergeTries: mergeTry + 1, updatedAt: deps.now().toISOString() });
    throw new ExportError(
      "UNAVAILABLE",
      `The MERGE into ${dest.tableId} failed and will be tried again: ${merge.error.message}`,
      { retryable: true, details: { reason: merge.error.reason, mergeTry } },
    );
  }
  if (merge.error.reason === "accessDenied") {
    throw new ExportError(
      "PERMISSION_DENIED",
      `The MERGE into ${dest.tableId} was denied: ${merge.error.message} Runs that go through a stage table (persons, deduplicate, forced reruns, retries after a load, backfills) need ${PATH_PERMISSIONS[m.writePath].join(", ")} on dataset ${dest.datasetId}.`,
      { details: { reason: merge.error.reason } },
    );
  }
  throw new ExportError("QUERY_FAILED", `The MERGE into ${dest.tableId} failed: ${merge.error.message}`, {
    details: { reason: merge.error.reason },
  });
}

/**
 * Drops the stage table. Without bigquery.tables.delete the data is already
 * in, so the run completes with a warning: the stage table expires by itself
 * (STAGE_TABLE_TTL_MS after it was created). Returns that warning.
 */
async function dropStage(
  warehouse: Warehouse,
  stage: TableRef,
  datasetId: string,
): Promise<string | undefined> {
  try {
    await warehouse.deleteTable(stage);
    return undefined;
  } catch (err) {
    const e = toExportError(err);
    if (e.code !== "PERMISSION_DENIED") throw e;
    return `Stage table ${stage.tableId} could not be dropped (bigquery.tables.delete denied on dataset ${datasetId}); it expires ${STAGE_TABLE_TTL_MS / 86_400_000} days after it was created. Grant bigquery.tables.delete to the destination's service account to drop stage tables at once.`;
  }
}

/**
 * Once the run is done, nothing of its attempts is needed: the staged objects
 * of every attempt go (a failed attempt's too; the bucket's lifecycle rule
 * would remove them after 7 days), and so do the stage tables of earlier
 * attempts (their 7-day expiry would too). A missing object or table is fine,
 * and cleanup never fails the run.
 */
async function cleanUpEarlierAttempts(m: RunManifest, warehouse: Warehouse, deps: AppDeps): Promise<void> {
  const log = deps.log.child({ export: m.exportId, run: m.runId });
  const prefix = runStagingPrefix(m.exportId, m.runId);
  await deps.store.deletePrefix(prefix).catch((err: unknown) => {
    log.warn("could not delete staged objects", { prefix, error: err });
  });
  const dest = m.definition.destination;
  for (let attempt = 1; attempt < m.attempt; attempt++) {
    const stage = {
      projectId: dest.projectId,
      datasetId: dest.datasetId,
      tableId: stageTableId(dest.tableId, m.exportId, m.runId, attempt),
    };
    await warehouse.deleteTable(stage).catch((err: unknown) => {
      log.warn("could not drop an earlier attempt's stage table", { table: stage.tableId, error: err });
    });
  }
}

/**
 * The run's load job as BigQuery has it. A missing job means the call that
 * wrote LOADING stopped before inserting it: it is started now under the same
 * id (if that call inserts it after all, one insert re-attaches to the
 * other's job). BigQuery answers a missing job with 404, or with 403 to a
 * principal that has only bigquery.jobs.create (the seed's permission, which
 * lets it read its own jobs only): both lead to the insert, which needs
 * nothing more and re-attaches to an existing job.
 */
async function recordedLoadJob(m: RunManifest, warehouse: Warehouse, store: ObjectStore): Promise<JobInfo> {
  try {
    const job = await warehouse.getJob(m.job!);
    if (job) return job;
  } catch (err) {
    if (toExportError(err).code !== "PERMISSION_DENIED") throw err;
  }
  return startRecordedLoad(m, warehouse, store);
}
