// bqx backfill: plan a backfill (POST {exportId, backfill: {start, end},
// concurrency?}) and follow it with a live progress bar; attach to one again,
// show its status, or cancel it. Following never cancels: Ctrl-C detaches
// and says how to re-attach.
import cliProgress from "cli-progress";
import { z } from "zod";
import { expectAnswer } from "../client.js";
import type { Ctx } from "../context.js";
import { EXIT, usageError, type ExitCode } from "../errors.js";
import { bytes, count, duration, parseTime, period, plural } from "../format.js";
import { isInteractive, pollMs, type Colors } from "../io.js";
import {
  backfillProgress,
  backfillStarted,
  chunkErrorText,
  type BackfillProgress,
  type BackfillStarted,
} from "../responses.js";

export interface BackfillOptions {
  start: string;
  end: string;
  concurrency?: number;
  wait: boolean;
}

/** States after which a backfill changes no more. */
const TERMINAL = new Set(["COMPLETED", "FAILED", "CANCELLED", "CANCELED", "DONE"]);

export function isFinished(b: BackfillProgress): boolean {
  if (TERMINAL.has(b.state.toUpperCase())) return true;
  const c = b.chunks;
  return c.total > 0 && c.pending === 0 && c.running === 0;
}

export function succeeded(b: BackfillProgress): boolean {
  const state = b.state.toUpperCase();
  return b.chunks.failed === 0 && state !== "FAILED" && state !== "CANCELLED" && state !== "CANCELED";
}

export async function backfillCommand(ctx: Ctx, exportId: string, opts: BackfillOptions): Promise<ExitCode> {
  const range = { start: parseTime("--start", opts.start), end: parseTime("--end", opts.end) };
  if (Date.parse(range.start) >= Date.parse(range.end)) {
    throw usageError(`--start ${range.start} is not before --end ${range.end}`);
  }
  const { out } = ctx;
  const started = expectAnswer(
    await ctx.client().post({
      exportId,
      backfill: range,
      ...(opts.concurrency !== undefined ? { concurrency: opts.concurrency } : {}),
    }),
    backfillStarted,
    `starting a backfill of ${exportId}`,
  ).backfill;
  if (!opts.wait) {
    if (out.json) out.emitJson({ backfill: started });
    else {
      out.line(startedLine(exportId, range, started, out.c));
      out.line(`Follow it with: bqx backfill attach ${exportId} ${started.id}`);
    }
    return EXIT.ok;
  }
  if (!out.json) out.note(startedLine(exportId, range, started, out.ce));
  return follow(ctx, exportId, started.id);
}

export async function attachCommand(ctx: Ctx, exportId: string, backfillId: string): Promise<ExitCode> {
  return follow(ctx, exportId, backfillId);
}

export async function statusCommand(ctx: Ctx, exportId: string, backfillId: string): Promise<ExitCode> {
  const b = await progress(ctx, exportId, backfillId);
  if (ctx.out.json) ctx.out.emitJson({ backfill: b });
  else for (const line of summaryLines(exportId, b, ctx.out.c)) ctx.out.line(line);
  return succeeded(b) ? EXIT.ok : EXIT.failed;
}

export async function cancelCommand(ctx: Ctx, exportId: string, backfillId: string): Promise<ExitCode> {
  const answer = await ctx.client().post({ exportId, cancelBackfill: backfillId });
  expectAnswer(answer, z.looseObject({}), `cancelling ${backfillId}`);
  // A backfill in the answer is shown as status shows it.
  const parsed = backfillProgress.safeParse(answer.body);
  if (ctx.out.json) {
    ctx.out.emitJson(answer.body);
    return EXIT.ok;
  }
  ctx.out.line(
    `${ctx.out.c.green("✔")} cancel requested for backfill ${backfillId} of ${exportId}: chunks not yet started will not run; running ones finish.`,
  );
  if (parsed.success)
    for (const line of summaryLines(exportId, parsed.data.backfill, ctx.out.c)) ctx.out.line(line);
  return EXIT.ok;
}

async function progress(ctx: Ctx, exportId: string, backfillId: string): Promise<BackfillProgress> {
  return expectAnswer(
    await ctx.client().get({ export: exportId, backfill: backfillId }),
    backfillProgress,
    `reading backfill ${backfillId}`,
  ).backfill;
}

function startedLine(
  exportId: string,
  range: { start: string; end: string },
  b: BackfillStarted,
  c: Colors,
): string {
  const perChunk = periodsText(b.periodsPerChunk);
  const estimate = b.estimatedRows !== undefined ? `, about ${count(b.estimatedRows)} rows` : "";
  return `Backfill ${c.bold(b.id)} of ${exportId}, ${period(range)}: ${plural(b.chunks, "chunk")}${perChunk}${estimate}.`;
}

