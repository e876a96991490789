// An in-memory BigQuery behind the Warehouse port: tables of rows, load and
// query jobs with BigQuery's job-id semantics (one job per id; inserting an
// existing id re-attaches), jobs that finish now or later, and an audit
// message for every finished job, like the log sink's. The two MERGE
// statements the product runs are applied by their meaning (insert-only on
// uuid within the ON clause's timestamp bounds; persons on versions with
// deletions), recognised from their SQL: what they do in real BigQuery SQL is
// tested on DuckDB and ZetaSQL (test/integration/destination-sql.test.ts).
import { gunzipSync } from "node:zlib";
import { ExportError } from "../../../functions/src/core/errors.js";
import type { TableRef } from "../../../functions/src/core/identifiers.js";
import type { TableResource } from "../../../functions/src/core/models.js";
import type { JobInfo, JobRef, LoadSpec, QuerySpec, Warehouse } from "../../../functions/src/app/ports.js";
import type { MemoryStore } from "./memory-store.js";

export type Row = Record<string, unknown>;

interface Table {
  resource: TableResource;
  rows: Row[];
}

interface Job {
  info: JobInfo;
  /** Applies the job's effect; throws to fail it. Undefined once done. */
  run: (() => { outputRows?: number; dmlAffectedRows?: number }) | undefined;
}

/** A BigQuery error result, as a failed job carries it. */
export interface JobError {
  reason: string;
  message: string;
}

/** Where a schedule makes BigQuery misbehave; each hook is asked once per call. */
export interface WarehouseFaults {
  /** Throw a 5xx from jobs.insert of a load: before the job exists, or after (a lost response). */
  startLoad?: () => "before" | "after" | undefined;
  /** Throw a 5xx from jobs.get. */
  getJob?: () => boolean;
  /** Finish this query job with an error (a MERGE hitting a backend error or a concurrent update). */
  queryError?: (spec: QuerySpec) => JobError | undefined;
  /** Throw a 5xx from jobs.insert of a query. */
  startQuery?: () => boolean;
  /** Refuse tables.delete (a destination without bigquery.tables.delete). */
  deleteTableDenied?: () => boolean;
  /** Finish this load job with an error (BigQuery's internalError, a bad file); nothing is loaded. */
  loadError?: (spec: LoadSpec) => JobError | undefined;
  /** Finish a load job at once (true) or leave it RUNNING until completeJobs. */
  loadDoneAtOnce?: (jobId: string) => boolean;
}

export interface AuditMessage {
  message: { data: string; messageId: string };
  subscription: string;
}

const unavailable = (what: string) =>
  new ExportError("UNAVAILABLE", `${what}: 503 Service Unavailable (injected)`, { retryable: true });

function key(ref: TableRef): string {
  return `${ref.datasetId}.${ref.tableId}`;
}

export class MemoryWarehouse implements Warehouse {
  readonly tables = new Map<string, Table>();
  readonly jobs = new Map<string, Job>();
  /** Audit messages of finished jobs, in finishing order, for the harness to deliver. */
  readonly audit: AuditMessage[] = [];
  faults: WarehouseFaults = {};
  private messages = 0;

  constructor(
    private readonly store: MemoryStore,
    private readonly location = "US",
    private readonly yieldPoint: () => Promise<void> = () => Promise.resolve(),
  ) {}

  table(ref: TableRef): Row[] {
    return this.tables.get(key(ref))?.rows ?? [];
  }

  async datasetLocation(): Promise<string> {
    await this.yieldPoint();
    return this.location;
  }

  async getTable(ref: TableRef): Promise<TableResource | undefined> {
    await this.yieldPoint();
    return this.tables.get(key(ref))?.resource;
  }

  async createTable(resource: TableResource): Promise<void> {
    await this.yieldPoint();
    const k = key(resource.tableReference);
    if (!this.tables.has(k)) this.tables.set(k, { resource, rows: [] });
  }

  async deleteTable(ref: TableRef): Promise<void> {
    await this.yieldPoint();
    if (this.faults.deleteTableDenied?.()) {
      throw new ExportError(
        "PERMISSION_DENIED",
        `deleting table ${ref.tableId}: Access Denied: Permission bigquery.tables.delete denied (injected)`,
      );
    }
    this.tables.delete(key(ref));
  }

  async dryRunQuery(): Promise<{ totalBytesProcessed: number }> {
    await this.yieldPoint();
    return { totalBytesProcessed: 0 };
  }

