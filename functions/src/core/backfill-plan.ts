// A backfill: any range of an export, planned into chunks of whole periods
// (events) or hash buckets of the team's keys (persons), each chunk one run.
// The plan and the backfill's state are one JSON document,
// backfills/<export>/<id>.json; the id is derived from the export and the
// range, so posting the same backfill twice is one backfill.
import { createHash } from "node:crypto";
import { z } from "zod";
import { ExportError } from "./errors.js";
import { parseStoredJson } from "./stored-json.js";
import type { Period } from "./periods.js";

/** "bf-" and 16 hex digits of a hash of the export and the range. */
export function backfillId(exportId: string, range: Period): string {
  const key = `${exportId}|${range.start.toISOString()}|${range.end.toISOString()}`;
  return `bf-${createHash("sha256").update(key).digest("hex").slice(0, 16)}`;
}

/** Rows one chunk aims at: what an instance stages in about half of exportRun's timeout (README "Capacity"). */
export const DEFAULT_ROWS_PER_CHUNK = 20_000_000;
/** A backfill's chunks are numbered with five digits (names.chunkRunId). */
export const MAX_CHUNKS = 100_000;

const chunkSchema = z.object({
  index: z.number().int().min(0),
  start: z.iso.datetime(),
  end: z.iso.datetime(),
  /** Periods in the chunk (events); 0 for a persons bucket. */
  periods: z.number().int().min(0),
  estimatedRows: z.number().int().min(0),
  /** Persons: the slice of the team's keys, by a hash of distinct_id. */
  bucket: z.object({ index: z.number().int().min(0), of: z.number().int().min(1) }).optional(),
});
export type ChunkPlan = z.infer<typeof chunkSchema>;

export const BACKFILL_STATES = ["RUNNING", "CANCELLED"] as const;

export const backfillSchema = z.object({
  version: z.literal(1),
  id: z.string(),
  exportId: z.string(),
  model: z.enum(["events", "persons"]),
  definitionHash: z.string(),
  range: z.object({ start: z.iso.datetime(), end: z.iso.datetime() }),
  /** RUNNING: chunks are dispatched; CANCELLED: no new chunk starts (running ones finish). */
  state: z.enum(BACKFILL_STATES),
  /** Dispatch round: a re-post after a cancel or failed chunks dispatches again under new task names. */
  round: z.number().int().min(1),
  /** The queue's concurrency cap asked for (undefined: the queue's own). */
  concurrency: z.number().int().min(1).optional(),
  rowsPerChunk: z.number().int().min(1),
  estimatedRows: z.number().int().min(0),
  chunks: z.array(chunkSchema),
  createdAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
  history: z.array(
    z.object({
      at: z.iso.datetime(),
      event: z.enum(["planned", "cancelled", "resumed", "reposted"]),
      round: z.number().int(),
      note: z.string().optional(),
    }),
  ),
});
export type Backfill = z.infer<typeof backfillSchema>;

export function parseBackfill(text: string, objectName: string): Backfill {
  return parseStoredJson(backfillSchema, text, `Backfill ${objectName}`);
}

const DAY_MS = 86_400_000;

/**
 * Estimated rows of a period from per-day counts (UTC days; parts of a day
 * pro rata). A day's count covers only its part inside the range (the count
 * query is bounded by it), so it is spread over that part, not over 24 hours.
 */
function periodRows(period: Period, perDay: ReadonlyMap<string, number>, range: Period): number {
  let rows = 0;
  for (let t = period.start.getTime(); t < period.end.getTime();) {
    const dayStart = Math.floor(t / DAY_MS) * DAY_MS;
    const dayEnd = dayStart + DAY_MS;
    const until = Math.min(period.end.getTime(), dayEnd);
    const counted = Math.min(dayEnd, range.end.getTime()) - Math.max(dayStart, range.start.getTime());
    const day = new Date(dayStart).toISOString().slice(0, 10);
    rows += ((perDay.get(day) ?? 0) * (until - t)) / counted;
    t = until;
  }
  return rows;
}

/**
 * Events: consecutive periods grouped into chunks of at most `rowsPerChunk`
 * estimated rows (a period over the target is a chunk of its own). The
 * chunks cover the range exactly, in order.
 */
export function planEventChunks(
  periods: readonly Period[],
  perDay: ReadonlyMap<string, number>,
  rowsPerChunk: number,
): ChunkPlan[] {
  const chunks: ChunkPlan[] = [];
  let current: { start: Date; end: Date; periods: number; rows: number } | undefined;
  const close = () => {
    if (!current) return;
    chunks.push({
      index: chunks.length,
      start: current.start.toISOString(),
      end: current.end.toISOString(),
      periods: current.periods,
      estimatedRows: Math.round(current.rows),
    });
    current = undefined;
  };
  const range = { start: periods[0]?.start ?? new Date(0), end: periods.at(-1)?.end ?? new Date(0) };
  for (const period of periods) {
    const rows = periodRows(period, perDay, range);
    if (current && current.rows + rows > rowsPerChunk) close();
    current ??= { start: period.start, end: period.start, periods: 0, rows: 0 };
    current.end = period.end;
    current.periods++;
    current.rows += rows;
  }
  close();
  if (chunks.length > MAX_CHUNKS) {
    throw new ExportError(
      "INVALID_INTERVAL",
      `This backfill would need ${chunks.length} chunks (at most ${MAX_CHUNKS}): back fill a shorter range per request, or raise BQX_BACKFILL_ROWS_PER_CHUNK.`,
    );
  }
  return chunks;
}

/**
 * Persons: a backfill exports the latest state of every key of the team, in
 * enough hash buckets of distinct_id that each holds about `rowsPerChunk`
 * keys. Every bucket covers the backfill's range (which does not select
 * persons; it only names the backfill).
 */
export function planPersonBuckets(range: Period, keys: number, rowsPerChunk: number): ChunkPlan[] {
  const of = Math.min(MAX_CHUNKS, Math.max(1, Math.ceil(keys / rowsPerChunk)));
  return Array.from({ length: of }, (_, index) => ({
    index,
    start: range.start.toISOString(),
    end: range.end.toISOString(),
    periods: 0,
    estimatedRows: Math.round(keys / of),
    bucket: { index, of },
  }));
}
