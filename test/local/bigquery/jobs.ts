// Jobs: insert (client-chosen ids, 409 on a repeated id), asynchronous
// PENDING → RUNNING → DONE, cancel, load and query execution, results kept
// for getQueryResults, and the audit LogEntry on completion.
import { randomUUID } from "node:crypto";
import type { Principal } from "../iam/iam.js";
import { PERMISSIONS } from "../iam/roles.js";
import type { Access } from "./access.js";
import type { AuditDelivery } from "./audit/delivery.js";
import { jobDoneLogEntry } from "./audit/log-entry.js";
import type { Catalog } from "./catalog.js";
import { BigQueryEngineError, type QueryEngine, type QueryParameter, type TableRef } from "./contracts.js";
import { ApiError, notFound, type ErrorProto } from "./errors.js";
import type { Faults } from "./faults.js";
import { jobResourceId, type JobRecord, type JobType } from "./job-record.js";
import { validateLabels } from "./labels.js";
import {
  LoadFailure,
  destinationOf,
  runLoad,
  validateLoadConfiguration,
  willCreateTable,
  type LoadConfiguration,
} from "./load/load-job.js";
import type { ObjectSource } from "./load/object-source.js";
import type { TableModificationQuota } from "./quota.js";

const JOB_ID = /^[A-Za-z0-9_-]{1,1024}$/;

export interface JobDeps {
  catalog: Catalog;
  access: Access;
  faults: Faults;
  source: ObjectSource;
  audit: AuditDelivery;
  /** The query engine, or undefined when none is configured. */
  engine: () => Promise<QueryEngine | undefined>;
  /** Time a job stays PENDING and then RUNNING before it executes (lets clients observe the states). */
  stateDelayMs: number;
  quota: TableModificationQuota;
}

interface QueryConfiguration {
  query?: string;
  useLegacySql?: boolean;
  defaultDataset?: { projectId?: string; datasetId: string };
  queryParameters?: QueryParameter[];
  destinationTable?: unknown;
}

