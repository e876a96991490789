// Jobs: insert (client-chosen ids, 409 on a repeated id), asynchronous
// PENDING → RUNNING → DONE, cancel, load and query execution, results kept
// for getQueryResults, bytes processed and DML statistics, query dry runs,
// the table-modification quota, mutating-DML concurrency, and the audit
// LogEntry on completion.
import { randomUUID } from "node:crypto";
import type { Principal } from "../iam/iam.js";
import { PERMISSIONS } from "../iam/roles.js";
import type { Access } from "./access.js";
import type { AuditDelivery } from "./audit/delivery.js";
import { jobDoneLogEntry } from "./audit/log-entry.js";
import type { Catalog } from "./catalog.js";
import {
  BigQueryEngineError,
  type PreparedStatement,
  type QueryEngine,
  type QueryParameter,
  type StatementResult,
  type TableRef,
} from "./contracts.js";
import {
  CONFLICT_RERUNS,
  concurrentUpdateError,
  type DmlSlot,
  type MutatingDmlScheduler,
} from "./dml-concurrency.js";
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
  dml: MutatingDmlScheduler;
  /** How often BigQuery reruns a mutating DML statement that conflicted (documented: up to three times). */
  conflictReruns?: number;
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

// UPDATE, DELETE and MERGE are "mutating DML statements".
const MUTATING_DML = new Set(["UPDATE", "DELETE", "MERGE"]);

/** Thrown inside the commit check: another statement rewrote a partition this one rewrites. */
class ConflictDetected extends Error {}

export class JobManager {
  private readonly jobs = new Map<string, JobRecord>();

  constructor(private readonly deps: JobDeps) {}

  all(): JobRecord[] {
    return [...this.jobs.values()];
  }

