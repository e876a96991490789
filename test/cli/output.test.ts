// bqx's output rules: aligned columns, colour only on a terminal and never
// with NO_COLOR, values as people read them, times as people type them.
import { describe, expect, it } from "vitest";
import { bytes, duration, parseTime, period } from "../../functions/src/cli/format.js";
import { colourWanted, isInteractive, lineWidth } from "../../functions/src/cli/io.js";
import { renderTable, visibleLength } from "../../functions/src/cli/table.js";
import { reportLines } from "../../functions/src/cli/commands/check.js";
import pc from "picocolors";

describe("tables", () => {
  it("aligns columns by visible width, without trailing blanks", () => {
    const red = (s: string) => `\x1b[31m${s}\x1b[39m`;
    const lines = renderTable(
      ["ID", "STATE", "NOTE"],
      [
        ["a", red("FAILED"), ""],
        ["long-id", "OK", "x"],
      ],
    );
    expect(lines).toEqual(["ID       STATE   NOTE", `a        ${red("FAILED")}`, "long-id  OK      x"]);
  });

  it("cuts lines to a terminal's width, with an ellipsis", () => {
    const [header] = renderTable(["A", "B"], [["x".repeat(50), "y"]], 20);
    expect(visibleLength(header!)).toBeLessThanOrEqual(20);
    const [, row] = renderTable(["A", "B"], [["x".repeat(50), "y"]], 20);
    expect(row).toBe(`${"x".repeat(19)}…`);
  });
});

describe("colour and redraws", () => {
  const tty = { isTTY: true, columns: 120, write: () => true };
  const pipe = { isTTY: false, write: () => true };
  it("colours a terminal only, and never with NO_COLOR, TERM=dumb or --no-color", () => {
    expect(colourWanted(tty, {}, true)).toBe(true);
    expect(colourWanted(pipe, {}, true)).toBe(false);
    expect(colourWanted(tty, { NO_COLOR: "1" }, true)).toBe(false);
    expect(colourWanted(tty, { TERM: "dumb" }, true)).toBe(false);
    expect(colourWanted(tty, {}, false)).toBe(false);
    expect(colourWanted(pipe, { FORCE_COLOR: "1" }, true)).toBe(true);
  });
  it("redraws only on a terminal with a width", () => {
    expect(isInteractive(tty, {})).toBe(true);
    expect(isInteractive({ ...tty, columns: 0 }, {})).toBe(false);
    expect(isInteractive(pipe, {})).toBe(false);
    expect(lineWidth(tty)).toBe(120);
    expect(lineWidth(pipe)).toBeUndefined();
  });
});

describe("values", () => {
  it("formats bytes, durations and periods", () => {
    expect([bytes(512), bytes(1536), bytes(350 * 1024), bytes(3 * 1024 ** 3)]).toEqual([
      "512 B",
      "1.5 KiB",
      "350 KiB",
      "3.0 GiB",
    ]);
    expect([duration(400), duration(14_000), duration(185_000), duration(7_260_000)]).toEqual([
      "0s",
      "14s",
      "3m 05s",
      "2h 01m",
    ]);
    expect(period({ start: "2026-11-25T10:00:00Z", end: "2026-11-25T11:00:00Z" })).toBe(
      "2026-11-25 10:00–11:00",
    );
    expect(period({ start: "2026-11-25T00:00:00Z", end: "2026-11-26T00:00:00Z" })).toBe(
      "2026-11-25 00:00–2026-11-26 00:00",
    );
  });
  it("reads times with a zone, or dates as midnight UTC, and refuses the rest", () => {
    expect(parseTime("--start", "2026-11-25")).toBe("2026-11-25T00:00:00Z");
    expect(parseTime("--start", "2026-11-25T12:00:00+02:00")).toBe("2026-11-25T10:00:00Z");
    expect(parseTime("--start", "2026-11-25 10:00Z")).toBe("2026-11-25T10:00:00Z");
    expect(() => parseTime("--start", "2026-11-25T10:00")).toThrow(/not a date or a time with a zone/);
    expect(() => parseTime("--end", "yesterday")).toThrow(/--end "yesterday"/);
  });
});

describe("the check's report", () => {
  it("puts each fix under its line and names every problem in the last line", () => {
    const c = pc.createColors(false);
    const lines = reportLines(
      {
        export: "persons-hourly",
        model: "persons",
        destination: "p.d.t",
        ok: false,
        checks: [
          { check: "credentials", status: "ok", message: "fine" },
          {
            check: "permission",
            permission: "bigquery.tables.getData",
            status: "failed",
            message: "denied",
            fix: "grant it",
          },
          {
            check: "permission",
            permission: "bigquery.tables.delete",
            status: "warning",
            message: "denied",
            fix: "grant that",
          },
          {
            check: "permission",
            permission: "bigquery.tables.list",
            status: "info",
            message: "not granted: fine",
          },
          {
            check: "permission",
            permission: "bigquery.tables.create",
            status: "failed",
            message: "denied",
            fix: "grant",
          },
        ],
        leftBehind: [],
      },
      c,
    );
    expect(lines[0]).toBe(
      "Checking persons-hourly (persons → p.d.t) with the export's own credentials; nothing is exported.",
    );
    expect(lines[2]).toBe("✗ bigquery.tables.getData  denied");
    expect(lines[3]).toBe("                           fix: grant it");
    expect(lines[5]).toMatch(/^ +fix: grant that$/);
    expect(lines[6]).toBe("- bigquery.tables.list     not granted: fine");
    expect(lines.at(-1)).toBe(
      "✗ 2 problems: bigquery.tables.getData, bigquery.tables.create. Fix them and run bqx check persons-hourly again.",
    );
  });
});
