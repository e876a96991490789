// bqx exports and bqx runs against a fake exportRun answering as
// handlers/export-run.ts does, auto-pause's paused record and events included.
import { afterEach, describe, expect, it } from "vitest";
import { bqx, fakeExportRun, type FakeServer } from "./harness.js";

let server: FakeServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

const paused = {
  at: "2026-11-25T16:01:03.000Z",
  by: "auto-pause",
  reason: "the last 6 scheduled runs failed (DATASET_NOT_FOUND)",
  job: "projects/p/locations/us-central1/jobs/bqx-broken",
  failures: [{ run: "broken-x", error: { code: "DATASET_NOT_FOUND", message: "gone" } }],
};

describe("bqx exports", () => {
  it("shows who paused an export, when, and why", async () => {
    server = await fakeExportRun(() => ({
      status: 200,
      body: {
        exports: [
          {
            id: "ok",
            model: "events",
            teamId: 1,
            interval: "hour",
            destination: "p.d.t",
            location: "US",
            credentials: { mode: "function" },
            definitionHash: "h",
            paused: null,
          },
          {
            id: "broken",
            model: "persons",
            teamId: 1,
            interval: "hour",
            destination: "p.d.u",
            location: "US",
            credentials: { mode: "impersonate", serviceAccount: "w@p.iam.gserviceaccount.com" },
            definitionHash: "h",
            paused,
          },
          { id: "bad", error: { code: "INVALID_DEFINITION", message: "teamId: required" } },
        ],
      },
    }));
    const r = await bqx(["--url", server.url, "exports"]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines[1]!.split(/ {2,}/)).toEqual([
      "broken",
      "persons",
      "1",
      "hour",
      "p.d.u",
      "US",
      "impersonate w@p.iam.gserviceaccount.com",
      "yes (since 2026-11-25 16:01:03, by auto-pause, after 1 failed run, the last 6 scheduled runs failed (DATASET_NOT_FOUND))",
    ]);
    expect(lines[2]!.split(/ {2,}/).slice(-2)).toEqual(["function's own", "no"]);
    expect(lines[3]).toBe("✗ bad: INVALID_DEFINITION: teamId: required");
  });
});

describe("bqx runs", () => {
  it("lists pause and resume events under the runs", async () => {
    server = await fakeExportRun(() => ({
      status: 200,
      body: {
        export: "broken",
        runs: [
          {
            object: "runs/broken/20261125T150000Z--20261125T160000Z.json",
            period: { start: "2026-11-25T15:00:00.000Z", end: "2026-11-25T16:00:00.000Z" },
            state: "FAILED",
            attempt: 1,
            rows: 0,
            bytes: 0,
            startedAt: "2026-11-25T16:01:00.000Z",
            updatedAt: "2026-11-25T16:01:02.500Z",
            trigger: "scheduled",
            error: { code: "DATASET_NOT_FOUND", retryable: false, message: "Dataset p:d was not found" },
            definitionChanged: true,
          },
        ],
        events: [
          {
            event: "paused",
            at: "2026-11-25T16:01:03.000Z",
            by: "auto-pause",
            reason: "6 runs failed",
            job: "j",
            failures: 6,
          },
          { event: "resumed", at: "2026-11-25T18:01:00.000Z", by: "a scheduled run arrived", job: "j" },
        ],
      },
    }));
    const r = await bqx(["--url", server.url, "runs", "broken"]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines[1]!.split(/ {2,}/)).toEqual([
      "2026-11-25 15:00–16:00",
      "FAILED*",
      "1",
      "scheduled",
      "0",
      "0 B",
      "-",
      "3s",
      "DATASET_NOT_FOUND: Dataset p:d was not found",
    ]);
    expect(lines.slice(2)).toEqual([
      "* the first run after a change of the export's definition",
      "  resumed 2026-11-25 18:01 by a scheduled run arrived",
      "! paused 2026-11-25 16:01:03 by auto-pause: 6 runs failed",
    ]);
  });
});
