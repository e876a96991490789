// One export over one period: claim the run, stage the period's rows in GCS,
// make sure the destination table exists, and start ONE load job. The run
// manifest is written before each step that has an effect outside it (the
// LOADING state names the job before the job is inserted), so a crash at any
// point is recovered by the next call for the period or by the sweep, and a
// call that lost the run to another stops at its next manifest write.
import type { ExportDefinition } from "../core/definition.js";
import { ExportError, toExportError } from "../core/errors.js";
import type { TableRef } from "../core/identifiers.js";
import { decideClaim, newAttempt, transition, type RunManifest, type RunTrigger } from "../core/manifest.js";
import { destinationTable, stageTable, type FieldSpec } from "../core/models.js";
import {
  chunkManifestObject,
  chunkRunId,
  jobLabels,
  loadJobId,
  manifestObject,
  runId,
  stageTableId,
  stagingPrefix,
} from "../core/names.js";
import type { Period } from "../core/periods.js";
import { createRowEncoder } from "../core/rows.js";
import { checkTableSchema } from "../core/schema-check.js";
import { eventsQuery, personsQuery, personsSnapshotQuery, type EventsSelection } from "../core/source-sql.js";
import { usesStageTable, writePath } from "../core/write-path.js";
import type { AppDeps } from "./deps.js";
import { completeLoad } from "./complete-load.js";
import type { JobInfo, Warehouse } from "./ports.js";
import { startRecordedLoad } from "./load-job.js";
import { logRunCompleted, logRunFailed } from "./run-events.js";
import { RunRecord } from "./run-record.js";
import { stageLines, stageRows, type StagedParts } from "./stage-rows.js";

export type RunOutcome =
  /** The load job is running; finalizeRun completes the run. */
  | { kind: "started"; manifest: RunManifest; notes: string[] }
  /** Done: now (empty period, fast job) or earlier (`alreadyDone`). */
  | { kind: "completed"; manifest: RunManifest; alreadyDone: boolean; notes: string[] }
  /** Another call owns the run. */
  | { kind: "in-flight"; manifest: RunManifest }
  /** Recorded as FAILED; `error.retryable` says whether calling again can help. */
  | { kind: "failed"; manifest: RunManifest; error: ExportError };

export interface ExportOptions {
  force: boolean;
  selection: EventsSelection;
  trigger: RunTrigger;
  /** definitionHash(def), recorded on the run. */
  definitionHash: string;
  /** A backfill chunk's run (its own manifest and run id); undefined for a period's run. */
  backfill?: ChunkOfRun;
}

/** Which backfill chunk a run is; persons chunks are hash buckets of the team's keys. */
export type ChunkOfRun = NonNullable<RunManifest["backfill"]>;

export async function exportPeriod(
  def: ExportDefinition,
  period: Period,
  opts: ExportOptions,
  deps: AppDeps,
): Promise<RunOutcome> {
  const object = opts.backfill
    ? chunkManifestObject(def.id, opts.backfill.id, opts.backfill.chunk)
    : manifestObject(def.id, period);
  const run = opts.backfill
    ? chunkRunId(def.id, opts.backfill.id, opts.backfill.chunk)
    : runId(def.id, period);
  const now = deps.now();
  const existing = await RunRecord.read(deps.store, object);
  const decision = decideClaim(existing?.manifest, now, {
    force: opts.force,
    staleAfterMs: deps.settings.staleAfterMs,
  });

  let record: RunRecord;
  try {
    switch (decision.kind) {
      case "completed":
        return { kind: "completed", manifest: decision.manifest, alreadyDone: true, notes: [] };
      case "in-flight":
        return await checkInFlight(existing!, deps);
      case "create":
        record = await RunRecord.claim(deps.store, object, freshManifest(def, period, run, opts, now), "0");
        break;
      case "retry": {
        // The run's whole history decides how this attempt writes: once an
        // earlier attempt may have committed rows, it merges on uuid.
        const path = writePath(def, {
          selection: opts.selection,
          previous: decision.manifest,
          forced: decision.forced,
        });
        const next = {
          ...newAttempt(decision.manifest, decision.attempt, now, { writePath: path, note: decision.reason }),
          definition: def,
          definitionHash: opts.definitionHash,
          selection: opts.selection,
          trigger: opts.trigger,
        };
        record = await RunRecord.claim(deps.store, object, next, existing!.gen);
        break;
      }
    }
  } catch (err) {
    const e = toExportError(err);
    if (e.code !== "CONFLICT") throw e;
    // Another call claimed the run between our read and our write.
    const now2 = await RunRecord.read(deps.store, object);
    return { kind: "in-flight", manifest: now2?.manifest ?? existing!.manifest };
  }
  return stageAndLoad(record, def, period, opts, deps);
}

