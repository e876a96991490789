// Backfill chunk plans from per-day counts: estimates follow the rows the
// count query saw, chunks cover the range exactly and stay near the target.
import { describe, expect, it } from "vitest";
import { planEventChunks, MAX_CHUNKS } from "../../functions/src/core/backfill-plan.js";
import { splitIntoPeriods } from "../../functions/src/core/periods.js";

const range = (start: string, end: string) => ({ start: new Date(start), end: new Date(end) });
const hours = (start: string, end: string) => splitIntoPeriods(range(start, end), "hour");

describe("planEventChunks", () => {
  it("estimates whole days from their counts", () => {
    const perDay = new Map([
      ["2026-11-01", 2400],
      ["2026-11-02", 4800],
    ]);
    const chunks = planEventChunks(hours("2026-11-01T00:00:00Z", "2026-11-03T00:00:00Z"), perDay, 1000);
    expect(chunks.reduce((n, c) => n + c.estimatedRows, 0)).toBe(7200);
    // 100 rows an hour on the first day, 200 on the second, filled greedily up to 1000:
    // 10, 10, then 4 hours of the first day and 3 of the second, 5 a chunk after that.
    expect(chunks.map((c) => c.periods)).toEqual([10, 10, 7, 5, 5, 5, 5, 1]);
    expect(chunks.map((c) => c.estimatedRows)).toEqual([1000, 1000, 1000, 1000, 1000, 1000, 1000, 200]);
  });

  it("spreads a day's count over the part of the day the range covers, not over 24 hours", () => {
    // The count query is bounded by the range: 80 rows in these 4 hours.
    const perDay = new Map([["2026-11-01", 80]]);
    const [chunk] = planEventChunks(hours("2026-11-01T10:00:00Z", "2026-11-01T14:00:00Z"), perDay, 1000);
    expect(chunk?.estimatedRows).toBe(80);
    // Across midnight: 2 hours of each day.
    const across = planEventChunks(
      hours("2026-11-01T22:00:00Z", "2026-11-02T02:00:00Z"),
      new Map([
        ["2026-11-01", 40],
        ["2026-11-02", 20],
      ]),
      25,
    );
    expect(across.map((c) => [c.periods, c.estimatedRows])).toEqual([
      [1, 20],
      [1, 20],
      [2, 20],
    ]);
  });

  it("covers the range exactly, in order, with a period over the target as its own chunk", () => {
    const perDay = new Map([["2026-11-01", 24_000]]);
    const periods = hours("2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z");
    const chunks = planEventChunks(periods, perDay, 500);
    expect(chunks).toHaveLength(24);
    expect(chunks.map((c) => c.index)).toEqual([...chunks.keys()]);
    expect(chunks[0]?.start).toBe("2026-11-01T00:00:00.000Z");
    expect(chunks.at(-1)?.end).toBe("2026-11-02T00:00:00.000Z");
    for (let i = 1; i < chunks.length; i++) expect(chunks[i]?.start).toBe(chunks[i - 1]?.end);
  });

  it("refuses a plan of more chunks than it may hold, naming the fix", () => {
    const periods = splitIntoPeriods(range("2026-01-01T00:00:00Z", "2026-11-01T00:00:00Z"), "hour");
    const perDay = new Map(periods.map((p) => [p.start.toISOString().slice(0, 10), 24 * 1000]));
    expect(periods.length * 2).toBeLessThan(MAX_CHUNKS);
    expect(() => planEventChunks(periods, perDay, 1)).not.toThrow();
    const many = splitIntoPeriods(range("2010-01-01T00:00:00Z", "2026-01-01T00:00:00Z"), "hour");
    const full = new Map(many.map((p) => [p.start.toISOString().slice(0, 10), 24]));
    expect(() => planEventChunks(many, full, 1)).toThrow(/BQX_BACKFILL_ROWS_PER_CHUNK/);
  });
});
