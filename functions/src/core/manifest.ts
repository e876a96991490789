// The run manifest: one JSON object per (export, period) in GCS, written with
// generation preconditions. It is the run's claim, its state machine and its
// history; everything finalizeRun and the sweep need is recorded in it.
import { z } from "zod";
import { ExportError } from "./errors.js";
import { parseStoredJson } from "./stored-json.js";
import { exportDefinitionSchema } from "./definition.js";
import type { Period } from "./periods.js";
import type { WritePath } from "./write-path.js";

export const RUN_STATES = ["STAGING", "LOADING", "COMPLETED", "FAILED"] as const;
export const RUN_TRIGGERS = ["scheduled", "manual", "backfill"] as const;
export type RunTrigger = (typeof RUN_TRIGGERS)[number];
export type RunState = (typeof RUN_STATES)[number];

const errorSchema = z.object({
  code: z.string(),
  message: z.string(),
  retryable: z.boolean(),
});

export const manifestSchema = z.object({
  version: z.literal(1),
  exportId: z.string(),
  runId: z.string(),
  /** The export as it was when this attempt started; the sweep re-runs from it. */
  definition: exportDefinitionSchema,
  /** definitionHash(definition): the run history shows where it changed between runs. */
  definitionHash: z.string().optional(),
  period: z.object({ start: z.iso.datetime(), end: z.iso.datetime() }),
  /** "ingested": rows by ingestion time (scheduled runs); "backfill": rows by event timestamp. */
  selection: z.enum(["ingested", "backfill"]),
  /** A backfill chunk's run: the backfill and the chunk (persons: the hash bucket of keys). */
  backfill: z
    .object({
      id: z.string(),
      chunk: z.number().int().min(0),
      bucket: z.object({ index: z.number().int().min(0), of: z.number().int().min(1) }).optional(),
    })
    .optional(),
  /** Who started this attempt: Cloud Scheduler, a person (or bqx), or a backfill's task. */
  trigger: z.enum(RUN_TRIGGERS).optional(),
  attempt: z.number().int().min(1),
  state: z.enum(RUN_STATES),
  createdAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
  /** The destination dataset's actual location, where the jobs run. */
  location: z.string().optional(),
  /** JSON or STRING columns as the destination table actually has them. */
  useJsonType: z.boolean(),
  /** How this attempt writes into the destination (core/write-path.ts decides). */
  writePath: z.enum(["append", "insert-new", "merge-versions"]),
  /**
   * The staged rows' earliest and latest event `timestamp` (microsecond ISO
   * text), measured while staging: the insert-only MERGE is bounded to them,
   * so BigQuery reads only those partitions of the final table.
   */
  timestampBounds: z.object({ min: z.string(), max: z.string() }).optional(),
  /** MERGE jobs started for this attempt (a retryable MERGE failure starts another). */
  mergeTries: z.number().int().min(1).optional(),
  /** What went wrong without failing the run (e.g. a stage table left to expire). */
  warnings: z.array(z.string()).optional(),
  stagingPrefix: z.string().optional(),
  files: z.array(z.string()),
  rows: z.number().int().min(0),
  /** Uncompressed NDJSON bytes staged. */
  bytes: z.number().int().min(0),
  /** Gzip bytes in GCS. */
  stagedBytes: z.number().int().min(0),
  job: z.object({ projectId: z.string(), jobId: z.string(), location: z.string() }).optional(),
  /**
   * The load job's configuration, written ahead with the job id: whoever
   * finds the job missing (its call crashed before inserting it) starts it
   * with the same id, and a late insert by the crashed call re-attaches.
   */
  load: z
    .object({
      destination: z.object({ projectId: z.string(), datasetId: z.string(), tableId: z.string() }),
      fields: z.array(
        z.object({
          name: z.string(),
          type: z.string(),
          mode: z.string().optional(),
          description: z.string().optional(),
        }),
      ),
      writeDisposition: z.enum(["WRITE_APPEND", "WRITE_TRUNCATE"]),
      allowFieldAddition: z.boolean(),
    })
    .optional(),
  stageTable: z.string().optional(),
  /** Rows BigQuery reports as loaded, and rows the MERGE changed. */
  loadedRows: z.number().int().min(0).optional(),
  mergedRows: z.number().int().min(0).optional(),
  /** Bytes the MERGE processed (what it costs on demand: it reads only the run's partitions). */
  mergeBytesProcessed: z.number().int().min(0).optional(),
  error: errorSchema.optional(),
  history: z.array(
    z.object({
      at: z.iso.datetime(),
      state: z.enum(RUN_STATES),
      attempt: z.number().int(),
      note: z.string().optional(),
    }),
  ),
});
export type RunManifest = z.infer<typeof manifestSchema>;
export type RunError = z.infer<typeof errorSchema>;

