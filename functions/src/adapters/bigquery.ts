// BigQuery through @google-cloud/bigquery, as one destination principal:
// dataset and table checks, table creation, load and query jobs with
// deterministic ids (a repeated id re-attaches instead of running twice).
import type { BigQuery, Job, JobMetadata, TableMetadata } from "@google-cloud/bigquery";
import type { TableRef } from "../core/identifiers.js";
import type { TableResource } from "../core/models.js";
import type { DryRunSpec, JobInfo, JobRef, LoadSpec, QuerySpec, Warehouse } from "../app/ports.js";
import { fromGoogleError, googleErrorStatus } from "./google-errors.js";

const POLL_MS = [200, 400, 800, 1500, 3000];

export class BigQueryWarehouse implements Warehouse {
  constructor(
    private readonly bq: BigQuery,
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
  ) {}

  async datasetLocation(projectId: string, datasetId: string): Promise<string | undefined> {
    try {
      const meta = firstOf<{ location?: string }>(
        await this.bq.dataset(datasetId, { projectId }).getMetadata(),
      );
      return meta.location ?? "US";
    } catch (err) {
      if (googleErrorStatus(err) === 404) return undefined;
      throw fromGoogleError(err, `reading dataset ${projectId}:${datasetId}`);
    }
  }

  async getTable(ref: TableRef): Promise<TableResource | undefined> {
    try {
      const m = firstOf<TableMetadata>(await this.table(ref).getMetadata());
      return {
        tableReference: ref,
        schema: { fields: (m.schema?.fields ?? []) as TableResource["schema"]["fields"] },
        ...(m.timePartitioning
          ? { timePartitioning: m.timePartitioning as TableResource["timePartitioning"] }
          : {}),
        ...(m.clustering ? { clustering: m.clustering as TableResource["clustering"] } : {}),
        ...(m.expirationTime ? { expirationTime: String(m.expirationTime) } : {}),
      };
    } catch (err) {
      if (googleErrorStatus(err) === 404) return undefined;
      throw fromGoogleError(err, `reading table ${describe(ref)}`);
    }
  }

  async createTable(resource: TableResource): Promise<void> {
    const ref = resource.tableReference;
    try {
      await this.bq.dataset(ref.datasetId, { projectId: ref.projectId }).createTable(ref.tableId, {
        schema: resource.schema,
        ...(resource.description ? { description: resource.description } : {}),
        ...(resource.timePartitioning ? { timePartitioning: resource.timePartitioning } : {}),
        ...(resource.clustering ? { clustering: resource.clustering } : {}),
        ...(resource.expirationTime ? { expirationTime: resource.expirationTime } : {}),
        ...(resource.labels ? { labels: resource.labels } : {}),
      });
    } catch (err) {
      // Another run (or a person) created it meanwhile: that is the goal.
      if (googleErrorStatus(err) === 409) return;
      throw fromGoogleError(err, `creating table ${describe(ref)}`);
    }
  }

  async startLoad(spec: LoadSpec): Promise<JobInfo> {
    return this.insertOrAttach(spec.job, spec.labels, `starting load job ${spec.job.jobId}`, {
      load: {
        sourceUris: spec.sourceUris,
        sourceFormat: "NEWLINE_DELIMITED_JSON",
        destinationTable: spec.destination,
        schema: spec.schema,
        writeDisposition: spec.writeDisposition,
        createDisposition: "CREATE_IF_NEEDED",
        ...(spec.allowFieldAddition ? { schemaUpdateOptions: ["ALLOW_FIELD_ADDITION"] } : {}),
        // Any bad row fails the load: a partial period is worse than a clear error.
        maxBadRecords: 0,
        ignoreUnknownValues: false,
      },
    });
  }

  async getJob(ref: JobRef): Promise<JobInfo | undefined> {
    try {
      const meta = firstOf<JobMetadata>(await this.job(ref).getMetadata());
      return toJobInfo(ref, meta);
    } catch (err) {
      if (googleErrorStatus(err) === 404) return undefined;
      throw fromGoogleError(err, `reading job ${ref.jobId}`);
    }
  }

  async runQuery(spec: QuerySpec): Promise<JobInfo> {
    let info = await this.insertOrAttach(spec.job, spec.labels, `starting query job ${spec.job.jobId}`, {
      query: { query: spec.sql, useLegacySql: false },
    });
    for (let i = 0; info.state !== "DONE"; i++) {
      await this.sleep(POLL_MS[Math.min(i, POLL_MS.length - 1)]!);
      info = (await this.getJob(spec.job)) ?? info;
    }
    return info;
  }

