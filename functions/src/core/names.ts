// Names that cross boundaries: job labels (matched by the Terraform log-sink
// filter), job ids, stage tables and GCS object names (stored definitions,
// run manifests, staged data). One definition here;
// tests hold the other places to it.
import { ExportError } from "./errors.js";
import type { ModelName } from "./models.js";
import { compactTimestamp, type Period } from "./periods.js";

/** Label keys on every BigQuery job we start. Lowercase, ≤ 63 chars. */
export const JOB_LABELS = {
  export: "bqx_export",
  run: "bqx_run",
  model: "bqx_model",
} as const;

/**
 * Export IDs are used verbatim as label values and in object names: lowercase
 * letters, digits and hyphens, 1-29 chars, starting with a letter and not
 * ending with a hyphen. 29 because the run id (export id + "-" + a 33-char
 * period slug) is a label value, and label values are at most 63 chars.
 */
export const EXPORT_ID_PATTERN = /^[a-z](?:[a-z0-9-]{0,27}[a-z0-9])?$/;

function periodSlug(period: Period): string {
  return `${compactTimestamp(period.start)}-${compactTimestamp(period.end)}`.toLowerCase();
}

/** A run is one export over one period: "events-hourly-20261125t100000z-20261125t110000z" (≤ 63 chars). */
export function runId(exportId: string, period: Period): string {
  if (!EXPORT_ID_PATTERN.test(exportId)) {
    throw new ExportError("INVALID_REQUEST", `Invalid export id ${JSON.stringify(exportId)}.`);
  }
  return `${exportId}-${periodSlug(period)}`;
}

/** Recovers the period from a run id ("<export>-<start>-<end>", see names.runId). */
export function periodFromRunId(exportId: string, runId: string): Period | undefined {
  if (!runId.startsWith(`${exportId}-`)) return undefined;
  const m = /^(\d{8}t\d{6}z)-(\d{8}t\d{6}z)$/.exec(runId.slice(exportId.length + 1));
  if (!m) return undefined;
  const toDate = (s: string) =>
    new Date(
      `${s.slice(0, 4)}-${s.slice(4, 6)}-${s.slice(6, 8)}T${s.slice(9, 11)}:${s.slice(11, 13)}:${s.slice(13, 15)}Z`,
    );
  const period = { start: toDate(m[1]!), end: toDate(m[2]!) };
  if (Number.isNaN(period.start.getTime()) || Number.isNaN(period.end.getTime())) return undefined;
  // Round-trip check: only ids we minted are accepted.
  if (`${compactTimestamp(period.start)}-${compactTimestamp(period.end)}`.toLowerCase() !== m[0])
    return undefined;
  return period;
}

export function jobLabels(exportId: string, run: string, model: ModelName): Record<string, string> {
  return { [JOB_LABELS.export]: exportId, [JOB_LABELS.run]: run, [JOB_LABELS.model]: model };
}

/**
 * Deterministic job ids: a retried call for the same attempt gets a 409
 * duplicate from BigQuery and re-attaches instead of loading twice.
 */
export function loadJobId(run: string, attempt: number): string {
  return `bqx_${run}_a${attempt}_load`;
}
/** The MERGE of an attempt; a later try (after a retryable MERGE failure) gets its own id. */
export function mergeJobId(run: string, attempt: number, mergeTry = 1): string {
  return `bqx_${run}_a${attempt}_merge${mergeTry === 1 ? "" : mergeTry}`;
}

/**
 * A backfill chunk's run: "<export>-bf<16 hex>-c<5 digits>" (≤ 55 chars, a
 * label value), distinct from every period's run id.
 */
export function chunkRunId(exportId: string, backfillId: string, chunk: number): string {
  const hex = /^bf-([0-9a-f]{16})$/.exec(backfillId)?.[1];
  if (!EXPORT_ID_PATTERN.test(exportId) || !hex || !Number.isInteger(chunk) || chunk < 0 || chunk > 99_999) {
    throw new ExportError("INVALID_REQUEST", `Invalid backfill chunk ${backfillId}/${chunk} of ${exportId}.`);
  }
  return `${exportId}-bf${hex}-c${String(chunk).padStart(5, "0")}`;
}

