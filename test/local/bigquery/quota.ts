// BigQuery's daily limits on table modifications, from "Quotas and limits"
// (https://cloud.google.com/bigquery/quotas#standard_tables,
// https://cloud.google.com/bigquery/quotas#partitioned_tables):
//
// - Standard tables: 1,500 modifications per table per day. "A load job, copy
//   job, or query job that appends or overwrites table data counts as one
//   modification to the table." Load jobs count "including failed load jobs"
//   (https://cloud.google.com/bigquery/quotas#load_jobs). "DML statements are
//   excluded and don't count toward the number of table modifications per day."
// - Column-partitioned tables: 30,000 partition modifications per table per
//   day, instead; a job consumes as many as the partitions it affects ("DML
//   statements do not count toward the number of partition modifications").
//
// Days are UTC days.
import type { TableRef } from "./contracts.js";
import { ApiError } from "./errors.js";

export const DEFAULT_TABLE_MODIFICATIONS_PER_DAY = 1500;
export const DEFAULT_PARTITION_MODIFICATIONS_PER_DAY = 30_000;

export interface QuotaLimits {
  tableModificationsPerDay: number;
  partitionModificationsPerDay: number;
}

export class TableModificationQuota {
  private readonly counts = new Map<string, number>();
  private readonly limits: QuotaLimits;

  constructor(limits: Partial<QuotaLimits> = {}) {
    this.limits = {
      tableModificationsPerDay: limits.tableModificationsPerDay ?? DEFAULT_TABLE_MODIFICATIONS_PER_DAY,
      partitionModificationsPerDay:
        limits.partitionModificationsPerDay ?? DEFAULT_PARTITION_MODIFICATIONS_PER_DAY,
    };
  }

  private key(ref: TableRef, partitioned: boolean, now: Date): string {
    const kind = partitioned ? "partitions" : "table";
    return `${now.toISOString().slice(0, 10)}|${kind}|${ref.projectId}:${ref.datasetId}.${ref.tableId}`;
  }

  /**
   * Throws quotaExceeded, with BigQuery's message, when the table has used up
   * today's modifications (table modifications, or partition modifications
   * for a partitioned table).
   */
  check(ref: TableRef, partitioned: boolean, now = new Date()): void {
    const used = this.counts.get(this.key(ref, partitioned, now)) ?? 0;
    if (partitioned) {
      if (used < this.limits.partitionModificationsPerDay) return;
      // https://cloud.google.com/bigquery/docs/troubleshoot-quotas#ts-number-column-partition-quota
      throw new ApiError(
        "quotaExceeded",
        "Quota exceeded: Your table exceeded quota for Number of partition modifications to a column partitioned table. For more information, see https://cloud.google.com/bigquery/docs/troubleshoot-quotas",
        { location: "partition_modifications_per_column_partitioned_table.long" },
      );
    }
    if (used < this.limits.tableModificationsPerDay) return;
    // https://cloud.google.com/bigquery/docs/troubleshoot-quotas#ts-table-import-quota
    throw new ApiError(
      "quotaExceeded",
      "Quota exceeded: Your table exceeded quota for imports or query appends per table. For more information, see https://cloud.google.com/bigquery/docs/troubleshoot-quotas",
    );
  }

  /** Today's modifications of a table: table modifications, or partition modifications if partitioned. */
  used(ref: TableRef, partitioned: boolean, now = new Date()): number {
    return this.counts.get(this.key(ref, partitioned, now)) ?? 0;
  }

  /** Records a job's modification: one for a standard table, one per affected partition otherwise. */
  record(ref: TableRef, partitioned: boolean, partitionsModified = 1, now = new Date()): void {
    const k = this.key(ref, partitioned, now);
    this.counts.set(k, (this.counts.get(k) ?? 0) + (partitioned ? Math.max(1, partitionsModified) : 1));
  }
}
