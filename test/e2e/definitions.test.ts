// End to end: exports are stored resources and requests only name them.
// Whoever may invoke exportRun can run a configured export, never define one:
// an inline definition is refused before anything starts, an unknown id is a
// 404, a hand-broken stored definition is refused naming the object and the
// field; GET lists the exports (never a secret) and a run history that shows
// where a definition changed. No log line or response carries a secret.
import { Storage } from "@google-cloud/storage";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EVENT_ROWS, PERIOD, TEAM } from "../fixtures/posthog-fixtures.js";
import {
  callExportRun,
  insertRows,
  interval,
  runExport,
  waitForRun,
  destinationOf,
} from "../helpers/stack-helpers.js";
import { startLocalStack, type Destination, type LocalStack } from "../local/stack.js";

let stack: LocalStack;
let dest: Destination;
const logLines: string[] = [];

function definition(id: string, extra: Record<string, unknown> = {}) {
  return {
    id,
    model: "events",
    teamId: TEAM,
    interval: "hour",
    destination: destinationOf(stack, dest, id.replace(/-/g, "_")),
    ...extra,
  };
}

async function objectsUnder(prefix: string): Promise<string[]> {
  return (await stack.deps.store.list(prefix)).map((o) => o.name);
}

async function jobCount(): Promise<number> {
  const [jobs] = await stack.adminBigQuery().getJobs({ allUsers: true });
  return jobs.length;
}

async function get(query = ""): Promise<{ status: number; body: any }> {
  const res = await fetch(`${stack.functions.exportRunUrl}${query}`);
  return { status: res.status, body: await res.json() };
}

beforeAll(async () => {
  stack = await startLocalStack({ logLevel: "DEBUG", logSink: (line) => logLines.push(line) });
  dest = await stack.createDestination({ datasetId: "Defs" });
  await insertRows(stack, "events", EVENT_ROWS);
});

afterAll(async () => {
  await stack?.stop();
});

describe("requests name an export", () => {
  it("an inline definition is a 400 that says how to name the export; nothing is written and BigQuery is not called", async () => {
    const jobsBefore = await jobCount();
    const res = await callExportRun(stack, {
      export: definition("inline-try"),
      dataInterval: interval(PERIOD),
    });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe("INVALID_REQUEST");
    expect(res.body.error.message).toMatch(/inline export definitions are not accepted/);
    expect(res.body.error.message).toMatch(/exportId: required/);
    expect(await objectsUnder("exports/inline-try")).toEqual([]);
    expect(await objectsUnder("runs/inline-try/")).toEqual([]);
    expect(await objectsUnder("staging/inline-try/")).toEqual([]);
    expect(await jobCount()).toBe(jobsBefore);
  });

  it("the same export, stored, runs by id", async () => {
    const res = await runExport(stack, definition("by-id"), { dataInterval: interval(PERIOD) });
    expect(res.status).toBe(202);
    expect(res.body.export).toBe("by-id");
    expect((await waitForRun(stack, "by-id", PERIOD)).state).toBe("COMPLETED");
  });

  it("an id that is not configured is a 404 EXPORT_NOT_FOUND", async () => {
    const res = await callExportRun(stack, { exportId: "never-defined" });
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe("EXPORT_NOT_FOUND");
    expect(res.body.error.message).toContain(`gs://${stack.bucket}/exports/never-defined.json`);
    expect((await get("?export=never-defined")).status).toBe(404);
  });

  it.each(["../runs/by-id", "exports/x", "by id", "x%2F..%2Fy"])(
    "an id with path characters (%s) is a 400",
    async (id) => {
      const res = await callExportRun(stack, { exportId: id });
      expect(res.status).toBe(400);
      expect(res.body.error.details.issues.map((i: any) => i.path)).toEqual(["exportId"]);
      expect((await get(`?export=${encodeURIComponent(id)}`)).status).toBe(400);
    },
  );

  it("a hand-broken stored definition is refused naming the object and the field; nothing starts", async () => {
    const bucket = new Storage({ apiEndpoint: stack.gcs.url, projectId: stack.projectId }).bucket(
      stack.bucket,
    );
    const broken = { ...definition("hand-edited"), teamId: "one" };
    await bucket.file("exports/hand-edited.json").save(JSON.stringify(broken), { resumable: false });
    const res = await callExportRun(stack, { exportId: "hand-edited", dataInterval: interval(PERIOD) });
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe("INVALID_DEFINITION");
    expect(res.body.error.message).toContain(`gs://${stack.bucket}/exports/hand-edited.json`);
    expect(res.body.error.message).toMatch(/teamId: /);
    expect(await objectsUnder("runs/hand-edited/")).toEqual([]);

    await bucket.file("exports/not-json.json").save("{ nope", { resumable: false });
    const notJson = await callExportRun(stack, { exportId: "not-json" });
    expect(notJson.status).toBe(422);
    expect(notJson.body.error.message).toMatch(/exports\/not-json\.json is not JSON/);
  });

  it("registering an invalid definition names every bad field and stores nothing", async () => {
    await expect(
      stack.registerExport({
        ...definition("bad-def"),
        teamId: -1,
        interval: "hourly",
        destination: {
          projectId: stack.projectId,
          datasetId: "project-123:my-dataset",
          tableId: "t",
          location: "US",
        },
        dataIntervall: {},
      }),
    ).rejects.toMatchObject({
      code: "INVALID_DEFINITION",
      message: expect.stringMatching(
        /teamId: .*interval: .*destination\.datasetId: .*use only the dataset ID.*dataIntervall: unknown field/,
      ),
    });
    expect(await objectsUnder("exports/bad-def")).toEqual([]);
  });

  it("a misaligned interval is a 400 that says which boundaries to use", async () => {
    await stack.registerExport(definition("misaligned"));
    const res = await callExportRun(stack, {
      exportId: "misaligned",
      dataInterval: { start: "2026-11-25T10:15:00Z", end: "2026-11-25T11:00:00Z" },
    });
    expect(res.status).toBe(400);
    expect(res.body.error.message).toBe(
      "dataInterval.start 2026-11-25T10:15:00Z is not on an hour boundary; use 2026-11-25T10:00:00Z or 2026-11-25T11:00:00Z.",
    );
  });
});

