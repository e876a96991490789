// exportRun over HTTP: parse, call the use case, map its outcome to a status.
// 400: invalid request, nothing started. 404: no such export. 200: done (now
// or before). 202: load job started. 409: another call owns the period. 422:
// recorded as FAILED for a reason a retry cannot fix, or the stored
// definition is invalid (the body says what to fix). 503: transient, the
// caller (Cloud Scheduler) should retry.
import { ExportError, toExportError, type ErrorCode } from "../core/errors.js";
import type { Period } from "../core/periods.js";
import { BACKFILL_ID_PATTERN, parseExportRequest } from "../core/request.js";
import {
  backfillProgress,
  cancelBackfill,
  planBackfill,
  runChunk,
  type ChunkOutcome,
} from "../app/backfill.js";
import type { AppDeps } from "../app/deps.js";
import type { RunOutcome } from "../app/export-period.js";
import { listRuns, runExportRequest } from "../app/export-request.js";
import { exportEvents } from "../app/export-state.js";
import { listExports } from "../app/export-store.js";
import { runPreflight } from "../app/preflight.js";

export interface HttpRequestLike {
  method: string;
  headers: Record<string, string | string[] | undefined>;
  query: Record<string, unknown>;
  /** The parsed JSON body (the HTTP edge checked Content-Type and syntax). */
  body: unknown;
  /** The request's path ("/" on Cloud Run; "/exportRun" on the local host). */
  path?: string;
}

export interface HttpResult {
  status: number;
  body: unknown;
}

const STATUS_BY_KIND: Record<RunOutcome["kind"], number> = {
  completed: 200,
  started: 202,
  "in-flight": 409,
  failed: 422,
};

const STATUS_BY_CODE: Partial<Record<ErrorCode, number>> = {
  INVALID_REQUEST: 400,
  INVALID_INTERVAL: 400,
  EXPORT_NOT_FOUND: 404,
  INVALID_DEFINITION: 422,
};

export async function handleExportRun(req: HttpRequestLike, deps: AppDeps): Promise<HttpResult> {
  try {
    if (req.method === "GET") {
      const id = req.query.export;
      if (id === undefined) return { status: 200, body: { exports: await listExports(deps.store) } };
      const backfill = req.query.backfill;
      if (backfill !== undefined) {
        if (typeof id !== "string" || typeof backfill !== "string" || !BACKFILL_ID_PATTERN.test(backfill)) {
          return errorResult(
            400,
            "INVALID_REQUEST",
            "GET ?export=<export id>&backfill=<backfill id> shows a backfill's progress.",
          );
        }
        return { status: 200, body: { backfill: await backfillProgress(id, backfill, deps) } };
      }
      if (typeof id !== "string" || !/^[a-z0-9-]{1,29}$/.test(id)) {
        return errorResult(
          400,
          "INVALID_REQUEST",
          "GET ?export=<export id> lists an export's runs; GET / lists the exports.",
        );
      }
      const range = runsRange(req.query);
      if (range === "invalid") {
        return errorResult(
          400,
          "INVALID_REQUEST",
          "GET ?export=<id>&start=<ISO time>&end=<ISO time> lists the runs whose period starts in [start, end); both are needed.",
        );
      }
      // Auto-pause's pause and resume events go next to the runs.
      const [runs, events] = await Promise.all([
        listRuns(id, deps, 100, range),
        exportEvents(deps.store, id),
      ]);
      return { status: 200, body: { export: id, runs, events } };
    }
    if (req.method !== "POST") {
      return errorResult(
        405,
        "INVALID_REQUEST",
        'POST {"exportId": "<id>"} runs an export; GET lists exports and runs.',
      );
    }
    if (req.body === null || typeof req.body !== "object" || Array.isArray(req.body)) {
      return errorResult(
        400,
        "INVALID_REQUEST",
        'The body must be a JSON object such as {"exportId": "<id>"} (Content-Type: application/json).',
      );
    }
    const request = parseExportRequest(req.body);
    switch (request.kind) {
      case "run": {
        const result = await runExportRequest(request, header(req, "x-cloudscheduler-scheduletime"), deps);
        return {
          status: overallStatus(result.outcomes),
          body: { export: request.exportId, runs: result.outcomes.map(describeOutcome), sweep: result.sweep },
        };
      }
      case "backfill": {
        if (request.chunk !== undefined) {
          const outcome = await runChunk({ ...request, chunk: request.chunk }, deps);
          return chunkResult(outcome);
        }
        const planned = await planBackfill(request, selfUrl(req, deps), deps);
        const b = planned.backfill;
        return {
          status: 202,
          body: {
            backfill: {
              id: b.id,
              export: b.exportId,
              event: planned.event,
              state: b.state,
              range: b.range,
              round: b.round,
              chunks: b.chunks.length,
              periodsPerChunk: b.chunks.map((c) => c.periods),
              estimatedRows: b.estimatedRows,
              concurrency: planned.concurrency,
              enqueued: planned.enqueued,
              progress: `?export=${encodeURIComponent(b.exportId)}&backfill=${b.id}`,
            },
          },
        };
      }
      case "cancelBackfill":
        return { status: 200, body: { backfill: await cancelBackfill(request, deps) } };
      case "check":
        // 200 whatever the checks found: `ok` and each line say it (bqx check exits 1 when !ok).
        return { status: 200, body: await runPreflight(request.exportId, deps) };
    }
  } catch (err) {
    const e = toExportError(err);
    const status = STATUS_BY_CODE[e.code] ?? (e.retryable ? 503 : 500);
    if (status >= 500) deps.log.error("exportRun failed", { error: e.toJSON() });
    else if (status === 422) deps.log.error("export refused", { error: e.toJSON() });
    return { status, body: { error: e.toJSON() } };
  }
}

