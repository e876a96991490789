// exportRun over HTTP: parse, call the use case, map its outcome to a status.
// 400: invalid request, nothing started. 404: no such export. 200: done (now
// or before). 202: load job started. 409: another call owns the period. 422:
// recorded as FAILED for a reason a retry cannot fix, or the stored
// definition is invalid (the body says what to fix). 503: transient, the
// caller (Cloud Scheduler) should retry.
import { toExportError, type ErrorCode } from "../core/errors.js";
import { parseExportRequest } from "../core/request.js";
import type { AppDeps } from "../app/deps.js";
import type { RunOutcome } from "../app/export-period.js";
import { listRuns, runExportRequest } from "../app/export-request.js";
import { listExports } from "../app/export-store.js";

export interface HttpRequestLike {
  method: string;
  headers: Record<string, string | string[] | undefined>;
  query: Record<string, unknown>;
  /** The parsed JSON body (the HTTP edge checked Content-Type and syntax). */
  body: unknown;
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
      if (typeof id !== "string" || !/^[a-z0-9-]{1,29}$/.test(id)) {
        return errorResult(
          400,
          "INVALID_REQUEST",
          "GET ?export=<export id> lists an export's runs; GET / lists the exports.",
        );
      }
      return { status: 200, body: { export: id, runs: await listRuns(id, deps) } };
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
      case "backfill":
      case "cancelBackfill":
      case "check":
        return errorResult(501, "INVALID_REQUEST", `${request.kind} is not available in this version yet.`);
    }
  } catch (err) {
    const e = toExportError(err);
    const status = STATUS_BY_CODE[e.code] ?? (e.retryable ? 503 : 500);
    if (status >= 500) deps.log.error("exportRun failed", { error: e.toJSON() });
    else if (status === 422) deps.log.error("export refused", { error: e.toJSON() });
    return { status, body: { error: e.toJSON() } };
  }
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
