// Streams source rows into gzip NDJSON parts in the staging bucket. Memory
// stays bounded whatever the period's size: rows are encoded and compressed
// as they arrive, with backpressure from the upload; a part ends when its
// uncompressed size reaches `partBytes`, at the end of the line that takes it
// there. Two ways in: rows as strings, each encoded (stageRows), or the bytes
// of a "lines" query, whose finished lines are copied as they are and whose
// marked rows are encoded (stageLines).
import { once } from "node:events";
import { createGzip, type Gzip } from "node:zlib";
import { ExportError } from "../core/errors.js";
import { partObject } from "../core/names.js";
import type { RowEncoder } from "../core/rows.js";
import { RAW_ROW_MARKER } from "../core/source-sql.js";
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

interface PartOptions {
  store: ObjectStore;
  prefix: string;
  partBytes: number;
  /** Called after each finished part, e.g. to refresh the run's heartbeat. */
  onPart?: (progress: StagedParts) => Promise<void>;
}

export interface StageOptions extends PartOptions {
  rows: AsyncIterable<string>;
  /** One source row (JSON text) → one NDJSON line without its newline. */
  encode: (row: string) => string;
}

export interface StageLinesOptions extends PartOptions {
  /** The bytes of a "lines" query's output (source-sql.ts), in any chunking. */
  chunks: AsyncIterable<Buffer>;
  encoder: RowEncoder;
}

interface OpenPart {
  name: string;
  gzip: Gzip;
  upload: Promise<number>;
  bytes: number;
}

/**
 * Gzip parts of whole lines, opened on the first write, each closed once it
 * reaches partBytes. Writes are gathered into batches of about BATCH_BYTES
 * before they reach gzip: fewer, larger zlib calls than one per slice.
 */
class PartWriter {
  readonly result: StagedParts = { files: [], rows: 0, bytes: 0, stagedBytes: 0 };
  private part: OpenPart | undefined;
  private batch: Buffer[] = [];
  private batchBytes = 0;

  constructor(private readonly opts: PartOptions) {}

  /** Bytes the open part still takes before it is full. */
  room(): number {
    return this.opts.partBytes - (this.part?.bytes ?? 0);
  }

  /** Writes whole lines (`rows` of them) to the open part, and ends the part if it is full. */
  async write(lines: Buffer, rows: number): Promise<void> {
    if (lines.length === 0) return;
    this.part ??= this.open();
    const part = this.part;
    part.bytes += lines.length;
    this.result.bytes += lines.length;
    this.result.rows += rows;
    this.batch.push(lines);
    this.batchBytes += lines.length;
    if (part.bytes >= this.opts.partBytes) await this.close();
    else if (this.batchBytes >= BATCH_BYTES) await this.flush(part);
  }

  async close(): Promise<void> {
    const closing = this.part;
    if (!closing) return;
    await this.flush(closing);
    this.part = undefined;
    closing.gzip.end();
    this.result.stagedBytes += await closing.upload;
    this.result.files.push(closing.name);
    await this.opts.onPart?.({ ...this.result, files: [...this.result.files] });
  }

  private async flush(part: OpenPart): Promise<void> {
    if (this.batchBytes === 0) return;
    const bytes = this.batch.length === 1 ? this.batch[0]! : Buffer.concat(this.batch, this.batchBytes);
    this.batch = [];
    this.batchBytes = 0;
    if (!part.gzip.write(bytes)) await Promise.race([once(part.gzip, "drain"), part.upload]);
  }

  async abort(): Promise<void> {
    this.part?.gzip.destroy();
    await this.part?.upload.catch(() => undefined);
  }

  private open(): OpenPart {
    const name = partObject(this.opts.prefix, this.result.files.length);
    const gzip = createGzip({ level: STAGE_GZIP_LEVEL });
    const upload = this.opts.store.upload(name, gzip);
    // Surface an upload failure even while we are blocked writing.
    upload.catch(() => gzip.destroy());
    return { name, gzip, upload, bytes: 0 };
  }
}

async function staging(opts: PartOptions, body: (parts: PartWriter) => Promise<void>): Promise<StagedParts> {
  const parts = new PartWriter(opts);
  try {
    await body(parts);
    await parts.close();
  } catch (err) {
    await parts.abort();
    throw err;
  }
  return parts.result;
}

export function stageRows(opts: StageOptions): Promise<StagedParts> {
  return staging(opts, async (parts) => {
    let batch: string[] = [];
    // Lines are measured in bytes once per batch, when the batch is encoded, not
    // one by one; meanwhile UTF-16 units bound them: bytes ≤ 3 × units.
    let batchChars = 0;
    const flush = async () => {
      const rows = batch.length;
      const bytes = Buffer.from(batch.join(""), "utf8");
      batch = [];
      batchChars = 0;
      await parts.write(bytes, rows);
    };
    for await (const row of opts.rows) {
      const line = opts.encode(row) + "\n";
      batch.push(line);
      batchChars += line.length;
      if (batchChars >= BATCH_BYTES || 3 * batchChars >= parts.room()) await flush();
    }
    await flush();
  });
}