describe("GET", () => {
  it("without a query lists the configured exports with their credentials mode, never a secret", async () => {
    await stack.registerExport(definition("listed-key"));
    await stack.registerExport({
      ...definition("listed-keyless"),
      model: "persons",
      interval: "day",
      destination: { projectId: stack.projectId, datasetId: dest.datasetId, tableId: "p", location: "US" },
    });
    const res = await get();
    expect(res.status).toBe(200);
    const byId = Object.fromEntries(res.body.exports.map((e: any) => [e.id, e]));
    expect(byId["listed-key"]).toMatchObject({
      model: "events",
      teamId: TEAM,
      interval: "hour",
      destination: `${stack.projectId}.${dest.datasetId}.listed_key`,
      credentials: { mode: "key", secret: dest.keySecret },
    });
    expect(byId["listed-keyless"]).toMatchObject({
      model: "persons",
      interval: "day",
      credentials: { mode: "function" },
    });
    expect(byId["hand-edited"].error.code).toBe("INVALID_DEFINITION");
    expect(JSON.stringify(res.body)).not.toContain("PRIVATE KEY");
  });

  it("the run history shows where the definition changed between runs", async () => {
    const earlier = { start: new Date(PERIOD.start.getTime() - 3_600_000), end: PERIOD.start };
    await runExport(stack, definition("changing"), { dataInterval: interval(earlier) });
    await waitForRun(stack, "changing", earlier);
    await runExport(stack, definition("changing", { excludeEvents: ["$autocapture"] }), {
      dataInterval: interval(PERIOD),
    });
    await waitForRun(stack, "changing", PERIOD);
    const { body } = await get("?export=changing");
    expect(body.runs).toHaveLength(2);
    const [newer, older] = body.runs;
    expect(newer.definitionHash).not.toBe(older.definitionHash);
    expect(newer.definitionChanged).toBe(true);
    expect(older.definitionChanged).toBeUndefined();
  });
});

describe("secrets", () => {
  it("no log line or response of this file holds a private key, an access token or the ClickHouse password", async () => {
    const res = await get();
    const seen = [...logLines, JSON.stringify(res.body)].join("\n");
    expect(logLines.length).toBeGreaterThan(10);
    const keyBody = dest.key!.private_key.split("\n")[5]!;
    for (const secret of [
      keyBody,
      stack.env["BQX_BIGQUERY_ACCESS_TOKEN"]!,
      stack.env["BQX_CLICKHOUSE_PASSWORD"]!,
    ]) {
      expect(secret.length).toBeGreaterThan(10);
      expect(seen).not.toContain(secret);
    }
  });
});
