// finalizeRun's use case: a BigQuery job carrying our labels is DONE. Find
// its run; when the job is that run's current load job, complete the run.
// MERGE jobs and jobs of superseded attempts carry our labels too, and
// Pub/Sub may deliver an event twice: both are ignored here.
import { manifestObjectOfRun } from "../core/names.js";
import { completeLoad, type FinalizeOutcome } from "./complete-load.js";
import type { AppDeps } from "./deps.js";
import { RunRecord } from "./run-record.js";

export type { FinalizeOutcome } from "./complete-load.js";

export interface DoneJob {
  exportId: string;
  runId: string;
  jobId: string;
}

/** finalizeRun's entry: the audit event named a DONE job carrying our labels. */
export async function finalizeJob(job: DoneJob, deps: AppDeps): Promise<FinalizeOutcome> {
  const object = manifestObjectOfRun(job.exportId, job.runId);
  if (!object) return { kind: "ignored", reason: `run id ${job.runId} is not one of export ${job.exportId}` };
  const record = await RunRecord.read(deps.store, object);
  if (!record) return { kind: "ignored", reason: `no manifest for run ${job.runId}` };
  const m = record.manifest;
  if (m.state !== "LOADING") return { kind: "ignored", reason: `run ${job.runId} is already ${m.state}` };
  // MERGE jobs and jobs of superseded attempts carry our labels too.
  if (m.job?.jobId !== job.jobId) {
    return { kind: "ignored", reason: `job ${job.jobId} is not the load job of run ${job.runId}` };
  }
  return completeLoad(record, deps);
}
