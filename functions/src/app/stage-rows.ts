// Streams source rows into gzip NDJSON parts in the staging bucket. Memory
// stays bounded whatever the period's size: rows are encoded and compressed
// as they arrive, in batches of about BATCH_BYTES, with backpressure from the
// upload; a part ends when its uncompressed size reaches `partBytes`.
import { once } from "node:events";
import { createGzip, type Gzip } from "node:zlib";
import { partObject } from "../core/names.js";
import type { ObjectStore } from "./ports.js";

const BATCH_BYTES = 256 * 1024;

export interface StagedParts {
  files: string[];
  rows: number;
  /** Uncompressed NDJSON bytes. */
  bytes: number;
  /** Compressed bytes written to the bucket. */
  stagedBytes: number;
}

export interface StageOptions {
  rows: AsyncIterable<string>;
  /** One source row (JSON text) → one NDJSON line without its newline. */
  encode: (row: string) => string;
  store: ObjectStore;
  prefix: string;
  partBytes: number;
  /** Called after each finished part, e.g. to refresh the run's heartbeat. */
  onPart?: (progress: StagedParts) => Promise<void>;
}

interface OpenPart {
  name: string;
  gzip: Gzip;
  upload: Promise<number>;
}

export async function stageRows(opts: StageOptions): Promise<StagedParts> {
  const result: StagedParts = { files: [], rows: 0, bytes: 0, stagedBytes: 0 };
  let part: OpenPart | undefined;
  let batch: string[] = [];
  let batchBytes = 0;

  const openPart = (): OpenPart => {
    const name = partObject(opts.prefix, result.files.length);
    // Level 1: staged parts live minutes; against level 6 it measured 12-14%
    // less CPU and 9% faster to 202 for 1M events, for 24% more bytes (test/bench).
    const gzip = createGzip({ level: 1 });
    const upload = opts.store.upload(name, gzip);
    // Surface an upload failure even while we are blocked writing.
    upload.catch(() => gzip.destroy());
    return { name, gzip, upload };
  };

  const flush = async () => {
    if (batch.length === 0) return;
    part ??= openPart();
    const text = batch.join("");
    batch = [];
    batchBytes = 0;
    if (!part.gzip.write(text)) await Promise.race([once(part.gzip, "drain"), part.upload]);
  };

  const closePart = async () => {
    if (!part) return;
    const closing = part;
    part = undefined;
    closing.gzip.end();
    result.stagedBytes += await closing.upload;
    result.files.push(closing.name);
    await opts.onPart?.({ ...result, files: [...result.files] });
  };

  let currentPartBytes = 0;
  try {
    for await (const row of opts.rows) {
      const line = opts.encode(row) + "\n";
      const size = Buffer.byteLength(line, "utf8");
      batch.push(line);
      batchBytes += size;
      currentPartBytes += size;
      result.rows += 1;
      result.bytes += size;
      if (batchBytes >= BATCH_BYTES || currentPartBytes >= opts.partBytes) await flush();
      if (currentPartBytes >= opts.partBytes) {
        await closePart();
        currentPartBytes = 0;
      }
    }
    await flush();
    await closePart();
  } catch (err) {
    part?.gzip.destroy();
    await part?.upload.catch(() => undefined);
    throw err;
  }
  return result;
}
