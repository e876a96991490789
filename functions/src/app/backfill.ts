// Backfills: plan a range into chunks, fan the chunks out on Cloud Tasks, run
// each chunk when its task calls, report progress, cancel. A chunk is a run
// like any other (its own manifest, the same claim, write-ahead and
// recovery), selecting events by `timestamp` and always merging insert-only
// on uuid into the final table (persons: on versions), so a backfill adds no
// duplicate next to scheduled runs, forced reruns or another backfill, and
// spends DML, not the table's daily load quota.
import {
  backfillId,
  parseBackfill,
  planEventChunks,
  planPersonBuckets,
  type Backfill,
  type ChunkPlan,
} from "../core/backfill-plan.js";
import type { ExportDefinition } from "../core/definition.js";
import { ExportError, toExportError, type ErrorCode } from "../core/errors.js";
import { summaryFromMetadata, type RunManifest, type RunState, type RunSummary } from "../core/manifest.js";
import { backfillObject, chunkManifestObject, chunkManifestPrefix, chunkTaskId } from "../core/names.js";
import { isoSeconds, lastSettledPeriod, splitIntoPeriods, type Period } from "../core/periods.js";
import type { BackfillRequest, CancelBackfillRequest } from "../core/request.js";
import { eventsPerDayQuery, personsCountQuery } from "../core/source-sql.js";
import type { AppDeps } from "./deps.js";
import { advanceLoading, exportPeriod, type RunOutcome } from "./export-period.js";
import { loadExport, type StoredExport } from "./export-store.js";
import type { TaskQueue } from "./ports.js";
import { RunRecord } from "./run-record.js";

/**
 * Mutating DML on one table: 2 run at once and 20 wait (BigQuery quotas,
 * "DML statements"); more chunks at once than running + waiting MERGEs
 * would fail theirs with "Too many DML statements outstanding".
 */
export const MAX_CHUNK_CONCURRENCY = 22;
/** A chunk call waits this long for its load job before leaving the rest to finalizeRun. */
const LOAD_WAIT_MS = 10 * 60_000;
const POLL_MS = [500, 1000, 2000, 4000, 5000];

export interface BackfillPlanned {
  backfill: Backfill;
  /** "planned" now, or "resumed"/"reposted" (the same backfill posted again). */
  event: "planned" | "resumed" | "reposted";
  concurrency: number;
  enqueued: number;
}

function queueOf(deps: AppDeps): TaskQueue {
  if (!deps.tasks) {
    throw new ExportError(
      "INVALID_REQUEST",
      "Backfills need a Cloud Tasks queue: set BQX_BACKFILL_QUEUE (Terraform does) and BQX_TASKS_SERVICE_ACCOUNT.",
    );
  }
  return deps.tasks;
}

/** The range's periods, checked: on the export's boundaries, and all settled. */
function backfillPeriods(def: ExportDefinition, range: Period, deps: AppDeps): Period[] {
  const periods = splitIntoPeriods(range, def.interval, "backfill");
  const last = lastSettledPeriod(deps.now(), def.interval, deps.settings.settleMs[def.interval]);
  if (range.end.getTime() > last.end.getTime()) {
    throw new ExportError(
      "INVALID_INTERVAL",
      `backfill.end ${isoSeconds(range.end)} is later than the last full period, which ends at ${isoSeconds(last.end)}: end the backfill there (scheduled runs export the periods after it).`,
      { details: { field: "backfill.end", lastEnd: last.end.toISOString() } },
    );
  }
  return periods;
}

async function readBackfill(
  exportId: string,
  id: string,
  deps: AppDeps,
): Promise<{ backfill: Backfill; generation: string } | undefined> {
  const object = backfillObject(exportId, id);
  const found = await deps.store.read(object);
  return found ? { backfill: parseBackfill(found.text, object), generation: found.generation } : undefined;
}

type ChunkState = RunSummary & { bytes: number };

/** The chunks' states, from their manifests' metadata (a chunk without one has not started). */
async function chunkStates(b: Backfill, deps: AppDeps): Promise<Map<number, ChunkState>> {
  const listed = await deps.store.list(chunkManifestPrefix(b.exportId, b.id));
  const states = new Map<number, ChunkState>();
  for (const o of listed) {
    const chunk = /\/c(\d{5})\.json$/.exec(o.name)?.[1];
    if (chunk === undefined) continue;
    states.set(Number(chunk), {
      ...summaryFromMetadata(o.name, o.metadata),
      bytes: Number(o.metadata["bqx_bytes"] ?? 0),
    });
  }
  return states;
}

