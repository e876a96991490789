// Streams the lines of a (possibly gzip-compressed) NDJSON object with the
// byte position each line starts at, without holding the object in memory.
import { createGunzip } from "node:zlib";
import { PassThrough, type Readable } from "node:stream";

export interface Line {
  /** Offset of the line's first byte in the uncompressed data. */
  position: number;
  text: string;
  /** Length in bytes, without the newline. */
  bytes: number;
}

/** Reads the first bytes to tell gzip (magic 1f 8b) from plain data; returns a stream of the same bytes. */
export async function sniffGzip(stream: Readable): Promise<{ gzip: boolean; stream: Readable }> {
  const iterator = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const first = await iterator.next();
  const head: Buffer = first.done ? Buffer.alloc(0) : Buffer.from(first.value);
  const gzip = head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b;
  const out = new PassThrough();
  out.write(head);
  void (async () => {
    try {
      for (;;) {
        const next = await iterator.next();
        if (next.done) break;
        if (!out.write(next.value)) await new Promise((r) => out.once("drain", r));
      }
      out.end();
    } catch (err) {
      out.destroy(err instanceof Error ? err : new Error(String(err)));
    }
  })();
  return { gzip, stream: out };
}

export async function* ndjsonLines(stream: Readable, gzip: boolean): AsyncGenerator<Line> {
  const source = gzip ? stream.pipe(createGunzip()) : stream;
  if (gzip) stream.on("error", (err) => source.destroy(err));
  let pending: Buffer[] = [];
  let pendingLength = 0;
  let position = 0;
  for await (const chunk of source as AsyncIterable<Buffer>) {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      if (nl < 0) break;
      const piece = chunk.subarray(start, nl);
      const buf = pendingLength > 0 ? Buffer.concat([...pending, piece]) : piece;
      pending = [];
      pendingLength = 0;
      yield { position, text: stripCr(buf.toString("utf8")), bytes: buf.length };
      position += buf.length + 1;
      start = nl + 1;
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      pending.push(Buffer.from(rest));
      pendingLength += rest.length;
    }
  }
  if (pendingLength > 0) {
    const buf = Buffer.concat(pending);
    yield { position, text: stripCr(buf.toString("utf8")), bytes: buf.length };
  }
}

function stripCr(s: string): string {
  return s.endsWith("\r") ? s.slice(0, -1) : s;
}
