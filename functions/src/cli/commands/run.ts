// bqx run <id>: a manual run or rerun (POST {exportId, dataInterval?, force?}),
// followed to COMPLETED or FAILED by default: exportRun answers once the load
// job is started, and finalizeRun completes the run when BigQuery is done.
import { expectAnswer, type Answer } from "../client.js";
import type { Ctx } from "../context.js";
import { EXIT, usageError, type ExitCode } from "../errors.js";
import { bytes, count, duration, firstLine, parseTime, period, plural } from "../format.js";
import { pollMs } from "../io.js";
import { runPostResponse, runsResponse, type PostedRun, type RunSummary } from "../responses.js";
import { statusLine } from "../status-line.js";
import { runDuration, stateText } from "./runs.js";

export interface RunOptions {
  start?: string;
  end?: string;
  force: boolean;
  wait: boolean;
}

/** A run as `bqx run --json` reports it (README, "Command line"). */
export interface RunResult {
  run: string;
  period: { start: string; end: string };
  state: string;
  attempt: number;
  rows: number;
  bytes: number | undefined;
  /** "project:location.job_id", as `bq show -j` takes it. */
  job: string | undefined;
  durationSeconds: number | undefined;
  error: { code: string; message: string; retryable: boolean } | undefined;
  note: string | undefined;
}

const FINISHED = new Set(["COMPLETED", "FAILED"]);

export async function runCommand(ctx: Ctx, exportId: string, opts: RunOptions): Promise<ExitCode> {
  if ((opts.start === undefined) !== (opts.end === undefined)) {
    throw usageError(
      "--start and --end go together",
      "give both, or neither to run the newest settled period",
    );
  }
  const range =
    opts.start !== undefined && opts.end !== undefined
      ? { start: parseTime("--start", opts.start), end: parseTime("--end", opts.end) }
      : undefined;
  const { out, io } = ctx;
  const status = await statusLine(io);
  status.set(
    `${exportId}: ${range ? `exporting ${period(range)}` : "exporting the newest settled period"}${opts.force ? " (force)" : ""} …`,
  );
  let answer: Answer;
  try {
    answer = await ctx.client().post({
      exportId,
      ...(range ? { dataInterval: range } : {}),
      ...(opts.force ? { force: true } : {}),
    });
  } finally {
    status.stop();
  }
  const posted = postedRuns(answer, exportId);
  let results = posted.map(fromPosted);
  const open = results.filter((r) => !FINISHED.has(r.state));
  if (opts.wait && open.length > 0) {
    const followed = await follow(ctx, exportId, posted);
    if (followed === "interrupted") {
      out.note(`Detached: the run goes on. Follow it with: bqx runs ${exportId} --watch`);
      return EXIT.interrupted;
    }
    results = results.map((r) => merge(r, followed.get(r.period.start), io.now()));
  }
  if (out.json) {
    out.emitJson({ export: exportId, runs: results });
  } else {
    for (const r of results) out.line(resultLine(r, out.c));
    if (!opts.wait && open.length > 0) {
      out.line(`Follow it with: bqx runs ${exportId} --watch`);
    }
    const transient = results.filter((r) => r.error?.retryable);
    if (transient.length > 0) {
      out.line(`A transient failure: run it again (Cloud Scheduler retries its own calls).`);
    }
  }
  const failed = results.some((r) => r.state === "FAILED");
  return failed ? EXIT.failed : EXIT.ok;
}

/**
 * The runs of a POST's answer: 200, 202, 409, 422 and 503 list them. An
 * answer without runs was refused before any run started (400 bad request,
 * 404 unknown export, 422 invalid definition): expectAnswer says why.
 */
function postedRuns(answer: Answer, exportId: string): PostedRun[] {
  const parsed = runPostResponse.safeParse(answer.body);
  if (parsed.success) return parsed.data.runs;
  return expectAnswer(answer, runPostResponse, `running ${exportId}`).runs;
}

function fromPosted(r: PostedRun): RunResult {
  return {
    run: r.run,
    period: r.period,
    state: r.state,
    attempt: r.attempt,
    rows: r.rows,
    bytes: r.bytes,
    job: r.job ? `${r.job.projectId}:${r.job.location}.${r.job.jobId}` : undefined,
    durationSeconds: undefined,
    error: r.error
      ? { code: r.error.code, message: r.error.message, retryable: r.error.retryable ?? false }
      : undefined,
    note: r.note ?? (r.status === "in-flight" ? "another call owns this period; bqx followed it" : undefined),
  };
}

