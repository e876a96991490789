// Time-unit column partitioning as BigQuery lays it out: which partition a
// row belongs to, and which partitions a set of allowed column values keeps.
//
// A partition is identified by the start of its time unit, in microseconds
// since the epoch (DATE and DATETIME values are read as UTC); rows whose
// partitioning column is NULL go to the __NULL__ partition
// (https://cloud.google.com/bigquery/docs/partitioned-tables#date_timestamp_partitioned_tables).
import { duckdbQuote, type FieldSchema, type TableMeta } from "../contracts.js";

/** Inclusive bounds in microseconds; null is unbounded. */
export interface Interval {
  lo: bigint | null;
  hi: bigint | null;
}

/**
 * The values a filter lets through on one column: a union of intervals, and
 * whether NULL passes. Comparisons never pass NULL.
 */
export interface ValueSet {
  intervals: Interval[];
  includesNull: boolean;
}

export const ALL_VALUES: ValueSet = { intervals: [{ lo: null, hi: null }], includesNull: true };
export const NO_VALUES: ValueSet = { intervals: [], includesNull: false };

const maxLo = (a: bigint | null, b: bigint | null): bigint | null =>
  a === null ? b : b === null ? a : a > b ? a : b;
const minHi = (a: bigint | null, b: bigint | null): bigint | null =>
  a === null ? b : b === null ? a : a < b ? a : b;

export function intersect(a: ValueSet, b: ValueSet): ValueSet {
  const intervals: Interval[] = [];
  for (const x of a.intervals) {
    for (const y of b.intervals) {
      const lo = maxLo(x.lo, y.lo);
      const hi = minHi(x.hi, y.hi);
      if (lo === null || hi === null || lo <= hi) intervals.push({ lo, hi });
    }
  }
  return { intervals, includesNull: a.includesNull && b.includesNull };
}

export function union(a: ValueSet, b: ValueSet): ValueSet {
  return { intervals: [...a.intervals, ...b.intervals], includesNull: a.includesNull || b.includesNull };
}

/** Whether any value in [lo, hi] passes. */
function overlaps(set: ValueSet, lo: bigint, hi: bigint): boolean {
  return set.intervals.some((i) => (i.lo === null || i.lo <= hi) && (i.hi === null || i.hi >= lo));
}

const MICROS_PER_HOUR = 3_600_000_000n;
const MICROS_PER_DAY = 86_400_000_000n;

export interface Partitioning {
  type: "HOUR" | "DAY" | "MONTH" | "YEAR";
  column: FieldSchema;
}

/** The table's time-unit column partitioning, if it has one this emulator models. */
export function partitioningOf(meta: TableMeta): Partitioning | undefined {
  const tp = meta.timePartitioning;
  if (!tp?.field) return undefined;
  const column = meta.fields.find((f) => f.name === tp.field);
  if (!column || !["TIMESTAMP", "DATE", "DATETIME"].includes(column.type)) return undefined;
  if (!["HOUR", "DAY", "MONTH", "YEAR"].includes(tp.type)) return undefined;
  return { type: tp.type as Partitioning["type"], column };
}

/**
 * DuckDB expression for a row's partition: the start of its time unit in
 * microseconds (BIGINT), NULL for the __NULL__ partition. `qualifier` is the
 * table name or alias the column is read through, if any.
 */
export function partitionKeySql(p: Partitioning, qualifier?: string): string {
  const column = `${qualifier ? `${qualifier}.` : ""}${duckdbQuote(p.column.name)}`;
  // TIMESTAMPTZ and DATE are read as a plain UTC TIMESTAMP: date_trunc on
  // TIMESTAMP needs no time-zone extension.
  return `epoch_us(date_trunc('${p.type.toLowerCase()}', CAST(${column} AS TIMESTAMP)))`;
}

/** The last microsecond of the partition that starts at `start`. */
export function partitionEnd(p: Partitioning, start: bigint): bigint {
  switch (p.type) {
    case "HOUR":
      return start + MICROS_PER_HOUR - 1n;
    case "DAY":
      return start + MICROS_PER_DAY - 1n;
    case "MONTH":
    case "YEAR": {
      const d = new Date(Number(start / 1000n));
      const next =
        p.type === "MONTH"
          ? Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1)
          : Date.UTC(d.getUTCFullYear() + 1, 0, 1);
      return BigInt(next) * 1000n - 1n;
    }
  }
}

/** Whether a filter's value set keeps the partition starting at `start` (null: __NULL__). */
export function keepsPartition(set: ValueSet, p: Partitioning, start: bigint | null): boolean {
  if (start === null) return set.includesNull;
  return overlaps(set, start, partitionEnd(p, start));
}