/**
 * exportRun's own URL, for the backfill tasks it creates: configured, or the
 * URL this request reached (Cloud Run's front end sets X-Forwarded-Proto).
 */
function selfUrl(req: HttpRequestLike, deps: AppDeps): string {
  if (deps.settings.exportRunUrl) return deps.settings.exportRunUrl;
  const host = header(req, "x-forwarded-host") ?? header(req, "host");
  if (!host) throw new ExportError("INVALID_REQUEST", "Cannot tell exportRun's URL: set BQX_EXPORT_RUN_URL.");
  const proto =
    header(req, "x-forwarded-proto") ?? (/^(localhost|127\.|\[::1\])/.test(host) ? "http" : "https");
  return `${proto}://${host}${req.path ?? "/"}`;
}

/**
 * A chunk's answer to its Cloud Task: 2xx ends the task. A retryable failure
 * or a chunk in flight elsewhere answers 503/409, so the queue retries with
 * backoff; a failure a retry cannot fix answers 200 (recorded FAILED, listed
 * in the backfill's progress: fix it and post the backfill again).
 */
function chunkResult(outcome: ChunkOutcome): HttpResult {
  if (outcome.kind === "skipped") return { status: 200, body: { skipped: outcome.reason } };
  const status = overallStatus([outcome]);
  return { status: status === 422 ? 200 : status, body: { runs: [describeOutcome(outcome)] } };
}

/** Optional ?start=&end= of GET ?export=<id>: both ISO times, start before end. */
function runsRange(query: Record<string, unknown>): Period | undefined | "invalid" {
  const { start, end } = query;
  if (start === undefined && end === undefined) return undefined;
  if (typeof start !== "string" || typeof end !== "string") return "invalid";
  const range = { start: new Date(start), end: new Date(end) };
  if (Number.isNaN(range.start.getTime()) || Number.isNaN(range.end.getTime())) return "invalid";
  return range.start.getTime() < range.end.getTime() ? range : "invalid";
}

function header(req: HttpRequestLike, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** The worst outcome decides: a retryable failure must make the scheduler retry. */
function overallStatus(outcomes: RunOutcome[]): number {
  if (outcomes.some((o) => o.kind === "failed" && o.error.retryable)) return 503;
  const statuses = outcomes.map((o) => STATUS_BY_KIND[o.kind]);
  return Math.max(...statuses);
}

function describeOutcome(o: RunOutcome) {
  const m = o.manifest;
  return {
    run: m.runId,
    export: m.exportId,
    period: m.period,
    status: o.kind,
    state: m.state,
    attempt: m.attempt,
    rows: m.rows,
    bytes: m.bytes,
    stagedBytes: m.stagedBytes,
    files: m.files.length,
    ...(m.job ? { job: m.job } : {}),
    ...(m.loadedRows !== undefined ? { loadedRows: m.loadedRows } : {}),
    ...(m.mergedRows !== undefined ? { mergedRows: m.mergedRows } : {}),
    ...(m.mergeBytesProcessed !== undefined ? { mergeBytesProcessed: m.mergeBytesProcessed } : {}),
    ...(o.kind === "failed" ? { error: o.error.toJSON() } : m.error ? { error: m.error } : {}),
    ...("notes" in o && o.notes.length > 0 ? { notes: o.notes } : {}),
    ...(o.kind === "completed" && o.alreadyDone
      ? { note: "already completed; send force: true to export it again" }
      : {}),
  };
}

function errorResult(status: number, code: ErrorCode, message: string): HttpResult {
  return { status, body: { error: { code, message, retryable: false } } };
}
