// The preflight (`POST {"exportId", "check": true}`, `bqx check <id>`): tests
// an export's setup with the export's own credentials and reports every
// problem at once, one line each with its fix. Nothing is exported. Each of
// the seed's permissions is probed by the call that needs it:
//   datasets.get      the dataset's metadata (and its location)
//   jobs.create       a dry-run query (validated, never run)
//   tables.create     a scratch table, created and then dropped
//   tables.get        the scratch table's metadata
//   tables.updateData a load job of a one-row probe file from the staging
//                     bucket into the scratch table, which also proves the
//                     load's principal can read the bucket
//   tables.getData    tabledata.list of the scratch table (no job)
//   tables.list       the dataset's tables (unused by the product: said so)
//   tables.delete     dropping the scratch table (a warning when denied)
// BigQuery checks the caller's permission before the resource's existence
// ("Permission … denied on table … (or it may not exist)"), so get, getData
// and delete are judged even when the scratch table could not be created: a
// 404 means the call was allowed. The source is checked by running the
// export's own query over a period in 2000 (no rows) as the configured user,
// and, when that fails, by listing the columns of PostHog's tables so every
// missing one is named at once.
import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { gzipSync } from "node:zlib";
import { credentialsOf, type ExportDefinition } from "../core/definition.js";
import { ExportError, toExportError } from "../core/errors.js";
import type { TableRef } from "../core/identifiers.js";
import type { FieldSpec } from "../core/models.js";
import { checkTableSchema } from "../core/schema-check.js";
import { eventsQuery, personsQuery, type SourceQuery } from "../core/source-sql.js";
import { intervalMs } from "../core/periods.js";
import type { AppDeps } from "./deps.js";
import { loadExport } from "./export-store.js";
import type { JobInfo, Warehouse } from "./ports.js";
import {
  classifyLoadFailure,
  credentialsFailure,
  credentialsOk,
  firstLine,
  locationLine,
  passed,
  permissionLine,
  permissionNeeds,
  principalOf,
  type CheckLine,
  type ProbeOutcome,
  type SeedPermission,
} from "./preflight-rules.js";

export interface PreflightReport {
  export: string;
  model: ExportDefinition["model"];
  destination: string;
  /** True when nothing the export needs is missing (warnings and info lines may remain). */
  ok: boolean;
  checks: CheckLine[];
  /** Scratch resources the check could not remove (they expire on their own). */
  leftBehind: string[];
}

/** How long the probe load may take before the check gives up on it. */
const LOAD_WAIT_MS = 120_000;
const SCRATCH_TTL_MS = 60 * 60 * 1000;
const PROBE_FIELDS: FieldSpec[] = [
  { name: "probe", type: "STRING", mode: "NULLABLE", description: "Written by bqx check" },
];
/** A period no PostHog instance has rows in: the source query is checked, not run over data. */
const EMPTY_PERIOD_START = new Date("2000-01-03T00:00:00Z");
/** ClickHouse error codes of a refused login: UNKNOWN_USER, WRONG_PASSWORD, REQUIRED_PASSWORD, AUTHENTICATION_FAILED. */
const CLICKHOUSE_AUTH_CODES = new Set(["192", "193", "194", "516"]);

/**
 * The columns of PostHog's tables that the export queries read
 * (core/source-sql.ts; test/unit/preflight.test.ts holds the two together).
 */
export const SOURCE_COLUMNS: Record<ExportDefinition["model"], Record<string, readonly string[]>> = {
  events: {
    events: [
      "uuid",
      "event",
      "properties",
      "elements_chain",
      "distinct_id",
      "team_id",
      "timestamp",
      "inserted_at",
      "_timestamp",
      "_offset",
    ],
  },
  persons: {
    person: ["id", "team_id", "properties", "version", "is_deleted", "_timestamp", "_offset"],
    person_distinct_id2: [
      "team_id",
      "distinct_id",
      "person_id",
      "version",
      "is_deleted",
      "_timestamp",
      "_offset",
    ],
  },
};

export async function runPreflight(exportId: string, deps: AppDeps): Promise<PreflightReport> {
  const def = (await loadExport(exportId, deps.store)).definition;
  const d = def.destination;
  const lines: CheckLine[] = [];
  const leftBehind: string[] = [];
  lines.push(...(await checkDestination(def, deps, leftBehind)));
  lines.push(...(await checkSource(def, deps)));
  return {
    export: def.id,
    model: def.model,
    destination: `${d.projectId}.${d.datasetId}.${d.tableId}`,
    ok: passed(lines),
    checks: lines,
    leftBehind,
  };
}

