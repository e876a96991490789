// A load job from gs:// NDJSON into a table, with BigQuery's semantics:
// create/write dispositions, schema update options, per-row type checks with
// bad rows reported in errors[], maxBadRecords, and atomic commit (a failed
// load leaves the table as it was).
import { randomUUID } from "node:crypto";
import type { DuckDBAppender, DuckDBConnection } from "@duckdb/node-api";
import type { Catalog } from "../catalog.js";
import {
  duckdbQuote,
  duckdbTableName,
  type Cell,
  type FieldSchema,
  type TableMeta,
  type TableRef,
} from "../contracts.js";
import { ApiError, notFound, type ErrorProto } from "../errors.js";
import { parseFields, schemaChange, tableName } from "../schema.js";
import { canonicalJson } from "../sql/json-text.js";
import { partitionKeySql, partitioningOf } from "../sql/partitions.js";
import { objectMembers } from "./json-members.js";
import { ndjsonLines, sniffGzip } from "./ndjson.js";
import { resolveSourceUris, type ObjectSource } from "./object-source.js";
import { convertValue } from "./values.js";

/** The REST JobConfigurationLoad fields this emulator reads. */
export interface LoadConfiguration {
  sourceUris?: string[];
  sourceFormat?: string;
  schema?: { fields?: unknown };
  destinationTable?: Partial<TableRef>;
  createDisposition?: string;
  writeDisposition?: string;
  schemaUpdateOptions?: string[];
  ignoreUnknownValues?: boolean;
  maxBadRecords?: number;
  timePartitioning?: TableMeta["timePartitioning"];
  clustering?: TableMeta["clustering"];
  destinationTableProperties?: { description?: string; labels?: Record<string, string> };
}

export interface LoadStatistics {
  inputFiles: string;
  inputFileBytes: string;
  outputRows: string;
  outputBytes: string;
  badRecords: string;
}

export interface LoadResult {
  statistics: LoadStatistics;
  /** Row errors that did not fail the job (bad rows within maxBadRecords). */
  errors: ErrorProto[];
  /** Partitions the load wrote to (1 for an unpartitioned table): its share of the partition-modification quota. */
  partitionsWritten: number;
}

/** A failed load: errorResult plus the errors[] BigQuery lists. */
export class LoadFailure extends Error {
  constructor(
    readonly errorResult: ErrorProto,
    readonly errors: ErrorProto[],
    readonly statistics: Partial<LoadStatistics>,
  ) {
    super(errorResult.message);
    this.name = "LoadFailure";
  }
}

const MAX_LISTED_ERRORS = 100;

// Load job limits, "Quotas and limits" (https://cloud.google.com/bigquery/quotas#load_jobs).
/** "Maximum number of source URIs in job configuration: 10,000 URIs". */
export const MAX_SOURCE_URIS = 10_000;
/** "Maximum number of files per load job: 10,000,000 files, including all files matching all wildcard URIs". */
export const MAX_FILES_PER_LOAD = 10_000_000;
/** "Maximum size per load job: 15 TB" across all input files. */
export const MAX_BYTES_PER_LOAD = 15n * 10n ** 12n;
/** "ndJSON: Maximum file size - compressed: 4 GB". */
export const MAX_COMPRESSED_NDJSON_FILE = 4n * 10n ** 9n;
const STAGING_SCHEMA = "_bqx_load_staging";
/**
 * The staging schema, created once per catalog: concurrent loads each running
 * CREATE SCHEMA IF NOT EXISTS collide in DuckDB's catalog ("Catalog
 * write-write conflict on create"), which BigQuery never does.
 */
const stagingSchemas = new WeakMap<Catalog, Promise<void>>();
function ensureStagingSchema(catalog: Catalog, conn: DuckDBConnection): Promise<void> {
  let ready = stagingSchemas.get(catalog);
  if (!ready) {
    ready = conn.run(`CREATE SCHEMA IF NOT EXISTS ${duckdbQuote(STAGING_SCHEMA)}`).then(() => undefined);
    stagingSchemas.set(catalog, ready);
    ready.catch(() => stagingSchemas.delete(catalog));
  }
  return ready;
}

export function destinationOf(config: LoadConfiguration): TableRef {
  const d = config.destinationTable;
  if (!d?.projectId || !d.datasetId || !d.tableId)
    throw new ApiError("invalid", "Required parameter is missing: destinationTable");
  return { projectId: d.projectId, datasetId: d.datasetId, tableId: d.tableId };
}

