// The local BigQuery REST server (v2 subset) that @google-cloud/bigquery uses
// unchanged, via apiEndpoint or BIGQUERY_EMULATOR_HOST=<url>/bigquery/v2.
//
// Client setup that works with no Google credentials on the machine:
//   new BigQuery({ projectId, apiEndpoint: server.url, authClient })
// where authClient is a google-auth-library JWT built from the key file with
// scopes [".../auth/bigquery"] and `useJWTAccessWithScope = true` (see
// client-auth.ts; the same client works against Google), or any client that
// sends a token the local IAM issued. Without an IAM every call is allowed.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Iam } from "../iam/iam.js";
import { PERMISSIONS } from "../iam/roles.js";
import { readBody, sendJson, startHttpServer } from "../common/net.js";
import { Access } from "./access.js";
import { AuditDelivery, type AuditSink, type DeliveryOptions } from "./audit/delivery.js";
import { Catalog, type DatasetMeta } from "./catalog.js";
import type { QueryEngine, QueryEngineDeps, TableMeta, TableRef } from "./contracts.js";
import { ApiError, duplicate, invalid, notFound } from "./errors.js";
import { Faults } from "./faults.js";
import { jobResource, type JobRecord } from "./job-record.js";
import { JobManager } from "./jobs.js";
import { MutatingDmlScheduler } from "./dml-concurrency.js";
import { validateLabels } from "./labels.js";
import { gcsObjectSource, type ObjectSource } from "./load/object-source.js";
import { formatOptionsFromQuery, readTableRows, restRows, type FormatOptions } from "./rows.js";
import { TableModificationQuota } from "./quota.js";
import { createQueryEngine } from "./sql/engine.js";
import { parseFields, restFields, schemaChange, tableName } from "./schema.js";
import type { Principal } from "../iam/iam.js";

export interface BigQueryServerOptions {
  dataDir: string;
  port?: number;
  /** The local GCS server that gs:// URIs are read from. */
  gcs: { url: string };
  auditSinks?: AuditSink[];
  auditDelivery?: DeliveryOptions;
  /** Permission checks; without it every call is allowed as a default principal. */
  iam?: Iam;
  /** The query engine (default: the ZetaSQL + DuckDB engine of ./sql, started on the first query). */
  engineFactory?: (deps: QueryEngineDeps) => Promise<QueryEngine>;
  /** How long a job stays PENDING, then RUNNING, before it runs (default 20 ms). */
  jobStateDelayMs?: number;
  /** BigQuery's daily limit of modifications (loads, query writes) per standard table (default 1,500). */
  tableModificationsPerDay?: number;
  /** BigQuery's daily limit of partition modifications per column-partitioned table (default 30,000). */
  partitionModificationsPerDay?: number;
  /** How often a conflicting mutating DML statement is rerun before it fails (default 3, as BigQuery). */
  dmlConflictReruns?: number;
  /** Replaces the GCS reader (tests). */
  objectSource?: ObjectSource;
}

export interface BigQueryServer {
  /** e.g. http://127.0.0.1:PORT — pass as apiEndpoint; BIGQUERY_EMULATOR_HOST takes `${url}/bigquery/v2`. */
  url: string;
  /** The REST base, `${url}/bigquery/v2`. */
  baseUrl: string;
  /** The IAM token endpoint (when an IAM is configured). */
  tokenUri: string | undefined;
  faults: Faults;
  audit: AuditDelivery;
  catalog: Catalog;
  jobs: JobManager;
  /** The daily table- and partition-modification counts (tests read them). */
  quota: TableModificationQuota;
  stop(): Promise<void>;
}

const DATASET_ID = /^[A-Za-z0-9_]{1,1024}$/;
const TABLE_ID = /^[\p{L}\p{M}\p{N}\p{Pc}\p{Pd}\p{Zs}]+$/u;