/** The run as the history shows it now, over what the POST said. */
function merge(r: RunResult, s: RunSummary | undefined, now: Date): RunResult {
  if (!s) return r;
  const ms = runDuration(s, now);
  return {
    ...r,
    state: s.state,
    attempt: s.attempt ?? r.attempt,
    rows: s.rows ?? r.rows,
    bytes: s.bytes ?? r.bytes,
    job: s.job ?? r.job,
    durationSeconds: ms === undefined ? undefined : Math.round(ms / 1000),
    error: s.error
      ? {
          code: s.error.code,
          // The POST's message is whole; the history keeps its first line.
          message: r.error?.code === s.error.code ? r.error.message : (s.error.message ?? s.error.code),
          retryable: s.error.retryable ?? false,
        }
      : undefined,
  };
}

/** Polls the runs of the posted periods until each is COMPLETED or FAILED, or Ctrl-C. */
async function follow(
  ctx: Ctx,
  exportId: string,
  posted: PostedRun[],
): Promise<Map<string, RunSummary> | "interrupted"> {
  const { io } = ctx;
  const starts = posted.map((r) => Date.parse(r.period.start));
  const ends = posted.map((r) => Date.parse(r.period.end));
  const range = {
    start: new Date(Math.min(...starts)).toISOString(),
    end: new Date(Math.max(...ends)).toISOString(),
  };
  const wanted = new Set(posted.map((r) => Date.parse(r.period.start)));
  const stop = new AbortController();
  const off = io.onInterrupt(() => stop.abort());
  const status = await statusLine(io);
  const began = io.now().getTime();
  let wait = 250;
  try {
    for (;;) {
      const answer = expectAnswer(
        await ctx.client().get({ export: exportId, ...range }),
        runsResponse,
        `following the runs of ${exportId}`,
      );
      const byStart = new Map<string, RunSummary>();
      for (const s of answer.runs) {
        if (s.period && wanted.has(Date.parse(s.period.start))) byStart.set(normal(s.period.start), s);
      }
      const current = posted.map((p) => byStart.get(normal(p.period.start)));
      if (current.every((s) => s !== undefined && FINISHED.has(s.state))) {
        const result = new Map<string, RunSummary>();
        for (const p of posted) result.set(p.period.start, byStart.get(normal(p.period.start))!);
        return result;
      }
      status.set(
        progressText(exportId, posted, current, io.now().getTime() - began),
        progressText(exportId, posted, current, undefined),
      );
      await io.sleep(pollMs(io.env, wait), stop.signal);
      if (stop.signal.aborted) return "interrupted";
      wait = Math.min(wait * 2, 3000);
    }
  } finally {
    status.stop();
    off();
  }
}

/** ISO text compared as instants ("…T10:00:00Z" and "…T10:00:00.000Z" are one period). */
function normal(iso: string): string {
  return new Date(iso).toISOString();
}

function progressText(
  exportId: string,
  posted: PostedRun[],
  current: (RunSummary | undefined)[],
  /** Undefined: the text without the clock (what a piped status line compares). */
  elapsedMs: number | undefined,
): string {
  const clock = elapsedMs === undefined ? "" : ` (${duration(elapsedMs)})`;
  if (posted.length === 1) {
    const s = current[0];
    const job = s?.job ? `, job ${s.job.slice(s.job.indexOf(".") + 1)}` : "";
    return `${exportId} ${period(posted[0]!.period)}: ${s?.state ?? "waiting"}${job}${clock}`;
  }
  const done = current.filter((s) => s && FINISHED.has(s.state)).length;
  const states = new Map<string, number>();
  for (const s of current)
    if (s && !FINISHED.has(s.state)) states.set(s.state, (states.get(s.state) ?? 0) + 1);
  const open = [...states].map(([state, n]) => `${n} ${state}`).join(", ");
  return `${exportId}: ${done}/${plural(posted.length, "period")} finished${open ? ` (${open})` : ""}${clock}`;
}

function resultLine(r: RunResult, c: Ctx["out"]["c"]): string {
  const mark = r.state === "COMPLETED" ? c.green("✔") : r.state === "FAILED" ? c.red("✗") : c.cyan("…");
  const parts = [
    `${mark} ${period(r.period)}`,
    stateText(r.state, c),
    `attempt ${r.attempt}`,
    `${count(r.rows)} rows`,
    bytes(r.bytes),
  ];
  if (r.job) parts.push(`job ${r.job}`);
  if (r.durationSeconds !== undefined) parts.push(duration(r.durationSeconds * 1000));
  let line = parts.join("  ");
  if (r.error) line += `\n    ${c.red(`${r.error.code}: ${firstLine(r.error.message, 400)}`)}`;
  if (r.note) line += `\n    ${c.dim(r.note)}`;
  return line;
}