async function estimate(
  def: ExportDefinition,
  range: Period,
  deps: AppDeps,
): Promise<Map<string, number> | number> {
  if (def.model === "persons") {
    for await (const row of deps.source.rows(personsCountQuery(def.teamId, deps.settings.database))) {
      return Number((JSON.parse(row) as { n: string | number }).n);
    }
    return 0;
  }
  const perDay = new Map<string, number>();
  const query = eventsPerDayQuery({
    teamId: def.teamId,
    range,
    includeEvents: def.includeEvents,
    excludeEvents: def.excludeEvents,
    database: deps.settings.database,
  });
  for await (const row of deps.source.rows(query)) {
    const r = JSON.parse(row) as { day: string; n: string | number };
    perDay.set(r.day, Number(r.n));
  }
  return perDay;
}

function plan(
  def: ExportDefinition,
  range: Period,
  periods: Period[],
  estimated: Map<string, number> | number,
  deps: AppDeps,
): ChunkPlan[] {
  const target = deps.settings.backfillRowsPerChunk;
  return typeof estimated === "number"
    ? planPersonBuckets(range, estimated, target)
    : planEventChunks(periods, estimated, target);
}

/**
 * POST {exportId, backfill, concurrency?}: plans the backfill (or finds the
 * same one planned before) and enqueues a task per chunk still to do. Task
 * ids are deterministic per round, so a re-plan never enqueues a chunk
 * twice; a backfill that was cancelled or has failed chunks starts a new
 * round for the chunks not COMPLETED.
 */
export async function planBackfill(
  request: BackfillRequest,
  selfUrl: string,
  deps: AppDeps,
): Promise<BackfillPlanned> {
  const queue = queueOf(deps);
  const stored = await loadExport(request.exportId, deps.store);
  const def = stored.definition;
  const periods = backfillPeriods(def, request.range, deps);
  if (request.concurrency !== undefined && request.concurrency > MAX_CHUNK_CONCURRENCY) {
    throw new ExportError(
      "INVALID_REQUEST",
      `concurrency ${request.concurrency} is more than BigQuery lets MERGE into one table (2 running, 20 waiting): use at most ${MAX_CHUNK_CONCURRENCY}.`,
      { details: { field: "concurrency" } },
    );
  }
  const id = backfillId(def.id, request.range);
  const object = backfillObject(def.id, id);
  const now = deps.now().toISOString();
  let found = await readBackfill(def.id, id, deps);
  let event: BackfillPlanned["event"] = "reposted";
  if (!found) {
    const chunks = plan(def, request.range, periods, await estimate(def, request.range, deps), deps);
    const backfill: Backfill = {
      version: 1,
      id,
      exportId: def.id,
      model: def.model,
      definitionHash: stored.hash,
      range: { start: request.range.start.toISOString(), end: request.range.end.toISOString() },
      state: "RUNNING",
      round: 1,
      ...(request.concurrency !== undefined ? { concurrency: request.concurrency } : {}),
      rowsPerChunk: deps.settings.backfillRowsPerChunk,
      estimatedRows: chunks.reduce((n, c) => n + c.estimatedRows, 0),
      chunks,
      createdAt: now,
      updatedAt: now,
      history: [{ at: now, event: "planned", round: 1 }],
    };
    try {
      const generation = await deps.store.writeIfGeneration(object, JSON.stringify(backfill, null, 2), "0", {
        bqx_state: "RUNNING",
      });
      found = { backfill, generation };
      event = "planned";
    } catch (err) {
      // Posted twice at once: the other call's plan is the plan.
      if (toExportError(err).code !== "CONFLICT") throw err;
      found = await readBackfill(def.id, id, deps);
      if (!found) throw err;
    }
  }
  let { backfill } = found;
  const states = await chunkStates(backfill, deps);
  if (event !== "planned") {
    const failed = [...states.values()].some((s) => s.state === "FAILED");
    if (backfill.state === "CANCELLED" || failed) {
      backfill = {
        ...backfill,
        state: "RUNNING",
        round: backfill.round + 1,
        updatedAt: now,
        history: [...backfill.history, { at: now, event: "resumed", round: backfill.round + 1 }],
      };
      event = "resumed";
    }
    if (request.concurrency !== undefined) backfill = { ...backfill, concurrency: request.concurrency };
    await deps.store.writeIfGeneration(object, JSON.stringify(backfill, null, 2), found.generation, {
      bqx_state: backfill.state,
    });
  }
  if (backfill.concurrency !== undefined && (await queue.concurrency()) !== backfill.concurrency) {
    await queue.setConcurrency(backfill.concurrency);
  }
  let enqueued = 0;
  for (const chunk of backfill.chunks) {
    if (states.get(chunk.index)?.state === "COMPLETED") continue;
    const answer = await queue.enqueue({
      id: chunkTaskId(backfill.id, chunk.index, backfill.round),
      url: selfUrl,
      body: { exportId: def.id, backfill: backfill.range, chunk: chunk.index },
    });
    if (answer === "created") enqueued++;
  }
  deps.log.info(`backfill ${event}`, {
    export: def.id,
    backfill: backfill.id,
    chunks: backfill.chunks.length,
    round: backfill.round,
    enqueued,
  });
  return { backfill, event, concurrency: await queue.concurrency(), enqueued };
}