/** Where a run's manifest lives, from its run id (a period's, or a backfill chunk's). */
export function manifestObjectOfRun(exportId: string, run: string): string | undefined {
  const period = periodFromRunId(exportId, run);
  if (period) return manifestObject(exportId, period);
  const chunk = new RegExp(`^${exportId}-bf([0-9a-f]{16})-c(\\d{5})$`).exec(run);
  if (!chunk) return undefined;
  return chunkManifestObject(exportId, `bf-${chunk[1]!}`, Number(chunk[2]));
}

/** Unique per (table, run, attempt), in the destination dataset. */
export function stageTableId(tableId: string, exportId: string, run: string, attempt: number): string {
  // The run id without its export: a period's slug (or a chunk's), hyphens
  // replaced. The table ID is kept as it is, so "my-events" and "my_events"
  // in one dataset get different stage tables.
  const runPart = run.startsWith(`${exportId}-`) ? run.slice(exportId.length + 1) : run;
  const id = `${tableId}_bqx_stage_${runPart.replace(/-/g, "_")}_a${attempt}`;
  if (Buffer.byteLength(id, "utf8") > 1024) {
    throw new ExportError(
      "INVALID_REQUEST",
      "The table ID is too long to derive a stage table name from it.",
    );
  }
  return id;
}

/** A stored export definition: exports/<id>.json (Terraform writes them from its exports map). */
export function exportObject(exportId: string): string {
  return `${EXPORTS_PREFIX}${exportId}.json`;
}
export const EXPORTS_PREFIX = "exports/";

/**
 * An export's operational state (auto-pause: paused by whom, when, why):
 * export-state/<id>.json. The functions write it; Terraform never does.
 */
export function exportStateObject(exportId: string): string {
  return `export-state/${exportId}.json`;
}

/** The run manifest: runs/<export>/<start>--<end>.json. */
export function manifestObject(exportId: string, period: Period): string {
  return `runs/${exportId}/${compactTimestamp(period.start)}--${compactTimestamp(period.end)}.json`;
}
export function manifestPrefix(exportId: string): string {
  return `runs/${exportId}/`;
}

/** A backfill's plan and state: backfills/<export>/<backfill id>.json. */
export function backfillObject(exportId: string, backfillId: string): string {
  return `backfills/${exportId}/${backfillId}.json`;
}

/**
 * A backfill chunk's run manifest, under the export's runs so the sweep
 * covers it: runs/<export>/backfill-<id>/c<NNNNN>.json (names starting with a
 * letter sort after every period's, so the sweep's time window keeps them).
 */
export function chunkManifestObject(exportId: string, backfillId: string, chunk: number): string {
  return `${chunkManifestPrefix(exportId, backfillId)}c${String(chunk).padStart(5, "0")}.json`;
}
export function chunkManifestPrefix(exportId: string, backfillId: string): string {
  return `runs/${exportId}/backfill-${backfillId}/`;
}

/** The Cloud Tasks task of a chunk in a dispatch round (a re-post after a cancel or failures is a new round). */
export function chunkTaskId(backfillId: string, chunk: number, round: number): string {
  return `${backfillId}-c${String(chunk).padStart(5, "0")}-r${round}`;
}

/** Staged data of one attempt: staging/<export>/<run>-a<attempt>/part-NNNNN.ndjson.gz. */
export function stagingPrefix(exportId: string, run: string, attempt: number): string {
  return `staging/${exportId}/${run}-a${attempt}/`;
}
/** Staged data of every attempt of a run (cleaned up when the run completes). */
export function runStagingPrefix(exportId: string, run: string): string {
  return `staging/${exportId}/${run}-a`;
}
export function partObject(prefix: string, index: number): string {
  return `${prefix}part-${String(index).padStart(5, "0")}.ndjson.gz`;
}