export async function startBigQueryServer(opts: BigQueryServerOptions): Promise<BigQueryServer> {
  const catalog = await Catalog.open(opts.dataDir);
  const access = new Access(opts.iam);
  const faults = new Faults();
  const audit = new AuditDelivery(opts.auditSinks ?? [], opts.auditDelivery);
  let enginePromise: Promise<QueryEngine> | undefined;
  const engine = async (): Promise<QueryEngine | undefined> => {
    const factory = opts.engineFactory ?? createQueryEngine;
    enginePromise ??= catalog.newConnection().then((connection) => factory({ connection, catalog }));
    return enginePromise;
  };
  const quota = new TableModificationQuota({
    ...(opts.tableModificationsPerDay !== undefined
      ? { tableModificationsPerDay: opts.tableModificationsPerDay }
      : {}),
    ...(opts.partitionModificationsPerDay !== undefined
      ? { partitionModificationsPerDay: opts.partitionModificationsPerDay }
      : {}),
  });
  const jobs = new JobManager({
    catalog,
    access,
    faults,
    audit,
    engine,
    source: opts.objectSource ?? gcsObjectSource(opts.gcs.url),
    stateDelayMs: opts.jobStateDelayMs ?? 20,
    quota,
    dml: new MutatingDmlScheduler(),
    ...(opts.dmlConflictReruns !== undefined ? { conflictReruns: opts.dmlConflictReruns } : {}),
  });
  const api = new RestApi(catalog, access, faults, jobs);
  const http = await startHttpServer((req, res) => api.handle(req, res), opts.port ?? 0);
  return {
    url: http.url,
    baseUrl: `${http.url}/bigquery/v2`,
    tokenUri: opts.iam ? opts.iam.tokenUri : undefined,
    faults,
    audit,
    catalog,
    jobs,
    quota,
    async stop() {
      await http.close();
      await Promise.allSettled(jobs.all().map((j) => j.done));
      await audit.drain();
      if (enginePromise) await (await enginePromise).close();
      catalog.close();
    },
  };
}

type Params = Record<string, string>;
type Handler = (ctx: Ctx) => Promise<void> | void;
interface Ctx {
  req: IncomingMessage;
  res: ServerResponse;
  params: Params;
  query: URLSearchParams;
  principal: Principal;
  body(): Promise<Record<string, unknown>>;
}

interface Route {
  method: string;
  pattern: RegExp;
  keys: string[];
  name: string;
  handler: Handler;
}

function route(method: string, path: string, name: string, handler: Handler): Route {
  const keys: string[] = [];
  const pattern = new RegExp(
    `^${path.replace(/\{(\w+)\}/g, (_m, k: string) => {
      keys.push(k);
      return "([^/]+)";
    })}$`,
  );
  return { method, pattern, keys, name, handler };
}

function datasetResource(d: DatasetMeta): Record<string, unknown> {
  return {
    kind: "bigquery#dataset",
    etag: Buffer.from(d.lastModifiedTime).toString("base64"),
    id: `${d.projectId}:${d.datasetId}`,
    selfLink: `/bigquery/v2/projects/${d.projectId}/datasets/${d.datasetId}`,
    datasetReference: { projectId: d.projectId, datasetId: d.datasetId },
    location: d.location,
    creationTime: d.creationTime,
    lastModifiedTime: d.lastModifiedTime,
    type: "DEFAULT",
    ...(d.description !== undefined ? { description: d.description } : {}),
    ...(d.friendlyName !== undefined ? { friendlyName: d.friendlyName } : {}),
    ...(d.labels ? { labels: d.labels } : {}),
    ...(d.defaultTableExpirationMs ? { defaultTableExpirationMs: d.defaultTableExpirationMs } : {}),
  };
}

class RestApi {
  private readonly routes: Route[];

