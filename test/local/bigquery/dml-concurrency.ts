// Mutating DML (UPDATE, DELETE, MERGE) on one table, as "Transform data with
// DML" describes it (https://cloud.google.com/bigquery/docs/data-manipulation-language#update_delete_merge_dml_concurrency):
//
// - "BigQuery runs up to 2 of them concurrently, after which up to 20 are
//   queued as PENDING. ... Additional statements past the maximum queue length
//   for each table fail with the error message: Resources exceeded during
//   query execution: Too many DML statements outstanding against table
//   PROJECT_ID:DATASET.TABLE, limit is 20." (reason resourcesExceeded).
// - DML statement conflicts: "Mutating DML statements that run concurrently on
//   a table cause DML statement conflicts when the statements try to mutate
//   the same partition. ... BigQuery tries to rerun failed statements up to
//   three times." Inserting rows conflicts with nothing, and neither does a
//   MERGE whose UPDATE and DELETE clauses act on no row. A statement that
//   still conflicts fails with "Could not serialize access to table
//   PROJECT:DATASET.TABLE due to concurrent update" (reason invalidQuery, as
//   BigQuery answers it).
//
// Statements run one at a time on DuckDB, so concurrency is modelled by
// snapshots: a statement sees the table as it was when it started running,
// and conflicts when a statement that committed since then rewrote one of the
// partitions it rewrites.
import type { TableRef } from "./contracts.js";
import { ApiError } from "./errors.js";

export const MAX_RUNNING_MUTATING_DML = 2;
export const MAX_QUEUED_MUTATING_DML = 20;
export const CONFLICT_RERUNS = 3;

export function concurrentUpdateError(ref: TableRef): ApiError {
  return new ApiError(
    "invalidQuery",
    `Could not serialize access to table ${ref.projectId}:${ref.datasetId}.${ref.tableId} due to concurrent update`,
  );
}

interface TableState {
  running: number;
  queue: Array<() => void>;
  /** Commits of statements that rewrote rows: sequence number and partitions. */
  commits: Array<{ seq: number; partitions: Set<string> }>;
  seq: number;
}

/** A running statement's hold on its table: its snapshot, and the slot it frees when done. */
export interface DmlSlot {
  /** Takes a new snapshot (a rerun starts from the table as it is now). */
  snapshot(): void;
  /** Whether a statement committed since the snapshot rewrote one of these partitions. */
  conflicts(partitions: string[]): boolean;
  /** Records this statement's commit. */
  committed(partitions: string[]): void;
  release(): void;
}

export class MutatingDmlScheduler {
  private readonly tables = new Map<string, TableState>();

  constructor(
    private readonly limits = { running: MAX_RUNNING_MUTATING_DML, queued: MAX_QUEUED_MUTATING_DML },
  ) {}

  private state(ref: TableRef): TableState {
    const key = `${ref.projectId}:${ref.datasetId}.${ref.tableId}`;
    let s = this.tables.get(key);
    if (!s) {
      s = { running: 0, queue: [], commits: [], seq: 0 };
      this.tables.set(key, s);
    }
    return s;
  }

  /**
   * Waits for one of the table's running slots (the job stays PENDING while
   * queued); throws resourcesExceeded when the queue is full.
   */
  async acquire(ref: TableRef): Promise<DmlSlot> {
    const s = this.state(ref);
    if (s.running >= this.limits.running) {
      if (s.queue.length >= this.limits.queued) {
        throw new ApiError(
          "resourcesExceeded",
          `Resources exceeded during query execution: Too many DML statements outstanding against table ${ref.projectId}:${ref.datasetId}.${ref.tableId}, limit is ${this.limits.queued}.`,
        );
      }
      await new Promise<void>((resolve) => s.queue.push(resolve));
    } else {
      s.running++;
    }
    let since = s.seq;
    let released = false;
    return {
      snapshot: () => {
        since = s.seq;
      },
      conflicts: (partitions) =>
        partitions.length > 0 &&
        s.commits.some((c) => c.seq > since && partitions.some((p) => c.partitions.has(p))),
      committed: (partitions) => {
        s.seq++;
        if (partitions.length > 0) s.commits.push({ seq: s.seq, partitions: new Set(partitions) });
        // Only commits newer than the oldest running snapshot can matter; a bounded log is enough here.
        if (s.commits.length > 1000) s.commits.splice(0, s.commits.length - 1000);
      },
      release: () => {
        if (released) return;
        released = true;
        const next = s.queue.shift();
        // The slot passes straight to the next queued statement.
        if (next) next();
        else s.running--;
      },
    };
  }
}
