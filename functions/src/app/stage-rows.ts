// Streams source rows into gzip NDJSON parts in the staging bucket. Memory
// stays bounded whatever the period's size: rows are encoded and compressed
// as they arrive, in batches of about BATCH_BYTES, with backpressure from the
// upload; a part ends when its uncompressed size reaches `partBytes`, at the
// end of the line that takes it there.
import { once } from "node:events";
import { createGzip, type Gzip } from "node:zlib";
import { partObject } from "../core/names.js";
import type { ObjectStore } from "./ports.js";

const BATCH_BYTES = 256 * 1024;
/**
 * Staged parts live minutes; against level 6, level 1 measured 12-14% less CPU
 * and 9% faster to 202 for 1M events, for 24% more bytes (test/bench).
 */
export const STAGE_GZIP_LEVEL = 1;

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
  let currentPartBytes = 0;
  let batch: string[] = [];
  // Lines are measured in bytes once per batch, when the batch is encoded, not
  // one by one; meanwhile UTF-16 units bound them: bytes ≤ 3 × units.
  let batchChars = 0;

  const openPart = (): OpenPart => {
    const name = partObject(opts.prefix, result.files.length);
    const gzip = createGzip({ level: STAGE_GZIP_LEVEL });
    const upload = opts.store.upload(name, gzip);
    // Surface an upload failure even while we are blocked writing.
    upload.catch(() => gzip.destroy());
    return { name, gzip, upload };
  };

  const flush = async () => {
    if (batch.length === 0) return;
    part ??= openPart();
    const bytes = Buffer.from(batch.join(""), "utf8");
    batch = [];
    batchChars = 0;
    result.bytes += bytes.length;
    currentPartBytes += bytes.length;
    if (!part.gzip.write(bytes)) await Promise.race([once(part.gzip, "drain"), part.upload]);
  };

  const closePart = async () => {
    if (!part) return;
    const closing = part;
    part = undefined;
    currentPartBytes = 0;
    closing.gzip.end();
    result.stagedBytes += await closing.upload;
    result.files.push(closing.name);
    await opts.onPart?.({ ...result, files: [...result.files] });
  };

  try {
    for await (const row of opts.rows) {
      const line = opts.encode(row) + "\n";
      batch.push(line);
      batchChars += line.length;
      result.rows += 1;
      if (batchChars >= BATCH_BYTES || currentPartBytes + 3 * batchChars >= opts.partBytes) {
        await flush();
        // A part ends at the first batch that takes it to partBytes.
        if (currentPartBytes >= opts.partBytes) await closePart();
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