/** What a call's failure means for the permission it probes. */
function outcomeOf(err: unknown, how: string): ProbeOutcome {
  const e = toExportError(err);
  if (e.code === "PERMISSION_DENIED") return { kind: "denied", how, message: firstLine(e.message) };
  return { kind: "error", how, error: e };
}

/** Runs `call`; a refused credential stops every later BigQuery probe. */
class CredentialsRefused extends Error {
  constructor(readonly error: ExportError) {
    super(error.message);
  }
}

async function probe<T>(how: string, call: () => Promise<T>): Promise<{ value?: T; outcome: ProbeOutcome }> {
  try {
    const value = await call();
    return { value, outcome: { kind: "allowed", how } };
  } catch (err) {
    const e = toExportError(err);
    if (e.code === "BAD_CREDENTIALS") throw new CredentialsRefused(e);
    return { outcome: outcomeOf(e, how) };
  }
}

async function checkDestination(
  def: ExportDefinition,
  deps: AppDeps,
  leftBehind: string[],
): Promise<CheckLine[]> {
  const d = def.destination;
  const credentials = credentialsOf(d);
  const needs = permissionNeeds(def);
  const where = { projectId: d.projectId, datasetId: d.datasetId, principal: principalOf(credentials) };
  const skipAll = (reason: string): CheckLine[] =>
    needs.map((n) => permissionLine(n, { kind: "not-tested", reason }, where));

  let warehouse: Warehouse;
  try {
    warehouse = await deps.warehouses.forDestination(d);
  } catch (err) {
    return [credentialsFailure(credentials, toExportError(err)), ...skipAll("the credentials failed")];
  }
  try {
    const probes = await probeDestination(def, warehouse, deps, leftBehind);
    const permissionLines = needs.map((n) => permissionLine(n, probes.outcomes[n.permission], where));
    return [credentialsOk(credentials), ...probes.before, ...permissionLines, ...probes.after];
  } catch (err) {
    if (!(err instanceof CredentialsRefused)) throw err;
    return [credentialsFailure(credentials, err.error), ...skipAll("BigQuery refused the credentials")];
  }
}

interface DestinationProbes {
  outcomes: Record<SeedPermission, ProbeOutcome>;
  /** Lines shown before the permissions (dataset, location). */
  before: CheckLine[];
  /** Lines shown after them (staging bucket, destination table). */
  after: CheckLine[];
}