/** Validates the configuration before the job is accepted (jobs.insert answers 400 for these). */
export function validateLoadConfiguration(config: LoadConfiguration): void {
  destinationOf(config);
  if (!config.sourceUris || config.sourceUris.length === 0)
    throw new ApiError("invalid", "Required parameter is missing: sourceUris");
  // jobs.insert answers 400 "Too many sources provided: 44603. Limit is 10000." (as reported by
  // users of the real API, e.g. MobilityData/mobility-feed-api#1609).
  if (config.sourceUris.length > MAX_SOURCE_URIS) {
    throw new ApiError(
      "invalid",
      `Too many sources provided: ${config.sourceUris.length}. Limit is ${MAX_SOURCE_URIS}.`,
    );
  }
  const format = config.sourceFormat ?? "CSV";
  if (format !== "NEWLINE_DELIMITED_JSON") {
    throw new ApiError(
      "invalid",
      `sourceFormat ${format} is not supported by the local BigQuery (only NEWLINE_DELIMITED_JSON).`,
    );
  }
  const cd = config.createDisposition ?? "CREATE_IF_NEEDED";
  if (cd !== "CREATE_IF_NEEDED" && cd !== "CREATE_NEVER")
    throw new ApiError("invalid", `Invalid value for createDisposition: ${cd}`);
  const wd = config.writeDisposition ?? "WRITE_APPEND";
  if (wd !== "WRITE_APPEND" && wd !== "WRITE_TRUNCATE" && wd !== "WRITE_EMPTY") {
    throw new ApiError("invalid", `Invalid value for writeDisposition: ${wd}`);
  }
  for (const o of config.schemaUpdateOptions ?? []) {
    if (o !== "ALLOW_FIELD_ADDITION" && o !== "ALLOW_FIELD_RELAXATION")
      throw new ApiError("invalid", `Invalid schema update option: ${o}`);
  }
  if ((config.schemaUpdateOptions?.length ?? 0) > 0 && wd === "WRITE_EMPTY") {
    throw new ApiError(
      "invalid",
      "Schema update options should only be specified with WRITE_APPEND disposition, or with WRITE_TRUNCATE disposition on a table partition.",
    );
  }
  if (
    config.maxBadRecords !== undefined &&
    (!Number.isInteger(config.maxBadRecords) || config.maxBadRecords < 0)
  ) {
    throw new ApiError("invalid", "Invalid value for maxBadRecords");
  }
  if (config.schema !== undefined) parseFields(config.schema.fields);
}

/** Whether the job will create its destination (a tables.create permission check). */
export function willCreateTable(catalog: Catalog, config: LoadConfiguration): boolean {
  return (
    catalog.getTable(destinationOf(config)) === undefined &&
    (config.createDisposition ?? "CREATE_IF_NEEDED") === "CREATE_IF_NEEDED"
  );
}

// DuckDB staging column type per BigQuery type: values arrive in Cell form and are cast on insert.
function stagingType(f: FieldSchema): string {
  if (f.type === "FLOAT64") return "DOUBLE";
  if (f.type === "BOOL") return "BOOLEAN";
  return "VARCHAR";
}
function castFromStaging(f: FieldSchema): string {
  const c = duckdbQuote(f.name);
  switch (f.type) {
    case "INT64":
      return `CAST(${c} AS BIGINT)`;
    case "TIMESTAMP":
      return `CAST(make_timestamp(CAST(${c} AS BIGINT)) AS TIMESTAMPTZ)`;
    case "JSON":
      return `CAST(${c} AS JSON)`;
    case "BYTES":
      return `from_base64(${c})`;
    case "DATE":
      return `CAST(${c} AS DATE)`;
    case "DATETIME":
      return `CAST(${c} AS TIMESTAMP)`;
    case "TIME":
      return `CAST(${c} AS TIME)`;
    case "NUMERIC":
      return `CAST(${c} AS DECIMAL(38, 9))`;
    case "BIGNUMERIC":
      return `CAST(${c} AS DECIMAL(38, 18))`;
    case "STRING":
    case "FLOAT64":
    case "BOOL":
      return c;
  }
}

function appendCell(appender: DuckDBAppender, f: FieldSchema, v: Cell): void {
  if (v === null) appender.appendNull();
  else if (f.type === "FLOAT64") appender.appendDouble(Number(v));
  else if (f.type === "BOOL") appender.appendBoolean(v === true);
  else appender.appendVarchar(String(v));
}

export interface LoadDeps {
  catalog: Catalog;
  source: ObjectSource;
}

