// BigQuery's daily limit on table modifications (loads, DML and query
// appends count; 1,500 per table per day by default), so an export that
// modifies a table too often fails locally as it would in BigQuery.
import type { TableRef } from "./contracts.js";
import { ApiError } from "./errors.js";

export const DEFAULT_TABLE_MODIFICATIONS_PER_DAY = 1500;

export class TableModificationQuota {
  private readonly counts = new Map<string, number>();

  constructor(private readonly perDay = DEFAULT_TABLE_MODIFICATIONS_PER_DAY) {}

  private key(ref: TableRef, now: Date): string {
    return `${now.toISOString().slice(0, 10)}|${ref.projectId}:${ref.datasetId}.${ref.tableId}`;
  }

  /** Throws quotaExceeded when the table has used up today's modifications. */
  check(ref: TableRef, kind: "load" | "dml", now = new Date()): void {
    if ((this.counts.get(this.key(ref, now)) ?? 0) < this.perDay) return;
    const what = kind === "load" ? "imports or query appends per table" : "table update operations per table";
    throw new ApiError(
      "quotaExceeded",
      `Quota exceeded: Your table exceeded quota for ${what}. For more information, see https://cloud.google.com/bigquery/docs/troubleshoot-quotas`,
    );
  }

  record(ref: TableRef, now = new Date()): void {
    const k = this.key(ref, now);
    this.counts.set(k, (this.counts.get(k) ?? 0) + 1);
  }
}