async function probeDestination(
  def: ExportDefinition,
  warehouse: Warehouse,
  deps: AppDeps,
  leftBehind: string[],
): Promise<DestinationProbes> {
  const d = def.destination;
  const before: CheckLine[] = [];
  const after: CheckLine[] = [];
  const nonce = randomBytes(4).toString("hex");
  const scratch: TableRef = {
    projectId: d.projectId,
    datasetId: d.datasetId,
    tableId: `bqx_check_${def.id.replace(/-/g, "_")}_${nonce}`,
  };
  const scratchName = `${scratch.projectId}:${scratch.datasetId}.${scratch.tableId}`;
  const labels = { bqx_check: def.id };

  const dataset = await probe("read the dataset", () => warehouse.datasetLocation(d.projectId, d.datasetId));
  let datasetGet = dataset.outcome;
  let location = d.location;
  if (dataset.outcome.kind === "allowed") {
    if (dataset.value === undefined) {
      before.push({
        check: "dataset",
        status: "failed",
        message: `dataset ${d.projectId}:${d.datasetId} does not exist`,
        fix: `create it in ${d.location} and grant ${principalOf(credentialsOf(d))} the seed's role on it, or fix destination.datasetId`,
      });
      const reason = "the dataset does not exist";
      const none: ProbeOutcome = { kind: "not-tested", reason };
      return {
        before,
        after,
        outcomes: {
          "bigquery.datasets.get": { kind: "allowed", how: "read the dataset", detail: "it does not exist" },
          "bigquery.jobs.create": (await dryRun(warehouse, d.projectId, d.location)).outcome,
          "bigquery.tables.create": none,
          "bigquery.tables.get": none,
          "bigquery.tables.getData": none,
          "bigquery.tables.list": none,
          "bigquery.tables.updateData": none,
          "bigquery.tables.delete": none,
        },
      };
    }
    location = dataset.value;
    datasetGet = { kind: "allowed", how: "read the dataset", detail: `location ${location}` };
    before.push(locationLine(def, location));
  } else {
    before.push({
      check: "location",
      status: "skipped",
      message:
        dataset.outcome.kind === "denied"
          ? "not tested: needs bigquery.datasets.get"
          : "not tested: the dataset could not be read",
    });
  }

  const jobs = await dryRun(warehouse, d.projectId, location);
  const list = await probe("list the dataset's tables", () =>
    warehouse.listTables(d.projectId, d.datasetId, 1),
  );
  const create = await probe(`create scratch table ${scratch.tableId}`, () =>
    warehouse.createTable({
      tableReference: scratch,
      description: "Scratch table of a BigQuery batch exports preflight (bqx check); dropped by the check",
      schema: { fields: PROBE_FIELDS },
      expirationTime: String(deps.now().getTime() + SCRATCH_TTL_MS),
      labels,
    }),
  );
  const created = create.outcome.kind === "allowed";
  const get = await probe(created ? "read the scratch table" : "ask for a missing table: 404, not 403", () =>
    warehouse.getTable(scratch),
  );

  // The load: the product's own way of writing, from the staging bucket.
  let updateData: ProbeOutcome;
  let bucket: CheckLine;
  const probeObject = `staging/${def.id}/bqx-check-${nonce}/probe.ndjson.gz`;
  const bucketUri = deps.store.uri(probeObject).replace(/\/staging\/.*$/, "");
  if (!created || jobs.outcome.kind !== "allowed") {
    const reason = !created
      ? "needs the scratch table (bigquery.tables.create)"
      : "needs bigquery.jobs.create";
    updateData = { kind: "not-tested", reason };
    bucket = { check: "staging-bucket", status: "skipped", message: `not tested: ${reason}` };
  } else {
    const loaded = await loadProbe(def, warehouse, deps, scratch, probeObject, location, nonce, labels);
    updateData = loaded.updateData;
    bucket = loaded.bucketReadable
      ? {
          check: "staging-bucket",
          status: "ok",
          message: `${bucketUri} is readable by the load's principal (${principalOf(credentialsOf(d))})`,
        }
      : loaded.bucketError
        ? {
            check: "staging-bucket",
            status: "failed",
            message: `the load could not read ${deps.store.uri(probeObject)}: ${loaded.bucketError}`,
            fix: `grant ${principalOf(credentialsOf(d))} roles/storage.objectViewer on ${bucketUri}`,
          }
        : { check: "staging-bucket", status: "skipped", message: "not tested: the load was refused first" };
  }

  const rows = await probe(
    created ? "read the scratch table's rows" : "read a missing table's rows: 404, not 403",
    () => warehouse.readRows(scratch, 1),
  );
  const getData: ProbeOutcome =
    rows.outcome.kind === "allowed" && rows.value !== undefined
      ? { ...rows.outcome, detail: `${rows.value.length} row(s) read back` }
      : rows.outcome;
  const drop = await probe(created ? "drop the scratch table" : "drop a missing table: 404, not 403", () =>
    warehouse.deleteTable(scratch),
  );
  if (created && drop.outcome.kind !== "allowed") {
    leftBehind.push(
      `${scratchName} (expires ${new Date(deps.now().getTime() + SCRATCH_TTL_MS).toISOString()})`,
    );
  }
  after.push(bucket);
  after.push(await destinationTableLine(def, warehouse, get.outcome.kind === "allowed"));

  return {
    before,
    after,
    outcomes: {
      "bigquery.datasets.get": datasetGet,
      "bigquery.jobs.create": jobs.outcome,
      "bigquery.tables.create": create.outcome,
      "bigquery.tables.get": get.outcome,
      "bigquery.tables.getData": getData,
      "bigquery.tables.list": list.outcome,
      "bigquery.tables.updateData": updateData,
      "bigquery.tables.delete": drop.outcome,
    },
  };
}

function dryRun(warehouse: Warehouse, projectId: string, location: string) {
  return probe("dry-run query", () =>
    warehouse.dryRunQuery({ projectId, location, sql: "SELECT 1 AS probe" }),
  );
}

interface LoadProbe {
  updateData: ProbeOutcome;
  bucketReadable: boolean;
  /** BigQuery's message when it could not read the probe file. */
  bucketError?: string;
}