  constructor(
    private readonly catalog: Catalog,
    private readonly access: Access,
    private readonly faults: Faults,
    private readonly jobs: JobManager,
  ) {
    const P = "/projects/{projectId}";
    const D = `${P}/datasets/{datasetId}`;
    const T = `${D}/tables/{tableId}`;
    this.routes = [
      route("GET", `${P}/datasets`, "datasets.list", (c) => this.listDatasets(c)),
      route("POST", `${P}/datasets`, "datasets.insert", (c) => this.insertDataset(c)),
      route("GET", D, "datasets.get", (c) => this.getDataset(c)),
      route("PATCH", D, "datasets.patch", (c) => this.patchDataset(c)),
      route("PUT", D, "datasets.update", (c) => this.patchDataset(c)),
      route("DELETE", D, "datasets.delete", (c) => this.deleteDataset(c)),
      route("GET", `${D}/tables`, "tables.list", (c) => this.listTables(c)),
      route("POST", `${D}/tables`, "tables.insert", (c) => this.insertTable(c)),
      route("GET", T, "tables.get", (c) => this.getTable(c)),
      route("PATCH", T, "tables.patch", (c) => this.patchTable(c, false)),
      route("PUT", T, "tables.update", (c) => this.patchTable(c, true)),
      route("DELETE", T, "tables.delete", (c) => this.deleteTable(c)),
      route("GET", `${T}/data`, "tabledata.list", (c) => this.listTableData(c)),
      route("POST", `${P}/jobs`, "jobs.insert", (c) => this.insertJob(c)),
      route("GET", `${P}/jobs`, "jobs.list", (c) => this.listJobs(c)),
      route("GET", `${P}/jobs/{jobId}`, "jobs.get", (c) => this.getJob(c)),
      route("POST", `${P}/jobs/{jobId}/cancel`, "jobs.cancel", (c) => this.cancelJob(c)),
      route("POST", `${P}/queries`, "jobs.query", (c) => this.query(c)),
      route("GET", `${P}/queries/{jobId}`, "jobs.getQueryResults", (c) => this.getQueryResults(c)),
    ];
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://localhost");
    try {
      if (url.pathname.startsWith("/upload/")) {
        throw new ApiError(
          "notImplemented",
          "Media uploads are not supported by the local BigQuery; load from gs:// URIs.",
          {
            httpStatus: 501,
          },
        );
      }
      // Accept the REST base with or without the /bigquery/v2 prefix.
      const path = url.pathname.replace(/^\/bigquery\/v2(?=\/)/, "");
      const method = (req.method ?? "GET").toUpperCase();
      let matchedPath = false;
      for (const r of this.routes) {
        const m = r.pattern.exec(path);
        if (!m) continue;
        matchedPath = true;
        if (r.method !== method) continue;
        const params: Params = {};
        r.keys.forEach((k, i) => (params[k] = decodeURIComponent(m[i + 1] ?? "")));
        this.faults.check(r.name);
        const principal = this.access.principal(req.headers.authorization);
        let parsed: Record<string, unknown> | undefined;
        await r.handler({
          req,
          res,
          params,
          query: url.searchParams,
          principal,
          body: async () => {
            if (parsed) return parsed;
            const text = (await readBody(req)).toString("utf8");
            try {
              parsed = text === "" ? {} : (JSON.parse(text) as Record<string, unknown>);
            } catch {
              throw invalid("Invalid JSON payload received.");
            }
            return parsed;
          },
        });
        return;
      }
      if (matchedPath)
        throw new ApiError("badRequest", `Method ${method} is not allowed on ${path}`, { httpStatus: 405 });
      throw new ApiError("notFound", `Not found: URL ${url.pathname}`);
    } catch (err) {
      if (err instanceof ApiError) {
        sendJson(res, err.httpStatus, err.toBody());
        return;
      }
      throw err;
    }
  }

  // --- datasets

