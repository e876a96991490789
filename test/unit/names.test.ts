import { describe, it, expect } from "vitest";
import {
  EXPORT_ID_PATTERN,
  JOB_LABELS,
  jobLabels,
  loadJobId,
  manifestObject,
  manifestPrefix,
  mergeJobId,
  chunkManifestObject,
  chunkRunId,
  chunkTaskId,
  manifestObjectOfRun,
  partObject,
  periodFromRunId,
  runId,
  stageTableId,
  stagingPrefix,
} from "../../functions/src/core/names.js";
import { identifierProblem } from "../../functions/src/core/identifiers.js";
import { MODELS } from "../../functions/src/core/models.js";
import type { Period } from "../../functions/src/core/periods.js";

// BigQuery label rules: keys and values up to 63 characters of lowercase
// letters, digits, underscores and dashes; keys start with a letter.
const LABEL_KEY = /^[a-z][a-z0-9_-]{0,62}$/;
const LABEL_VALUE = /^[a-z0-9_-]{0,63}$/;
// Job IDs: letters, digits, underscores and dashes, up to 1,024 characters.
const JOB_ID = /^[A-Za-z0-9_-]{1,1024}$/;

const hour: Period = { start: new Date("2026-11-25T10:00:00Z"), end: new Date("2026-11-25T11:00:00Z") };
const nextHour: Period = { start: new Date("2026-11-25T11:00:00Z"), end: new Date("2026-11-25T12:00:00Z") };
// The longest id EXPORT_ID_PATTERN accepts, found by trying: label checks must hold for it.
const longestId = (() => {
  for (let n = 200; n > 0; n--) {
    const id = "e" + "x".repeat(n - 1);
    if (EXPORT_ID_PATTERN.test(id)) return id;
  }
  throw new Error("EXPORT_ID_PATTERN accepts nothing");
})();

describe("job labels", () => {
  it("keys are lowercase label keys of at most 63 characters", () => {
    for (const key of Object.values(JOB_LABELS)) expect(key).toMatch(LABEL_KEY);
    expect(new Set(Object.values(JOB_LABELS)).size).toBe(3);
  });

  it.each(MODELS.map((m) => [m]))("values are valid label values for the longest export id (%s)", (model) => {
    const labels = jobLabels(longestId, runId(longestId, hour), model);
    expect(Object.keys(labels).sort()).toEqual(Object.values(JOB_LABELS).sort());
    for (const value of Object.values(labels)) expect(value).toMatch(LABEL_VALUE);
  });

  it("the run label stays within 63 characters for any period", () => {
    const far: Period = { start: new Date("9999-12-31T00:00:00Z"), end: new Date("9999-12-31T23:55:00Z") };
    expect(runId(longestId, far).length).toBeLessThanOrEqual(63);
    expect(runId(longestId, far)).toMatch(LABEL_VALUE);
  });
});

describe("export ids", () => {
  it.each([
    ["a", true],
    ["events-hourly", true],
    [longestId, true],
    [longestId + "x", false],
    ["Events", false],
    ["1events", false],
    ["events-", false],
    ["events_hourly", false],
    ["", false],
  ])("%s → %s", (id, ok) => {
    expect(EXPORT_ID_PATTERN.test(id)).toBe(ok);
  });

  it("runId refuses an invalid export id", () => {
    expect(() => runId("Bad ID", hour)).toThrow(/Invalid export id/);
  });
});

describe("run and job ids", () => {
  it("a run names its export and its period", () => {
    expect(runId("events-hourly", hour)).toBe("events-hourly-20261125t100000z-20261125t110000z");
  });

  it("are deterministic: the same attempt always gets the same job ids", () => {
    const run = runId("events-hourly", hour);
    expect(loadJobId(run, 1)).toBe(loadJobId(runId("events-hourly", hour), 1));
    expect(mergeJobId(run, 2)).toBe(mergeJobId(run, 2));
  });

  it("are distinct per attempt, per kind of job, per period and per export", () => {
    const ids = new Set<string>();
    for (const exportId of ["events-hourly", "persons-hourly"]) {
      for (const period of [hour, nextHour]) {
        const run = runId(exportId, period);
        for (const attempt of [1, 2, 3]) {
          for (const id of [loadJobId(run, attempt), mergeJobId(run, attempt)]) {
            expect(id).toMatch(JOB_ID);
            ids.add(id);
          }
        }
      }
    }
    expect(ids.size).toBe(2 * 2 * 3 * 2);
  });

  it("attempt 1 and attempt 11 do not collide", () => {
    const run = runId("e", hour);
    expect(loadJobId(run, 1)).not.toBe(loadJobId(run, 11));
    expect(loadJobId(run, 1).startsWith(loadJobId(run, 11))).toBe(false);
  });
});

