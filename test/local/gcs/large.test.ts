// A 64 MiB resumable upload streamed from a generator through @google-cloud/storage
// into the local GCS server running in this process: the content must arrive
// intact (size + CRC32C) and the process's memory must not grow by anything
// near the object's size, i.e. neither side holds the object in memory.
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { CRC32C, Storage } from "@google-cloud/storage";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startGcsServer, type GcsServer } from "./server.js";

const MiB = 1024 * 1024;
const SIZE = 64 * MiB;

// A forced GC before each baseline makes the numbers comparable between runs.
setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

/** Memory that would grow if object bytes were buffered: JS heap plus Buffer backing stores. */
function held(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/** Samples `held()` while `work` runs; returns the peak growth over the starting point. */
async function peakGrowth(work: () => Promise<void>): Promise<{ peak: number; rssPeak: number }> {
  gc();
  const base = held();
  const rssBase = process.memoryUsage().rss;
  let peak = 0;
  let rssPeak = 0;
  const timer = setInterval(() => {
    gc();
    peak = Math.max(peak, held() - base);
    rssPeak = Math.max(rssPeak, process.memoryUsage().rss - rssBase);
  }, 50);
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
  peak = Math.max(peak, held() - base);
  return { peak, rssPeak };
}

let dir: string;
let server: GcsServer;
let storage: Storage;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "gcs-large-"));
  server = await startGcsServer({ dataDir: dir, projectId: "test-project" });
  storage = new Storage({ apiEndpoint: server.url, projectId: "test-project" });
  await storage.createBucket("bqx-large");
});

afterAll(async () => {
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe("64 MiB resumable upload", () => {
  it("arrives intact while memory stays bounded", async () => {
    const file = storage.bucket("bqx-large").file("big/part-00000.bin");
    const expected = new CRC32C();
    function* source(): Generator<Buffer> {
      for (let sent = 0; sent < SIZE; sent += MiB) {
        const chunk = randomBytes(MiB); // fresh bytes every time, like rows being serialised
        expected.update(chunk);
        yield chunk;
      }
    }

    const upload = await peakGrowth(() =>
      pipeline(
        Readable.from(source()),
        file.createWriteStream({
          // The options the product's staging upload uses.
          resumable: true,
          contentType: "application/gzip",
          validation: "crc32c",
          preconditionOpts: { ifGenerationMatch: 0 },
        }),
      ),
    );
    const [meta] = await file.getMetadata();
    expect(Number(meta.size)).toBe(SIZE);
    expect(meta.crc32c).toBe(expected.toString());

    // Reading it back streams too, and the client's own CRC32C check passes.
    const actual = new CRC32C();
    let size = 0;
    const download = await peakGrowth(async () => {
      for await (const chunk of file.createReadStream()) {
        actual.update(chunk as Buffer);
        size += (chunk as Buffer).length;
      }
    });
    expect(size).toBe(SIZE);
    expect(actual.toString()).toBe(expected.toString());

    console.log(
      `64 MiB upload: peak heap+buffers growth ${(upload.peak / MiB).toFixed(1)} MiB, rss ${(upload.rssPeak / MiB).toFixed(1)} MiB; ` +
        `download: ${(download.peak / MiB).toFixed(1)} MiB, rss ${(download.rssPeak / MiB).toFixed(1)} MiB`,
    );
    // Generous for GC timing, but a server (or client) holding the object would exceed it.
    expect(upload.peak).toBeLessThan(SIZE / 2);
    expect(download.peak).toBeLessThan(SIZE / 2);
    // A full GC every 50 ms over 128 MiB of traffic: minutes on a shared, loaded machine.
  }, 240_000);
});
