// The seam inside the local BigQuery: the REST server (datasets, tables, jobs,
// permissions, audit events) owns metadata and the DuckDB database; the query
// engine (test/local/bigquery/sql) analyses GoogleSQL with ZetaSQL, translates
// it to DuckDB and runs it. Both sides agree on what is written here.
import type { DuckDBConnection } from "@duckdb/node-api";
import "./duckdb-utf8.js";
import type { SqlType } from "../zetasql/analyzer.js";

export interface TableRef {
  projectId: string;
  datasetId: string;
  tableId: string;
}

/** A column as in BigQuery's TableFieldSchema (REST v2), scalar types only. */
export interface FieldSchema {
  name: string;
  type: SqlType;
  mode?: "NULLABLE" | "REQUIRED" | "REPEATED";
  description?: string;
}

/** What the REST side knows about a table. */
export interface TableMeta {
  ref: TableRef;
  fields: FieldSchema[];
  timePartitioning?: { type: string; field?: string; expirationMs?: string };
  clustering?: { fields: string[] };
  /** Milliseconds since the epoch, as a decimal string (REST form). */
  expirationTime?: string;
  labels?: Record<string, string>;
  description?: string;
  creationTime: string;
  lastModifiedTime: string;
}

// DuckDB layout: one DuckDB schema per BigQuery dataset, named "<project>.<dataset>",
// holding one DuckDB table per BigQuery table, under the same table ID.
export function duckdbSchemaName(projectId: string, datasetId: string): string {
  return `${projectId}.${datasetId}`;
}
/** Double-quoted DuckDB identifier (embedded quotes doubled). */
export function duckdbQuote(identifier: string): string {
  return `"${identifier.replace(/"/g, '""')}"`;
}
export function duckdbTableName(ref: TableRef): string {
  return `${duckdbQuote(duckdbSchemaName(ref.projectId, ref.datasetId))}.${duckdbQuote(ref.tableId)}`;
}

/** BigQuery type → DuckDB column type. */
export const DUCKDB_TYPES: Record<SqlType, string> = {
  STRING: "VARCHAR",
  INT64: "BIGINT",
  FLOAT64: "DOUBLE",
  BOOL: "BOOLEAN",
  BYTES: "BLOB",
  DATE: "DATE",
  DATETIME: "TIMESTAMP",
  TIME: "TIME",
  TIMESTAMP: "TIMESTAMPTZ",
  NUMERIC: "DECIMAL(38, 9)",
  BIGNUMERIC: "DECIMAL(38, 18)",
  JSON: "JSON",
};

/**
 * Cell values crossing the seam, in one normal form per type:
 * STRING/JSON/NUMERIC/BIGNUMERIC → string (JSON as its canonical text);
 * INT64 → decimal string; FLOAT64 → number; BOOL → boolean;
 * TIMESTAMP → microseconds since the epoch as a decimal string;
 * DATE → "YYYY-MM-DD"; DATETIME → "YYYY-MM-DDTHH:MM:SS[.ffffff]";
 * TIME → "HH:MM:SS[.ffffff]"; BYTES → base64 string; NULL → null.
 */
export type Cell = string | number | boolean | null;

/** A query parameter as jobs.insert / jobs.query receive it (REST v2 QueryParameter). */
export interface QueryParameter {
  name?: string;
  parameterType: { type: string };
  parameterValue: { value?: string | null };
}

/** Metadata operations the engine needs for DDL; implemented by the REST side. */
export interface EmulatorCatalog {
  getTable(ref: TableRef): TableMeta | undefined;
  listTables(projectId: string, datasetId: string): TableMeta[];
  datasetExists(projectId: string, datasetId: string): boolean;
  /** Creates metadata and the DuckDB table. */
  createTable(meta: Omit<TableMeta, "creationTime" | "lastModifiedTime">): Promise<void>;
  /** Drops metadata and the DuckDB table. */
  dropTable(ref: TableRef): Promise<void>;
  /** Records a data change (lastModifiedTime). */
  touchTable(ref: TableRef): void;
}

export type StatementType =
  | "SELECT"
  | "INSERT"
  | "UPDATE"
  | "DELETE"
  | "MERGE"
  | "CREATE_TABLE"
  | "CREATE_TABLE_AS_SELECT"
  | "DROP_TABLE";

/**
 * Bytes a statement processes and is billed for, as on-demand pricing counts
 * them (JobStatistics2 totalBytesProcessed, totalBytesBilled,
 * totalPartitionsProcessed).
 */
export interface BytesProcessed {
  totalBytesProcessed: bigint;
  totalBytesBilled: bigint;
  totalPartitionsProcessed: bigint;
}

/** DmlStatistics (REST v2): rows a DML statement inserted, updated and deleted. */
export interface DmlStats {
  insertedRowCount: number;
  updatedRowCount: number;
  deletedRowCount: number;
}

/** A statement that passed ZetaSQL analysis and translation, ready to run. */
export interface PreparedStatement {
  statementType: StatementType;
  /** Tables read, written (DML), created and dropped: the REST side checks permissions on these before run(). */
  reads: TableRef[];
  writes: TableRef[];
  creates: TableRef[];
  drops: TableRef[];
  /** The DuckDB SQL that run() executes (for debugging and tests). */
  duckdbSql: string;
  /**
   * Bytes the statement processes, measured on the tables as they are now:
   * call it before run() (a DML statement is billed on the data it starts
   * from), or alone for a dry run.
   */
  measure(): Promise<BytesProcessed>;
  run(options?: RunOptions): Promise<StatementResult>;
}

export interface RunOptions {
  /**
   * For UPDATE, DELETE and MERGE: called with the outcome before it is
   * committed; throwing rolls the statement back (a concurrent-update
   * conflict) and run() rejects with that error.
   */
  beforeCommit?: (result: StatementResult) => void;
}

export type StatementResult =
  | { statementType: "SELECT"; schema: FieldSchema[]; rows: Cell[][] }
  | {
      statementType: "INSERT" | "UPDATE" | "DELETE" | "MERGE";
      numDmlAffectedRows: number;
      target: TableRef;
      dmlStats: DmlStats;
      /**
       * Partitions of the target in which the statement updated or deleted
       * rows (the partition start in microseconds, "__NULL__", or "" for the
       * whole of an unpartitioned table): what concurrent mutating DML
       * conflicts on. Inserting rows rewrites none.
       */
      rewrittenPartitions: string[];
    }
  | { statementType: "CREATE_TABLE" | "CREATE_TABLE_AS_SELECT" | "DROP_TABLE"; target: TableRef };

export interface PrepareOptions {
  /** Project that runs the job: unqualified dataset names resolve here. */
  projectId: string;
  /** jobs.insert defaultDataset, if given. */
  defaultDataset?: { projectId: string; datasetId: string };
  params?: QueryParameter[];
}

/**
 * A BigQuery-compatible error from analysis or translation: `reason` is one of
 * BigQuery's error reasons (invalidQuery, notFound, duplicate, invalid, ...).
 */
export class BigQueryEngineError extends Error {
  constructor(
    readonly reason: string,
    message: string,
    readonly httpStatus = 400,
  ) {
    super(message);
    this.name = "BigQueryEngineError";
  }
}

export interface QueryEngine {
  /** Analyses (ZetaSQL) and translates; throws BigQueryEngineError("invalidQuery", analyzer message) on rejection. */
  prepare(sql: string, options: PrepareOptions): Promise<PreparedStatement>;
  close(): Promise<void>;
}

export interface QueryEngineDeps {
  connection: DuckDBConnection;
  catalog: EmulatorCatalog;
}