/** Stages a one-row file and loads it into the scratch table, as a run's load would. */
async function loadProbe(
  def: ExportDefinition,
  warehouse: Warehouse,
  deps: AppDeps,
  scratch: TableRef,
  probeObject: string,
  location: string,
  nonce: string,
  labels: Record<string, string>,
): Promise<LoadProbe> {
  const how = "load a probe file from the staging bucket into the scratch table";
  const line = JSON.stringify({ probe: `bqx check ${def.id} ${deps.now().toISOString()}` }) + "\n";
  try {
    await deps.store.upload(probeObject, Readable.from([gzipSync(line)]));
  } catch (err) {
    return {
      updateData: {
        kind: "not-tested",
        reason: `the probe file could not be staged: ${firstLine(toExportError(err).message)}`,
      },
      bucketReadable: false,
    };
  }
  try {
    const job = {
      projectId: scratch.projectId,
      jobId: `bqx_check_${def.id.replace(/-/g, "_")}_${nonce}_load`,
      location,
    };
    let info: JobInfo | undefined;
    try {
      info = await warehouse.startLoad({
        job,
        sourceUris: [deps.store.uri(probeObject)],
        destination: scratch,
        schema: { fields: PROBE_FIELDS },
        writeDisposition: "WRITE_APPEND",
        labels,
      });
      const deadline = Date.now() + LOAD_WAIT_MS;
      for (let wait = 100; info.state !== "DONE"; wait = Math.min(wait * 2, 2000)) {
        if (Date.now() > deadline) {
          return {
            updateData: {
              kind: "error",
              how,
              error: new ExportError(
                "UNAVAILABLE",
                `load job ${job.jobId} did not finish in ${LOAD_WAIT_MS / 1000} s`,
              ),
            },
            bucketReadable: false,
          };
        }
        await deps.sleep(wait);
        info = (await warehouse.getJob(job)) ?? info;
      }
    } catch (err) {
      const e = toExportError(err);
      if (e.code === "BAD_CREDENTIALS") throw new CredentialsRefused(e);
      return { updateData: outcomeOf(e, how), bucketReadable: false };
    }
    if (!info.error) return { updateData: { kind: "allowed", how }, bucketReadable: true };
    const message = firstLine(info.error.message);
    switch (classifyLoadFailure(message)) {
      case "updateData":
        return { updateData: { kind: "denied", how, message }, bucketReadable: false };
      case "bucket":
        // The table accepted the write; only the file could not be read.
        return {
          updateData: { kind: "not-tested", reason: "the load could not read the staging bucket" },
          bucketReadable: false,
          bucketError: message,
        };
      case "other":
        return {
          updateData: { kind: "error", how, error: new ExportError("LOAD_FAILED", message) },
          bucketReadable: false,
        };
    }
  } finally {
    await deps.store.deletePrefix(probeObject.replace(/probe\.ndjson\.gz$/, "")).catch(() => undefined);
  }
}

/** The destination table: created by the first run, or an existing one that must fit the model. */
async function destinationTableLine(
  def: ExportDefinition,
  warehouse: Warehouse,
  canGet: boolean,
): Promise<CheckLine> {
  const d = def.destination;
  const ref: TableRef = { projectId: d.projectId, datasetId: d.datasetId, tableId: d.tableId };
  const name = `${d.projectId}:${d.datasetId}.${d.tableId}`;
  if (!canGet)
    return { check: "table", status: "skipped", message: `${name}: not tested: needs bigquery.tables.get` };
  try {
    const table = await warehouse.getTable(ref);
    if (!table) {
      return {
        check: "table",
        status: "ok",
        message: `${name} does not exist yet: the first run creates it (${def.model} model)`,
      };
    }
    const check = checkTableSchema(def.model, def.useJsonType, name, table.schema.fields);
    const notes = check.notes.length > 0 ? `; ${check.notes.join("; ")}` : "";
    return {
      check: "table",
      status: "ok",
      message: `${name} exists and fits the ${def.model} model${notes}`,
    };
  } catch (err) {
    const e = toExportError(err);
    if (e.code === "BAD_CREDENTIALS") throw new CredentialsRefused(e);
    return {
      check: "table",
      status: "failed",
      message: firstLine(e.message),
      ...(e.code === "SCHEMA_MISMATCH"
        ? { fix: "fix the column, or point the export at a new table ID" }
        : {}),
    };
  }
}

