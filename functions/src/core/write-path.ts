// How an attempt writes its rows into the destination: the one decision of
// which runs go through a stage table, and so which permissions they need.
//
// - append: a load job appends to the final table (WRITE_APPEND). Only for
//   the events of a scheduled or manual run whose earlier attempts never
//   reached the point where rows could have been committed.
// - insert-new: events load into a stage table, then an insert-only MERGE on
//   uuid adds the rows the final table lacks. For exports with deduplicate,
//   forced reruns, backfill chunks, and every attempt after one that reached
//   LOADING (its load job, or its MERGE, may have committed rows: appending
//   again could write them twice).
// - merge-versions: persons load into a stage table, then a MERGE on the two
//   version columns updates, inserts and deletes.
import type { ExportDefinition } from "./definition.js";
import type { RunManifest } from "./manifest.js";
import type { EventsSelection } from "./source-sql.js";

export type WritePath = "append" | "insert-new" | "merge-versions";

export interface WritePathInput {
  selection: EventsSelection;
  /** The run's manifest before this attempt (its history), if it had attempts. */
  previous: RunManifest | undefined;
  /** A forced rerun of a COMPLETED period. */
  forced: boolean;
}

/** True when an attempt of the run reached LOADING: rows may be in the final table. */
export function mayHaveWritten(previous: RunManifest | undefined): boolean {
  return previous?.history.some((h) => h.state === "LOADING") ?? false;
}

export function writePath(def: ExportDefinition, input: WritePathInput): WritePath {
  if (def.model === "persons") return "merge-versions";
  const mustMerge =
    def.deduplicate || input.selection === "backfill" || input.forced || mayHaveWritten(input.previous);
  return mustMerge ? "insert-new" : "append";
}

export function usesStageTable(path: WritePath): boolean {
  return path !== "append";
}

/**
 * BigQuery permissions each path needs on the destination dataset (jobs.create
 * on the project), in the seed's names; tables.delete drops the stage table
 * (without it the run still completes, and the stage expires in 7 days).
 */
const APPEND_PERMISSIONS = [
  "bigquery.datasets.get",
  "bigquery.jobs.create",
  "bigquery.tables.create",
  "bigquery.tables.get",
  "bigquery.tables.updateData",
] as const;
/** Through a stage: the MERGE reads the final table, and the stage is dropped. */
const STAGE_PERMISSIONS = [
  ...APPEND_PERMISSIONS,
  "bigquery.tables.getData",
  "bigquery.tables.delete",
] as const;

export const PATH_PERMISSIONS: Record<WritePath, readonly string[]> = {
  append: APPEND_PERMISSIONS,
  "insert-new": STAGE_PERMISSIONS,
  "merge-versions": STAGE_PERMISSIONS,
};
