// The staging bucket through @google-cloud/storage: run manifests with
// generation preconditions, and streamed uploads of staged NDJSON parts.
import { pipeline } from "node:stream/promises";
import { Transform, type Readable } from "node:stream";
import type { Bucket } from "@google-cloud/storage";
import { ExportError } from "../core/errors.js";
import type { ListedObject, ObjectStore, StoredObject } from "../app/ports.js";
import { fromGoogleError, googleErrorStatus } from "./google-errors.js";

export class GcsObjectStore implements ObjectStore {
  constructor(private readonly bucket: Bucket) {}

  uri(name: string): string {
    return `gs://${this.bucket.name}/${name}`;
  }

  async read(name: string): Promise<StoredObject | undefined> {
    try {
      const [meta] = await this.bucket.file(name).getMetadata();
      const generation = String(meta.generation);
      // Read exactly the generation whose number we return, so a later
      // conditional write detects any writer in between.
      const [buf] = await this.bucket.file(name, { generation }).download();
      return { text: buf.toString("utf8"), generation };
    } catch (err) {
      if (googleErrorStatus(err) === 404) return undefined;
      throw fromGoogleError(err, `reading gs://${this.bucket.name}/${name}`);
    }
  }

  async writeIfGeneration(
    name: string,
    text: string,
    ifGeneration: string,
    metadata: Record<string, string> = {},
  ): Promise<string> {
    const file = this.bucket.file(name);
    try {
      await file.save(text, {
        resumable: false,
        contentType: "application/json",
        metadata: { metadata },
        preconditionOpts: { ifGenerationMatch: Number(ifGeneration) },
      });
    } catch (err) {
      if (googleErrorStatus(err) === 412) {
        throw new ExportError("CONFLICT", `gs://${this.bucket.name}/${name} was changed by another call.`, {
          cause: err,
        });
      }
      throw fromGoogleError(err, `writing gs://${this.bucket.name}/${name}`);
    }
    return String(file.metadata.generation);
  }

  async list(prefix: string, startOffset?: string): Promise<ListedObject[]> {
    try {
      const [files] = await this.bucket.getFiles({
        prefix,
        autoPaginate: true,
        ...(startOffset ? { startOffset } : {}),
      });
      return files
        .filter((f) => !startOffset || f.name >= startOffset)
        .map((f) => ({ name: f.name, metadata: stringRecord(f.metadata.metadata) }));
    } catch (err) {
      throw fromGoogleError(err, `listing gs://${this.bucket.name}/${prefix}`);
    }
  }

  async upload(name: string, body: Readable): Promise<number> {
    let size = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        size += chunk.length;
        cb(null, chunk);
      },
    });
    try {
      await pipeline(
        body,
        counter,
        this.bucket.file(name).createWriteStream({
          resumable: true,
          // Already gzip-compressed by us; no Content-Encoding, so GCS never
          // transcodes and BigQuery sees the gzip bytes it expects.
          contentType: "application/gzip",
          validation: "crc32c",
          preconditionOpts: { ifGenerationMatch: 0 },
        }),
      );
    } catch (err) {
      throw fromGoogleError(err, `uploading gs://${this.bucket.name}/${name}`);
    }
    return size;
  }

  async deletePrefix(prefix: string): Promise<number> {
    const names = (await this.list(prefix)).map((o) => o.name);
    await Promise.all(
      names.map(async (n) => {
        try {
          await this.bucket.file(n).delete();
        } catch (err) {
          if (googleErrorStatus(err) !== 404)
            throw fromGoogleError(err, `deleting gs://${this.bucket.name}/${n}`);
        }
      }),
    );
    return names.length;
  }
}

function stringRecord(value: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (value && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) if (typeof v === "string") out[k] = v;
  }
  return out;
}