  async deleteTable(ref: TableRef): Promise<void> {
    try {
      await this.table(ref).delete();
    } catch (err) {
      if (googleErrorStatus(err) === 404) return;
      throw fromGoogleError(err, `deleting table ${describe(ref)}`);
    }
  }

  async dryRunQuery(spec: DryRunSpec): Promise<{ totalBytesProcessed: number }> {
    // A dry run is validated and priced, never run, and not kept as a job:
    // https://cloud.google.com/bigquery/docs/running-queries#dry-run
    try {
      const [job] = await this.bq.createJob({
        location: spec.location,
        configuration: { query: { query: spec.sql, useLegacySql: false }, dryRun: true },
      });
      const bytes = (job.metadata as JobMetadata).statistics?.totalBytesProcessed;
      return { totalBytesProcessed: Number(bytes ?? 0) };
    } catch (err) {
      throw fromGoogleError(err, "running a dry-run query");
    }
  }

  async listTables(projectId: string, datasetId: string, max: number): Promise<string[]> {
    try {
      const [tables] = await this.bq
        .dataset(datasetId, { projectId })
        .getTables({ maxResults: max, autoPaginate: false });
      return tables.map((t) => t.id ?? "");
    } catch (err) {
      throw fromGoogleError(err, `listing the tables of ${projectId}:${datasetId}`);
    }
  }

  async readRows(ref: TableRef, max: number): Promise<Record<string, unknown>[] | undefined> {
    try {
      const [rows] = await this.table(ref).getRows({ maxResults: max, autoPaginate: false });
      return rows as Record<string, unknown>[];
    } catch (err) {
      if (googleErrorStatus(err) === 404) return undefined;
      throw fromGoogleError(err, `reading rows of ${describe(ref)}`);
    }
  }

  private async insertOrAttach(
    ref: JobRef,
    labels: Record<string, string>,
    what: string,
    configuration: Record<string, unknown>,
  ): Promise<JobInfo> {
    try {
      const [job] = await this.bq.createJob({
        jobId: ref.jobId,
        location: ref.location,
        configuration: { ...configuration, labels },
      });
      return toJobInfo(ref, job.metadata as JobMetadata);
    } catch (err) {
      // 409 duplicate: this attempt's job exists (a retried call); follow it.
      if (googleErrorStatus(err) === 409) {
        const existing = await this.getJob(ref);
        if (existing) return existing;
      }
      // A job that finished at once with errors comes back as a thrown ApiError
      // carrying the job resource; report it as the job's own failure.
      const resp = (err as { response?: JobMetadata }).response;
      if (resp?.status?.state === "DONE") return toJobInfo(ref, resp);
      throw fromGoogleError(err, what);
    }
  }

  private table(ref: TableRef) {
    return this.bq.dataset(ref.datasetId, { projectId: ref.projectId }).table(ref.tableId);
  }

  private job(ref: JobRef): Job {
    return this.bq.job(ref.jobId, { location: ref.location, projectId: ref.projectId });
  }
}

// The client's getMetadata() resolves [metadata, apiResponse] typed loosely.
function firstOf<T>(response: unknown): T {
  return (response as [T])[0];
}

function describe(ref: TableRef): string {
  return `${ref.projectId}:${ref.datasetId}.${ref.tableId}`;
}

function toJobInfo(ref: JobRef, meta: JobMetadata): JobInfo {
  const state = (meta.status?.state ?? "PENDING") as JobInfo["state"];
  const err = meta.status?.errorResult;
  const stats = meta.statistics;
  const outputRows = stats?.load?.outputRows;
  const dml = stats?.query?.numDmlAffectedRows;
  const processed = stats?.query?.totalBytesProcessed;
  return {
    ref: { ...ref, location: meta.jobReference?.location ?? ref.location },
    state,
    ...(err ? { error: { reason: err.reason ?? undefined, message: err.message ?? "the job failed" } } : {}),
    ...(outputRows !== undefined && outputRows !== null ? { outputRows: Number(outputRows) } : {}),
    ...(dml !== undefined && dml !== null ? { dmlAffectedRows: Number(dml) } : {}),
    ...(processed !== undefined && processed !== null ? { bytesProcessed: Number(processed) } : {}),
    labels: meta.configuration?.labels ?? {},
  };
}