export type ChunkOutcome = RunOutcome | { kind: "skipped"; reason: string };

/**
 * A chunk's task call: runs the chunk (unless the backfill was cancelled),
 * waits for its load job and MERGEs within the call, so the queue's
 * concurrency cap covers the whole chunk and a failed MERGE is retried by
 * the queue with backoff.
 */
export async function runChunk(
  request: BackfillRequest & { chunk: number },
  deps: AppDeps,
): Promise<ChunkOutcome> {
  const stored = await loadExport(request.exportId, deps.store);
  const id = backfillId(stored.definition.id, request.range);
  const found = await readBackfill(stored.definition.id, id, deps);
  if (!found) {
    throw new ExportError("EXPORT_NOT_FOUND", `Backfill ${id} of ${request.exportId} was never planned.`);
  }
  const chunk = found.backfill.chunks[request.chunk];
  if (!chunk) {
    throw new ExportError("INVALID_REQUEST", `Backfill ${id} has no chunk ${request.chunk}.`);
  }
  if (found.backfill.state === "CANCELLED")
    return { kind: "skipped", reason: `backfill ${id} was cancelled` };
  return runChunkOf(stored, found.backfill, chunk, deps);
}

async function runChunkOf(
  stored: StoredExport,
  b: Backfill,
  chunk: ChunkPlan,
  deps: AppDeps,
): Promise<ChunkOutcome> {
  const outcome = await exportPeriod(
    stored.definition,
    { start: new Date(chunk.start), end: new Date(chunk.end) },
    {
      force: false,
      selection: "backfill",
      trigger: "backfill",
      definitionHash: stored.hash,
      backfill: { id: b.id, chunk: chunk.index, ...(chunk.bucket ? { bucket: chunk.bucket } : {}) },
    },
    deps,
  );
  if (outcome.kind !== "started" && !(outcome.kind === "in-flight" && outcome.manifest.state === "LOADING")) {
    return outcome;
  }
  // Wait for the load, then MERGE, within this call.
  const object = chunkManifestObject(b.exportId, b.id, chunk.index);
  const deadline = deps.now().getTime() + LOAD_WAIT_MS;
  for (let i = 0; ; i++) {
    const record = await RunRecord.read(deps.store, object);
    if (!record || record.manifest.state !== "LOADING") {
      return record ? finished(record.manifest) : outcome;
    }
    const now = await advanceLoading(record, deps, { running: "in-flight" });
    if (now.kind !== "in-flight" || now.manifest.state !== "LOADING") return now;
    if (deps.now().getTime() >= deadline) return { kind: "started", manifest: now.manifest, notes: [] };
    await deps.sleep(POLL_MS[Math.min(i, POLL_MS.length - 1)]!);
  }
}

function finished(m: RunManifest): RunOutcome {
  if (m.state === "COMPLETED") return { kind: "completed", manifest: m, alreadyDone: false, notes: [] };
  if (m.state === "FAILED" && m.error) {
    return {
      kind: "failed",
      manifest: m,
      error: new ExportError(m.error.code as ErrorCode, m.error.message, { retryable: m.error.retryable }),
    };
  }
  return { kind: "in-flight", manifest: m };
}