/** " of 24 periods", " of 1–24 periods" (chunks differ), or nothing. */
function periodsText(periods: BackfillStarted["periodsPerChunk"]): string {
  const list = periods === undefined ? [] : Array.isArray(periods) ? periods : [periods];
  if (list.length === 0) return "";
  const min = Math.min(...list);
  const max = Math.max(...list);
  return min === max ? ` of ${plural(min, "period")}` : ` of ${count(min)}–${count(max)} periods`;
}

/** One plain line of progress, as the non-terminal mode prints it. */
export function progressLine(exportId: string, b: BackfillProgress): string {
  const c = b.chunks;
  const parts = [
    `backfill ${b.id} of ${exportId}: ${b.state}`,
    `${c.completed}/${c.total} chunks done`,
    ...(c.running > 0 ? [`${c.running} running`] : []),
    ...(c.failed > 0 ? [`${c.failed} failed`] : []),
    `${count(b.rows ?? 0)} rows`,
    ...(b.rowsPerSecond ? [`${count(Math.round(b.rowsPerSecond))} rows/s`] : []),
    ...(b.etaSeconds !== undefined && b.etaSeconds !== null && !isFinished(b)
      ? [`ETA ${duration(b.etaSeconds * 1000)}`]
      : []),
  ];
  return parts.join(", ");
}

export function summaryLines(exportId: string, b: BackfillProgress, c: Colors): string[] {
  const ok = succeeded(b);
  const finished = isFinished(b);
  const mark = !finished ? c.cyan("…") : ok ? c.green("✔") : c.red("✗");
  const ch = b.chunks;
  const lines = [
    `${mark} backfill ${c.bold(b.id)} of ${exportId}: ${b.state}, ${ch.completed}/${ch.total} chunks done` +
      `${ch.running > 0 ? `, ${ch.running} running` : ""}${ch.pending > 0 ? `, ${ch.pending} pending` : ""}` +
      `${ch.failed > 0 ? `, ${c.red(`${ch.failed} failed`)}` : ""}; ${count(b.rows ?? 0)} rows, ${bytes(b.bytes ?? 0)}` +
      `${!finished && b.etaSeconds !== undefined && b.etaSeconds !== null ? `; ETA ${duration(b.etaSeconds * 1000)}` : ""}`,
  ];
  for (const f of b.failedChunks ?? []) lines.push(c.red(`    chunk ${f.chunk}: ${chunkErrorText(f.error)}`));
  return lines;
}

/** Follows a backfill until it finishes (exit 0 or 1) or Ctrl-C detaches (exit 130). */
async function follow(ctx: Ctx, exportId: string, backfillId: string): Promise<ExitCode> {
  const { io, out } = ctx;
  const every = pollMs(io.env, 2000);
  const stop = new AbortController();
  const off = io.onInterrupt(() => stop.abort());
  const tty = isInteractive(io.stderr, io.env);
  const bar = tty
    ? new cliProgress.SingleBar(
        {
          stream: io.stderr as NodeJS.WritableStream,
          format: `${backfillId} {bar} {value}/{total} chunks | {rows} rows | {rate} rows/s | ETA {eta_text}{failed}`,
          hideCursor: true,
          barsize: 24,
          etaBuffer: 1,
        },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  let last = "";
  let b: BackfillProgress | undefined;
  try {
    for (;;) {
      b = await progress(ctx, exportId, backfillId);
      const payload = {
        rows: count(b.rows ?? 0),
        rate: b.rowsPerSecond ? count(Math.round(b.rowsPerSecond)) : "-",
        eta_text: b.etaSeconds !== undefined && b.etaSeconds !== null ? duration(b.etaSeconds * 1000) : "-",
        failed: b.chunks.failed > 0 ? ` | ${b.chunks.failed} failed` : "",
      };
      if (bar) {
        if (last === "") bar.start(b.chunks.total, b.chunks.completed + b.chunks.failed, payload);
        else bar.update(b.chunks.completed + b.chunks.failed, payload);
        last = "drawn";
      } else if (!out.json) {
        // Not a terminal: a plain line whenever the progress moved.
        const line = progressLine(exportId, b);
        if (line !== last) out.note(line);
        last = line;
      }
      if (isFinished(b)) break;
      await io.sleep(every, stop.signal);
      if (stop.signal.aborted) {
        bar?.stop();
        out.note(
          `Detached from backfill ${backfillId}: it goes on. Re-attach: bqx backfill attach ${exportId} ${backfillId}` +
            `   Cancel: bqx backfill cancel ${exportId} ${backfillId}`,
        );
        return EXIT.interrupted;
      }
    }
  } finally {
    bar?.stop();
    off();
  }
  if (out.json) out.emitJson({ backfill: b });
  else for (const line of summaryLines(exportId, b, out.c)) out.line(line);
  return succeeded(b) ? EXIT.ok : EXIT.failed;
}
