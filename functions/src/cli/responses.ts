// exportRun's answers as the command line reads them: checked (so a wrong URL
// or an older server is reported as such, not as a crash later) and lenient
// (fields it does not know are kept, optional ones may be missing).
import { z } from "zod";

const errorBody = z.looseObject({
  code: z.string(),
  message: z.string(),
  retryable: z.boolean().optional(),
  details: z.record(z.string(), z.unknown()).optional(),
});
export type ErrorBody = z.infer<typeof errorBody>;
export const errorResponse = z.looseObject({ error: errorBody });

const period = z.object({ start: z.string(), end: z.string() });

const credentials = z.looseObject({
  mode: z.string(),
  secret: z.string().optional(),
  serviceAccount: z.string().optional(),
});

/** Set by exportRun when auto-pause paused the export's Scheduler job (core/export-state.ts); null when not. */
const pausedRecord = z.looseObject({
  at: z.string().optional(),
  by: z.string().optional(),
  reason: z.string().optional(),
  /** The failed runs that led to the pause (a count in older answers). */
  failures: z.union([z.number(), z.array(z.unknown())]).optional(),
});

/** Auto-pause's pause and resume events, listed with the runs. */
const exportEvent = z.looseObject({
  event: z.string(),
  at: z.string(),
  by: z.string().optional(),
  reason: z.string().optional(),
  job: z.string().optional(),
});
export type ExportEvent = z.infer<typeof exportEvent>;

export const exportsResponse = z.looseObject({
  exports: z.array(
    z.looseObject({
      id: z.string(),
      model: z.string().optional(),
      teamId: z.number().optional(),
      interval: z.string().optional(),
      destination: z.string().optional(),
      location: z.string().optional(),
      credentials: credentials.optional(),
      definitionHash: z.string().optional(),
      paused: pausedRecord.nullable().optional(),
      error: z.looseObject({ code: z.string(), message: z.string() }).optional(),
    }),
  ),
});
export type ExportsResponse = z.infer<typeof exportsResponse>;
export type ExportEntry = ExportsResponse["exports"][number];

export const runSummary = z.looseObject({
  object: z.string(),
  period: period.optional(),
  state: z.string(),
  attempt: z.number().optional(),
  rows: z.number().optional(),
  bytes: z.number().optional(),
  startedAt: z.string().optional(),
  updatedAt: z.string().optional(),
  job: z.string().optional(),
  trigger: z.string().optional(),
  error: z
    .looseObject({ code: z.string(), retryable: z.boolean().optional(), message: z.string().optional() })
    .optional(),
  definitionChanged: z.boolean().optional(),
});
export type RunSummary = z.infer<typeof runSummary>;
export const runsResponse = z.looseObject({
  export: z.string(),
  runs: z.array(runSummary),
  events: z.array(exportEvent).optional(),
});

/** One run in a POST's answer (handlers/export-run.ts describeOutcome). */
export const postedRun = z.looseObject({
  run: z.string(),
  period,
  status: z.string(),
  state: z.string(),
  attempt: z.number(),
  rows: z.number(),
  bytes: z.number(),
  job: z.looseObject({ projectId: z.string(), jobId: z.string(), location: z.string() }).optional(),
  loadedRows: z.number().optional(),
  mergedRows: z.number().optional(),
  error: errorBody.optional(),
  notes: z.array(z.string()).optional(),
  note: z.string().optional(),
});
export type PostedRun = z.infer<typeof postedRun>;
export const runPostResponse = z.looseObject({ export: z.string(), runs: z.array(postedRun) });

export const checkResponse = z.looseObject({
  export: z.string(),
  model: z.string().optional(),
  destination: z.string().optional(),
  ok: z.boolean(),
  checks: z.array(
    z.looseObject({
      check: z.string(),
      permission: z.string().optional(),
      status: z.string(),
      message: z.string(),
      fix: z.string().optional(),
    }),
  ),
  leftBehind: z.array(z.string()).optional(),
});
export type CheckResponse = z.infer<typeof checkResponse>;

export const backfillStarted = z.looseObject({
  backfill: z.looseObject({
    id: z.string(),
    chunks: z.number(),
    /** Periods in each chunk (one number per chunk), or one number for all. */
    periodsPerChunk: z.union([z.number(), z.array(z.number())]).optional(),
    estimatedRows: z.number().optional(),
    /** Where progress is read: "?export=<id>&backfill=<bid>" on exportRun's URL. */
    progress: z.string().optional(),
  }),
});
export type BackfillStarted = z.infer<typeof backfillStarted>["backfill"];

const chunkError = z.union([z.string(), errorBody, z.looseObject({ message: z.string() })]);
export const backfillProgress = z.looseObject({
  backfill: z.looseObject({
    id: z.string(),
    state: z.string(),
    chunks: z.looseObject({
      total: z.number(),
      pending: z.number(),
      running: z.number(),
      completed: z.number(),
      failed: z.number(),
    }),
    rows: z.number().optional(),
    bytes: z.number().optional(),
    rowsPerSecond: z.number().nullable().optional(),
    etaSeconds: z.number().nullable().optional(),
    failedChunks: z.array(z.looseObject({ chunk: z.number(), error: chunkError.optional() })).optional(),
  }),
});
export type BackfillProgress = z.infer<typeof backfillProgress>["backfill"];

export function chunkErrorText(error: z.infer<typeof chunkError> | undefined): string {
  if (error === undefined) return "failed";
  if (typeof error === "string") return error;
  return "code" in error && typeof error.code === "string"
    ? `${error.code}: ${error.message}`
    : error.message;
}
