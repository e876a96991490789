// The local GCS server, driven through @google-cloud/storage exactly as the
// product's adapter will use it: `new Storage({ apiEndpoint, projectId })`,
// no credentials on the machine.
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { createServer, request } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { gunzipSync } from "node:zlib";
import {
  CRC32C,
  Storage,
  type Bucket,
  type GetFilesOptions,
  type GetFilesResponse,
} from "@google-cloud/storage";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startGcsServer, type GcsServer } from "./server.js";

/** An HTTP proxy to `target` that counts the request-body bytes it forwards. */
async function countingProxy(target: string) {
  let bytes = 0;
  const proxy = createServer((req, res) => {
    const upstream = request(
      `${target}${req.url ?? "/"}`,
      { method: req.method, headers: req.headers },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    req.on("data", (chunk: Buffer) => (bytes += chunk.length));
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  const origin = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  return {
    rewrite: (uri: string) => origin + uri.slice(new URL(uri).origin.length),
    bodyBytes: () => bytes,
    close: () =>
      new Promise<void>((resolve) => {
        proxy.closeAllConnections();
        proxy.close(() => resolve());
      }),
  };
}

let dir: string;
let server: GcsServer;
let storage: Storage;
let bucket: Bucket;

/** Deterministic, incompressible-looking bytes. */
function bytes(n: number, seed = 1): Buffer {
  const out = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** CRC32C as the client library computes it (independent of the server's implementation). */
function clientCrc32c(data: Buffer): string {
  const crc = new CRC32C();
  crc.update(data);
  return crc.toString();
}

/** The HTTP status of a failed client call (ApiError has `code`; resumable-session errors from gaxios have `status`). */
function httpStatus(err: unknown): number | undefined {
  const e = err as { code?: unknown; status?: unknown };
  if (typeof e.code === "number") return e.code;
  return typeof e.status === "number" ? e.status : undefined;
}

async function statusOf(p: Promise<unknown>): Promise<number | undefined> {
  try {
    await p;
  } catch (err) {
    return httpStatus(err);
  }
  throw new Error("expected the call to fail");
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "gcs-test-"));
  server = await startGcsServer({ dataDir: dir, projectId: "test-project" });
  storage = new Storage({ apiEndpoint: server.url, projectId: "test-project" });
  [bucket] = await storage.createBucket("bqx-test");
});

afterAll(async () => {
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe("buckets", () => {
  it("creates, gets and reports existence", async () => {
    const [meta] = await bucket.getMetadata();
    expect(meta.name).toBe("bqx-test");
    expect((await bucket.exists())[0]).toBe(true);
    expect((await storage.bucket("no-such-bucket").exists())[0]).toBe(false);
    const [buckets] = await storage.getBuckets();
    expect(buckets.map((b) => b.name)).toContain("bqx-test");
  });

  it("deletes only an empty bucket", async () => {
    const [scratch] = await storage.createBucket("bqx-scratch");
    await scratch.file("x").save("x", { resumable: false });
    expect(await statusOf(scratch.delete())).toBe(409);
    await scratch.file("x").delete();
    await scratch.delete();
    expect((await scratch.exists())[0]).toBe(false);
  });

  it("answers 409 for an existing bucket, 400 for a bad name, 404 for a missing one", async () => {
    expect(await statusOf(storage.createBucket("bqx-test"))).toBe(409);
    expect(await statusOf(storage.createBucket("Bad_Name!"))).toBe(400);
    expect(await statusOf(storage.bucket("no-such-bucket").getMetadata())).toBe(404);
    expect(await statusOf(storage.bucket("no-such-bucket").file("x").save("x"))).toBe(404);
  });
});

describe("uploads", () => {
  it("multipart upload (resumable: false) keeps content, content type and custom metadata", async () => {
    const data = bytes(300_000, 7);
    const file = bucket.file("multi/part.bin");
    await file.save(data, {
      resumable: false,
      metadata: { contentType: "application/x-test", metadata: { run: "r1" } },
    });
    const [meta] = await file.getMetadata();
    expect(meta.size).toBe(String(data.length));
    expect(meta.contentType).toBe("application/x-test");
    expect(meta.metadata).toEqual({ run: "r1" });
    expect(meta.crc32c).toBe(clientCrc32c(data));
    const [back] = await file.download();
    expect(back.equals(data)).toBe(true);
  });

  it("media upload (uploadType=media over HTTP) is readable through the client", async () => {
    const data = Buffer.from("media body\n");
    const res = await fetch(
      `${server.url}/upload/storage/v1/b/bqx-test/o?uploadType=media&name=media%2Fone.txt`,
      {
        method: "POST",
        headers: { "content-type": "text/plain" },
        body: data,
      },
    );
    expect(res.status).toBe(200);
    const json = (await res.json()) as { name: string; size: string };
    expect(json).toMatchObject({ name: "media/one.txt", size: String(data.length) });
    const [back] = await bucket.file("media/one.txt").download();
    expect(back.toString()).toBe("media body\n");
    const [meta] = await bucket.file("media/one.txt").getMetadata();
    expect(meta.contentType).toBe("text/plain");
  });

  it("resumable upload in one request and in 256 KiB chunks", async () => {
    const single = bytes(700_000, 3);
    await bucket.file("res/single.bin").save(single, { resumable: true });
    expect((await bucket.file("res/single.bin").download())[0].equals(single)).toBe(true);

    const chunked = bytes(1_000_000, 4);
    const file = bucket.file("res/chunked.bin");
    await pipeline(
      Readable.from([chunked]),
      file.createWriteStream({ resumable: true, chunkSize: 256 * 1024 }),
    );
    const [meta] = await file.getMetadata();
    expect(meta.size).toBe(String(chunked.length));
    expect(meta.md5Hash).toBeTruthy();
    expect((await file.download())[0].equals(chunked)).toBe(true);
  });

  it("an interrupted resumable upload reports what it holds and resumes from there", async () => {
    const data = bytes(6 * 1024 * 1024, 11);
    const file = bucket.file("res/interrupted.bin");
    const [uri] = await file.createResumableUpload();
    const receivedBefore = server.stats().bytesReceived;

    // First attempt: the source fails after 3 MiB, so the client aborts its PUT.
    async function* failing(): AsyncGenerator<Buffer> {
      for (let off = 0; off < 3 * 1024 * 1024; off += 256 * 1024) {
        yield data.subarray(off, off + 256 * 1024);
        await new Promise((r) => setTimeout(r, 5));
      }
      throw new Error("source failed");
    }
    await expect(pipeline(Readable.from(failing()), file.createWriteStream({ uri }))).rejects.toThrow();
    expect((await file.exists())[0]).toBe(false);

    // Status query, as in the JSON API docs: 308 with the bytes held so far.
    const status = await fetch(uri, { method: "PUT", headers: { "content-range": "bytes */*" } });
    expect(status.status).toBe(308);
    const range = status.headers.get("range");
    expect(range).toMatch(/^bytes=0-\d+$/);
    const held = Number(range!.split("-")[1]) + 1;
    expect(held).toBeGreaterThan(0);
    expect(held).toBeLessThanOrEqual(3 * 1024 * 1024);

    // Resume with the same session URI and the whole source: the client skips what the server holds.
    // The resume goes through a proxy that counts the bytes it sends: the first attempt's bytes are
    // counted by the server only when the resume supersedes that hanging request.
    const proxy = await countingProxy(server.url);
    try {
      await pipeline(Readable.from([data]), file.createWriteStream({ uri: proxy.rewrite(uri) }));
    } finally {
      await proxy.close();
    }
    // The resume did not start over: it sent at most what the server did not hold at the status query.
    expect(proxy.bodyBytes()).toBeLessThanOrEqual(data.length - held);
    expect(server.stats().bytesReceived - receivedBefore).toBeGreaterThanOrEqual(data.length);
    const [meta] = await file.getMetadata();
    expect(meta.size).toBe(String(data.length));
    expect(meta.crc32c).toBe(clientCrc32c(data));

    // The finished session answers 200 with the object again.
    const again = await fetch(uri, { method: "PUT", headers: { "content-range": "bytes */*" } });
    expect(again.status).toBe(200);
    expect(((await again.json()) as { generation: string }).generation).toBe(meta.generation);
  });

  it("a media upload cut off mid-body leaves no object and no temp file", async () => {
    const url = new URL(`${server.url}/upload/storage/v1/b/bqx-test/o?uploadType=media&name=cut%2Foff.bin`);
    const req = request(url, { method: "POST", headers: { "content-length": String(1 << 20) } });
    req.on("error", () => undefined); // the socket is destroyed on purpose
    req.write(bytes(100_000, 5));
    await new Promise((r) => setTimeout(r, 50));
    req.destroy();
    // The server notices the abort asynchronously; poll (bounded) until its temp area is empty.
    for (let i = 0; i < 100 && (await readdir(join(dir, "tmp"))).length > 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(await readdir(join(dir, "tmp"))).toEqual([]);
    expect((await bucket.file("cut/off.bin").exists())[0]).toBe(false);
  });

  it("speaks the session protocol: 308 per chunk, 400 for a gap, 'bytes */N' completes", async () => {
    const [uri] = await bucket.file("res/raw.bin").createResumableUpload();
    const put = (range: string, body?: string) =>
      fetch(uri, { method: "PUT", headers: { "content-range": range }, ...(body !== undefined && { body }) });
    const first = await put("bytes 0-9/*", "0123456789");
    expect(first.status).toBe(308);
    expect(first.headers.get("range")).toBe("bytes=0-9");
    expect((await put("bytes 20-29/*", "abcdefghij")).status).toBe(400);
    // Overlapping bytes the server already holds are not stored twice.
    const overlap = await put("bytes 5-14/*", "56789ABCDE");
    expect(overlap.headers.get("range")).toBe("bytes=0-14");
    const done = await put("bytes */15");
    expect(done.status).toBe(200);
    expect((await bucket.file("res/raw.bin").download())[0].toString()).toBe("0123456789ABCDE");
  });

  it("a cancelled session answers 499, then 404", async () => {
    const [uri] = await bucket.file("res/cancelled.bin").createResumableUpload();
    expect((await fetch(uri, { method: "DELETE" })).status).toBe(499);
    expect((await fetch(uri, { method: "PUT", headers: { "content-range": "bytes */*" } })).status).toBe(404);
  });

  it("rejects a body whose X-Goog-Hash does not match", async () => {
    const res = await fetch(`${server.url}/upload/storage/v1/b/bqx-test/o?uploadType=media&name=bad-hash`, {
      method: "POST",
      headers: { "x-goog-hash": `crc32c=${clientCrc32c(Buffer.from("other"))}` },
      body: "payload",
    });
    expect(res.status).toBe(400);
    expect((await bucket.file("bad-hash").exists())[0]).toBe(false);
  });

  it("gzip objects: the client gets decompressed bytes, openRead the stored gzip", async () => {
    const text = '{"a":1}\n'.repeat(1000);
    const file = bucket.file("gz/rows.ndjson.gz");
    await file.save(text, { gzip: true, resumable: false, contentType: "application/x-ndjson" });
    const [meta] = await file.getMetadata();
    expect(meta.contentEncoding).toBe("gzip");
    expect(Number(meta.size)).toBeLessThan(text.length);
    expect((await file.download())[0].toString()).toBe(text);
    const chunks: Buffer[] = [];
    for await (const c of server.openRead("bqx-test", "gz/rows.ndjson.gz")) chunks.push(c as Buffer);
    expect(gunzipSync(Buffer.concat(chunks)).toString()).toBe(text);
    // Over HTTP, fetch() decodes Content-Encoding: gzip, and a client that does not accept gzip gets
    // GCS's decompressive transcoding: either way an HTTP reader sees the NDJSON text.
    const path = `${server.url}/storage/v1/b/bqx-test/o/${encodeURIComponent("gz/rows.ndjson.gz")}?alt=media`;
    const viaFetch = await fetch(path);
    expect(viaFetch.headers.get("x-goog-stored-content-encoding")).toBe("gzip");
    expect(await viaFetch.text()).toBe(text);
    const identity = await fetch(path, { headers: { "accept-encoding": "identity" } });
    expect(identity.headers.get("content-encoding")).toBeNull();
    expect(await identity.text()).toBe(text);
  });
});

describe("downloads", () => {
  it("serves byte ranges", async () => {
    const data = bytes(10_000, 21);
    const file = bucket.file("dl/range.bin");
    await file.save(data, { resumable: false });
    expect((await file.download({ start: 100, end: 199 }))[0].equals(data.subarray(100, 200))).toBe(true);
    const tail: Buffer[] = [];
    for await (const c of file.createReadStream({ start: 9_990 })) tail.push(c as Buffer);
    expect(Buffer.concat(tail).equals(data.subarray(9_990))).toBe(true);
    const pathStyle = await fetch(`${server.url}/bqx-test/dl/range.bin`, { headers: { range: "bytes=0-3" } });
    expect(pathStyle.status).toBe(206);
    expect(Buffer.from(await pathStyle.arrayBuffer()).equals(data.subarray(0, 4))).toBe(true);
    const head = await fetch(`${server.url}/download/storage/v1/b/bqx-test/o/dl%2Frange.bin`, {
      method: "HEAD",
    });
    expect(head.headers.get("content-length")).toBe(String(data.length));
    expect(head.headers.get("x-goog-hash")).toContain(`crc32c=${clientCrc32c(data)}`);
    const res = await fetch(`${server.url}/storage/v1/b/bqx-test/o/dl%2Frange.bin?alt=media`, {
      headers: { range: "bytes=20000-" },
    });
    expect(res.status).toBe(416);
  });

  it("serves the JSON API paths another emulator reads over HTTP", async () => {
    await bucket.file("http/a b+c.txt").save("x1", { resumable: false });
    const list = (await (await fetch(`${server.url}/storage/v1/b/bqx-test/o?prefix=http%2F`)).json()) as {
      items: { name: string }[];
    };
    expect(list.items.map((i) => i.name)).toEqual(["http/a b+c.txt"]);
    const media = await fetch(
      `${server.url}/storage/v1/b/bqx-test/o/${encodeURIComponent("http/a b+c.txt")}?alt=media`,
    );
    expect(await media.text()).toBe("x1");
  });
});

describe("listing", () => {
  const names = ["ls/a/1", "ls/a/2", "ls/a/b/3", "ls/b/1", "ls/c", "ls/d/1", "ls/d/2"];
  beforeAll(async () => {
    await Promise.all(names.map((n) => bucket.file(n).save(n, { resumable: false })));
  });

  it("filters by prefix and folds by delimiter", async () => {
    const [files, , resp] = await bucket.getFiles({ prefix: "ls/a/", delimiter: "/", autoPaginate: false });
    expect(files.map((f) => f.name)).toEqual(["ls/a/1", "ls/a/2"]);
    expect((resp as { prefixes?: string[] }).prefixes).toEqual(["ls/a/b/"]);
  });

  it("pages with maxResults and pageToken, items and prefixes counted together", async () => {
    const seen: string[] = [];
    const prefixes: string[] = [];
    let query: GetFilesOptions | null = { prefix: "ls/", delimiter: "/", maxResults: 2, autoPaginate: false };
    let pages = 0;
    while (query) {
      const [files, next, resp]: GetFilesResponse = await bucket.getFiles(query);
      const p = (resp as { prefixes?: string[] }).prefixes ?? [];
      expect(files.length + p.length).toBeLessThanOrEqual(2);
      seen.push(...files.map((f) => f.name));
      prefixes.push(...p);
      query = next;
      pages++;
    }
    expect(seen).toEqual(["ls/c"]);
    expect(prefixes).toEqual(["ls/a/", "ls/b/", "ls/d/"]);
    expect(pages).toBe(2);

    const all: string[] = [];
    let q2: GetFilesOptions | null = { prefix: "ls/", maxResults: 3, autoPaginate: false };
    while (q2) {
      const [files, next]: GetFilesResponse = await bucket.getFiles(q2);
      all.push(...files.map((f) => f.name));
      q2 = next;
    }
    expect(all).toEqual([...names].sort());
  });
});

describe("delete, preconditions and errors", () => {
  it("deletes, then answers 404", async () => {
    const file = bucket.file("del/x");
    await file.save("x", { resumable: false });
    await file.delete();
    expect((await file.exists())[0]).toBe(false);
    expect(await statusOf(file.delete())).toBe(404);
    expect(await statusOf(file.download())).toBe(404);
    const res = await fetch(`${server.url}/storage/v1/b/bqx-test/o/del%2Fx`);
    expect(await res.json()).toEqual({
      error: {
        code: 404,
        message: "No such object: bqx-test/del/x",
        errors: [{ message: "No such object: bqx-test/del/x", domain: "global", reason: "notFound" }],
      },
    });
  });

  it("ifGenerationMatch / ifGenerationNotMatch / ifMetagenerationMatch answer 412 when they fail", async () => {
    const file = bucket.file("pre/manifest.json");
    await file.save("v1", { resumable: false, preconditionOpts: { ifGenerationMatch: 0 } });
    const [m1] = await file.getMetadata();
    expect(
      await statusOf(file.save("v2", { resumable: false, preconditionOpts: { ifGenerationMatch: 0 } })),
    ).toBe(412);
    expect(
      await statusOf(file.save("v2", { resumable: true, preconditionOpts: { ifGenerationMatch: 0 } })),
    ).toBe(412);

    await file.save("v2", {
      resumable: false,
      preconditionOpts: { ifGenerationMatch: Number(m1.generation) },
    });
    const [m2] = await file.getMetadata();
    expect(BigInt(m2.generation!)).toBeGreaterThan(BigInt(m1.generation!));
    expect((await file.download())[0].toString()).toBe("v2");

    expect(await statusOf(file.delete({ ifGenerationMatch: m1.generation! }))).toBe(412);
    expect(await statusOf(file.setMetadata({ metadata: { k: "v" } }, { ifMetagenerationMatch: 5 }))).toBe(
      412,
    );
    await file.setMetadata({ metadata: { k: "v" } }, { ifMetagenerationMatch: 1 });
    const [m3] = await file.getMetadata();
    expect(m3.metageneration).toBe("2");
    expect(m3.metadata).toEqual({ k: "v" });

    // A failed ifGenerationNotMatch is 304 Not Modified (request-preconditions docs); a failed *Match is 412.
    const notModified = await fetch(
      `${server.url}/storage/v1/b/bqx-test/o/pre%2Fmanifest.json?ifGenerationNotMatch=${m2.generation}`,
    );
    expect(notModified.status).toBe(304);
    const modified = await fetch(
      `${server.url}/storage/v1/b/bqx-test/o/pre%2Fmanifest.json?ifGenerationNotMatch=1`,
    );
    expect(modified.status).toBe(200);
    const res = await fetch(
      `${server.url}/upload/storage/v1/b/bqx-test/o?uploadType=media&name=pre%2Fmanifest.json&ifGenerationMatch=1`,
      { method: "POST", body: "v3" },
    );
    expect(res.status).toBe(412);
    expect(await res.json()).toEqual({
      error: {
        code: 412,
        message: "At least one of the pre-conditions you specified did not hold.",
        errors: [
          {
            message: "At least one of the pre-conditions you specified did not hold.",
            domain: "global",
            reason: "conditionNotMet",
          },
        ],
      },
    });
    await file.delete({ ifGenerationMatch: m2.generation! });
    expect((await file.exists())[0]).toBe(false);
  });

  it("concurrent creates with ifGenerationMatch=0: exactly one wins (multipart and resumable)", async () => {
    for (const resumable of [false, true]) {
      const file = bucket.file(`race/claim-${resumable}.json`);
      const results = await Promise.allSettled(
        Array.from({ length: 8 }, (_, i) =>
          file.save(`writer ${i}`, { resumable, preconditionOpts: { ifGenerationMatch: 0 } }).then(() => i),
        ),
      );
      const winners = results.filter((r) => r.status === "fulfilled");
      const losers = results.filter((r) => r.status === "rejected");
      expect(winners).toHaveLength(1);
      expect(losers.map((r) => httpStatus(r.reason))).toEqual(Array(7).fill(412));
      const winner = (winners[0] as PromiseFulfilledResult<number>).value;
      expect((await file.download())[0].toString()).toBe(`writer ${winner}`);
    }
  });

  it("sessions started before a competing write fail at completion with 412", async () => {
    const file = bucket.file("race/sessions.json");
    const [a] = await file.createResumableUpload({ preconditionOpts: { ifGenerationMatch: 0 } });
    const [b] = await file.createResumableUpload({ preconditionOpts: { ifGenerationMatch: 0 } });
    const put = (uri: string, body: string) =>
      fetch(uri, {
        method: "PUT",
        headers: { "content-range": `bytes 0-${body.length - 1}/${body.length}` },
        body,
      });
    const [ra, rb] = await Promise.all([put(a, "from-a"), put(b, "from-b")]);
    expect([ra.status, rb.status].sort()).toEqual([200, 412]);
  });

  it("answers 501 naming a method it does not implement", async () => {
    const src = bucket.file("ni/src");
    await src.save("x", { resumable: false });
    const err = await src
      .copy(bucket.file("ni/dst"))
      .catch((e: unknown) => e as { code?: number; message: string });
    expect(err).toMatchObject({ code: 501 });
    expect((err as { message: string }).message).toContain("storage.objects.rewrite");
    const res = await fetch(`${server.url}/storage/v1/b/bqx-test/o/ni%2Fdst/compose`, {
      method: "POST",
      body: "{}",
    });
    expect(res.status).toBe(501);
    expect(((await res.json()) as { error: { message: string } }).error.message).toContain(
      "storage.objects.compose",
    );
  });

  it("answers 400 for bad requests", async () => {
    const noType = await fetch(`${server.url}/upload/storage/v1/b/bqx-test/o?name=x`, {
      method: "POST",
      body: "x",
    });
    expect(noType.status).toBe(400);
    const badPre = await fetch(`${server.url}/storage/v1/b/bqx-test/o/ni%2Fsrc?ifGenerationMatch=abc`);
    expect(badPre.status).toBe(400);
    const badToken = await fetch(`${server.url}/storage/v1/b/bqx-test/o?pageToken=%%%`);
    expect(badToken.status).toBe(400);
  });
});

describe("STORAGE_EMULATOR_HOST and restarts", () => {
  it("works with STORAGE_EMULATOR_HOST instead of apiEndpoint", async () => {
    process.env["STORAGE_EMULATOR_HOST"] = server.url;
    try {
      const viaEnv = new Storage({ projectId: "test-project" });
      const file = viaEnv.bucket("bqx-test").file("env/one.txt");
      await file.save("via env", { resumable: true });
      await file.save("via env 2", { resumable: false });
      expect((await file.download())[0].toString()).toBe("via env 2");
      const [files] = await viaEnv.bucket("bqx-test").getFiles({ prefix: "env/" });
      expect(files.map((f) => f.name)).toEqual(["env/one.txt"]);
    } finally {
      delete process.env["STORAGE_EMULATOR_HOST"];
    }
  });

  it("object calls need neither a project ID nor credentials (the product's adapter passes only apiEndpoint)", async () => {
    const bare = new Storage({ apiEndpoint: server.url });
    const file = bare.bucket("bqx-test").file("bare/manifest.json");
    await file.save("{}", { resumable: false, preconditionOpts: { ifGenerationMatch: 0 } });
    const [meta] = await file.getMetadata();
    const [pinned] = await bare
      .bucket("bqx-test")
      .file("bare/manifest.json", { generation: meta.generation })
      .download();
    expect(pinned.toString()).toBe("{}");
    const [files] = await bare.bucket("bqx-test").getFiles({ prefix: "bare/", startOffset: "bare/m" });
    expect(files.map((f) => f.name)).toEqual(["bare/manifest.json"]);
  });

  it("keeps objects across a restart on the same data directory", async () => {
    const before = server.list("bqx-test", "ls/");
    await server.stop();
    // What a killed server may leave: a half-received upload and a data file no metadata points at.
    const objectsDir = join(dir, "buckets", "bqx-test", "objects");
    await writeFile(join(dir, "tmp", "killed-upload.part"), "half");
    await writeFile(join(objectsDir, "deadbeef.1.data"), "orphan");
    server = await startGcsServer({ dataDir: dir, projectId: "test-project" });
    storage = new Storage({ apiEndpoint: server.url, projectId: "test-project" });
    bucket = storage.bucket("bqx-test");
    expect(server.list("bqx-test", "ls/")).toEqual(before);
    expect(await readdir(join(dir, "tmp"))).toEqual([]);
    expect(await readdir(objectsDir)).not.toContain("deadbeef.1.data");
    expect((await bucket.file("ls/c").download())[0].toString()).toBe("ls/c");
    await bucket.file("ls/c").save("new", { resumable: false });
    const [meta] = await bucket.file("ls/c").getMetadata();
    const old = before.find((m) => m.name === "ls/c")!;
    expect(BigInt(meta.generation!)).toBeGreaterThan(BigInt(old.generation));
  });
});
