// Reading and writing an export's operational state (export-state/<id>.json,
// core/export-state.ts). Writes are conditional on the generation read just
// before, so two calls never overwrite each other unseen: the loser reads
// again and re-applies its change to what the winner wrote.
import { toExportError } from "../core/errors.js";
import {
  emptyExportState,
  parseExportState,
  type ExportEvent,
  type ExportState,
} from "../core/export-state.js";
import { exportStateObject } from "../core/names.js";
import type { ObjectStore } from "./ports.js";

/** Conditional writes tried before giving up (each loss means another call just wrote). */
const MAX_TRIES = 5;

export interface StoredExportState {
  state: ExportState;
  /** "0" when there is no object yet. */
  generation: string;
  /** Set when the stored object could not be read as a state; `state` is then empty. */
  malformed?: string;
}

export async function readExportState(store: ObjectStore, exportId: string): Promise<StoredExportState> {
  const object = exportStateObject(exportId);
  const found = await store.read(object);
  if (!found) return { state: emptyExportState(exportId), generation: "0" };
  try {
    return { state: parseExportState(found.text, store.uri(object)), generation: found.generation };
  } catch (err) {
    // Operational state only: a broken object is replaced by the next write.
    return {
      state: emptyExportState(exportId),
      generation: found.generation,
      malformed: toExportError(err).message,
    };
  }
}

/**
 * Applies `change` to the current state and writes the result; `change`
 * returns undefined to write nothing. Returns the state written, or
 * undefined when `change` declined (possibly after another call's write).
 */
export async function updateExportState(
  store: ObjectStore,
  exportId: string,
  change: (current: ExportState) => ExportState | undefined,
): Promise<ExportState | undefined> {
  const object = exportStateObject(exportId);
  for (let tries = 1; ; tries++) {
    const current = await readExportState(store, exportId);
    const next = change(current.state);
    if (next === undefined) return undefined;
    try {
      await store.writeIfGeneration(object, JSON.stringify(next, null, 2) + "\n", current.generation);
      return next;
    } catch (err) {
      if (toExportError(err).code !== "CONFLICT" || tries >= MAX_TRIES) throw err;
    }
  }
}

/** The export's pause and resume events, newest first: GET ?export=<id> shows them next to its runs. */
export async function exportEvents(store: ObjectStore, exportId: string): Promise<ExportEvent[]> {
  return [...(await readExportState(store, exportId)).state.events].reverse();
}
