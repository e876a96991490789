// A run manifest as this call holds it: every save is conditional on the
// generation this call last wrote, so a call that lost the run (another call
// took it over) finds out at its next save and stops before doing harm.
import { toExportError, type ExportError } from "../core/errors.js";
import { manifestMetadata, parseManifest, transition, type RunManifest } from "../core/manifest.js";
import type { ObjectStore } from "./ports.js";

export class RunRecord {
  private constructor(
    private readonly store: ObjectStore,
    readonly object: string,
    private current: RunManifest,
    private generation: string,
  ) {}

  /** Reads the manifest, or undefined when the run was never claimed. */
  static async read(store: ObjectStore, object: string): Promise<RunRecord | undefined> {
    const found = await store.read(object);
    if (!found) return undefined;
    return new RunRecord(store, object, parseManifest(found.text, object), found.generation);
  }

  /**
   * Writes `manifest` if the object is still at `ifGeneration` ("0": absent).
   * Throws CONFLICT when another call wrote first.
   */
  static async claim(
    store: ObjectStore,
    object: string,
    manifest: RunManifest,
    ifGeneration: string,
  ): Promise<RunRecord> {
    const generation = await store.writeIfGeneration(
      object,
      JSON.stringify(manifest, null, 2),
      ifGeneration,
      manifestMetadata(manifest),
    );
    return new RunRecord(store, object, manifest, generation);
  }

  get manifest(): RunManifest {
    return this.current;
  }

  get gen(): string {
    return this.generation;
  }

  async save(next: RunManifest): Promise<RunManifest> {
    this.generation = await this.store.writeIfGeneration(
      this.object,
      JSON.stringify(next, null, 2),
      this.generation,
      manifestMetadata(next),
    );
    this.current = next;
    return next;
  }

  /** The manifest as it is now in the bucket (after losing a race), or the one held. */
  async latest(): Promise<RunManifest> {
    return (await RunRecord.read(this.store, this.object))?.manifest ?? this.current;
  }

  /**
   * Records the run as FAILED with the error. A run already settled, or taken
   * over by another call (CONFLICT), is left as that call recorded it.
   */
  async markFailed(error: ExportError, now: Date): Promise<RunManifest> {
    if (this.current.state !== "STAGING" && this.current.state !== "LOADING") return this.current;
    try {
      return await this.save(
        transition(this.current, "FAILED", now, {
          error: { code: error.code, message: error.message, retryable: error.retryable },
        }),
      );
    } catch (err) {
      if (toExportError(err).code === "CONFLICT") return this.current;
      throw err;
    }
  }
}