/** The error's message with its causes (fetch hides the socket error in `cause`). */
function describeError(err: unknown): string {
  const parts: string[] = [];
  for (
    let e: unknown = err;
    e !== undefined && parts.length < 4;
    e = e instanceof Error ? e.cause : undefined
  ) {
    parts.push(e instanceof Error ? e.message : typeof e === "string" ? e : JSON.stringify(e));
  }
  return parts.join(": ");
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class JobManager {
  private readonly jobs = new Map<string, JobRecord>();

  constructor(private readonly deps: JobDeps) {}

  all(): JobRecord[] {
    return [...this.jobs.values()];
  }

  /** jobs.insert: validates, records the job and starts it; answers at once (PENDING). */
  insert(projectId: string, body: Record<string, unknown>, principal: Principal): JobRecord {
    const { access, catalog } = this.deps;
    access.requireProject(principal, PERMISSIONS.jobsCreate, projectId);
    const ref = (body["jobReference"] ?? {}) as { projectId?: string; jobId?: string; location?: string };
    if (ref.projectId !== undefined && ref.projectId !== projectId) {
      throw new ApiError(
        "invalid",
        `Job reference project ${ref.projectId} does not match the request project ${projectId}.`,
      );
    }
    const jobId = ref.jobId ?? `job_${randomUUID().replace(/-/g, "_")}`;
    if (!JOB_ID.test(jobId)) {
      throw new ApiError(
        "invalid",
        `Invalid job ID "${jobId}". Job IDs must be alphanumeric (plus underscores and dashes) and must be at most 1024 characters long.`,
      );
    }
    const configuration = { ...((body["configuration"] ?? {}) as Record<string, unknown>) };
    const labels = (configuration["labels"] ?? {}) as Record<string, string>;
    validateLabels(labels);
    let jobType: JobType;
    let location = ref.location;
    if (configuration["load"]) {
      jobType = "LOAD";
      const load = configuration["load"] as LoadConfiguration;
      if (load.destinationTable && load.destinationTable.projectId === undefined) {
        load.destinationTable = { ...load.destinationTable, projectId };
      }
      validateLoadConfiguration(load);
      const dest = destinationOf(load);
      location ??= catalog.getDataset(dest.projectId, dest.datasetId)?.location;
    } else if (configuration["query"]) {
      jobType = "QUERY";
      const q = configuration["query"] as QueryConfiguration;
      if (typeof q.query !== "string" || q.query.trim() === "")
        throw new ApiError("invalid", "Required parameter is missing: query");
      if (q.useLegacySql !== false) {
        throw new ApiError(
          "invalidQuery",
          "Legacy SQL is not supported by the local BigQuery: set useLegacySql to false.",
        );
      }
      if (q.destinationTable !== undefined) {
        throw new ApiError(
          "notImplemented",
          "Query destinationTable is not supported by the local BigQuery.",
          { httpStatus: 400 },
        );
      }
      if (configuration["dryRun"] === true) {
        throw new ApiError("notImplemented", "dryRun is not supported by the local BigQuery.", {
          httpStatus: 400,
        });
      }
    } else {
      throw new ApiError(
        "invalid",
        "Job configuration must contain exactly one job-specific configuration object (load or query; copy and extract are not supported locally).",
      );
    }
    location ??= "US";
    const key = `${projectId}:${jobId}`;
    const existing = this.jobs.get(key);
    if (existing) throw new ApiError("duplicate", `Already Exists: Job ${jobResourceId(existing)}`);
    let resolveDone!: () => void;
    const job: JobRecord = {
      projectId,
      jobId,
      location,
      userEmail: principal.email,
      jobType,
      configuration: { ...configuration, jobType, labels },
      labels,
      state: "PENDING",
      creationTime: Date.now(),
      cancelRequested: false,
      done: new Promise<void>((r) => (resolveDone = r)),
    };
    this.jobs.set(key, job);
    void this.execute(job, principal).finally(() => resolveDone());
    return job;
  }

  /** jobs.get / getQueryResults / cancel lookup: the creator sees their jobs; others need bigquery.jobs.get. */
  get(
    projectId: string,
    jobId: string,
    location: string | undefined,
    principal: Principal,
    permission: string = PERMISSIONS.jobsGet,
  ): JobRecord {
    const job = this.jobs.get(`${projectId}:${jobId}`);
    const name = `${projectId}:${location ?? "US"}.${jobId}`;
    if (job?.userEmail !== principal.email) this.deps.access.requireProject(principal, permission, projectId);
    // Without a location, BigQuery finds jobs in the US and EU multi-regions only.
    const asked = (location ?? (job && /^(us|eu)$/i.test(job.location) ? job.location : "US")).toLowerCase();
    if (!job || asked !== job.location.toLowerCase()) throw notFound(`Job ${name}`);
    return job;
  }

  cancel(job: JobRecord): void {
    if (job.state !== "DONE") job.cancelRequested = true;
  }

  /** Waits up to timeoutMs for the job to finish; true when DONE. */
  async waitDone(job: JobRecord, timeoutMs: number): Promise<boolean> {
    if (job.state === "DONE") return true;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([job.done, new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)))]);
    clearTimeout(timer);
    return (job.state as JobRecord["state"]) === "DONE";
  }

  private async execute(job: JobRecord, principal: Principal): Promise<void> {
    await sleep(this.deps.stateDelayMs);
    job.state = "RUNNING";
    job.startTime = Date.now();
    await sleep(this.deps.stateDelayMs);
    try {
      const fault = this.deps.faults.takeJobFault(job.jobId);
      if (fault) throw new ApiError(fault.reason, fault.message);
      if (job.cancelRequested)
        throw new ApiError("stopped", "Job execution was cancelled: User requested cancellation");
      if (job.jobType === "LOAD") await this.runLoadJob(job, principal);
      else await this.runQueryJob(job, principal);
    } catch (err) {
      this.recordFailure(job, err);
    }
    job.state = "DONE";
    job.endTime = Date.now();
    try {
      this.deps.audit.publish(jobDoneLogEntry(job), job.projectId);
    } catch (err) {
      console.error("audit publish failed", err);
    }
  }

  private recordFailure(job: JobRecord, err: unknown): void {
    if (err instanceof LoadFailure) {
      job.errorResult = err.errorResult;
      job.errors = err.errors.length > 0 ? err.errors : [err.errorResult];
      if (Object.keys(err.statistics).length > 0) {
        job.loadStatistics = { ...(job.loadStatistics ?? {}), ...(err.statistics as Record<string, string>) };
      }
      return;
    }
    let proto: ErrorProto;
    if (err instanceof ApiError) proto = err.toProto();
    else if (err instanceof BigQueryEngineError) proto = { reason: err.reason, message: err.message };
    else
      proto = {
        reason: "internalError",
        message: `An internal error occurred: ${describeError(err)}`,
      };
    job.errorResult = proto;
    job.errors = [proto];
  }

  private async runLoadJob(job: JobRecord, principal: Principal): Promise<void> {
    const { access, catalog } = this.deps;
    const config = job.configuration["load"] as LoadConfiguration;
    const dest = destinationOf(config);
    access.requireTable(principal, PERMISSIONS.tablesUpdateData, dest);
    const dataset = this.deps.catalog.getDataset(dest.projectId, dest.datasetId);
    if (dataset && dataset.location.toLowerCase() !== job.location.toLowerCase()) {
      throw notFound(`Dataset ${dest.projectId}:${dest.datasetId} was not found in location ${job.location}`);
    }
    if (willCreateTable(catalog, config))
      access.requireDataset(principal, PERMISSIONS.tablesCreate, dest.projectId, dest.datasetId);
    this.deps.quota.check(dest, "load");
    const result = await runLoad({ catalog, source: this.deps.source }, config);
    this.deps.quota.record(dest);
    job.loadStatistics = { ...result.statistics };
    if (result.errors.length > 0) job.errors = result.errors;
  }

  private async runQueryJob(job: JobRecord, principal: Principal): Promise<void> {
    const { access } = this.deps;
    const engine = await this.deps.engine();
    if (!engine)
      throw new ApiError("notImplemented", "No query engine is configured in this local BigQuery.");
    const q = job.configuration["query"] as QueryConfiguration;
    const prepared = await engine.prepare(q.query ?? "", {
      projectId: job.projectId,
      ...(q.defaultDataset
        ? {
            defaultDataset: {
              projectId: q.defaultDataset.projectId ?? job.projectId,
              datasetId: q.defaultDataset.datasetId,
            },
          }
        : {}),
      ...(q.queryParameters ? { params: q.queryParameters } : {}),
    });
    for (const t of prepared.reads) access.requireTable(principal, PERMISSIONS.tablesGetData, t);
    for (const t of prepared.writes) access.requireTable(principal, PERMISSIONS.tablesUpdateData, t);
    for (const t of prepared.creates)
      access.requireDataset(principal, PERMISSIONS.tablesCreate, t.projectId, t.datasetId);
    for (const t of prepared.drops) access.requireTable(principal, PERMISSIONS.tablesDelete, t);
    const referencedTables: TableRef[] = prepared.reads;
    for (const t of prepared.writes) this.deps.quota.check(t, "dml");
    const result = await this.deps.catalog.writeLock.run(() => prepared.run());
    for (const t of prepared.writes) this.deps.quota.record(t);
    switch (result.statementType) {
      case "SELECT":
        job.result = { schema: result.schema, rows: result.rows };
        job.queryStatistics = { statementType: "SELECT", referencedTables };
        break;
      case "INSERT":
      case "UPDATE":
      case "DELETE":
      case "MERGE":
        job.queryStatistics = {
          statementType: result.statementType,
          numDmlAffectedRows: String(result.numDmlAffectedRows),
          referencedTables,
        };
        break;
      case "CREATE_TABLE":
      case "DROP_TABLE":
        job.queryStatistics = {
          statementType: result.statementType,
          ddlTargetTable: result.target,
          ddlOperationPerformed: result.statementType === "CREATE_TABLE" ? "CREATE" : "DROP",
          referencedTables,
        };
        break;
    }
  }
}