  private listDatasets(c: Ctx): void {
    const { projectId } = c.params as { projectId: string };
    const visible = this.catalog
      .listDatasets(projectId)
      .filter((d) => this.access.has(c.principal, PERMISSIONS.datasetsGet, projectId, d.datasetId));
    sendJson(c.res, 200, {
      kind: "bigquery#datasetList",
      etag: "local",
      datasets: visible.map((d) => ({
        kind: "bigquery#dataset",
        id: `${d.projectId}:${d.datasetId}`,
        datasetReference: { projectId: d.projectId, datasetId: d.datasetId },
        location: d.location,
        ...(d.labels ? { labels: d.labels } : {}),
      })),
    });
  }

  private async insertDataset(c: Ctx): Promise<void> {
    const { projectId } = c.params as { projectId: string };
    this.access.requireProject(c.principal, PERMISSIONS.datasetsCreate, projectId);
    const body = await c.body();
    const ref = (body["datasetReference"] ?? {}) as { projectId?: string; datasetId?: string };
    const datasetId = ref.datasetId ?? "";
    if (!DATASET_ID.test(datasetId)) {
      throw invalid(
        `Invalid dataset ID "${datasetId}". Dataset IDs must be alphanumeric (plus underscores) and must be at most 1024 characters long.`,
      );
    }
    if (this.catalog.datasetExists(projectId, datasetId))
      throw duplicate(`Dataset ${projectId}:${datasetId}`);
    if (body["labels"] !== undefined) validateLabels(body["labels"]);
    const now = String(Date.now());
    const meta: DatasetMeta = {
      projectId,
      datasetId,
      location: typeof body["location"] === "string" ? body["location"] : "US",
      creationTime: now,
      lastModifiedTime: now,
      ...(typeof body["description"] === "string" ? { description: body["description"] } : {}),
      ...(typeof body["friendlyName"] === "string" ? { friendlyName: body["friendlyName"] } : {}),
      ...(body["labels"] ? { labels: body["labels"] } : {}),
      ...(typeof body["defaultTableExpirationMs"] === "string"
        ? { defaultTableExpirationMs: body["defaultTableExpirationMs"] }
        : {}),
    };
    await this.catalog.createDataset(meta);
    sendJson(c.res, 200, datasetResource(meta));
  }

  private requireDataset(c: Ctx, permission: string): DatasetMeta {
    const { projectId, datasetId } = c.params as { projectId: string; datasetId: string };
    this.access.requireDataset(c.principal, permission, projectId, datasetId);
    const d = this.catalog.getDataset(projectId, datasetId);
    if (!d) throw notFound(`Dataset ${projectId}:${datasetId}`);
    return d;
  }

  private getDataset(c: Ctx): void {
    sendJson(c.res, 200, datasetResource(this.requireDataset(c, PERMISSIONS.datasetsGet)));
  }

  private async patchDataset(c: Ctx): Promise<void> {
    const d = this.requireDataset(c, PERMISSIONS.datasetsUpdate);
    const body = await c.body();
    if (body["labels"] !== undefined) validateLabels(body["labels"]);
    const next: DatasetMeta = {
      ...d,
      lastModifiedTime: String(Date.now()),
      ...(typeof body["description"] === "string" ? { description: body["description"] } : {}),
      ...(typeof body["friendlyName"] === "string" ? { friendlyName: body["friendlyName"] } : {}),
      ...(body["labels"] ? { labels: body["labels"] } : {}),
    };
    this.catalog.updateDataset(next);
    sendJson(c.res, 200, datasetResource(next));
  }

  private async deleteDataset(c: Ctx): Promise<void> {
    const d = this.requireDataset(c, PERMISSIONS.datasetsDelete);
    const tables = this.catalog.listTables(d.projectId, d.datasetId);
    if (tables.length > 0 && c.query.get("deleteContents") !== "true") {
      throw new ApiError("resourceInUse", `Dataset ${d.projectId}:${d.datasetId} is still in use`, {
        httpStatus: 400,
      });
    }
    await this.catalog.deleteDataset(d.projectId, d.datasetId);
    c.res.writeHead(204).end();
  }

