// How an attempt writes into the destination, decided from the export and the
// run's whole history: once any earlier attempt may have committed rows, no
// later attempt appends.
import { describe, expect, it } from "vitest";
import type { ExportDefinition } from "../../functions/src/core/definition.js";
import type { RunManifest, RunState } from "../../functions/src/core/manifest.js";
import {
  mayHaveWritten,
  PATH_PERMISSIONS,
  usesStageTable,
  writePath,
} from "../../functions/src/core/write-path.js";

const events = { model: "events", deduplicate: false } as ExportDefinition;
const persons = { model: "persons", deduplicate: false } as ExportDefinition;

function history(...states: [RunState, number][]): RunManifest {
  return {
    history: states.map(([state, attempt]) => ({ at: "2026-11-25T11:00:00.000Z", state, attempt })),
  } as RunManifest;
}

describe("writePath", () => {
  it("appends the first attempt of a plain events run", () => {
    expect(writePath(events, { selection: "ingested", previous: undefined, forced: false })).toBe("append");
  });

  it.each([
    ["deduplicate", { ...events, deduplicate: true }, "ingested", undefined, false],
    ["a forced rerun", events, "ingested", history(["STAGING", 1], ["COMPLETED", 1]), true],
    ["a backfill chunk", events, "backfill", undefined, false],
    [
      "a retry after a load that started and failed",
      events,
      "ingested",
      history(["STAGING", 1], ["LOADING", 1], ["FAILED", 1]),
      false,
    ],
    [
      "a retry after a forced rerun that failed after its load (attempt 3 of the issue's report)",
      events,
      "ingested",
      history(
        ["STAGING", 1],
        ["LOADING", 1],
        ["COMPLETED", 1],
        ["STAGING", 2],
        ["LOADING", 2],
        ["FAILED", 2],
      ),
      false,
    ],
  ] as const)("merges on uuid for %s", (_name, def, selection, previous, forced) => {
    expect(writePath(def as ExportDefinition, { selection, previous, forced })).toBe("insert-new");
  });

  it("still appends a retry whose earlier attempts never reached LOADING", () => {
    const crashedWhileStaging = history(["STAGING", 1], ["FAILED", 1], ["STAGING", 2]);
    expect(mayHaveWritten(crashedWhileStaging)).toBe(false);
    expect(writePath(events, { selection: "ingested", previous: crashedWhileStaging, forced: false })).toBe(
      "append",
    );
  });

  it("persons always merge on versions", () => {
    expect(writePath(persons, { selection: "ingested", previous: undefined, forced: false })).toBe(
      "merge-versions",
    );
  });

  it("stage tables, and the permissions that come with them, go with every path but append", () => {
    expect(usesStageTable("append")).toBe(false);
    expect(usesStageTable("insert-new")).toBe(true);
    expect(usesStageTable("merge-versions")).toBe(true);
    expect(PATH_PERMISSIONS.append).not.toContain("bigquery.tables.getData");
    expect(PATH_PERMISSIONS.append).not.toContain("bigquery.tables.delete");
    for (const path of ["insert-new", "merge-versions"] as const) {
      expect(PATH_PERMISSIONS[path]).toEqual(
        expect.arrayContaining(["bigquery.tables.getData", "bigquery.tables.delete"]),
      );
    }
  });
});
