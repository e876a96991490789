// The local GCS server's building blocks, checked on their own: CRC32C against
// the client library's, the streaming multipart parser at awkward chunk
// boundaries, listing pages, Content-Range parsing, and request routing.
import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { CRC32C } from "@google-cloud/storage";
import { describe, expect, it } from "vitest";
import { Crc32c, crc32cBase64 } from "../common/crc32c.js";
import { GcsError } from "./errors.js";
import { listPage, type ListQuery } from "./listing.js";
import { parseRelated, relatedBoundary } from "./multipart.js";
import type { ObjectMeta } from "./resources.js";
import { parseContentRange } from "./resumable.js";
import { route } from "./routes.js";

function clientCrc(data: Buffer): string {
  const c = new CRC32C();
  c.update(data);
  return c.toString();
}

describe("crc32c", () => {
  it("matches the standard check value and the client library on random data", () => {
    expect(new Crc32c().update(Buffer.from("123456789")).value()).toBe(0xe3069283);
    for (const n of [0, 1, 7, 8, 9, 1000, 65_537]) {
      const data = randomBytes(n);
      expect(crc32cBase64(data)).toBe(clientCrc(data));
    }
  });

  it("is the same fed in pieces", () => {
    const data = randomBytes(10_000);
    const c = new Crc32c();
    for (let i = 0; i < data.length; i += 333) c.update(data.subarray(i, i + 333));
    expect(c.base64()).toBe(clientCrc(data));
  });
});

describe("multipart/related parser", () => {
  const boundary = "b0undary-x";
  function body(meta: string, media: Buffer): Buffer {
    return Buffer.concat([
      Buffer.from(`--${boundary}\r\nContent-Type: application/json\r\n\r\n${meta}\r\n`),
      Buffer.from(`--${boundary}\r\nContent-Type: text/plain\r\n\r\n`),
      media,
      Buffer.from(`\r\n--${boundary}--`),
    ]);
  }
  function chunked(buf: Buffer, size: number): Readable {
    const parts: Buffer[] = [];
    for (let i = 0; i < buf.length; i += size) parts.push(buf.subarray(i, i + size));
    return Readable.from(parts);
  }
  async function collect(r: Readable): Promise<Buffer> {
    const out: Buffer[] = [];
    for await (const c of r) out.push(c as Buffer);
    return Buffer.concat(out);
  }

  it("reads the boundary from the Content-Type", () => {
    expect(relatedBoundary(`multipart/related; boundary=${boundary}`)).toBe(boundary);
    expect(relatedBoundary(`multipart/related; boundary="${boundary}"`)).toBe(boundary);
    // The Google Cloud SDK's spelling: Python's repr of the boundary (apitools transfer.py).
    expect(relatedBoundary("multipart/related; boundary='===============3556950564064226915=='")).toBe(
      "===============3556950564064226915==",
    );
    expect(relatedBoundary("application/json")).toBeUndefined();
  });

  it("reads the Google Cloud SDK's body: bare LF line breaks, MIME-Version headers", async () => {
    // As `gcloud storage cp` sent it to the local GCS (captured on this machine).
    const sdkBoundary = "===============3556950564064226915==";
    const media = Buffer.concat([randomBytes(3000), Buffer.from("\r\n--===\n"), Buffer.from("\r")]);
    const sdkBody = Buffer.concat([
      Buffer.from(
        `--${sdkBoundary}\nContent-Type: application/json\nMIME-Version: 1.0\n\n` +
          `{"bucket": "b", "contentType": "application/octet-stream", "name": "staging/x/part-00000.ndjson.gz"}\n` +
          `--${sdkBoundary}\nContent-Type: application/octet-stream\nMIME-Version: 1.0\n` +
          `Content-Transfer-Encoding: binary\n\n`,
      ),
      media,
      Buffer.from(`\n--${sdkBoundary}--\n`),
    ]);
    for (const size of [1, 5, 4096]) {
      const parsed = await parseRelated(chunked(sdkBody, size), sdkBoundary);
      expect(JSON.parse(parsed.metadata.toString())).toMatchObject({
        name: "staging/x/part-00000.ndjson.gz",
      });
      expect(parsed.mediaContentType).toBe("application/octet-stream");
      expect((await collect(parsed.media)).equals(media)).toBe(true);
    }
  });

  it("splits metadata and media at any chunk size, even with near-boundary bytes in the media", async () => {
    const media = Buffer.concat([
      randomBytes(5000),
      Buffer.from(`\r\n--${boundary.slice(0, -1)}`),
      randomBytes(100),
    ]);
    for (const size of [1, 2, 7, 64, 4096, 1 << 20]) {
      const parsed = await parseRelated(chunked(body('{"name":"x"}', media), size), boundary);
      expect(JSON.parse(parsed.metadata.toString())).toEqual({ name: "x" });
      expect(parsed.mediaContentType).toBe("text/plain");
      expect((await collect(parsed.media)).equals(media)).toBe(true);
    }
  });

  it("rejects a body without its closing boundary with a 400", async () => {
    const full = body("{}", Buffer.from("data"));
    const parsed = await parseRelated(Readable.from([full.subarray(0, full.length - 10)]), boundary);
    const err = await collect(parsed.media).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GcsError);
    expect((err as GcsError).status).toBe(400);
  });
});