export async function runLoad(deps: LoadDeps, config: LoadConfiguration): Promise<LoadResult> {
  const { catalog, source } = deps;
  const ref = destinationOf(config);
  if (!catalog.datasetExists(ref.projectId, ref.datasetId))
    throw notFound(`Dataset ${ref.projectId}:${ref.datasetId}`);
  const existing = catalog.getTable(ref);
  const jobFields = config.schema?.fields !== undefined ? parseFields(config.schema.fields) : undefined;
  const writeDisposition = config.writeDisposition ?? "WRITE_APPEND";
  if (!existing) {
    if ((config.createDisposition ?? "CREATE_IF_NEEDED") === "CREATE_NEVER")
      throw notFound(`Table ${tableName(ref)}`);
    if (!jobFields) throw new ApiError("invalid", "No schema specified on job or table.");
  }
  // The schema rows are checked against, and the columns a schema update adds.
  let fields: FieldSchema[];
  let added: FieldSchema[] = [];
  if (existing && jobFields && writeDisposition !== "WRITE_TRUNCATE") {
    const opts = config.schemaUpdateOptions ?? [];
    added = schemaChange(ref, existing.fields, jobFields, {
      allowAdd: opts.includes("ALLOW_FIELD_ADDITION"),
      allowRelax: opts.includes("ALLOW_FIELD_RELAXATION"),
    });
    // Existing columns keep their order; a relaxation (checked above) takes the job's mode.
    const jobModes = new Map(jobFields.map((f) => [f.name.toLowerCase(), f.mode ?? "NULLABLE"]));
    fields = [
      ...existing.fields.map((f) => ({
        ...f,
        mode: jobModes.get(f.name.toLowerCase()) ?? f.mode ?? "NULLABLE",
      })),
      ...added,
    ];
  } else {
    fields = jobFields ?? existing?.fields ?? [];
  }
  const replaceSchema =
    existing !== undefined && jobFields !== undefined && writeDisposition === "WRITE_TRUNCATE";

  const objects = await resolveSourceUris(source, config.sourceUris ?? []);
  checkInputLimits(objects);
  const conn = await catalog.newConnection();
  const staging = `load_${randomUUID().replace(/-/g, "")}`;
  const stagingName = `${duckdbQuote(STAGING_SCHEMA)}.${duckdbQuote(staging)}`;
  try {
    await ensureStagingSchema(catalog, conn);
    await conn.run(
      `CREATE TABLE ${stagingName} (${fields.map((f) => `${duckdbQuote(f.name)} ${stagingType(f)}`).join(", ")})`,
    );
    const read = await readRows(conn, staging, objects, fields, config, source);
    const stats: LoadStatistics = {
      inputFiles: String(objects.length),
      inputFileBytes: String(objects.reduce((n, o) => n + o.size, 0)),
      outputRows: String(read.goodRows),
      outputBytes: String(read.goodBytes),
      badRecords: String(read.badRows),
    };
    const maxBad = config.maxBadRecords ?? 0;
    if (read.badRows > maxBad) {
      const errorResult: ErrorProto = {
        reason: "invalid",
        message: `Error while reading data, error message: JSON table encountered too many errors, giving up. Rows: ${read.rows}; errors: ${read.badRows}. Please look into the errors[] collection for more details.`,
      };
      const summary: ErrorProto = {
        reason: "invalid",
        message: `Error while reading data, error message: JSON processing encountered too many errors, giving up. Rows: ${read.rows}; errors: ${read.badRows}; max bad: ${maxBad}; error percent: 0`,
      };
      throw new LoadFailure(errorResult, [errorResult, summary, ...read.rowErrors], {
        ...stats,
        outputRows: "0",
        outputBytes: "0",
      });
    }
    // The whole commit holds the write lock (re-entrant), so a concurrent load
    // cannot create the same table between our check and our create.
    const partitionsWritten = await catalog.writeLock.run(() =>
      commit(catalog, conn, ref, stagingName, fields, {
        existing,
        added,
        replaceSchema,
        writeDisposition,
        config,
      }),
    );
    return { statistics: stats, errors: read.rowErrors, partitionsWritten };
  } finally {
    await conn.run(`DROP TABLE IF EXISTS ${stagingName}`).catch(() => undefined);
    conn.closeSync();
  }
}

/**
 * The limits on a load's input that are known before reading it. BigQuery's
 * wording for these is not documented; the messages name the limit.
 */
