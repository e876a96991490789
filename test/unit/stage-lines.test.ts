// stageLines: the bytes of a "lines" query, cut anywhere, staged as whole
// lines: finished lines copied byte for byte, marked rows encoded in their
// place, every row counted once, the timestamp bounds noted.
import { gunzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { stageLines } from "../../functions/src/app/stage-rows.js";
import { isExportError } from "../../functions/src/core/errors.js";
import { createRowEncoder } from "../../functions/src/core/rows.js";
import { RAW_ROW_MARKER } from "../../functions/src/core/source-sql.js";
import { MemoryStore } from "../helpers/fakes/memory-store.js";

function sourceRow(i: number): Record<string, unknown> {
  return {
    uuid: `0193aa00-0000-7000-8000-${String(i).padStart(12, "0")}`,
    event: i % 3 ? "$pageview" : 'quo"te',
    properties: JSON.stringify({ $set: { n: i }, t: "é🎉横".repeat(i % 5), $ip: "203.0.113.7" }),
    elements: '""',
    distinct_id: `user-${i}`,
    team_id: "1",
    site_url: "",
    timestamp: `2026-11-25T10:${String(i % 60).padStart(2, "0")}:00.${String(i).padStart(6, "0")}Z`,
    bq_ingested_timestamp: "2026-11-25T11:00:05.000001Z",
  };
}

/** What ClickHouse sends: most rows finished, every fifth marked; and the lines the load must get. */
function answer(n: number): { text: string; expected: string } {
  const encoder = createRowEncoder("events", true);
  const sent: string[] = [];
  const expected: string[] = [];
  for (let i = 0; i < n; i++) {
    const line = encoder.encode(sourceRow(i));
    sent.push(i % 5 === 4 ? RAW_ROW_MARKER + JSON.stringify(sourceRow(i)) : line);
    expected.push(line);
  }
  return { text: sent.map((l) => `${l}\n`).join(""), expected: expected.map((l) => `${l}\n`).join("") };
}

/** The bytes in chunks of the given sizes, cycling (cuts inside lines and inside characters). */
async function* chunked(bytes: Buffer, sizes: number[]): AsyncIterable<Buffer> {
  let at = 0;
  for (let k = 0; at < bytes.length; k++) {
    const size = sizes[k % sizes.length]!;
    yield await Promise.resolve(bytes.subarray(at, at + size));
    at += size;
  }
}

describe("stageLines", () => {
  it("gathers a line that spans many chunks once, whichever way it goes", async () => {
    const big = sourceRow(1);
    big["properties"] = JSON.stringify({ $set: { n: 1 }, pad: "é".repeat(400_000) });
    const encoder = createRowEncoder("events", true);
    const finishedLine = createRowEncoder("events", true).encode(big);
    const body = `${finishedLine}\n${RAW_ROW_MARKER}${JSON.stringify(big)}\n`;
    const store = new MemoryStore();
    const staged = await stageLines({
      chunks: chunked(Buffer.from(body, "utf8"), [1000]),
      encoder,
      store,
      prefix: "p/",
      partBytes: 1 << 30,
    });
    const text = Buffer.concat(staged.files.map((f) => gunzipSync(store.bytes(f)!))).toString("utf8");
    expect(text).toBe(`${finishedLine}\n${finishedLine}\n`);
    expect(encoder.stats).toMatchObject({ rows: 2, finishedLines: 1 });
  });

  const { text, expected } = answer(300);
  const bytes = Buffer.from(text, "utf8");

  it.each([
    ["one chunk, one part", [bytes.length], 1 << 30],
    ["1-byte chunks", [1], 4096],
    ["odd chunks, small parts", [7, 300, 1, 65_536, 13], 2000],
    ["chunks of a line and a half", [450, 700], 10_000],
  ])("%s: every row once, in order, as the load must get it", async (_name, sizes, partBytes) => {
    const store = new MemoryStore();
    const encoder = createRowEncoder("events", true);
    const staged = await stageLines({
      chunks: chunked(bytes, sizes),
      encoder,
      store,
      prefix: "p/",
      partBytes,
    });
    const parts = staged.files.map((f) => gunzipSync(store.bytes(f)!));
    expect(Buffer.concat(parts).toString("utf8")).toBe(expected);
    expect(staged.rows).toBe(300);
    expect(staged.bytes).toBe(Buffer.byteLength(expected));
    expect(encoder.stats).toMatchObject({ rows: 300, finishedLines: 240 });
    expect(encoder.stats.timestampMin).toBe("2026-11-25T10:00:00.000000Z");
    expect(encoder.stats.timestampMax).toBe("2026-11-25T10:59:00.000299Z");
    for (const part of parts.slice(0, -1)) {
      expect(part.length).toBeGreaterThanOrEqual(partBytes);
      expect(part[part.length - 1]).toBe(10);
    }
  });

  it.each([
    ["an answer cut inside a row", text.slice(0, -10), true, /ended inside a row/],
    ["a line of another shape", `{"other":1}\n${text}`, false, /neither a finished row nor a marked one/],
    [
      "ClickHouse's error after some rows",
      `${text}Code: 241. DB::Exception: Memory limit exceeded\n`,
      true,
      /failed while sending/,
    ],
  ])("fails on %s, retryable %s", async (_name, body, retryable, message) => {
    const err: unknown = await stageLines({
      chunks: chunked(Buffer.from(body, "utf8"), [4096]),
      encoder: createRowEncoder("events", true),
      store: new MemoryStore(),
      prefix: "p/",
      partBytes: 1 << 20,
    }).catch((e: unknown) => e);
    expect(isExportError(err) && err.code === "SOURCE_FAILED" && err.retryable === retryable).toBe(true);
    expect(String((err as Error).message)).toMatch(message);
  });
});