describe("listing pages", () => {
  const meta = (name: string): ObjectMeta => ({
    bucket: "b",
    name,
    generation: "1",
    metageneration: "1",
    size: 0,
    md5Hash: "",
    crc32c: "",
    contentType: "text/plain",
    storageClass: "STANDARD",
    timeCreated: "",
    updated: "",
  });
  const sorted = ["a", "d/1", "d/2", "d/3", "e", "f/1", "g"].map(meta);

  function all(q: Omit<ListQuery, "pageToken">): { items: string[]; prefixes: string[]; pages: number } {
    const out = { items: [] as string[], prefixes: [] as string[], pages: 0 };
    let token: string | undefined;
    do {
      const page = listPage(sorted, { ...q, ...(token !== undefined && { pageToken: token }) });
      expect(page.items.length + page.prefixes.length).toBeLessThanOrEqual(q.maxResults);
      out.items.push(...page.items.map((m) => m.name));
      out.prefixes.push(...page.prefixes);
      out.pages++;
      token = page.nextPageToken;
    } while (token);
    return out;
  }

  it("returns every name once across pages of any size", () => {
    for (const maxResults of [1, 2, 3, 7, 1000]) {
      const r = all({ prefix: "", maxResults });
      expect(r.items).toEqual(sorted.map((m) => m.name));
      expect(r.pages).toBe(Math.ceil(sorted.length / maxResults));
    }
  });

  it("folds prefixes once even when a page ends inside one", () => {
    for (const maxResults of [1, 2, 3]) {
      const r = all({ prefix: "", delimiter: "/", maxResults });
      expect(r.items).toEqual(["a", "e", "g"]);
      expect(r.prefixes).toEqual(["d/", "f/"]);
    }
  });

  it("honours prefix, startOffset and endOffset", () => {
    expect(all({ prefix: "d/", maxResults: 10 }).items).toEqual(["d/1", "d/2", "d/3"]);
    expect(all({ prefix: "", startOffset: "d/2", endOffset: "f", maxResults: 10 }).items).toEqual([
      "d/2",
      "d/3",
      "e",
    ]);
  });

  it("rejects a token it did not issue", () => {
    expect(() => listPage(sorted, { prefix: "", maxResults: 2, pageToken: "garbage" })).toThrow(GcsError);
  });
});

describe("Content-Range of resumable PUTs", () => {
  it("parses the forms the client sends", () => {
    expect(parseContentRange("bytes 0-262143/*")).toEqual({ start: 0, end: 262143, total: undefined });
    expect(parseContentRange("bytes 262144-300000/300001")).toEqual({
      start: 262144,
      end: 300000,
      total: 300001,
    });
    expect(parseContentRange("bytes 0-*/*")).toEqual({ start: 0, end: undefined, total: undefined });
    expect(parseContentRange("bytes */*")).toEqual({ start: undefined, end: undefined, total: undefined });
    expect(parseContentRange("bytes */1000")).toEqual({ start: undefined, end: undefined, total: 1000 });
    expect(() => parseContentRange("bytes=0-10")).toThrow(GcsError);
  });
});

describe("routing", () => {
  it("maps JSON API paths with and without /storage/v1, uploads, downloads and path-style GETs", () => {
    expect(route("GET", "/storage/v1/b/bkt/o/a%2Fb.txt")).toEqual({
      method: "objects.get",
      bucket: "bkt",
      object: "a/b.txt",
      forceMedia: false,
    });
    expect(route("GET", "/b/bkt/o")).toEqual({ method: "objects.list", bucket: "bkt" });
    expect(route("POST", "/storage/v1/b")).toEqual({ method: "buckets.insert" });
    expect(route("POST", "/upload/storage/v1/b/bkt/o")).toEqual({ method: "objects.insert", bucket: "bkt" });
    expect(route("PUT", "/upload/storage/v1/b/bkt/o")).toEqual({ method: "objects.upload", bucket: "bkt" });
    // The resumable upload path of the discovery document (the Google Cloud SDK's).
    expect(route("POST", "/resumable/upload/storage/v1/b/bkt/o")).toEqual({
      method: "objects.insert",
      bucket: "bkt",
    });
    expect(route("PUT", "/resumable/upload/storage/v1/b/bkt/o")).toEqual({
      method: "objects.upload",
      bucket: "bkt",
    });
    expect(route("GET", "/download/storage/v1/b/bkt/o/x")).toMatchObject({
      method: "objects.get",
      forceMedia: true,
    });
    expect(route("GET", "/bkt/dir/file.txt")).toEqual({
      method: "objects.get",
      bucket: "bkt",
      object: "dir/file.txt",
      forceMedia: true,
    });
  });

  it("names the methods it does not implement", () => {
    expect(route("POST", "/storage/v1/b/bkt/o/x/compose")).toEqual({
      method: "unimplemented",
      name: "storage.objects.compose",
    });
    expect(route("PUT", "/storage/v1/b/bkt/o/x")).toEqual({
      method: "unimplemented",
      name: "storage.objects.update",
    });
    expect(route("GET", "/storage/v1/b/bkt/iam")).toEqual({
      method: "unimplemented",
      name: "storage.buckets.getIamPolicy",
    });
    expect(route("POST", "/nope")).toEqual({ method: "unimplemented", name: "POST /nope" });
  });
});