function freshManifest(
  def: ExportDefinition,
  period: Period,
  run: string,
  opts: ExportOptions,
  now: Date,
): RunManifest {
  const at = now.toISOString();
  return {
    version: 1,
    exportId: def.id,
    runId: run,
    definition: def,
    definitionHash: opts.definitionHash,
    period: { start: period.start.toISOString(), end: period.end.toISOString() },
    selection: opts.selection,
    trigger: opts.trigger,
    ...(opts.backfill ? { backfill: opts.backfill } : {}),
    attempt: 1,
    state: "STAGING",
    createdAt: at,
    updatedAt: at,
    useJsonType: def.useJsonType,
    writePath: writePath(def, { selection: opts.selection, previous: undefined, forced: false }),
    files: [],
    rows: 0,
    bytes: 0,
    stagedBytes: 0,
    history: [{ at, state: "STAGING", attempt: 1 }],
  };
}

/**
 * A LOADING run whose job has finished (its event was lost or is late) is
 * finalized now; one whose job was never inserted is started.
 */
async function checkInFlight(record: RunRecord, deps: AppDeps): Promise<RunOutcome> {
  if (record.manifest.state !== "LOADING") return { kind: "in-flight", manifest: record.manifest };
  return advanceLoading(record, deps, { running: "in-flight" });
}

/**
 * Moves a LOADING run on as finalizeRun would (completeLoad) and says what
 * became of it. A failure it cannot record (a retryable one) leaves the run
 * LOADING, for the next delivery, call or sweep, and is reported. A job still
 * running is `running`: "started" for the call that started it, "in-flight"
 * for any other.
 */
export async function advanceLoading(
  record: RunRecord,
  deps: AppDeps,
  opts: { running: "started" | "in-flight"; known?: JobInfo; notes?: string[] },
): Promise<RunOutcome> {
  const notes = opts.notes ?? [];
  let done;
  try {
    done = await completeLoad(record, deps, opts.known);
  } catch (err) {
    return { kind: "failed", manifest: record.manifest, error: toExportError(err) };
  }
  switch (done.kind) {
    case "completed":
      return { kind: "completed", manifest: done.manifest, alreadyDone: false, notes };
    case "failed":
      return { kind: "failed", manifest: done.manifest, error: done.error };
    case "not-done":
      return opts.running === "started"
        ? { kind: "started", manifest: done.manifest, notes }
        : { kind: "in-flight", manifest: done.manifest };
    case "ignored":
      return { kind: "in-flight", manifest: record.manifest };
  }
}