const NEWLINE = 10;
const MARKER = RAW_ROW_MARKER.charCodeAt(0);
/** How much of the answer after a line of the wrong shape is read to find ClickHouse's error. */
const ERROR_TAIL_BYTES = 64 * 1024;

/**
 * A line of the wrong shape. After the first rows ClickHouse reports a
 * failure inside the answer (since 25.11 between `__exception__` tags,
 * before that as a bare `Code: N. DB::Exception: …` line): such a failure is
 * passing (memory, time, a replica) and retryable; any other line is not.
 */
async function wrongLine(err: unknown, rest: Buffer, more: AsyncIterator<Buffer>): Promise<unknown> {
  const tail = [rest];
  let size = rest.length;
  while (size < ERROR_TAIL_BYTES) {
    const next = await more.next().catch(() => ({ done: true as const, value: undefined }));
    if (next.done) break;
    tail.push(next.value);
    size += next.value.length;
  }
  const text = Buffer.concat(tail).toString("utf8", 0, Math.min(size, ERROR_TAIL_BYTES));
  if (!/__exception__|DB::Exception/.test(text)) return err;
  const message = /Code: \d+\. DB::Exception: [^\r\n]*/.exec(text)?.[0] ?? text.trim().slice(0, 500);
  return new ExportError("SOURCE_FAILED", `ClickHouse failed while sending the rows: ${message}`, {
    retryable: true,
    cause: err,
  });
}

/**
 * The bytes of a "lines" query into parts. Runs of finished lines go to gzip
 * as slices of the received chunks, never decoded; a marked row is decoded,
 * encoded and written in its place. The encoder counts every row. A line
 * that spans chunks is gathered once, not re-scanned with every chunk.
 */
export function stageLines(opts: StageLinesOptions): Promise<StagedParts> {
  const { encoder } = opts;
  return staging(opts, async (parts) => {
    const chunks = opts.chunks[Symbol.asyncIterator]();
    /** A marked row: decoded, encoded and written in its place. */
    const writeMarked = async (bytes: Buffer, start: number, end: number) => {
      const encoded = encoder.encodeLine(bytes.toString("utf8", start, end));
      await parts.write(Buffer.from(`${encoded}\n`, "utf8"), 1);
    };
    let pending: Buffer[] = []; // the start of a line that spans chunks
    for (let next = await chunks.next(); !next.done; next = await chunks.next()) {
      const chunk = next.value;
      let at = 0;
      try {
        if (pending.length > 0) {
          const nl = chunk.indexOf(NEWLINE);
          if (nl === -1) {
            pending.push(chunk);
            continue;
          }
          const whole = Buffer.concat([...pending, chunk.subarray(0, nl + 1)]);
          pending = [];
          if (whole[0] === MARKER) await writeMarked(whole, 0, whole.length - 1);
          else {
            encoder.finishedLine(whole, 0, whole.length - 1);
            await parts.write(whole, 1);
          }
          at = nl + 1;
        }
        // The run of finished lines not yet written: [from, at), `rows` of them. Checking
        // a finished line is synchronous: the loop awaits only to write.
        let from = at;
        let rows = 0;
        for (let nl = chunk.indexOf(NEWLINE, at); nl !== -1; nl = chunk.indexOf(NEWLINE, at)) {
          if (chunk[at] === MARKER) {
            await parts.write(chunk.subarray(from, at), rows);
            await writeMarked(chunk, at, nl);
            from = nl + 1;
            rows = 0;
          } else {
            encoder.finishedLine(chunk, at, nl);
            rows++;
            // A part ends at a line's end once it is full.
            if (nl + 1 - from >= parts.room()) {
              await parts.write(chunk.subarray(from, nl + 1), rows);
              from = nl + 1;
              rows = 0;
            }
          }
          at = nl + 1;
        }
        await parts.write(chunk.subarray(from, at), rows);
        // A copy: the rest of the line must outlive this chunk.
        if (at < chunk.length) pending.push(Buffer.from(chunk.subarray(at)));
      } catch (err) {
        throw await wrongLine(err, Buffer.concat([...pending, chunk.subarray(at)]), chunks);
      }
    }
    // The answer ends with a newline: anything after the last one is not a whole row.
    if (pending.length > 0) {
      const tail = Buffer.concat(pending);
      throw await wrongLine(
        new ExportError("SOURCE_FAILED", "ClickHouse's answer ended inside a row; the run will be retried.", {
          retryable: true,
          details: { tail: tail.toString("utf8", 0, Math.min(tail.length, 200)) },
        }),
        tail,
        chunks,
      );
    }
  });
}
