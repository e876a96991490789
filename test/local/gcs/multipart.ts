// Streaming parser for uploadType=multipart bodies (multipart/related: a JSON
// metadata part, then the media part). The media part is handed on as a stream,
// holding back only enough bytes to recognise the closing boundary, so large
// multipart uploads never sit in memory.
//
// Two spellings real clients send, and Cloud Storage accepts:
// - the Node client writes CRLF line breaks and an unquoted boundary;
// - the Google Cloud SDK (gcloud storage, gsutil: apitools' transfer.py,
//   `'multipart/related; boundary=%r' % boundary`) writes Python's repr of the
//   boundary, single-quoted (`boundary='===============123=='`), and a body
//   flattened by Python's email generator with bare LF line breaks.
// So the line break is whatever ends the first boundary line, and a
// single-quoted boundary parameter is read without its quotes.
import { Readable } from "node:stream";
import { invalid } from "./errors.js";

const CR = 0x0d;
const LF = Buffer.from("\n");
const MAX_METADATA_BYTES = 1 << 20;

export interface RelatedUpload {
  /** Body of the first part (the object resource as JSON). */
  metadata: Buffer;
  /** Content-Type header of the media part, if any. */
  mediaContentType?: string;
  /** Bytes of the media part. */
  media: Readable;
}

/** The boundary parameter of a multipart/related Content-Type, or undefined. */
export function relatedBoundary(contentType: string | undefined): string | undefined {
  if (!contentType || !/^multipart\/related\b/i.test(contentType.trim())) return undefined;
  const m = /;\s*boundary=(?:"([^"]+)"|'([^']+)'|([^;\s]+))/i.exec(contentType);
  return m?.[1] ?? m?.[2] ?? m?.[3];
}

class ByteReader {
  buf: Buffer = Buffer.alloc(0);
  private ended = false;
  constructor(private readonly it: AsyncIterator<Buffer>) {}

  /** Appends the next chunk; false at end of input. */
  async fill(): Promise<boolean> {
    if (this.ended) return false;
    const r = await this.it.next();
    if (r.done) {
      this.ended = true;
      return false;
    }
    this.buf = this.buf.length ? Buffer.concat([this.buf, r.value]) : r.value;
    return true;
  }

  /** Bytes up to `marker` (consumed, not returned); 400 if it does not come within `limit` bytes. */
  async until(marker: Buffer, limit: number, what: string): Promise<Buffer> {
    for (;;) {
      const idx = this.buf.indexOf(marker);
      if (idx >= 0) {
        const head = this.buf.subarray(0, idx);
        this.buf = this.buf.subarray(idx + marker.length);
        return head;
      }
      if (this.buf.length > limit) throw invalid(`Multipart body: ${what} is too long`);
      if (!(await this.fill())) throw invalid(`Multipart body ended inside ${what}`);
    }
  }

  async drain(): Promise<void> {
    this.buf = Buffer.alloc(0);
    while (await this.fill()) this.buf = Buffer.alloc(0);
  }
}

function parseHeaders(block: Buffer): Map<string, string> {
  const headers = new Map<string, string>();
  for (const line of block.toString("latin1").split(/\r?\n/)) {
    const colon = line.indexOf(":");
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return headers;
}

/** Headers of a part; a part may have none, in which case its body starts right after one line break. */
async function readPartHeaders(reader: ByteReader, eol: Buffer, what: string): Promise<Map<string, string>> {
  while (reader.buf.length < eol.length && (await reader.fill()));
  if (reader.buf.subarray(0, eol.length).equals(eol)) {
    reader.buf = reader.buf.subarray(eol.length);
    return new Map();
  }
  return parseHeaders(await reader.until(Buffer.concat([eol, eol]), 64 * 1024, what));
}

/**
 * Reads the metadata part of a multipart/related body and returns the media part
 * as a stream. The caller must consume `media` for the request to finish.
 */
export async function parseRelated(source: AsyncIterable<Buffer>, boundary: string): Promise<RelatedUpload> {
  const reader = new ByteReader(source[Symbol.asyncIterator]());
  const dash = Buffer.from(`--${boundary}`);

  // Preamble (normally empty) up to the first boundary line, which starts the
  // body or a line. The end of that line fixes the line break: CRLF or LF.
  reader.buf = Buffer.concat([LF, reader.buf]);
  await reader.until(Buffer.concat([LF, dash]), MAX_METADATA_BYTES, "the preamble");
  const firstLine = await reader.until(LF, 1024, "the first boundary line");
  const eol = firstLine.at(-1) === CR ? Buffer.from("\r\n") : LF;
  const delimiter = Buffer.concat([eol, dash]);

  await readPartHeaders(reader, eol, "the metadata part's headers");
  const metadata = await reader.until(delimiter, MAX_METADATA_BYTES, "the metadata part");
  const closing = await reader.until(LF, 1024, "the boundary after the metadata part");
  if (closing.subarray(0, 2).toString() === "--") throw invalid("Multipart body has no media part");
  const mediaHeaders = await readPartHeaders(reader, eol, "the media part's headers");

  async function* mediaBytes(): AsyncGenerator<Buffer> {
    const keep = delimiter.length - 1;
    for (;;) {
      const idx = reader.buf.indexOf(delimiter);
      if (idx >= 0) {
        if (idx > 0) yield reader.buf.subarray(0, idx);
        await reader.drain(); // the closing "--" and any epilogue
        return;
      }
      if (reader.buf.length > keep) {
        const out = reader.buf.subarray(0, reader.buf.length - keep);
        reader.buf = reader.buf.subarray(reader.buf.length - keep);
        yield out;
      }
      if (!(await reader.fill())) throw invalid("Multipart body ended before its closing boundary");
    }
  }

  const mediaContentType = mediaHeaders.get("content-type");
  return {
    metadata,
    ...(mediaContentType !== undefined && { mediaContentType }),
    media: Readable.from(mediaBytes(), { objectMode: false }),
  };
}