describe("stage tables", () => {
  it.each([["events"], ["my-events"], ["Persons Table"], ["таблица"]])(
    "are valid table IDs, distinct per run (period or backfill chunk) and attempt (%s)",
    (tableId) => {
      const names = [
        stageTableId(tableId, "e", runId("e", hour), 1),
        stageTableId(tableId, "e", runId("e", hour), 2),
        stageTableId(tableId, "e", runId("e", nextHour), 1),
        stageTableId(tableId, "e", chunkRunId("e", "bf-0123456789abcdef", 0), 1),
        stageTableId(tableId, "e", chunkRunId("e", "bf-fedcba9876543210", 0), 1),
      ];
      for (const n of names) expect(identifierProblem("table", n)).toBeUndefined();
      expect(new Set(names).size).toBe(5);
      expect(names).not.toContain(tableId);
    },
  );

  it("tables whose IDs differ only by dash or underscore get different stage tables", () => {
    const run = runId("e", hour);
    expect(stageTableId("my-events", "e", run, 1)).not.toBe(stageTableId("my_events", "e", run, 1));
    expect(stageTableId("events", "e", run, 1)).toBe("events_bqx_stage_20261125t100000z_20261125t110000z_a1");
  });

  it("refuses a table ID too long to derive a stage name from", () => {
    expect(() => stageTableId("t".repeat(1000), "e", runId("e", hour), 1)).toThrow(/too long/);
  });
});

describe("backfill chunks", () => {
  it("have run ids that are label values, distinct from every period's, and lead back to their manifest", () => {
    const id = chunkRunId("events-hourly-with-long-name", "bf-0123456789abcdef", 12345);
    expect(id).toBe("events-hourly-with-long-name-bf0123456789abcdef-c12345");
    expect(id.length).toBeLessThanOrEqual(63);
    expect(periodFromRunId("events-hourly-with-long-name", id)).toBeUndefined();
    expect(manifestObjectOfRun("events-hourly-with-long-name", id)).toBe(
      "runs/events-hourly-with-long-name/backfill-bf-0123456789abcdef/c12345.json",
    );
    expect(manifestObjectOfRun("e", runId("e", hour))).toBe(manifestObject("e", hour));
    expect(manifestObjectOfRun("e", "e-bf0123-c1")).toBeUndefined();
    expect(() => chunkRunId("e", "bf-xyz", 1)).toThrow(/Invalid backfill chunk/);
  });

  it("chunk manifests sort after every period's, so the sweep's time window keeps them", () => {
    expect(chunkManifestObject("e", "bf-0123456789abcdef", 0) > manifestObject("e", hour)).toBe(true);
  });

  it("task ids are deterministic per chunk and round", () => {
    expect(chunkTaskId("bf-0123456789abcdef", 7, 1)).toBe("bf-0123456789abcdef-c00007-r1");
    expect(chunkTaskId("bf-0123456789abcdef", 7, 2)).not.toBe(chunkTaskId("bf-0123456789abcdef", 7, 1));
  });
});

describe("Cloud Storage objects", () => {
  it("manifests sit under runs/<export>/ named by period", () => {
    expect(manifestObject("events-hourly", hour)).toBe(
      "runs/events-hourly/20261125T100000Z--20261125T110000Z.json",
    );
    expect(manifestObject("events-hourly", hour).startsWith(manifestPrefix("events-hourly"))).toBe(true);
    // One export's prefix does not list another's whose id extends it.
    expect(manifestObject("events-hourly-2", hour).startsWith(manifestPrefix("events-hourly"))).toBe(false);
  });

  it("staged parts are zero-padded so they list in order", () => {
    const prefix = stagingPrefix("events-hourly", runId("events-hourly", hour), 1);
    const parts = [0, 1, 9, 10, 99999].map((i) => partObject(prefix, i));
    expect(parts[0]).toBe(`${prefix}part-00000.ndjson.gz`);
    expect([...parts].sort()).toEqual(parts);
    expect(stagingPrefix("e", "r", 1)).not.toBe(stagingPrefix("e", "r", 2));
  });
});

describe("periodFromRunId", () => {
  const hour: Period = {
    start: new Date("2026-11-25T10:00:00Z"),
    end: new Date("2026-11-25T11:00:00Z"),
  };
  it("round-trips the ids names.runId mints", () => {
    expect(periodFromRunId("events-hourly", runId("events-hourly", hour))).toEqual(hour);
  });
  it.each([
    ["another export", "persons-hourly-20261125t100000z-20261125t110000z"],
    ["garbage", "events-hourly-nope"],
    ["impossible date", "events-hourly-20261325t100000z-20261125t110000z"],
  ])("refuses %s", (_n, id) => {
    expect(periodFromRunId("events-hourly", id)).toBeUndefined();
  });
});
