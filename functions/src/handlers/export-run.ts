// exportRun over HTTP: parse, call the use case, map its outcome to a status.
// 400: invalid request, nothing started. 200: done (now or before). 202: load
// job started. 409: another call owns the period. 422: recorded as FAILED for
// a reason a retry cannot fix (the body says what to fix). 503: transient, the
// caller (Cloud Scheduler) should retry.
import { parseExportRunRequest } from "../core/definition.js";
import { toExportError, type ExportError } from "../core/errors.js";
import type { AppDeps } from "../app/deps.js";
import type { RunOutcome } from "../app/export-period.js";
import { listRuns, periodsOf, runExportRequest } from "../app/export-request.js";

export interface HttpRequestLike {
  method: string;
  headers: Record<string, string | string[] | undefined>;
  query: Record<string, unknown>;
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

export async function handleExportRun(req: HttpRequestLike, deps: AppDeps): Promise<HttpResult> {
  try {
    if (req.method === "GET") {
      const id = req.query.export;
      if (typeof id !== "string")
        return errorResult(400, "INVALID_REQUEST", "GET needs ?export=<export id>.");
      return { status: 200, body: { export: id, runs: await listRuns(id, deps) } };
    }
    if (req.method !== "POST")
      return errorResult(405, "INVALID_REQUEST", "Use POST to run an export, GET ?export=<id> for its runs.");
    if (req.body === undefined || req.body === null || typeof req.body !== "object") {
      return errorResult(
        400,
        "INVALID_REQUEST",
        "The body must be a JSON object (Content-Type: application/json).",
      );
    }
    const request = parseExportRunRequest(req.body);
    const scheduleTime = header(req, "x-cloudscheduler-scheduletime");
    const periods = periodsOf(request, scheduleTime, deps.now());
    const result = await runExportRequest(request, periods, deps);
    return {
      status: overallStatus(result.outcomes),
      body: { runs: result.outcomes.map(describeOutcome), sweep: result.sweep },
    };
  } catch (err) {
    const e = toExportError(err);
    const status =
      e.code === "INVALID_REQUEST" || e.code === "INVALID_INTERVAL" ? 400 : e.retryable ? 503 : 500;
    if (status >= 500) deps.log.error("exportRun failed", { error: e.toJSON() });
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

function errorResult(status: number, code: ExportError["code"], message: string): HttpResult {
  return { status, body: { error: { code, message, retryable: false } } };
}