  // --- tables

  private tableRef(c: Ctx): TableRef {
    const { projectId, datasetId, tableId } = c.params as {
      projectId: string;
      datasetId: string;
      tableId: string;
    };
    return { projectId, datasetId, tableId };
  }

  private async tableResource(t: TableMeta): Promise<Record<string, unknown>> {
    const location = this.catalog.getDataset(t.ref.projectId, t.ref.datasetId)?.location ?? "US";
    const numRows = await this.catalog.countRows(t.ref);
    return {
      kind: "bigquery#table",
      etag: Buffer.from(t.lastModifiedTime).toString("base64"),
      id: tableName(t.ref),
      selfLink: `/bigquery/v2/projects/${t.ref.projectId}/datasets/${t.ref.datasetId}/tables/${t.ref.tableId}`,
      tableReference: t.ref,
      schema: { fields: restFields(t.fields) },
      numRows: String(numRows),
      numBytes: "0",
      creationTime: t.creationTime,
      lastModifiedTime: t.lastModifiedTime,
      type: "TABLE",
      location,
      ...(t.description !== undefined ? { description: t.description } : {}),
      ...(t.labels ? { labels: t.labels } : {}),
      ...(t.timePartitioning ? { timePartitioning: t.timePartitioning } : {}),
      ...(t.clustering ? { clustering: t.clustering } : {}),
      ...(t.expirationTime !== undefined ? { expirationTime: t.expirationTime } : {}),
    };
  }

  private listTables(c: Ctx): void {
    const d = this.requireDataset(c, PERMISSIONS.tablesList);
    const tables = this.catalog.listTables(d.projectId, d.datasetId);
    const max = Number(c.query.get("maxResults") ?? "1000");
    const start = Number(c.query.get("pageToken") ?? "0");
    const page = tables.slice(start, start + max);
    sendJson(c.res, 200, {
      kind: "bigquery#tableList",
      etag: "local",
      tables: page.map((t) => ({
        kind: "bigquery#table",
        id: tableName(t.ref),
        tableReference: t.ref,
        type: "TABLE",
        creationTime: t.creationTime,
        ...(t.labels ? { labels: t.labels } : {}),
        ...(t.timePartitioning ? { timePartitioning: t.timePartitioning } : {}),
        ...(t.clustering ? { clustering: t.clustering } : {}),
        ...(t.expirationTime !== undefined ? { expirationTime: t.expirationTime } : {}),
      })),
      totalItems: tables.length,
      ...(start + max < tables.length ? { nextPageToken: String(start + max) } : {}),
    });
  }

  private async insertTable(c: Ctx): Promise<void> {
    const { projectId, datasetId } = c.params as { projectId: string; datasetId: string };
    this.access.requireDataset(c.principal, PERMISSIONS.tablesCreate, projectId, datasetId);
    const body = await c.body();
    const ref = {
      projectId,
      datasetId,
      tableId: ((body["tableReference"] ?? {}) as { tableId?: string }).tableId ?? "",
    };
    if (!TABLE_ID.test(ref.tableId) || Buffer.byteLength(ref.tableId) > 1024) {
      throw invalid(
        `Invalid table ID "${ref.tableId}". Table IDs must be alphanumeric (plus underscores) and must be at most 1024 characters long. Also, Table decorators cannot be used.`,
      );
    }
    const dataset = this.catalog.getDataset(projectId, datasetId);
    if (!dataset) throw notFound(`Dataset ${projectId}:${datasetId}`);
    if (this.catalog.getTable(ref)) throw duplicate(`Table ${tableName(ref)}`);
    const meta = this.tableMetaFromBody(ref, body, undefined);
    if (meta.expirationTime === undefined && dataset.defaultTableExpirationMs) {
      meta.expirationTime = String(Date.now() + Number(dataset.defaultTableExpirationMs));
    }
    await this.catalog.createTable(meta);
    const created = this.catalog.getTable(ref);
    if (!created) throw new ApiError("internalError", "table vanished after creation");
    sendJson(c.res, 200, await this.tableResource(created));
  }