  async listTables(_projectId: string, datasetId: string, max: number): Promise<string[]> {
    await this.yieldPoint();
    return [...this.tables.keys()]
      .filter((k) => k.startsWith(`${datasetId}.`))
      .slice(0, max)
      .map((k) => k.slice(datasetId.length + 1));
  }

  async readRows(ref: TableRef, max: number): Promise<Row[] | undefined> {
    await this.yieldPoint();
    return this.tables.get(key(ref))?.rows.slice(0, max);
  }

  async getJob(ref: JobRef): Promise<JobInfo | undefined> {
    await this.yieldPoint();
    if (this.faults.getJob?.()) throw unavailable(`reading job ${ref.jobId}`);
    return this.jobs.get(ref.jobId)?.info;
  }

  async startLoad(spec: LoadSpec): Promise<JobInfo> {
    await this.yieldPoint();
    const fault = this.faults.startLoad?.();
    if (fault === "before") throw unavailable(`starting load job ${spec.job.jobId}`);
    const existing = this.jobs.get(spec.job.jobId);
    if (!existing) {
      // The job reads its source files now, as BigQuery does once a load
      // starts: deleting them later does not stop it from committing.
      const rows = this.readSources(spec.sourceUris);
      const error = this.faults.loadError?.(spec);
      this.jobs.set(spec.job.jobId, {
        info: { ref: spec.job, state: "RUNNING", labels: spec.labels },
        run: () => {
          if (error) throw Object.assign(new Error(error.message), { reason: error.reason });
          return this.load(spec, rows);
        },
      });
      if (this.faults.loadDoneAtOnce?.(spec.job.jobId) ?? true) this.finish(spec.job.jobId);
    }
    if (fault === "after") throw unavailable(`starting load job ${spec.job.jobId}`);
    return this.jobs.get(spec.job.jobId)!.info;
  }

  async runQuery(spec: QuerySpec): Promise<JobInfo> {
    await this.yieldPoint();
    if (!this.jobs.has(spec.job.jobId)) {
      if (this.faults.startQuery?.()) throw unavailable(`starting query job ${spec.job.jobId}`);
      const error = this.faults.queryError?.(spec);
      this.jobs.set(spec.job.jobId, {
        info: { ref: spec.job, state: "RUNNING", labels: spec.labels },
        run: () => {
          if (error) throw Object.assign(new Error(error.message), { reason: error.reason });
          return this.merge(spec.sql);
        },
      });
    }
    // The adapter polls until DONE; the fake finishes the job on the spot.
    this.finish(spec.job.jobId);
    return this.jobs.get(spec.job.jobId)!.info;
  }

  /** Jobs still running. */
  running(): string[] {
    return [...this.jobs.entries()].filter(([, j]) => j.info.state !== "DONE").map(([id]) => id);
  }

  /** Finishes running jobs; `pick` chooses which (default: all). */
  completeJobs(pick: (jobId: string) => boolean = () => true): void {
    for (const id of this.running()) if (pick(id)) this.finish(id);
  }

  private finish(jobId: string): void {
    const job = this.jobs.get(jobId)!;
    if (!job.run) return;
    const run = job.run;
    job.run = undefined;
    let info: JobInfo;
    try {
      const stats = run();
      info = { ...job.info, state: "DONE", ...stats };
    } catch (err) {
      const reason = (err as { reason?: string }).reason ?? "invalid";
      info = { ...job.info, state: "DONE", error: { reason, message: (err as Error).message } };
    }
    job.info = info;
    this.audit.push(this.auditMessage(info));
  }

  private auditMessage(info: JobInfo): AuditMessage {
    const entry = {
      resource: {
        type: "bigquery_project",
        labels: { project_id: info.ref.projectId, location: this.location },
      },
      protoPayload: {
        metadata: {
          "@type": "type.googleapis.com/google.cloud.audit.BigQueryAuditMetadata",
          jobChange: {
            after: "DONE",
            job: {
              jobName: `projects/${info.ref.projectId}/jobs/${info.ref.jobId}`,
              jobConfig: { labels: info.labels },
              jobStatus: {
                jobState: "DONE",
                ...(info.error ? { errorResult: { code: 3, message: info.error.message } } : {}),
              },
            },
          },
        },
      },
    };
    return {
      message: {
        data: Buffer.from(JSON.stringify(entry)).toString("base64"),
        messageId: String(++this.messages),
      },
      subscription: "projects/fake/subscriptions/bqx-job-done",
    };
  }