export interface BackfillProgress {
  id: string;
  exportId: string;
  state: "RUNNING" | "CANCELLED" | "COMPLETED" | "FAILED";
  range: { start: string; end: string };
  round: number;
  concurrency: number | undefined;
  chunks: { total: number } & Record<"pending" | "running" | "completed" | "failed", number>;
  estimatedRows: number;
  rows: number;
  bytes: number;
  rowsPerSecond: number | undefined;
  etaSeconds: number | undefined;
  failedChunks: { chunk: number; error: { code: string; message: string } }[];
  createdAt: string;
  history: Backfill["history"];
}

/** GET ?export=<id>&backfill=<bid>: where a backfill stands. */
export async function backfillProgress(
  exportId: string,
  id: string,
  deps: AppDeps,
): Promise<BackfillProgress> {
  const found = await readBackfill(exportId, id, deps);
  if (!found) throw new ExportError("EXPORT_NOT_FOUND", `No backfill ${id} of export ${exportId}.`);
  const b = found.backfill;
  const states = await chunkStates(b, deps);
  const count: Record<"pending" | "running" | "completed" | "failed", number> = {
    pending: 0,
    running: 0,
    completed: 0,
    failed: 0,
  };
  let rows = 0;
  let bytes = 0;
  let completedEstimate = 0;
  const failedChunks: BackfillProgress["failedChunks"] = [];
  for (const chunk of b.chunks) {
    const s = states.get(chunk.index);
    const state: RunState | undefined = s && s.state !== "UNKNOWN" ? s.state : undefined;
    rows += s?.rows ?? 0;
    bytes += s?.bytes ?? 0;
    if (state === "COMPLETED") {
      count.completed++;
      completedEstimate += chunk.estimatedRows;
    } else if (state === "FAILED") {
      count.failed++;
      const m = (await RunRecord.read(deps.store, chunkManifestObject(exportId, id, chunk.index)))?.manifest;
      failedChunks.push({
        chunk: chunk.index,
        error: { code: m?.error?.code ?? s?.error?.code ?? "UNKNOWN", message: m?.error?.message ?? "" },
      });
    } else if (state === "STAGING" || state === "LOADING") count.running++;
    else count.pending++;
  }
  const elapsed = (deps.now().getTime() - Date.parse(b.createdAt)) / 1000;
  const rowsPerSecond = rows > 0 && elapsed > 0 ? rows / elapsed : undefined;
  const remaining = Math.max(0, b.estimatedRows - completedEstimate);
  const state =
    count.completed === b.chunks.length
      ? "COMPLETED"
      : b.state === "CANCELLED"
        ? "CANCELLED"
        : count.failed > 0 && count.running + count.pending === 0
          ? "FAILED"
          : "RUNNING";
  return {
    id: b.id,
    exportId: b.exportId,
    state,
    range: b.range,
    round: b.round,
    concurrency: b.concurrency,
    chunks: { total: b.chunks.length, ...count },
    estimatedRows: b.estimatedRows,
    rows,
    bytes,
    rowsPerSecond,
    etaSeconds: state !== "RUNNING" ? 0 : rowsPerSecond ? Math.round(remaining / rowsPerSecond) : undefined,
    failedChunks,
    createdAt: b.createdAt,
    history: b.history,
  };
}

/** POST {exportId, cancelBackfill}: no new chunk starts; queued tasks are deleted; running chunks finish. */
export async function cancelBackfill(
  request: CancelBackfillRequest,
  deps: AppDeps,
): Promise<BackfillProgress> {
  const queue = queueOf(deps);
  const found = await readBackfill(request.exportId, request.backfillId, deps);
  if (!found) {
    throw new ExportError(
      "EXPORT_NOT_FOUND",
      `No backfill ${request.backfillId} of export ${request.exportId}.`,
    );
  }
  let b = found.backfill;
  if (b.state !== "CANCELLED") {
    const now = deps.now().toISOString();
    b = {
      ...b,
      state: "CANCELLED",
      updatedAt: now,
      history: [...b.history, { at: now, event: "cancelled", round: b.round }],
    };
    await deps.store.writeIfGeneration(
      backfillObject(b.exportId, b.id),
      JSON.stringify(b, null, 2),
      found.generation,
      {
        bqx_state: "CANCELLED",
      },
    );
  }
  const states = await chunkStates(b, deps);
  for (const chunk of b.chunks) {
    if (states.get(chunk.index) === undefined) await queue.remove(chunkTaskId(b.id, chunk.index, b.round));
  }
  deps.log.info("backfill cancelled", { export: b.exportId, backfill: b.id });
  return backfillProgress(b.exportId, b.id, deps);
}
