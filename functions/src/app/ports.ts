// What the export pipeline needs from the outside world. Adapters implement
// these with the Google client libraries and @clickhouse/client; tests and the
// local stack pass the same adapters pointed at local endpoints.
import type { Readable } from "node:stream";
import type { Destination } from "../core/definition.js";
import type { TableRef } from "../core/identifiers.js";
import type { TableResource } from "../core/models.js";
import type { SourceQuery } from "../core/source-sql.js";

export interface StoredObject {
  text: string;
  generation: string;
}

export interface ListedObject {
  name: string;
  /** Custom metadata (x-goog-meta-*). */
  metadata: Record<string, string>;
}

export interface ObjectStore {
  /** gs:// URI of an object in the staging bucket. */
  uri(name: string): string;
  read(name: string): Promise<StoredObject | undefined>;
  /**
   * Writes only if the object's generation is still `ifGeneration` ("0": must
   * not exist). Throws ExportError CONFLICT when another writer got there first.
   */
  writeIfGeneration(
    name: string,
    text: string,
    ifGeneration: string,
    metadata?: Record<string, string>,
  ): Promise<string>;
  /** Objects under `prefix` whose names sort at or after `startOffset`, in name order. */
  list(prefix: string, startOffset?: string): Promise<ListedObject[]>;
  /** Streams `body` (already gzip-compressed) into a new object; resolves with its size. */
  upload(name: string, body: Readable): Promise<number>;
  deletePrefix(prefix: string): Promise<number>;
}

export interface SourceDatabase {
  /** The query's rows (JSONEachRow, or "lines"), one row's text (no newline) at a time. */
  rows(query: SourceQuery): AsyncIterable<string>;
  /** A "lines" query's output as it arrives, undecoded, in any chunking (what exportPeriod stages). */
  bytes(query: SourceQuery): AsyncIterable<Buffer>;
}

export interface JobRef {
  projectId: string;
  jobId: string;
  location: string;
}

export interface JobInfo {
  ref: JobRef;
  state: "PENDING" | "RUNNING" | "DONE";
  /** BigQuery's errorResult, when the job failed. */
  error?: { reason: string | undefined; message: string };
  outputRows?: number;
  dmlAffectedRows?: number;
  /** Queries and DML: the bytes BigQuery processed (and bills, on demand). */
  bytesProcessed?: number;
  labels: Record<string, string>;
}

export interface LoadSpec {
  job: JobRef;
  sourceUris: string[];
  destination: TableRef;
  schema: TableResource["schema"];
  writeDisposition: "WRITE_APPEND" | "WRITE_TRUNCATE";
  /** Lets the load add model columns an existing table lacks. */
  allowFieldAddition?: boolean;
  labels: Record<string, string>;
}

export interface QuerySpec {
  job: JobRef;
  sql: string;
  labels: Record<string, string>;
}

/** BigQuery, as one destination principal sees it. */
export interface Warehouse {
  datasetLocation(projectId: string, datasetId: string): Promise<string | undefined>;
  getTable(ref: TableRef): Promise<TableResource | undefined>;
  /** Creates the table; an existing one is left as it is. */
  createTable(resource: TableResource): Promise<void>;
  /** Starts the load; a job id that already exists is re-attached, not loaded twice. */
  startLoad(spec: LoadSpec): Promise<JobInfo>;
  /** The job, or undefined when no job has that id. */
  getJob(ref: JobRef): Promise<JobInfo | undefined>;
  /** Runs a query job to completion (re-attaching to an existing job id). */
  runQuery(spec: QuerySpec): Promise<JobInfo>;
  /** Deletes the table; a missing one is fine. */
  deleteTable(ref: TableRef): Promise<void>;
  /**
   * Preflight (app/preflight.ts): a query dry run, which BigQuery validates
   * and prices without running it; it needs only bigquery.jobs.create.
   */
  dryRunQuery(spec: DryRunSpec): Promise<{ totalBytesProcessed: number }>;
  /** Preflight: up to `max` table IDs of the dataset (bigquery.tables.list). */
  listTables(projectId: string, datasetId: string, max: number): Promise<string[]>;
  /**
   * Preflight: up to `max` rows of a table through tabledata.list
   * (bigquery.tables.getData, no job); undefined when the table does not exist.
   */
  readRows(ref: TableRef, max: number): Promise<Record<string, unknown>[] | undefined>;
}

export interface DryRunSpec {
  projectId: string;
  location: string;
  sql: string;
}

export interface WarehouseFactory {
  /** BigQuery as the destination's credentials see it (impersonated account, key, or the function itself). */
  forDestination(dest: Destination): Promise<Warehouse>;
}

export interface SecretSource {
  access(versionName: string): Promise<string>;
}

/** An HTTP task for the queue: a backfill chunk's call to exportRun. */
export interface QueuedTask {
  /** The task's id in the queue: deterministic, so enqueueing it twice is one task. */
  id: string;
  url: string;
  body: unknown;
}

/** The Cloud Tasks queue backfill chunks are dispatched on. */
export interface TaskQueue {
  /** Creates the task; "exists" when a task of that id is queued or ran recently. */
  enqueue(task: QueuedTask): Promise<"created" | "exists">;
  /** Deletes a queued task; a missing one (ran, or never queued) is fine. */
  remove(taskId: string): Promise<void>;
  /** The queue's cap on concurrent dispatches. */
  concurrency(): Promise<number>;
  setConcurrency(n: number): Promise<void>;
}

/** An export's Cloud Scheduler job state (google.cloud.scheduler.v1.Job.State). */
export type SchedulerJobState = "ENABLED" | "PAUSED" | "DISABLED" | "UPDATE_FAILED" | "STATE_UNSPECIFIED";

/** Cloud Scheduler as auto-pause needs it: read and pause the job of one export (never resume: a person does). */
export interface SchedulerControl {
  /** The job's full name: projects/<project>/locations/<region>/jobs/<prefix><export id>. */
  jobName(exportId: string): string;
  /** The job's state, or undefined when there is no such job. */
  state(exportId: string): Promise<SchedulerJobState | undefined>;
  /** Pauses the job; one already paused is left as it is. */
  pause(exportId: string): Promise<void>;
}