  /** Table metadata from a Table resource, validated as BigQuery validates it. */
  private tableMetaFromBody(
    ref: TableRef,
    body: Record<string, unknown>,
    current: TableMeta | undefined,
  ): Omit<TableMeta, "creationTime" | "lastModifiedTime"> {
    const schema = body["schema"] as { fields?: unknown } | undefined;
    const fields = schema?.fields !== undefined ? parseFields(schema.fields) : (current?.fields ?? []);
    if (body["labels"] !== undefined) validateLabels(body["labels"]);
    const tp = body["timePartitioning"] as TableMeta["timePartitioning"] | undefined;
    if (tp) {
      if (!["DAY", "HOUR", "MONTH", "YEAR"].includes(tp.type))
        throw invalid(`Invalid value for timePartitioning.type: ${tp.type}`);
      if (tp.field !== undefined) {
        const f = fields.find((x) => x.name === tp.field);
        if (!f) throw invalid(`The field specified for partitioning cannot be found in the schema`);
        if (!["DATE", "TIMESTAMP", "DATETIME"].includes(f.type)) {
          throw invalid(`Partitioning field ${tp.field} must be of type DATE, TIMESTAMP or DATETIME.`);
        }
      }
      if (current?.timePartitioning && JSON.stringify(current.timePartitioning) !== JSON.stringify(tp)) {
        throw invalid("Cannot change partitioning spec for a partitioned table.");
      }
    }
    const cl = body["clustering"] as TableMeta["clustering"] | undefined;
    if (cl) {
      if (cl.fields.length > 4) throw invalid("Too many clustering columns: at most 4 are allowed.");
      for (const name of cl.fields) {
        const f = fields.find((x) => x.name === name);
        if (!f)
          throw invalid(
            `The field specified for clustering cannot be found in the schema.  Invalid field: ${name}.`,
          );
        if (f.type === "JSON" || f.type === "FLOAT64")
          throw invalid(`Field ${name} is of type ${f.type} which is not supported for clustering`);
      }
    }
    const rawExp = body["expirationTime"];
    const exp =
      typeof rawExp === "string" || typeof rawExp === "number"
        ? String(rawExp)
        : rawExp === null
          ? null
          : undefined;
    if (rawExp !== undefined && rawExp !== null && exp === undefined)
      throw invalid("Invalid value for expirationTime");
    if (exp !== undefined && exp !== null && !/^\d+$/.test(String(exp)))
      throw invalid(`Invalid value for expirationTime: ${String(exp)}`);
    if (exp !== undefined && exp !== null && Number(exp) <= Date.now()) {
      throw invalid(`Expiration time ${String(exp)} must be in the future`);
    }
    const out: Omit<TableMeta, "creationTime" | "lastModifiedTime"> = { ref, fields };
    const description = body["description"] ?? current?.description;
    if (typeof description === "string") out.description = description;
    const labels = body["labels"] ?? current?.labels;
    if (labels) out.labels = labels;
    const partitioning = tp ?? current?.timePartitioning;
    if (partitioning) out.timePartitioning = partitioning;
    const clustering = cl ?? current?.clustering;
    if (clustering) out.clustering = clustering;
    const expiration = exp !== undefined && exp !== null ? String(exp) : current?.expirationTime;
    if (expiration !== undefined) out.expirationTime = expiration;
    return out;
  }

  private existingTable(c: Ctx, permission: string): TableMeta {
    const ref = this.tableRef(c);
    this.access.requireTable(c.principal, permission, ref);
    const t = this.catalog.getTable(ref);
    if (!t) throw notFound(`Table ${tableName(ref)}`);
    return t;
  }