function checkInputLimits(objects: Awaited<ReturnType<typeof resolveSourceUris>>): void {
  if (objects.length > MAX_FILES_PER_LOAD) {
    throw new ApiError(
      "invalid",
      `Too many files: the load job matches ${objects.length} files. Limit is ${MAX_FILES_PER_LOAD}.`,
    );
  }
  const total = objects.reduce((n, o) => n + BigInt(o.size), 0n);
  if (total > MAX_BYTES_PER_LOAD) {
    throw new ApiError(
      "invalid",
      `Total size of the load job's input files (${total} bytes) exceeds the maximum of 15 TB per load job.`,
    );
  }
}

interface ReadOutcome {
  rows: number;
  goodRows: number;
  goodBytes: number;
  badRows: number;
  /** The first MAX_LISTED_ERRORS row errors. */
  rowErrors: ErrorProto[];
}

async function readRows(
  conn: DuckDBConnection,
  staging: string,
  objects: Awaited<ReturnType<typeof resolveSourceUris>>,
  fields: FieldSchema[],
  config: LoadConfiguration,
  source: ObjectSource,
): Promise<ReadOutcome> {
  const byName = new Map(fields.map((f) => [f.name.toLowerCase(), f] as const));
  const index = new Map(fields.map((f, i) => [f.name.toLowerCase(), i] as const));
  const appender = await conn.createAppender(staging, STAGING_SCHEMA);
  const out: ReadOutcome = { rows: 0, goodRows: 0, goodBytes: 0, badRows: 0, rowErrors: [] };
  const maxBad = config.maxBadRecords ?? 0;
  let compressed: boolean | undefined;
  try {
    for (const obj of objects) {
      const uri = `gs://${obj.bucket}/${obj.name}`;
      const sniffed = await sniffGzip(await source.open(obj));
      if (compressed !== undefined && compressed !== sniffed.gzip) {
        sniffed.stream.destroy();
        throw new LoadFailure(
          {
            reason: "invalid",
            message:
              "Error while reading data, error message: cannot mix compressed and uncompressed files in one load job.",
            location: uri,
          },
          [],
          {},
        );
      }
      compressed = sniffed.gzip;
      if (sniffed.gzip && BigInt(obj.size) > MAX_COMPRESSED_NDJSON_FILE) {
        sniffed.stream.destroy();
        throw new LoadFailure(
          {
            reason: "invalid",
            message: `Error while reading data, error message: the compressed file ${uri} is ${obj.size} bytes; compressed newline-delimited JSON files can be at most 4 GB.`,
            location: uri,
          },
          [],
          {},
        );
      }
      for await (const line of ndjsonLines(sniffed.stream, sniffed.gzip)) {
        if (line.text.trim() === "") continue;
        out.rows++;
        const problem = convertLine(line.text, fields, byName, index, config.ignoreUnknownValues === true);
        if (typeof problem === "string") {
          out.badRows++;
          if (out.rowErrors.length < MAX_LISTED_ERRORS) {
            out.rowErrors.push({
              reason: "invalid",
              location: uri,
              message: `Error while reading data, error message: JSON parsing error in row starting at position ${line.position}: ${problem}`,
            });
          }
          // Past maxBadRecords the job has failed: stop reading, as BigQuery gives up.
          if (out.badRows > maxBad) return out;
          continue;
        }
        for (let i = 0; i < fields.length; i++)
          appendCell(appender, fields[i] as FieldSchema, problem[i] ?? null);
        appender.endRow();
        out.goodRows++;
        out.goodBytes += line.bytes;
      }
    }
    appender.flushSync();
  } finally {
    appender.closeSync();
  }
  return out;
}