  /**
   * jobs.insert: validates, records the job and starts it; answers at once
   * (PENDING). A query dry run is analysed and measured instead, answered
   * DONE, and not kept.
   */
  async insert(projectId: string, body: Record<string, unknown>, principal: Principal): Promise<JobRecord> {
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
    } else {
      throw new ApiError(
        "invalid",
        "Job configuration must contain exactly one job-specific configuration object (load or query; copy and extract are not supported locally).",
      );
    }
    location ??= "US";
    if (configuration["dryRun"] === true) {
      return this.dryRun({ projectId, jobId, location, configuration, labels, jobType }, principal);
    }
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
    try {
      if (job.jobType === "LOAD") {
        await this.startRunning(job);
        await this.runLoadJob(job, principal);
      } else await this.runQueryJob(job, principal);
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

  /** RUNNING for a while, then the injected job fault or the cancellation, if any. */
  private async startRunning(job: JobRecord): Promise<void> {
    job.state = "RUNNING";
    job.startTime = Date.now();
    await sleep(this.deps.stateDelayMs);
    const fault = this.deps.faults.takeJobFault(job.jobId);
    if (fault) throw new ApiError(fault.reason, fault.message);
    if (job.cancelRequested)
      throw new ApiError("stopped", "Job execution was cancelled: User requested cancellation");
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
    const existing = catalog.getTable(dest);
    const partitioned = (existing ? existing.timePartitioning : config.timePartitioning)?.field !== undefined;
    this.deps.quota.check(dest, partitioned);
    let partitionsWritten = 1;
    try {
      const result = await runLoad({ catalog, source: this.deps.source }, config);
      partitionsWritten = result.partitionsWritten;
      job.loadStatistics = { ...result.statistics };
      if (result.errors.length > 0) job.errors = result.errors;
    } finally {
      // Load jobs count toward the destination's modifications whether they succeed or fail.
      this.deps.quota.record(dest, partitioned, partitionsWritten);
    }
  }

  /** Analyses the job's statement and checks the caller may run it. */
  private async prepareQuery(
    job: { projectId: string; configuration: Record<string, unknown> },
    principal: Principal,
  ): Promise<PreparedStatement> {
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
    return prepared;
  }

  /** A query dry run: the statement analysed, checked and measured, nothing run (JobConfiguration.dryRun). */
  private async dryRun(
    job: Pick<JobRecord, "projectId" | "jobId" | "location" | "configuration" | "labels" | "jobType">,
    principal: Principal,
  ): Promise<JobRecord> {
    const configuration = { ...job.configuration, jobType: job.jobType, labels: job.labels };
    const record: JobRecord = {
      ...job,
      configuration,
      userEmail: principal.email,
      state: "DONE",
      creationTime: Date.now(),
      cancelRequested: false,
      dryRun: true,
      done: Promise.resolve(),
    };
    if (job.jobType !== "QUERY") return record;
    const prepared = await this.prepareQuery(job, principal).catch((err: unknown) => {
      // An invalid query answers "the same error it would if it wasn't a dry run".
      if (err instanceof BigQueryEngineError)
        throw new ApiError(err.reason, err.message, { httpStatus: err.httpStatus });
      throw err;
    });
    const bytes = await this.deps.catalog.writeLock.run(() => prepared.measure());
    record.queryStatistics = {
      statementType: prepared.statementType,
      referencedTables: prepared.reads,
      totalBytesProcessed: String(bytes.totalBytesProcessed),
      // Dry runs are not billed.
      totalBytesBilled: "0",
      totalPartitionsProcessed: String(bytes.totalPartitionsProcessed),
      totalBytesProcessedAccuracy: "PRECISE",
    };
    return record;
  }

  private async runQueryJob(job: JobRecord, principal: Principal): Promise<void> {
    const prepared = await this.prepareQuery(job, principal);
    const target = prepared.writes[0];
    // Mutating DML waits (PENDING) for one of its table's running slots.
    const slot =
      MUTATING_DML.has(prepared.statementType) && target ? await this.deps.dml.acquire(target) : undefined;
    try {
      await this.startRunning(job);
      const fault = this.deps.faults.takeStatementFault([
        ...prepared.reads,
        ...prepared.writes,
        ...prepared.creates,
        ...prepared.drops,
      ]);
      if (fault) throw fault;
      const reruns = this.deps.conflictReruns ?? CONFLICT_RERUNS;
      for (let attempt = 0; ; attempt++) {
        const outcome = await this.runStatement(prepared, slot);
        if (outcome) {
          this.recordQueryOutcome(job, prepared, outcome.result, outcome.bytes);
          return;
        }
        // A conflict with concurrent DML: BigQuery reruns the statement on the table as it is now.
        if (attempt >= reruns || !target || !slot) throw concurrentUpdateError(target ?? prepared.writes[0]!);
        slot.snapshot();
        await sleep(this.deps.stateDelayMs);
      }
    } finally {
      slot?.release();
    }
  }

  /** Runs the statement alone on the data; undefined when a mutating DML statement conflicted (rolled back). */
  private async runStatement(
    prepared: PreparedStatement,
    slot: DmlSlot | undefined,
  ): Promise<
    { result: StatementResult; bytes: Awaited<ReturnType<PreparedStatement["measure"]>> } | undefined
  > {
    const { catalog, quota } = this.deps;
    return catalog.writeLock.run(async () => {
      // A query job that writes a table's data (CREATE TABLE AS SELECT) counts as a modification; DML does not.
      const writesTable =
        prepared.statementType === "CREATE_TABLE_AS_SELECT" ? prepared.creates[0] : undefined;
      if (writesTable) quota.check(writesTable, false);
      const bytes = await prepared.measure();
      try {
        const result = await prepared.run(
          slot
            ? {
                beforeCommit: (r) => {
                  if ("rewrittenPartitions" in r && slot.conflicts(r.rewrittenPartitions))
                    throw new ConflictDetected();
                },
              }
            : undefined,
        );
        if (slot && "rewrittenPartitions" in result) slot.committed(result.rewrittenPartitions);
        if (writesTable) quota.record(writesTable, false);
        return { result, bytes };
      } catch (err) {
        if (err instanceof ConflictDetected) return undefined;
        throw err;
      }
    });
  }

  private recordQueryOutcome(
    job: JobRecord,
    prepared: PreparedStatement,
    result: StatementResult,
    bytes: Awaited<ReturnType<PreparedStatement["measure"]>>,
  ): void {
    const referencedTables: TableRef[] = prepared.reads;
    const billing = {
      totalBytesProcessed: String(bytes.totalBytesProcessed),
      totalBytesBilled: String(bytes.totalBytesBilled),
      totalPartitionsProcessed: String(bytes.totalPartitionsProcessed),
    };
    switch (result.statementType) {
      case "SELECT":
        job.result = { schema: result.schema, rows: result.rows };
        job.queryStatistics = { statementType: "SELECT", referencedTables, ...billing };
        break;
      case "INSERT":
      case "UPDATE":
      case "DELETE":
      case "MERGE":
        job.queryStatistics = {
          statementType: result.statementType,
          numDmlAffectedRows: String(result.numDmlAffectedRows),
          dmlStats: {
            insertedRowCount: String(result.dmlStats.insertedRowCount),
            updatedRowCount: String(result.dmlStats.updatedRowCount),
            deletedRowCount: String(result.dmlStats.deletedRowCount),
          },
          referencedTables,
          ...billing,
        };
        break;
      case "CREATE_TABLE":
      case "CREATE_TABLE_AS_SELECT":
      case "DROP_TABLE":
        job.queryStatistics = {
          statementType: result.statementType,
          ddlTargetTable: result.target,
          ddlOperationPerformed: result.statementType === "DROP_TABLE" ? "DROP" : "CREATE",
          referencedTables,
          ...billing,
        };
        break;
    }
  }
}