/** ClickHouse: reachable with the configured user, and the export's own query runs. */
async function checkSource(def: ExportDefinition, deps: AppDeps): Promise<CheckLine[]> {
  const db = deps.settings.database;
  const tables = Object.keys(SOURCE_COLUMNS[def.model]);
  const tableNames = tables.map((t) => `${db}.${t}`).join(", ");
  const reachable: CheckLine = {
    check: "clickhouse",
    status: "ok",
    message: "ClickHouse answers as the configured user (BQX_CLICKHOUSE_USER)",
  };
  try {
    // The rows do not matter (the period is empty); that the query runs does.
    for await (const _row of deps.source.rows(emptyPeriodQuery(def, deps))) break;
    return [
      reachable,
      {
        check: "source",
        status: "ok",
        message: `the ${def.model} query runs on ${tableNames} (team ${def.teamId})`,
      },
    ];
  } catch (err) {
    const e = toExportError(err);
    const code = typeof e.details?.clickhouseCode === "string" ? e.details.clickhouseCode : undefined;
    if (code === undefined) {
      return [
        {
          check: "clickhouse",
          status: "failed",
          message: firstLine(e.message),
          fix: "check BQX_CLICKHOUSE_URL and that the function's network reaches it",
        },
        { check: "source", status: "skipped", message: "not tested: ClickHouse is not reachable" },
      ];
    }
    if (CLICKHOUSE_AUTH_CODES.has(code)) {
      return [
        {
          check: "clickhouse",
          status: "failed",
          message: firstLine(e.message),
          fix: "check BQX_CLICKHOUSE_USER and the password secret (BQX_CLICKHOUSE_PASSWORD)",
        },
        { check: "source", status: "skipped", message: "not tested: ClickHouse refused the user" },
      ];
    }
    return [reachable, await missingColumnsLine(def, deps, e)];
  }
}

/** Names every column the queries read that PostHog's tables lack; else the query's own error. */
async function missingColumnsLine(
  def: ExportDefinition,
  deps: AppDeps,
  queryError: ExportError,
): Promise<CheckLine> {
  const db = deps.settings.database;
  const wanted = SOURCE_COLUMNS[def.model];
  const present = new Map<string, Set<string>>();
  try {
    const query: SourceQuery = {
      sql: "SELECT table, name FROM system.columns WHERE database = {database:String} AND table IN {tables:Array(String)}",
      params: { database: db, tables: Object.keys(wanted) },
    };
    for await (const text of deps.source.rows(query)) {
      const row = JSON.parse(text) as { table: string; name: string };
      (present.get(row.table) ?? present.set(row.table, new Set()).get(row.table)!).add(row.name);
    }
  } catch {
    // Listing columns is only a better message; the query's error stands.
  }
  const problems: string[] = [];
  for (const [table, columns] of Object.entries(wanted)) {
    const have = present.get(table);
    if (!have) problems.push(`table ${db}.${table} is missing`);
    else {
      const lacking = columns.filter((c) => !have.has(c));
      if (lacking.length > 0) problems.push(`${db}.${table} lacks ${lacking.join(", ")}`);
    }
  }
  if (problems.length > 0 && present.size > 0) {
    return {
      check: "source",
      status: "failed",
      message: problems.join("; "),
      fix: `the export reads PostHog's schema: check BQX_CLICKHOUSE_DATABASE (${db}) and the tables' columns`,
    };
  }
  return {
    check: "source",
    status: "failed",
    message: `the ${def.model} query fails: ${firstLine(queryError.message)}`,
    fix: `grant the ClickHouse user SELECT on ${Object.keys(wanted)
      .map((t) => `${db}.${t}`)
      .join(", ")}, and check BQX_CLICKHOUSE_DATABASE`,
  };
}

function emptyPeriodQuery(def: ExportDefinition, deps: AppDeps): SourceQuery {
  const period = {
    start: EMPTY_PERIOD_START,
    end: new Date(EMPTY_PERIOD_START.getTime() + intervalMs(def.interval)),
  };
  const exportedAt = deps.now();
  return def.model === "events"
    ? eventsQuery({
        teamId: def.teamId,
        period,
        exportedAt,
        includeEvents: def.includeEvents,
        excludeEvents: def.excludeEvents,
        selection: "ingested",
        lookbackDays: deps.settings.lookbackDays,
        database: deps.settings.database,
        // The query the runs send, functions and all.
        lines: { useJsonType: def.useJsonType },
      })
    : personsQuery({ teamId: def.teamId, period, exportedAt, database: deps.settings.database });
}