/** The row's cells in field order, or the message of the first problem. */
function convertLine(
  text: string,
  fields: FieldSchema[],
  byName: Map<string, FieldSchema>,
  index: Map<string, number>,
  ignoreUnknown: boolean,
): Cell[] | string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    return `Parser terminated before end of string. ${err instanceof Error ? err.message : ""}`.trim();
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    return "Only JSON objects are supported at the top level of a row.";
  }
  const cells: Cell[] = fields.map(() => null);
  // JSON.parse keeps the last of duplicate keys; BigQuery keeps the first, in
  // the row as inside JSON values ("If a JSON object has duplicate keys, only
  // the first key is preserved", https://cloud.google.com/bigquery/docs/reference/standard-sql/data-types#json_type).
  // Column names are case-insensitive, so "a" and "A" are the same key.
  const seen = new Set<string>();
  for (const member of objectMembers(text)) {
    const key = member.key;
    const column = key.toLowerCase();
    if (seen.has(column)) continue;
    seen.add(column);
    const field = byName.get(column);
    if (!field) {
      if (ignoreUnknown) continue;
      return `No such field: ${key}.`;
    }
    if (field.type === "JSON") {
      // A JSON column stores its value's own text, canonical (first duplicate key kept).
      if (member.raw !== "null") cells[index.get(column) ?? 0] = canonicalJson(member.raw);
      continue;
    }
    const value: unknown = JSON.parse(member.raw);
    if (value === null) continue;
    if (Array.isArray(value)) return `Array specified for non-repeated field: ${field.name}.`;
    if (typeof value === "object") {
      return `Cannot convert value to ${field.type === "STRING" ? "string" : field.type.toLowerCase()}. Field: ${field.name}; Value: ${JSON.stringify(value)}`;
    }
    const converted = convertValue(field, value);
    if (!converted.ok) return converted.message;
    cells[index.get(column) ?? 0] = converted.value;
  }
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i] as FieldSchema;
    if (f.mode === "REQUIRED" && cells[i] === null) return `Missing required field: ${f.name}.`;
  }
  return cells;
}

async function commit(
  catalog: Catalog,
  conn: DuckDBConnection,
  ref: TableRef,
  stagingName: string,
  fields: FieldSchema[],
  plan: {
    existing: TableMeta | undefined;
    added: FieldSchema[];
    replaceSchema: boolean;
    writeDisposition: string;
    config: LoadConfiguration;
  },
): Promise<number> {
  const { existing, config } = plan;
  // Another job may have created the table while this one read its files.
  const createdMeanwhile = !existing ? catalog.getTable(ref) : undefined;
  if (createdMeanwhile) {
    const change = schemaChange(ref, createdMeanwhile.fields, fields, { allowAdd: false, allowRelax: false });
    if (change.length > 0)
      throw new ApiError("invalid", `Provided Schema does not match Table ${tableName(ref)}.`);
  } else if (!existing) {
    await catalog.createTable({
      ref,
      fields,
      ...(config.timePartitioning ? { timePartitioning: config.timePartitioning } : {}),
      ...(config.clustering ? { clustering: config.clustering } : {}),
      ...(config.destinationTableProperties?.description
        ? { description: config.destinationTableProperties.description }
        : {}),
      ...(config.destinationTableProperties?.labels
        ? { labels: config.destinationTableProperties.labels }
        : {}),
    });
  } else if (plan.replaceSchema) {
    // WRITE_TRUNCATE with a schema replaces the table's schema along with its data.
    await catalog.dropTable(ref);
    await catalog.createTable({ ...existing, fields });
  } else if (plan.added.length > 0 || fields.some((f, i) => f.mode !== existing.fields[i]?.mode)) {
    await catalog.updateTable({ ...existing, fields }, plan.added);
  }
  const target = duckdbTableName(ref);
  const cols = fields.map((f) => duckdbQuote(f.name)).join(", ");
  const select = fields.map(castFromStaging).join(", ");
  const meta = catalog.getTable(ref);
  const partitioning = meta ? partitioningOf(meta) : undefined;
  let partitionsWritten = 1;
  if (partitioning) {
    // NULL keys (the __NULL__ partition) are one partition too: -1 never starts a time unit.
    const named = fields.map((f) => `${castFromStaging(f)} AS ${duckdbQuote(f.name)}`).join(", ");
    const reader = await conn.runAndReadAll(
      `SELECT count(DISTINCT coalesce(${partitionKeySql(partitioning)}, -1)) FROM (SELECT ${named} FROM ${stagingName})`,
    );
    partitionsWritten = Number(reader.getRows()[0]?.[0] ?? 0);
  }
  await catalog.writeLock.run(async () => {
    await conn.run("BEGIN TRANSACTION");
    try {
      if (plan.writeDisposition === "WRITE_EMPTY") {
        const reader = await conn.runAndReadAll(`SELECT count(*) FROM ${target}`);
        if (Number(reader.getRows()[0]?.[0] ?? 0) > 0)
          throw new ApiError("duplicate", `Already Exists: Table ${tableName(ref)}`);
      }
      if (plan.writeDisposition === "WRITE_TRUNCATE") await conn.run(`DELETE FROM ${target}`);
      await conn.run(`INSERT INTO ${target} (${cols}) SELECT ${select} FROM ${stagingName}`);
      await conn.run("COMMIT");
    } catch (err) {
      await conn.run("ROLLBACK").catch(() => undefined);
      throw err;
    }
  });
  catalog.touchTable(ref);
  return partitionsWritten;
}
