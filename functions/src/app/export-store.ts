// Export definitions as stored resources: one JSON document per export,
// exports/<id>.json in the staging bucket, checked against the schema when
// written and when read. Terraform writes them in production; the local
// stack, the demo, the tests and the CLI write them through registerExport.
import {
  credentialsOf,
  definitionHash,
  parseExportDefinition,
  type Credentials,
  type ExportDefinition,
} from "../core/definition.js";
import { ExportError } from "../core/errors.js";
import { pausedView, type PausedView } from "../core/export-state.js";
import { EXPORTS_PREFIX, exportObject } from "../core/names.js";
import { readExportState } from "./export-state.js";
import type { ObjectStore } from "./ports.js";

export interface StoredExport {
  definition: ExportDefinition;
  /** The object's generation, for a conditional update. */
  generation: string;
  hash: string;
}

function parseStored(text: string, uri: string, id: string): ExportDefinition {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new ExportError(
      "INVALID_DEFINITION",
      `Export definition ${uri} is not JSON: ${(cause as Error).message}. Write it again from Terraform's exports map.`,
      { cause },
    );
  }
  const def = parseExportDefinition(json, uri);
  if (def.id !== id) {
    throw new ExportError(
      "INVALID_DEFINITION",
      `Export definition ${uri} holds id ${JSON.stringify(def.id)}; an export's object is named after its id (exports/${def.id}.json).`,
    );
  }
  return def;
}

/** The stored definition of `exportId`: EXPORT_NOT_FOUND when there is none, INVALID_DEFINITION when it fails the schema. */
export async function loadExport(exportId: string, store: ObjectStore): Promise<StoredExport> {
  const object = exportObject(exportId);
  const found = await store.read(object);
  if (!found) {
    throw new ExportError(
      "EXPORT_NOT_FOUND",
      `No export ${JSON.stringify(exportId)} is configured (${store.uri(object)} does not exist). Add it to Terraform's exports map and apply, or check the id (GET the function's URL lists the exports).`,
      { details: { exportId } },
    );
  }
  const definition = parseStored(found.text, store.uri(object), exportId);
  return { definition, generation: found.generation, hash: definitionHash(definition) };
}

export type RegisterChange = "created" | "updated" | "unchanged";

/**
 * Writes a definition (validated first: INVALID_DEFINITION names every bad
 * field). The write is conditional on the generation read just before, or on
 * `ifGeneration` when the caller holds one, so two writers never overwrite
 * each other unseen (CONFLICT). Writing the same definition again is a no-op.
 */
export async function registerExport(
  input: unknown,
  store: ObjectStore,
  opts: { ifGeneration?: string } = {},
): Promise<StoredExport & { change: RegisterChange }> {
  const definition = parseExportDefinition(input, "in registerExport");
  const object = exportObject(definition.id);
  const hash = definitionHash(definition);
  const current = await store.read(object);
  const generation = opts.ifGeneration ?? current?.generation ?? "0";
  if (current && current.generation === generation) {
    try {
      if (definitionHash(parseStored(current.text, store.uri(object), definition.id)) === hash) {
        return { definition, generation: current.generation, hash, change: "unchanged" };
      }
    } catch {
      // A malformed stored definition is simply replaced.
    }
  }
  let written: string;
  try {
    written = await store.writeIfGeneration(object, JSON.stringify(definition, null, 2) + "\n", generation, {
      bqx_model: definition.model,
    });
  } catch (err) {
    // Another writer got there first. Writing what it wrote is no conflict.
    if (!(err instanceof ExportError) || err.code !== "CONFLICT" || opts.ifGeneration) throw err;
    const now = await loadExport(definition.id, store).catch(() => undefined);
    if (now?.hash !== hash) throw err;
    return { ...now, change: "unchanged" };
  }
  return { definition, generation: written, hash, change: current ? "updated" : "created" };
}

/** One configured export as GET / and `bqx exports` show it: never a secret. */
export type ExportSummary =
  | {
      id: string;
      model: ExportDefinition["model"];
      teamId: number;
      interval: ExportDefinition["interval"];
      destination: string;
      location: string;
      credentials: Credentials;
      definitionHash: string;
      /** Auto-pause paused the export's Scheduler job: when, by whom, why, the failed runs; null otherwise. */
      paused: PausedView | null;
    }
  | { id: string; error: { code: string; message: string } };

export function summarizeExport(def: ExportDefinition, paused: PausedView | null = null): ExportSummary {
  const d = def.destination;
  return {
    id: def.id,
    model: def.model,
    teamId: def.teamId,
    interval: def.interval,
    destination: `${d.projectId}.${d.datasetId}.${d.tableId}`,
    location: d.location,
    credentials: credentialsOf(d),
    definitionHash: definitionHash(def),
    paused,
  };
}

/** Every configured export, by id; a malformed one is listed with its error. */
export async function listExports(store: ObjectStore): Promise<ExportSummary[]> {
  const listed = await store.list(EXPORTS_PREFIX);
  const ids = listed
    .map((o) => /^exports\/(.+)\.json$/.exec(o.name)?.[1])
    .filter((id): id is string => id !== undefined && !id.includes("/"));
  return Promise.all(
    ids.map(async (id): Promise<ExportSummary> => {
      try {
        const [stored, state] = await Promise.all([loadExport(id, store), readExportState(store, id)]);
        return summarizeExport(stored.definition, pausedView(state.state));
      } catch (err) {
        if (!(err instanceof ExportError)) throw err;
        return { id, error: { code: err.code, message: err.message } };
      }
    }),
  );
}
