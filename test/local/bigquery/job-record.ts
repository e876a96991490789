// What the server keeps per job, and its REST v2 Job resource form.
import type { Cell, FieldSchema, TableRef } from "./contracts.js";
import type { ErrorProto } from "./errors.js";
import { restFields } from "./schema.js";

export type JobState = "PENDING" | "RUNNING" | "DONE";
export type JobType = "LOAD" | "QUERY";

export interface JobRecord {
  projectId: string;
  jobId: string;
  location: string;
  userEmail: string;
  jobType: JobType;
  /** JobConfiguration as received (with jobType and labels). */
  configuration: Record<string, unknown>;
  labels: Record<string, string>;
  state: JobState;
  creationTime: number;
  startTime?: number;
  endTime?: number;
  errorResult?: ErrorProto;
  errors?: ErrorProto[];
  loadStatistics?: Record<string, string>;
  /** JobStatistics2 as the REST API returns it (int64 values as decimal strings). */
  queryStatistics?: {
    statementType?: string;
    numDmlAffectedRows?: string;
    dmlStats?: { insertedRowCount: string; updatedRowCount: string; deletedRowCount: string };
    referencedTables?: TableRef[];
    ddlTargetTable?: TableRef;
    ddlOperationPerformed?: string;
    totalBytesProcessed?: string;
    totalBytesBilled?: string;
    totalPartitionsProcessed?: string;
    /** Dry runs only: how exact totalBytesProcessed is. */
    totalBytesProcessedAccuracy?: string;
  };
  /** A query dry run: answered by jobs.insert, never kept or run. */
  dryRun?: boolean;
  /** SELECT results, for getQueryResults. */
  result?: { schema: FieldSchema[]; rows: Cell[][] };
  cancelRequested: boolean;
  /** Resolves when the job is DONE. */
  done: Promise<void>;
}

export function jobResourceId(job: JobRecord): string {
  return `${job.projectId}:${job.location}.${job.jobId}`;
}

export function jobResource(job: JobRecord): Record<string, unknown> {
  const statistics: Record<string, unknown> = { creationTime: String(job.creationTime) };
  if (job.startTime !== undefined) statistics["startTime"] = String(job.startTime);
  if (job.endTime !== undefined) statistics["endTime"] = String(job.endTime);
  if (job.loadStatistics) statistics["load"] = job.loadStatistics;
  if (job.queryStatistics && job.state === "DONE") {
    const q: Record<string, unknown> = { ...job.queryStatistics, cacheHit: false };
    if (job.result) q["schema"] = { fields: restFields(job.result.schema) };
    statistics["query"] = q;
    if (job.queryStatistics.totalBytesProcessed !== undefined)
      statistics["totalBytesProcessed"] = job.queryStatistics.totalBytesProcessed;
  }
  const status: Record<string, unknown> = { state: job.state };
  if (job.errorResult) status["errorResult"] = job.errorResult;
  if (job.errors && job.errors.length > 0) status["errors"] = job.errors;
  return {
    kind: "bigquery#job",
    etag: Buffer.from(`${job.jobId}:${job.state}`).toString("base64"),
    id: jobResourceId(job),
    selfLink: `/bigquery/v2/projects/${job.projectId}/jobs/${job.jobId}?location=${job.location}`,
    user_email: job.userEmail,
    configuration: job.configuration,
    jobReference: { projectId: job.projectId, jobId: job.jobId, location: job.location },
    statistics,
    status,
    principal_subject: `serviceAccount:${job.userEmail}`,
    jobCreationReason: { code: "REQUESTED" },
  };
}