  private readSources(uris: string[]): Row[] | Error {
    const rows: Row[] = [];
    for (const uri of uris) {
      const data = this.store.bytes(this.store.nameOf(uri));
      if (!data) return Object.assign(new Error(`Not found: URI ${uri}`), { reason: "notFound" });
      for (const line of gunzipSync(data).toString("utf8").split("\n")) {
        if (line.length > 0) rows.push(JSON.parse(line) as Row);
      }
    }
    return rows;
  }

  private load(spec: LoadSpec, rows: Row[] | Error): { outputRows: number } {
    if (rows instanceof Error) throw rows;
    const k = key(spec.destination);
    const table = this.tables.get(k) ?? {
      resource: { tableReference: spec.destination, schema: spec.schema },
      rows: [],
    };
    this.tables.set(k, table);
    if (spec.writeDisposition === "WRITE_TRUNCATE") table.rows = rows;
    else table.rows.push(...rows);
    return { outputRows: rows.length };
  }

  /** The product's two MERGE statements, applied by meaning. */
  private merge(sql: string): { dmlAffectedRows: number } {
    const target = /MERGE INTO `[^`.]+\.([^`.]+)\.([^`]+)` AS final/.exec(sql);
    const source = /FROM `[^`.]+\.([^`.]+)\.([^`]+)`/.exec(sql);
    if (!target || !source) throw new Error(`unrecognised statement: ${sql.slice(0, 80)}`);
    const final = this.tables.get(`${target[1]}.${target[2]}`);
    const stage = this.tables.get(`${source[1]}.${source[2]}`);
    if (!final || !stage) {
      throw Object.assign(new Error(`Not found: Table ${final ? source[2] : target[2]}`), {
        reason: "notFound",
      });
    }
    return sql.includes("bqx_deleted") ? mergePersons(final, stage) : insertNewEvents(final, stage, sql);
  }
}

function insertNewEvents(final: Table, stage: Table, sql: string): { dmlAffectedRows: number } {
  const min = /final\.`timestamp` >= TIMESTAMP '([^']+)'/.exec(sql)?.[1];
  const max = /final\.`timestamp` <= TIMESTAMP '([^']+)'/.exec(sql)?.[1];
  const micros = (t: string) =>
    BigInt(Date.parse(t.replace(/\.\d+Z$/, "Z"))) * 1000n +
    BigInt((/\.(\d+)Z$/.exec(t)?.[1] ?? "").padEnd(6, "0"));
  const inBounds = (row: Row) => {
    const t = micros(String(row["timestamp"]));
    return (min === undefined || t >= micros(min)) && (max === undefined || t <= micros(max));
  };
  // What the ON clause can see of the final table: its rows within the bounds.
  const seen = new Set(final.rows.filter(inBounds).map((r) => r["uuid"]));
  const firstByUuid = new Map<unknown, Row>();
  for (const row of [...stage.rows].sort((a, b) =>
    String(a["bq_ingested_timestamp"]).localeCompare(String(b["bq_ingested_timestamp"])),
  )) {
    if (!firstByUuid.has(row["uuid"])) firstByUuid.set(row["uuid"], row);
  }
  let inserted = 0;
  for (const [uuid, row] of firstByUuid) {
    if (seen.has(uuid)) continue;
    final.rows.push(row);
    inserted++;
  }
  return { dmlAffectedRows: inserted };
}

function mergePersons(final: Table, stage: Table): { dmlAffectedRows: number } {
  const k = (r: Row) => `${String(r["team_id"])}|${String(r["distinct_id"])}`;
  const n = (v: unknown) => BigInt(typeof v === "string" || typeof v === "number" ? v : 0);
  const latest = new Map<string, Row>();
  for (const row of stage.rows) {
    const cur = latest.get(k(row));
    const newer =
      !cur ||
      n(row["person_distinct_id_version"]) > n(cur["person_distinct_id_version"]) ||
      (n(row["person_distinct_id_version"]) === n(cur["person_distinct_id_version"]) &&
        n(row["person_version"]) > n(cur["person_version"]));
    if (newer) latest.set(k(row), row);
  }
  let affected = 0;
  for (const [id, row] of latest) {
    const index = final.rows.findIndex((r) => k(r) === id);
    const { bqx_deleted: deleted, ...columns } = row;
    if (index < 0) {
      if (!deleted) {
        final.rows.push(columns);
        affected++;
      }
      continue;
    }
    const cur = final.rows[index]!;
    const higher =
      n(row["person_version"]) > n(cur["person_version"]) ||
      n(row["person_distinct_id_version"]) > n(cur["person_distinct_id_version"]);
    if (!higher) continue;
    if (deleted) final.rows.splice(index, 1);
    else final.rows[index] = columns;
    affected++;
  }
  return { dmlAffectedRows: affected };
}