export function parseManifest(text: string, objectName: string): RunManifest {
  return parseStoredJson(manifestSchema, text, `Run manifest ${objectName}`);
}

export function manifestPeriod(m: RunManifest): Period {
  return { start: new Date(m.period.start), end: new Date(m.period.end) };
}

export type ClaimDecision =
  | { kind: "create" }
  | { kind: "completed"; manifest: RunManifest }
  | { kind: "in-flight"; manifest: RunManifest }
  | { kind: "retry"; manifest: RunManifest; attempt: number; reason: string; forced: boolean };

/**
 * What a call for a period does given the manifest it found:
 * - none: start attempt 1;
 * - COMPLETED: nothing (200), unless forced: a new attempt;
 * - FAILED: a new attempt (the caller fixed the cause, or the failure was transient);
 * - STAGING untouched for `staleAfterMs`: the worker crashed, a new attempt;
 * - STAGING recently, or LOADING: in flight (LOADING is then checked against its job).
 */
export function decideClaim(
  existing: RunManifest | undefined,
  now: Date,
  opts: { force: boolean; staleAfterMs: number },
): ClaimDecision {
  if (!existing) return { kind: "create" };
  const next = existing.attempt + 1;
  switch (existing.state) {
    case "COMPLETED":
      return opts.force
        ? { kind: "retry", manifest: existing, attempt: next, reason: "forced rerun", forced: true }
        : { kind: "completed", manifest: existing };
    case "FAILED":
      return {
        kind: "retry",
        manifest: existing,
        attempt: next,
        reason: `retry after failure (${existing.error?.code ?? "unknown"})`,
        forced: false,
      };
    case "STAGING": {
      const idle = now.getTime() - new Date(existing.updatedAt).getTime();
      return idle >= opts.staleAfterMs
        ? {
            kind: "retry",
            manifest: existing,
            attempt: next,
            reason: `attempt ${existing.attempt} stalled while staging`,
            forced: false,
          }
        : { kind: "in-flight", manifest: existing };
    }
    case "LOADING":
      return { kind: "in-flight", manifest: existing };
  }
}

const ALLOWED: Record<RunState, readonly RunState[]> = {
  STAGING: ["LOADING", "COMPLETED", "FAILED"],
  LOADING: ["COMPLETED", "FAILED"],
  COMPLETED: [],
  FAILED: [],
};

/** Moves a run to its next state within the same attempt; refuses illegal transitions. */
export function transition(
  m: RunManifest,
  to: RunState,
  now: Date,
  patch: Partial<Omit<RunManifest, "state" | "history" | "attempt">> = {},
  note?: string,
): RunManifest {
  if (!ALLOWED[m.state].includes(to)) {
    throw new ExportError("INTERNAL", `Run ${m.runId} cannot go from ${m.state} to ${to}.`);
  }
  const at = now.toISOString();
  return {
    ...m,
    ...patch,
    state: to,
    updatedAt: at,
    history: [...m.history, { at, state: to, attempt: m.attempt, ...(note ? { note } : {}) }],
  };
}

/** A new attempt of an existing run: counters and job reset, history kept. */
export function newAttempt(
  m: RunManifest,
  attempt: number,
  now: Date,
  opts: { writePath: WritePath; note: string },
): RunManifest {
  const at = now.toISOString();
  const {
    job: _job,
    stageTable: _st,
    load: _load,
    timestampBounds: _tb,
    mergeTries: _mt,
    warnings: _w,
    error: _err,
    loadedRows: _lr,
    mergedRows: _mr,
    mergeBytesProcessed: _mbp,
    stagingPrefix: _sp,
    ...rest
  } = m;
  return {
    ...rest,
    attempt,
    state: "STAGING",
    writePath: opts.writePath,
    files: [],
    rows: 0,
    bytes: 0,
    stagedBytes: 0,
    updatedAt: at,
    history: [...m.history, { at, state: "STAGING", attempt, note: opts.note }],
  };
}

/**
 * Custom metadata written with each manifest, so run history and the sweep
 * can list runs without downloading every manifest.
 */
