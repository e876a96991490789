// Bytes processed and billed, as on-demand pricing counts them, from a
// statement's scan plan and the data in its tables at the time it starts.
//
// - Data size per value, "Data type sizes"
//   (https://cloud.google.com/bigquery/docs/reference/standard-sql/data-types#data_type_sizes):
//   INT64, FLOAT64, DATE, DATETIME, TIME, TIMESTAMP 8 logical bytes; BOOL 1;
//   NUMERIC 16; BIGNUMERIC 32; STRING 2 + the UTF-8 encoded size; BYTES 2 +
//   its length; JSON the UTF-8 size of its canonical JSON text; NULL 0.
// - A query processes the referenced columns of the partitions it scans.
//   DML, "On-demand query size calculation"
//   (https://cloud.google.com/bigquery/docs/reference/standard-sql/dml-syntax#on-demand_query_size_calculation):
//   INSERT q; UPDATE and DELETE q + t; MERGE q, plus t when it has an UPDATE
//   or DELETE clause; where t (t' on a partitioned table) is every column of
//   the target (of the target partitions it processes) before the statement.
// - Billing, "On-demand compute pricing"
//   (https://cloud.google.com/bigquery/pricing#on_demand_pricing): "rounded
//   up to the nearest MB, with a minimum 10 MB data processed per table
//   referenced by the query, and with a minimum 10 MB data processed per
//   query" (MB here being MiB: maximumBytesBilled asks for 10485760 or more).
//   A statement that processes nothing is billed nothing.
import type { DuckDBConnection } from "@duckdb/node-api";
import {
  duckdbQuote,
  duckdbTableName,
  type BytesProcessed,
  type FieldSchema,
  type TableMeta,
} from "../contracts.js";
import { keepsPartition, partitionKeySql, partitioningOf } from "./partitions.js";
import type { ScanPlan, TableRead } from "./scan-plan.js";

const MIB = 1_048_576n;
const MIN_BILLED_PER_TABLE = 10n * MIB;

/** DuckDB expression summing the logical size of one column's non-NULL values. */
function sizeSql(f: FieldSchema): string {
  const c = duckdbQuote(f.name);
  switch (f.type) {
    case "INT64":
    case "FLOAT64":
    case "DATE":
    case "DATETIME":
    case "TIME":
    case "TIMESTAMP":
      return `8 * count(${c})`;
    case "BOOL":
      return `count(${c})`;
    case "NUMERIC":
      return `16 * count(${c})`;
    case "BIGNUMERIC":
      return `32 * count(${c})`;
    case "STRING":
      return `coalesce(sum(2 + strlen(${c})), 0)`;
    case "BYTES":
      return `coalesce(sum(2 + octet_length(${c})), 0)`;
    case "JSON":
      // Stored JSON is BigQuery's canonical text already (loads and literals canonicalize); json() minifies any other.
      return `coalesce(sum(strlen(CAST(json(${c}) AS VARCHAR))), 0)`;
  }
}

interface PartitionSizes {
  /** Partition start in microseconds, null for __NULL__; undefined for an unpartitioned table. */
  start: bigint | null | undefined;
  bytes: Map<string, bigint>;
}

/** Per partition (or for the whole table), the logical bytes of each named column. */
async function columnSizes(
  connection: DuckDBConnection,
  meta: TableMeta,
  columns: string[],
): Promise<PartitionSizes[]> {
  const fields = columns
    .map((name) => meta.fields.find((f) => f.name === name))
    .filter((f): f is FieldSchema => f !== undefined);
  const partitioning = partitioningOf(meta);
  const sums = fields.map((f, i) => `${sizeSql(f)} AS c${i}`);
  const key = partitioning ? partitionKeySql(partitioning) : "NULL";
  const sql = `SELECT ${key} AS p, count(*) AS n${sums.map((s) => `, ${s}`).join("")} FROM ${duckdbTableName(meta.ref)} GROUP BY 1`;
  const rows = (await connection.runAndReadAll(sql)).getRows();
  return rows
    .filter((r) => BigInt(String(r[1])) > 0n)
    .map((r) => ({
      start: partitioning ? (r[0] === null ? null : BigInt(String(r[0]))) : undefined,
      bytes: new Map(fields.map((f, i) => [f.name, BigInt(String(r[i + 2] ?? 0))])),
    }));
}

export interface MeasureContext {
  connection: DuckDBConnection;
  /** The table behind a scan-plan table name. */
  table(fullName: string): TableMeta | undefined;
}

/** Bytes one read processes, and the partitions it scans (by key). */
async function measureRead(
  ctx: MeasureContext,
  read: TableRead,
  allColumns: boolean,
): Promise<{ bytes: bigint; partitions: Set<string> }> {
  const meta = ctx.table(read.table);
  if (!meta) return { bytes: 0n, partitions: new Set() };
  const columns = allColumns ? meta.fields.map((f) => f.name) : read.columns;
  const partitioning = partitioningOf(meta);
  let bytes = 0n;
  const partitions = new Set<string>();
  for (const p of await columnSizes(ctx.connection, meta, columns)) {
    if (partitioning && p.start !== undefined && !keepsPartition(read.keep, partitioning, p.start)) continue;
    if (partitioning) partitions.add(`${read.table}|${p.start === null ? "__NULL__" : String(p.start)}`);
    for (const b of p.bytes.values()) bytes += b;
  }
  return { bytes, partitions };
}

export async function measureBytes(ctx: MeasureContext, plan: ScanPlan): Promise<BytesProcessed> {
  const perTable = new Map<string, bigint>();
  const partitions = new Set<string>();
  const add = (table: string, bytes: bigint, scanned: Set<string>) => {
    perTable.set(table, (perTable.get(table) ?? 0n) + bytes);
    for (const p of scanned) partitions.add(p);
  };
  for (const read of plan.reads) {
    const m = await measureRead(ctx, read, false);
    add(read.table, m.bytes, m.partitions);
  }
  // t / t': the target's partitions in full, for statements that rewrite rows.
  if (plan.dml?.rewritesRows && plan.dml.scan) {
    const m = await measureRead(ctx, plan.dml.scan, true);
    add(plan.dml.table, m.bytes, m.partitions);
  }
  let processed = 0n;
  let billed = 0n;
  for (const bytes of perTable.values()) {
    processed += bytes;
    billed += bytes > MIN_BILLED_PER_TABLE ? bytes : MIN_BILLED_PER_TABLE;
  }
  if (processed === 0n) billed = 0n;
  else billed = ((billed + MIB - 1n) / MIB) * MIB;
  return {
    totalBytesProcessed: processed,
    totalBytesBilled: billed,
    totalPartitionsProcessed: BigInt(partitions.size),
  };
}
