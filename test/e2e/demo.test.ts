// `npm start` as a test: the demo on a small data set, checked the way a user
// reads its output: every run completed, the forced rerun loaded nothing twice,
// the seed's example query answered, and each printed run names its period.
import { describe, expect, it } from "vitest";
import { runDemo } from "../local/demo.js";

describe("npm start (the local demo)", () => {
  it("runs both exports over three hours plus a forced rerun and queries the result", async () => {
    const lines: string[] = [];
    const summary = await runDemo({ out: (line) => lines.push(line), events: 5_000 });
    const output = lines.join("\n");

    // 3 scheduled hours x 2 exports, then the manual rerun of the first events hour.
    expect(summary.runs).toHaveLength(7);
    for (const run of summary.runs) {
      expect(run.state, `${run.exportId} ${run.period.start}: ${run.error ?? ""}`).toBe("COMPLETED");
      expect(output).toContain(`${run.period.start}/${run.period.end}`);
    }
    const scheduled = summary.runs.filter((r) => r.trigger === "scheduler");
    expect(new Set(scheduled.map((r) => r.exportId))).toEqual(new Set(["events-hourly", "persons-hourly"]));
    expect(scheduled.every((r) => r.httpStatus !== undefined && r.httpStatus < 300)).toBe(true);
    expect(scheduled.filter((r) => r.exportId === "events-hourly").every((r) => r.rows > 0)).toBe(true);

    // The forced rerun: a second attempt of the first events hour that added no rows.
    const firstEvents = scheduled.find((r) => r.exportId === "events-hourly")!;
    expect(summary.rerun).toMatchObject({
      exportId: "events-hourly",
      trigger: "manual rerun",
      period: firstEvents.period,
      state: "COMPLETED",
      attempt: 2,
      rows: firstEvents.rows,
    });
    expect(summary.events.rows).toBe(summary.events.rowsBeforeRerun);
    // Every event the source ingested in those hours is there once; a uuid repeats
    // only when ClickHouse ingested the event again in a later hour (deduplicate off).
    expect(summary.events.distinctUuids).toBe(summary.events.sourceDistinctUuids);
    expect(summary.events.rows - summary.events.distinctUuids).toBe(summary.events.sourceCrossPeriodCopies);
    expect(output).toContain("COUNT(DISTINCT uuid)");

    // The run history lists the three events hours, the first on its second attempt.
    expect(summary.history).toHaveLength(3);
    expect(summary.history.every((h) => h.state === "COMPLETED")).toBe(true);
    expect(summary.history.map((h) => h.attempt).sort()).toEqual([1, 1, 2]);

    // The seed's example query printed at least one row.
    expect(summary.exampleRows.length).toBeGreaterThan(0);
    const first = summary.exampleRows[0]!;
    expect(Number(first["unique_persons_count"])).toBeGreaterThan(0);
    expect(output).toMatch(new RegExp(`^\\s+${String(first["event"]).replace(/[$]/g, "\\$")}\\s+\\d+$`, "m"));
    expect(summary.personsRows).toBeGreaterThan(0);

    expect(output).toContain("every check holds");
  }, 150_000);
});
