// bqx runs <id>: the export's run history (GET ?export=<id>), newest period
// first; --watch refreshes it in place on a terminal, or prints what changed
// when piped.
import { expectAnswer } from "../client.js";
import type { Ctx } from "../context.js";
import { EXIT, usageError, type ExitCode } from "../errors.js";
import { bytes, count, duration, firstLine, period, utc } from "../format.js";
import { isInteractive, lineWidth, pollMs, type Colors } from "../io.js";
import { runsResponse, type ExportEvent, type RunSummary } from "../responses.js";
import { renderTable } from "../table.js";

export interface RunsOptions {
  limit: number;
  state?: string;
  watch: boolean;
}

const STATES = ["STAGING", "LOADING", "COMPLETED", "FAILED"];

export async function runsCommand(ctx: Ctx, exportId: string, opts: RunsOptions): Promise<ExitCode> {
  const state = opts.state?.toUpperCase();
  if (state !== undefined && !STATES.includes(state)) {
    throw usageError(`--state ${opts.state} is not a run state`, `use one of ${STATES.join(", ")}`);
  }
  const fetchRuns = async () => {
    const answer = expectAnswer(
      await ctx.client().get({ export: exportId }),
      runsResponse,
      `listing the runs of ${exportId}`,
    );
    const runs = answer.runs.filter((r) => state === undefined || r.state === state).slice(0, opts.limit);
    return { ...answer, runs };
  };
  const first = await fetchRuns();
  if (!opts.watch) {
    if (ctx.out.json) ctx.out.emitJson(first);
    else {
      printRuns(ctx, exportId, first.runs);
      printEvents(ctx, first.events ?? []);
    }
    return EXIT.ok;
  }
  return watch(ctx, exportId, first.runs, fetchRuns);
}

/** Duration of the current attempt: to its last update once finished, to now while running. */
export function runDuration(run: RunSummary, now: Date): number | undefined {
  if (!run.startedAt) return undefined;
  const start = Date.parse(run.startedAt);
  const finished = run.state === "COMPLETED" || run.state === "FAILED";
  const end = finished ? Date.parse(run.updatedAt ?? "") : now.getTime();
  return Number.isFinite(start) && Number.isFinite(end) ? end - start : undefined;
}

/** The job id without its project and location ("p:US.bqx_…" → "bqx_…"); --json keeps all of it. */
function shortJob(job: string | undefined): string {
  if (!job) return "-";
  return job.slice(job.indexOf(".") + 1);
}

export function stateText(state: string, c: Colors): string {
  switch (state) {
    case "COMPLETED":
      return c.green(state);
    case "FAILED":
      return c.red(state);
    case "STAGING":
    case "LOADING":
      return c.cyan(state);
    default:
      return c.yellow(state);
  }
}

export function runsTable(runs: RunSummary[], now: Date, c: Colors, maxWidth?: number): string[] {
  const rows = runs.map((r) => [
    period(r.period),
    stateText(r.state, c) + (r.definitionChanged ? c.yellow("*") : ""),
    r.attempt === undefined ? "-" : String(r.attempt),
    r.trigger ?? "-",
    count(r.rows),
    bytes(r.bytes),
    shortJob(r.job),
    duration(runDuration(r, now)),
    r.error ? c.red(firstLine(`${r.error.code}${r.error.message ? `: ${r.error.message}` : ""}`)) : "",
  ]);
  return renderTable(
    ["PERIOD (UTC)", "STATE", "ATTEMPT", "TRIGGER", "ROWS", "BYTES", "JOB", "DURATION", "ERROR"],
    rows,
    maxWidth,
  );
}

function printRuns(ctx: Ctx, exportId: string, runs: RunSummary[]): void {
  const { out } = ctx;
  if (runs.length === 0) {
    out.line(`No runs of ${exportId} yet.`);
    return;
  }
  const width = lineWidth(out.io.stdout);
  for (const line of runsTable(runs, out.io.now(), out.c, width)) out.line(line);
  if (runs.some((r) => r.definitionChanged)) {
    out.line(out.c.yellow("* the first run after a change of the export's definition"));
  }
}

/** Auto-pause's pause and resume events, newest first, under the runs. */
function printEvents(ctx: Ctx, events: ExportEvent[]): void {
  const { out } = ctx;
  const recent = [...events].sort((a, b) => b.at.localeCompare(a.at)).slice(0, 5);
  for (const e of recent) {
    const text = `${e.event} ${utc(e.at)}${e.by ? ` by ${e.by}` : ""}${e.reason ? `: ${e.reason}` : ""}`;
    out.line(e.event === "paused" ? out.c.yellow(`! ${text}`) : `  ${text}`);
  }
}

/** A run's identity and what --watch reports when it changes. */
function key(r: RunSummary): string {
  return r.object;
}
function signature(r: RunSummary): string {
  return `${r.state}|${r.attempt}|${r.rows}|${r.error?.code ?? ""}`;
}

async function watch(
  ctx: Ctx,
  exportId: string,
  initial: RunSummary[],
  fetchRuns: () => Promise<{ runs: RunSummary[] }>,
): Promise<ExitCode> {
  const { out, io } = ctx;
  const every = pollMs(io.env, 2000);
  const stop = new AbortController();
  const off = io.onInterrupt(() => stop.abort());
  const tty = isInteractive(io.stdout, io.env) && !out.json;
  let drawn = 0;
  const seen = new Map(initial.map((r) => [key(r), signature(r)]));
  const draw = (runs: RunSummary[]) => {
    const lines = [
      out.c.dim(
        `bqx runs ${exportId}: every ${every / 1000}s, ${io.now().toISOString().slice(11, 19)} UTC (Ctrl-C to stop)`,
      ),
      ...(runs.length > 0
        ? runsTable(runs, io.now(), out.c, lineWidth(io.stdout))
        : [`No runs of ${exportId} yet.`]),
    ];
    // Up to the first line drawn last time, clear to the end of the screen, draw again.
    io.stdout.write(`${drawn > 0 ? `\x1b[${drawn}A\r` : ""}\x1b[0J${lines.join("\n")}\n`);
    drawn = lines.length;
  };
  try {
    if (tty) draw(initial);
    else if (out.json) for (const r of initial) out.line(JSON.stringify(r));
    else printRuns(ctx, exportId, initial);
    while (!stop.signal.aborted) {
      await io.sleep(every, stop.signal);
      if (stop.signal.aborted) break;
      const { runs } = await fetchRuns();
      if (tty) {
        draw(runs);
        continue;
      }
      // Piped: one line per run that is new or changed (JSON lines with --json).
      for (const r of [...runs].reverse()) {
        if (seen.get(key(r)) === signature(r)) continue;
        seen.set(key(r), signature(r));
        out.line(out.json ? JSON.stringify(r) : changeLine(r, io.now(), out.c));
      }
    }
  } finally {
    off();
  }
  return EXIT.ok;
}

function changeLine(r: RunSummary, now: Date, c: Colors): string {
  const parts = [
    period(r.period),
    stateText(r.state, c),
    `attempt ${r.attempt ?? "-"}`,
    `${count(r.rows)} rows`,
    bytes(r.bytes),
    duration(runDuration(r, now)),
  ];
  if (r.error) parts.push(c.red(`${r.error.code}${r.error.message ? `: ${r.error.message}` : ""}`));
  return parts.join("  ");
}