  private async getTable(c: Ctx): Promise<void> {
    sendJson(c.res, 200, await this.tableResource(this.existingTable(c, PERMISSIONS.tablesGet)));
  }

  private async patchTable(c: Ctx, replace: boolean): Promise<void> {
    const current = this.existingTable(c, PERMISSIONS.tablesUpdate);
    const body = await c.body();
    const schema = body["schema"] as { fields?: unknown } | undefined;
    let added: TableMeta["fields"] = [];
    if (schema?.fields !== undefined) {
      added = schemaChange(current.ref, current.fields, parseFields(schema.fields), {
        allowAdd: true,
        allowRelax: true,
      });
    }
    const meta = this.tableMetaFromBody(
      current.ref,
      replace ? { schema: { fields: current.fields }, ...body } : body,
      current,
    );
    await this.catalog.updateTable(
      { ...meta, creationTime: current.creationTime, lastModifiedTime: current.lastModifiedTime },
      added,
    );
    const updated = this.catalog.getTable(current.ref);
    if (!updated) throw notFound(`Table ${tableName(current.ref)}`);
    sendJson(c.res, 200, await this.tableResource(updated));
  }

  private async deleteTable(c: Ctx): Promise<void> {
    const t = this.existingTable(c, PERMISSIONS.tablesDelete);
    await this.catalog.dropTable(t.ref);
    c.res.writeHead(204).end();
  }

  private async listTableData(c: Ctx): Promise<void> {
    const t = this.existingTable(c, PERMISSIONS.tablesGetData);
    const total = await this.catalog.countRows(t.ref);
    const start = Number(c.query.get("pageToken") ?? c.query.get("startIndex") ?? "0");
    const max = Math.min(Number(c.query.get("maxResults") ?? "100000"), 100000);
    const rows = await readTableRows(this.catalog.connection, t.ref, t.fields, start, max);
    const next = start + rows.length;
    sendJson(c.res, 200, {
      kind: "bigquery#tableDataList",
      etag: "local",
      totalRows: String(total),
      rows: restRows(t.fields, rows, formatOptionsFromQuery(c.query)),
      ...(next < total ? { pageToken: String(next) } : {}),
    });
  }

  // --- jobs

  private async insertJob(c: Ctx): Promise<void> {
    const { projectId } = c.params as { projectId: string };
    const job = await this.jobs.insert(projectId, await c.body(), c.principal);
    sendJson(c.res, 200, jobResource(job));
  }

  private listJobs(c: Ctx): void {
    const { projectId } = c.params as { projectId: string };
    const all = c.query.get("allUsers") === "true";
    if (all) this.access.requireProject(c.principal, PERMISSIONS.jobsList, projectId);
    const jobs = this.jobs
      .all()
      .filter((j) => j.projectId === projectId && (all || j.userEmail === c.principal.email))
      .sort((a, b) => b.creationTime - a.creationTime);
    sendJson(c.res, 200, {
      kind: "bigquery#jobList",
      etag: "local",
      jobs: jobs.map((j) => ({ ...jobResource(j), state: j.state })),
    });
  }

  private lookupJob(c: Ctx, permission?: string): JobRecord {
    const { projectId, jobId } = c.params as { projectId: string; jobId: string };
    return this.jobs.get(projectId, jobId, c.query.get("location") ?? undefined, c.principal, permission);
  }

  private getJob(c: Ctx): void {
    sendJson(c.res, 200, jobResource(this.lookupJob(c)));
  }

  private cancelJob(c: Ctx): void {
    const job = this.lookupJob(c, PERMISSIONS.jobsUpdate);
    this.jobs.cancel(job);
    sendJson(c.res, 200, { kind: "bigquery#jobCancelResponse", job: jobResource(job) });
  }