export function manifestMetadata(m: RunManifest): Record<string, string> {
  return {
    bqx_state: m.state,
    bqx_attempt: String(m.attempt),
    bqx_rows: String(m.rows),
    bqx_bytes: String(m.bytes),
    bqx_updated: m.updatedAt,
    ...(m.definitionHash ? { bqx_definition: m.definitionHash } : {}),
    ...(m.trigger ? { bqx_trigger: m.trigger } : {}),
    ...(m.state === "FAILED" && m.error
      ? { bqx_error: m.error.code, bqx_retryable: String(m.error.retryable) }
      : {}),
    // What `bqx runs` shows without reading each manifest: a few short values.
    bqx_started: attemptStart(m),
    ...(m.job ? { bqx_job: `${m.job.projectId}:${m.job.location}.${m.job.jobId}` } : {}),
    ...(m.state === "FAILED" && m.error ? { bqx_error_line: errorLine(m.error.message) } : {}),
  };
}

/** When the current attempt began (its STAGING entry in the history). */
function attemptStart(m: RunManifest): string {
  const entry = m.history.find((h) => h.attempt === m.attempt && h.state === "STAGING");
  return entry?.at ?? m.createdAt;
}

/** The first line of an error message, short enough for object metadata. */
const ERROR_LINE_MAX = 400;
function errorLine(message: string): string {
  const line = message.split("\n", 1)[0] ?? "";
  return line.length > ERROR_LINE_MAX ? `${line.slice(0, ERROR_LINE_MAX - 3)}...` : line;
}

/** The period in a manifest object's name (runs/<export>/<start>--<end>.json, compact UTC times). */
function periodOfObject(object: string): { start: string; end: string } | undefined {
  const m = /\/(\d{8}T\d{6}Z)--(\d{8}T\d{6}Z)\.json$/.exec(object);
  if (!m) return undefined;
  // As the manifest writes its period (Date.toISOString, milliseconds included).
  const iso = (c: string) =>
    `${c.slice(0, 4)}-${c.slice(4, 6)}-${c.slice(6, 8)}T${c.slice(9, 11)}:${c.slice(11, 13)}:${c.slice(13, 15)}.000Z`;
  return { start: iso(m[1]!), end: iso(m[2]!) };
}

export interface RunSummary {
  object: string;
  /** The run's period (ISO, UTC), read from the object's name. */
  period?: { start: string; end: string };
  state: RunState | "UNKNOWN";
  attempt: number | undefined;
  rows: number | undefined;
  /** Uncompressed NDJSON bytes staged by the current attempt. */
  bytes?: number;
  /** When the current attempt started; its duration runs to updatedAt once COMPLETED or FAILED. */
  startedAt?: string;
  updatedAt: string | undefined;
  /** The load job, as "project:location.job_id" (what `bq show -j` takes). */
  job?: string;
  definitionHash: string | undefined;
  /** FAILED runs: the error code, whether calling again can help, and the message's first line. */
  error?: { code: string; retryable: boolean; message?: string };
  trigger?: RunTrigger;
}

export function summaryFromMetadata(object: string, metadata: Record<string, string>): RunSummary {
  const state = metadata.bqx_state;
  const period = periodOfObject(object);
  return {
    object,
    ...(period ? { period } : {}),
    state: (RUN_STATES as readonly string[]).includes(state ?? "") ? (state as RunState) : "UNKNOWN",
    attempt: metadata.bqx_attempt ? Number(metadata.bqx_attempt) : undefined,
    rows: metadata.bqx_rows ? Number(metadata.bqx_rows) : undefined,
    ...(metadata.bqx_bytes ? { bytes: Number(metadata.bqx_bytes) } : {}),
    ...(metadata.bqx_started ? { startedAt: metadata.bqx_started } : {}),
    updatedAt: metadata.bqx_updated,
    ...(metadata.bqx_job ? { job: metadata.bqx_job } : {}),
    definitionHash: metadata.bqx_definition,
    ...((RUN_TRIGGERS as readonly string[]).includes(metadata.bqx_trigger ?? "")
      ? { trigger: metadata.bqx_trigger as RunTrigger }
      : {}),
    ...(metadata.bqx_error
      ? {
          error: {
            code: metadata.bqx_error,
            retryable: metadata.bqx_retryable === "true",
            ...(metadata.bqx_error_line ? { message: metadata.bqx_error_line } : {}),
          },
        }
      : {}),
  };
}
