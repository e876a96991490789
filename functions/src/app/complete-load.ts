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
import { jobLabels, mergeJobId } from "../core/names.js";
import type { AppDeps } from "./deps.js";
import type { JobInfo } from "./ports.js";
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
  try {
    const warehouse = await deps.warehouses.forDestination(dest);
    const job = known ?? (await warehouse.getJob(m.job));
    if (job.state !== "DONE") return { kind: "not-done", manifest: m };
    if (job.error) {
      throw new ExportError(
        "LOAD_FAILED",
        `BigQuery load job ${m.job.jobId} failed: ${job.error.message}` +
          (m.files.length > 0 ? ` (staged data kept at ${m.stagingPrefix ?? ""} for inspection)` : ""),
        { details: { reason: job.error.reason } },
      );
    }
    let mergedRows: number | undefined;
    if (m.stageTable) {
      const final: TableRef = { projectId: dest.projectId, datasetId: dest.datasetId, tableId: dest.tableId };
      const stage: TableRef = { ...final, tableId: m.stageTable };
      const sql =
        m.definition.model === "persons"
          ? personsMergeSql(final, stage, m.useJsonType)
          : eventsInsertMergeSql(final, stage);
      const merge = await warehouse.runQuery({
        job: { ...m.job, jobId: mergeJobId(m.runId, m.attempt) },
        sql,
        labels: jobLabels(m.exportId, m.runId, m.definition.model),
      });
      if (merge.error) {
        throw new ExportError(
          "QUERY_FAILED",
          `The MERGE into ${dest.tableId} failed: ${merge.error.message}`,
          {
            details: { reason: merge.error.reason },
          },
        );
      }
      mergedRows = merge.dmlAffectedRows;
      try {
        await warehouse.deleteTable(stage);
      } catch (err) {
        const e = toExportError(err);
        if (e.code === "PERMISSION_DENIED") {
          throw new ExportError(
            "PERMISSION_DENIED",
            `The rows were merged, but stage table ${m.stageTable} could not be dropped: grant bigquery.tables.delete on dataset ${dest.datasetId} to the destination service account (the seed's optional permission for mutable models). ${e.message}`,
            { cause: err },
          );
        }
        throw e;
      }
    }
    if (m.stagingPrefix) {
      // Cleanup only: the bucket's lifecycle rule removes leftovers.
      await deps.store.deletePrefix(m.stagingPrefix).catch((err: unknown) => {
        log.warn("could not delete staged objects", { prefix: m.stagingPrefix, error: err });
      });
    }
    const done = await record.save(
      transition(m, "COMPLETED", deps.now(), {
        ...(job.outputRows !== undefined ? { loadedRows: job.outputRows } : {}),
        ...(mergedRows !== undefined ? { mergedRows } : {}),
      }),
    );
    log.info("run completed", { rows: done.rows, loadedRows: done.loadedRows, mergedRows: done.mergedRows });
    return { kind: "completed", manifest: done };
  } catch (err) {
    const error = toExportError(err);
    if (error.code === "CONFLICT") return settledElsewhere(record);
    if (error.retryable) throw error; // Pub/Sub redelivers; the sweep also retries.
    const failed = await record.markFailed(error, deps.now());
    log.error("run failed while finalizing", { error: error.toJSON() });
    return { kind: "failed", manifest: failed, error };
  }
}

// A duplicate delivery finalized the run at the same time: report what it recorded.
async function settledElsewhere(record: RunRecord): Promise<FinalizeOutcome> {
  const m = await record.latest();
  return m.state === "COMPLETED"
    ? { kind: "completed", manifest: m }
    : { kind: "ignored", reason: `run ${m.runId} was changed by another call (now ${m.state})` };
}
