// stageRows: every row once, in order, in gzip NDJSON parts of about partBytes
// (UTF-8 bytes, not characters), with the byte counts the manifest records.
import { gunzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { stageRows } from "../../functions/src/app/stage-rows.js";
import { MemoryStore } from "../helpers/fakes/memory-store.js";

async function* rowsOf(lines: string[]): AsyncIterable<string> {
  for (const line of lines) yield await Promise.resolve(line);
}

describe("stageRows", () => {
  // Multi-byte text, so characters and bytes differ (up to 4 bytes per character).
  const lines = Array.from({ length: 500 }, (_, i) => `{"n":${i},"t":"${"é🎉横".repeat(i % 7)}"}`);

  it.each([200, 1000, 64 * 1024])(
    "cuts parts at about %i bytes and loses or repeats no row",
    async (partBytes) => {
      const store = new MemoryStore();
      const staged = await stageRows({
        rows: rowsOf(lines),
        encode: (row) => row,
        store,
        prefix: "p/",
        partBytes,
      });
      const parts = staged.files.map((name) => gunzipSync(store.bytes(name)!));
      const text = Buffer.concat(parts).toString("utf8");
      expect(text).toBe(lines.map((l) => `${l}\n`).join(""));
      expect(staged.rows).toBe(lines.length);
      expect(staged.bytes).toBe(Buffer.byteLength(text, "utf8"));
      expect(staged.stagedBytes).toBe(staged.files.reduce((n, f) => n + store.bytes(f)!.length, 0));
      // The line that takes a part to partBytes ends it: a part is over by less than 3 bytes per
      // character of one line.
      const longest = Math.max(...lines.map((l) => 3 * (l.length + 1)));
      for (const part of parts.slice(0, -1)) {
        expect(part.length).toBeGreaterThanOrEqual(partBytes);
        expect(part.length).toBeLessThan(partBytes + longest);
        // Parts end at a line's end.
        expect(part[part.length - 1]).toBe(10);
      }
      expect(parts.length).toBe(Math.max(1, staged.files.length));
      if (partBytes > staged.bytes) expect(parts).toHaveLength(1);
    },
  );

  it("stages no part for no rows", async () => {
    const store = new MemoryStore();
    const staged = await stageRows({
      rows: rowsOf([]),
      encode: (r) => r,
      store,
      prefix: "p/",
      partBytes: 100,
    });
    expect(staged).toEqual({ files: [], rows: 0, bytes: 0, stagedBytes: 0 });
  });
});