async function stageAndLoad(
  record: RunRecord,
  def: ExportDefinition,
  period: Period,
  opts: ExportOptions,
  deps: AppDeps,
): Promise<RunOutcome> {
  const m0 = record.manifest;
  const log = deps.log.child({ export: def.id, run: m0.runId, attempt: m0.attempt, model: def.model });
  const dest = def.destination;
  const final: TableRef = { projectId: dest.projectId, datasetId: dest.datasetId, tableId: dest.tableId };
  try {
    const warehouse = await deps.warehouses.forDestination(dest);
    // Destination first: a missing dataset or permission fails before any
    // source read or staging.
    const location = await datasetLocation(warehouse, def);
    const table = await ensureTable(warehouse, def, final);
    const prefix = stagingPrefix(def.id, m0.runId, m0.attempt);
    let m = await record.save({
      ...m0,
      location,
      useJsonType: table.useJsonType,
      stagingPrefix: prefix,
      updatedAt: deps.now().toISOString(),
    });

    const exportedAt = deps.now();
    const query =
      def.model === "events"
        ? eventsQuery({
            teamId: def.teamId,
            period,
            exportedAt,
            includeEvents: def.includeEvents,
            excludeEvents: def.excludeEvents,
            selection: opts.selection,
            database: deps.settings.database,
            lookbackDays: deps.settings.lookbackDays,
            lines: { useJsonType: table.useJsonType },
          })
        : opts.backfill
          ? personsSnapshotQuery({
              teamId: def.teamId,
              bucket: opts.backfill.bucket ?? { index: 0, of: 1 },
              database: deps.settings.database,
            })
          : personsQuery({ teamId: def.teamId, period, exportedAt, database: deps.settings.database });
    const encoder = createRowEncoder(def.model, table.useJsonType);
    const parts = {
      store: deps.store,
      prefix,
      partBytes: deps.settings.partBytes,
      // Heartbeat: keeps the run from looking stale, and stops this call if
      // another one took the run over.
      onPart: async (p: StagedParts) => {
        m = await record.save({ ...m, ...p, updatedAt: deps.now().toISOString() });
      },
    };
    const staged =
      query.output === "lines"
        ? await stageLines({ ...parts, chunks: deps.source.bytes(query), encoder })
        : await stageRows({
            ...parts,
            rows: deps.source.rows(query),
            encode: (row) => encoder.encodeText(row),
          });
    log.info("staged", {
      rows: staged.rows,
      bytes: staged.bytes,
      stagedBytes: staged.stagedBytes,
      files: staged.files.length,
      encoding: encoder.stats,
    });

    const { timestampMin, timestampMax } = encoder.stats;
    if (timestampMin !== undefined && timestampMax !== undefined) {
      m = { ...m, timestampBounds: { min: timestampMin, max: timestampMax } };
    }
    if (staged.rows === 0) {
      m = await record.save(
        transition(m, "COMPLETED", deps.now(), { ...staged, loadedRows: 0 }, "empty period"),
      );
      logRunCompleted(log, m, "empty period");
      return { kind: "completed", manifest: m, alreadyDone: false, notes: table.notes };
    }

    const useStage = usesStageTable(m.writePath);
    let load: NonNullable<RunManifest["load"]> = {
      destination: final,
      fields: table.loadSchema,
      writeDisposition: "WRITE_APPEND",
      allowFieldAddition: table.missing,
    };
    if (useStage) {
      const stage = stageTable(
        def.model,
        table.useJsonType,
        { ...final, tableId: stageTableId(dest.tableId, def.id, m.runId, m.attempt) },
        deps.now(),
        jobLabels(def.id, m.runId, def.model),
      );
      await warehouse.createTable(stage);
      load = {
        destination: stage.tableReference,
        fields: stage.schema.fields,
        writeDisposition: "WRITE_TRUNCATE",
        allowFieldAddition: false,
      };
    }
    const job = { projectId: dest.projectId, jobId: loadJobId(m.runId, m.attempt), location };
    // Write-ahead: the manifest names the job and its configuration before
    // the job exists, so a crash here is recovered by starting the same job.
    m = await record.save(
      transition(m, "LOADING", deps.now(), {
        ...staged,
        job,
        load,
        ...(useStage ? { stageTable: load.destination.tableId } : {}),
      }),
    );
    let info: JobInfo;
    try {
      info = await startRecordedLoad(m, warehouse, deps.store);
    } catch (err) {
      const e = toExportError(err);
      // A 5xx or a timeout leaves it unknown whether BigQuery created the
      // job: the run stays LOADING, and the next call or the sweep reads the
      // job (or starts it under the same id). Only a refusal fails the run.
      if (!e.retryable) throw e;
      log.warn("load job start unanswered; the run stays LOADING", { job: job.jobId, error: e.toJSON() });
      return { kind: "failed", manifest: m, error: e };
    }
    const target = load.destination;
    log.info("load job started", { job: job.jobId, files: staged.files.length, target: target.tableId });
    if (info.state === "DONE") {
      return await advanceLoading(record, deps, { running: "started", known: info, notes: table.notes });
    }
    return { kind: "started", manifest: record.manifest, notes: table.notes };
  } catch (err) {
    const error = toExportError(err);
    if (error.code === "CONFLICT") {
      log.warn("another call took this run over; stopping", {});
      return { kind: "in-flight", manifest: await record.latest() };
    }
    let failed = record.manifest;
    try {
      failed = await record.markFailed(error, deps.now());
    } catch (saveErr) {
      log.error("could not record the failure", { error: toExportError(saveErr).toJSON() });
    }
    logRunFailed(log, failed, error);
    return { kind: "failed", manifest: failed, error };
  }
}

async function datasetLocation(warehouse: Warehouse, def: ExportDefinition): Promise<string> {
  const dest = def.destination;
  const location = await warehouse.datasetLocation(dest.projectId, dest.datasetId);
  if (location === undefined) {
    throw new ExportError(
      "DATASET_NOT_FOUND",
      `Dataset ${dest.projectId}:${dest.datasetId} was not found (or the destination service account lacks bigquery.datasets.get on it). Create the dataset in ${dest.location} and grant the service account access to it, or fix export.destination.datasetId.`,
      { details: { projectId: dest.projectId, datasetId: dest.datasetId } },
    );
  }
  if (location.toLowerCase() !== dest.location.toLowerCase()) {
    throw new ExportError(
      "INVALID_REQUEST",
      `Dataset ${dest.projectId}:${dest.datasetId} is in ${location}, but the export says ${dest.location}: set export.destination.location to "${location}".`,
    );
  }
  return location;
}

interface EnsuredTable {
  useJsonType: boolean;
  loadSchema: FieldSpec[];
  missing: boolean;
  notes: string[];
}

async function ensureTable(
  warehouse: Warehouse,
  def: ExportDefinition,
  ref: TableRef,
): Promise<EnsuredTable> {
  const existing = await warehouse.getTable(ref);
  if (!existing) {
    const resource = destinationTable(def.model, def.useJsonType, ref);
    await warehouse.createTable(resource);
    return { useJsonType: def.useJsonType, loadSchema: resource.schema.fields, missing: false, notes: [] };
  }
  const label = `${ref.projectId}:${ref.datasetId}.${ref.tableId}`;
  const check = checkTableSchema(def.model, def.useJsonType, label, existing.schema.fields);
  return {
    useJsonType: check.useJsonType,
    // The table's own schema, plus the model columns it lacks.
    loadSchema: [...existing.schema.fields, ...check.missing],
    missing: check.missing.length > 0,
    notes: check.notes,
  };
}
