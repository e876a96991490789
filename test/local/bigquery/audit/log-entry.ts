// The audit LogEntry BigQuery writes when a job finishes (BigQueryAuditMetadata
// jobChange, after = DONE), in Cloud Logging's JSON form: int64 as strings,
// enums by name, camelCase fields.
import type { TableRef } from "../contracts.js";
import { rpcCodeFor, type ErrorProto } from "../errors.js";
import type { JobRecord } from "../job-record.js";
import { insertId } from "./delivery.js";

const tablePath = (r: TableRef): string =>
  `projects/${r.projectId}/datasets/${r.datasetId}/tables/${r.tableId}`;
const iso = (ms: number | undefined): string | undefined =>
  ms === undefined ? undefined : new Date(ms).toISOString();

function rpcStatus(e: ErrorProto): { code: number; message: string } {
  return { code: rpcCodeFor(e.reason), message: e.message };
}

function jobConfig(job: JobRecord): Record<string, unknown> {
  const cfg = job.configuration;
  if (job.jobType === "LOAD") {
    const load = (cfg["load"] ?? {}) as Record<string, unknown>;
    const dest = load["destinationTable"] as TableRef | undefined;
    return {
      type: "IMPORT",
      loadConfig: {
        sourceUris: load["sourceUris"] ?? [],
        ...(load["schema"] ? { schemaJson: JSON.stringify(load["schema"]) } : {}),
        ...(dest ? { destinationTable: tablePath(dest) } : {}),
        createDisposition: load["createDisposition"] ?? "CREATE_IF_NEEDED",
        writeDisposition: load["writeDisposition"] ?? "WRITE_APPEND",
      },
      labels: job.labels,
    };
  }
  const query = (cfg["query"] ?? {}) as Record<string, unknown>;
  const defaultDataset = query["defaultDataset"] as { projectId?: string; datasetId: string } | undefined;
  return {
    type: "QUERY",
    queryConfig: {
      query: query["query"],
      ...(defaultDataset
        ? {
            defaultDataset: `projects/${defaultDataset.projectId ?? job.projectId}/datasets/${defaultDataset.datasetId}`,
          }
        : {}),
      priority: query["priority"] === "BATCH" ? "QUERY_BATCH" : "QUERY_INTERACTIVE",
      ...(job.queryStatistics?.statementType ? { statementType: job.queryStatistics.statementType } : {}),
      createDisposition: query["createDisposition"] ?? "CREATE_IF_NEEDED",
      writeDisposition: query["writeDisposition"] ?? "WRITE_EMPTY",
    },
    labels: job.labels,
  };
}

function jobStats(job: JobRecord): Record<string, unknown> {
  const stats: Record<string, unknown> = {
    createTime: iso(job.creationTime),
    startTime: iso(job.startTime ?? job.creationTime),
    endTime: iso(job.endTime),
    totalSlotMs: "0",
  };
  if (job.jobType === "LOAD") {
    stats["loadStats"] = { totalOutputBytes: job.loadStatistics?.["outputBytes"] ?? "0" };
  } else {
    stats["queryStats"] = {
      totalProcessedBytes: "0",
      totalBilledBytes: "0",
      billingTier: 1,
      referencedTables: (job.queryStatistics?.referencedTables ?? []).map(tablePath),
      outputRowCount: String(job.result?.rows.length ?? job.queryStatistics?.numDmlAffectedRows ?? 0),
    };
  }
  return stats;
}

/** The LogEntry for the job's jobChange to DONE. */
export function jobDoneLogEntry(job: JobRecord): Record<string, unknown> {
  const now = new Date().toISOString();
  const jobName = `projects/${job.projectId}/jobs/${job.jobId}`;
  const jobStatus: Record<string, unknown> = { jobState: "DONE" };
  if (job.errorResult) jobStatus["errorResult"] = rpcStatus(job.errorResult);
  if (job.errors && job.errors.length > 0) jobStatus["errors"] = job.errors.map(rpcStatus);
  return {
    protoPayload: {
      "@type": "type.googleapis.com/google.cloud.audit.AuditLog",
      status: job.errorResult ? rpcStatus(job.errorResult) : {},
      authenticationInfo: { principalEmail: job.userEmail },
      requestMetadata: {},
      serviceName: "bigquery.googleapis.com",
      methodName: "google.cloud.bigquery.v2.JobService.InsertJob",
      authorizationInfo: [
        { resource: `projects/${job.projectId}`, permission: "bigquery.jobs.create", granted: true },
      ],
      resourceName: jobName,
      metadata: {
        "@type": "type.googleapis.com/google.cloud.audit.BigQueryAuditMetadata",
        jobChange: {
          before: "RUNNING",
          after: "DONE",
          job: { jobName, jobConfig: jobConfig(job), jobStatus, jobStats: jobStats(job) },
        },
      },
    },
    insertId: insertId(),
    resource: { type: "bigquery_project", labels: { project_id: job.projectId, location: job.location } },
    timestamp: iso(job.endTime) ?? now,
    severity: job.errorResult ? "ERROR" : "INFO",
    logName: `projects/${job.projectId}/logs/cloudaudit.googleapis.com%2Fdata_access`,
    operation: { id: jobName, producer: "bigquery.googleapis.com", last: true },
    receiveTimestamp: now,
  };
}
