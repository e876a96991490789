// Serving object bytes (alt=media): Range requests, x-goog-hash for the client's
// integrity check, and gzip objects. A gzip-stored object goes out as stored
// (Content-Encoding: gzip) when the client accepts gzip, as GCS does; otherwise
// it is decompressed on the way (GCS's decompressive transcoding), ignoring Range.
import { open } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import { GcsError } from "./errors.js";
import { etagOf, type ObjectMeta } from "./resources.js";

/** Inclusive byte range of a single-range "bytes=" header, null if absent or not parseable (serve all). */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | null {
  if (!header) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === "" && m[2] === "")) return null;
  if (m[1] === "") {
    const suffix = Number(m[2]);
    if (suffix === 0) throw rangeNotSatisfiable();
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || end < start) throw rangeNotSatisfiable();
  return { start, end };
}

const rangeNotSatisfiable = (): GcsError =>
  new GcsError(416, "requestedRangeNotSatisfiable", "Request range not satisfiable");

export async function sendMedia(
  req: IncomingMessage,
  res: ServerResponse,
  meta: ObjectMeta,
  dataPath: string,
): Promise<void> {
  const storedGzip = meta.contentEncoding === "gzip";
  const acceptsGzip = /\bgzip\b/i.test(req.headers["accept-encoding"] ?? "");
  const transcode = storedGzip && !acceptsGzip;
  const range = transcode || meta.size === 0 ? null : parseRange(req.headers.range, meta.size);
  // Open before answering, so a concurrent overwrite cannot pull the file away mid-response.
  const fh = await open(dataPath, "r");
  const headers: Record<string, string> = {
    "content-type": meta.contentType,
    "x-goog-hash": `crc32c=${meta.crc32c},md5=${meta.md5Hash}`,
    "x-goog-generation": meta.generation,
    "x-goog-metageneration": meta.metageneration,
    "x-goog-stored-content-encoding": meta.contentEncoding ?? "identity",
    "x-goog-stored-content-length": String(meta.size),
    "x-goog-storage-class": meta.storageClass,
    etag: etagOf(meta),
    "last-modified": new Date(meta.updated).toUTCString(),
    "accept-ranges": "bytes",
  };
  if (meta.cacheControl) headers["cache-control"] = meta.cacheControl;
  if (meta.contentDisposition) headers["content-disposition"] = meta.contentDisposition;
  if (meta.contentLanguage) headers["content-language"] = meta.contentLanguage;
  if (storedGzip && !transcode) headers["content-encoding"] = "gzip";
  let status = 200;
  if (range) {
    status = 206;
    headers["content-range"] = `bytes ${range.start}-${range.end}/${meta.size}`;
    headers["content-length"] = String(range.end - range.start + 1);
  } else if (!transcode) {
    headers["content-length"] = String(meta.size);
  }
  if (req.method === "HEAD") {
    await fh.close();
    res.writeHead(status, headers);
    res.end();
    return;
  }
  res.writeHead(status, headers);
  const source = fh.createReadStream(range ?? {});
  if (transcode) await pipeline(source, createGunzip(), res);
  else await pipeline(source, res);
}