  private async query(c: Ctx): Promise<void> {
    const { projectId } = c.params as { projectId: string };
    const body = await c.body();
    const { timeoutMs, location, requestId, labels, dryRun, maxResults, formatOptions, ...query } = body;
    void requestId;
    const job = await this.jobs.insert(
      projectId,
      {
        jobReference: {
          projectId,
          jobId: `job_${crypto.randomUUID().replace(/-/g, "_")}`,
          ...(typeof location === "string" ? { location } : {}),
        },
        configuration: { query, ...(labels ? { labels } : {}), ...(dryRun ? { dryRun } : {}) },
      },
      c.principal,
    );
    if (job.dryRun) {
      // QueryResponse of a dry run: "the number of bytes that would be processed if the query were run".
      sendJson(c.res, 200, {
        kind: "bigquery#queryResponse",
        jobReference: { projectId: job.projectId, location: job.location },
        jobComplete: true,
        cacheHit: false,
        totalBytesProcessed: job.queryStatistics?.totalBytesProcessed ?? "0",
      });
      return;
    }
    const fmt = (formatOptions ?? {}) as FormatOptions;
    const pageSize = typeof maxResults === "number" ? maxResults : undefined;
    await this.queryResponse(c, job, Number(timeoutMs ?? 10000), fmt, "bigquery#queryResponse", pageSize);
  }

  private async getQueryResults(c: Ctx): Promise<void> {
    const job = this.lookupJob(c);
    if (job.jobType !== "QUERY")
      throw invalid(`Job ${job.projectId}:${job.location}.${job.jobId} is not a query job.`);
    await this.queryResponse(
      c,
      job,
      Number(c.query.get("timeoutMs") ?? "10000"),
      formatOptionsFromQuery(c.query),
      "bigquery#getQueryResultsResponse",
    );
  }

  private async queryResponse(
    c: Ctx,
    job: JobRecord,
    timeoutMs: number,
    fmt: FormatOptions,
    kind: string,
    pageSize?: number,
  ): Promise<void> {
    const done = await this.jobs.waitDone(job, Math.min(Math.max(timeoutMs, 0), 60_000));
    const jobReference = { projectId: job.projectId, jobId: job.jobId, location: job.location };
    if (!done) {
      sendJson(c.res, 200, { kind, jobReference, jobComplete: false });
      return;
    }
    if (job.errorResult) {
      throw new ApiError(job.errorResult.reason, job.errorResult.message, {
        ...(job.errorResult.location ? { location: job.errorResult.location } : {}),
      });
    }
    const stats = job.queryStatistics;
    const response: Record<string, unknown> = {
      kind,
      etag: "local",
      jobReference,
      jobComplete: true,
      cacheHit: false,
      totalBytesProcessed: stats?.totalBytesProcessed ?? "0",
    };
    if (stats?.numDmlAffectedRows !== undefined) response["numDmlAffectedRows"] = stats.numDmlAffectedRows;
    // QueryResponse (jobs.query) also carries totalBytesBilled and dmlStats; GetQueryResultsResponse does not.
    if (kind === "bigquery#queryResponse") {
      if (stats?.totalBytesBilled !== undefined) response["totalBytesBilled"] = stats.totalBytesBilled;
      if (stats?.dmlStats) response["dmlStats"] = stats.dmlStats;
    }
    if (job.result) {
      const start = Number(c.query.get("pageToken") ?? c.query.get("startIndex") ?? "0");
      const max = pageSize ?? Number(c.query.get("maxResults") ?? "100000");
      const page = job.result.rows.slice(start, start + max);
      response["schema"] = { fields: restFields(job.result.schema) };
      response["totalRows"] = String(job.result.rows.length);
      response["rows"] = restRows(job.result.schema, page, fmt);
      if (start + page.length < job.result.rows.length) response["pageToken"] = String(start + page.length);
    } else {
      response["totalRows"] = "0";
    }
    sendJson(c.res, 200, response);
  }
}
