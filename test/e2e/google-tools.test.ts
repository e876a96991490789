// The product's output as users see it through Google's own tools, after real
// exports on the local stack: bq against the local BigQuery, gcloud storage
// against the local GCS, the README's "Where to look" commands that can run
// without Google Cloud, and the two functions as the Functions Framework serves
// them (what a caller gets back for each kind of body).
//
// bq and gcloud come from the Google Cloud SDK (installed on CI); where it is
// absent, those parts say so in one line and skip. Each CLI runs as a child
// process, asynchronously, so the in-process servers keep answering.
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { gunzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAX_LISTED_ISSUES } from "../../functions/src/core/definition.js";
import { modelFields } from "../../functions/src/core/models.js";
import {
  loadJobId,
  manifestObject,
  mergeJobId,
  runId,
  stagingPrefix,
} from "../../functions/src/core/names.js";
import type { Period } from "../../functions/src/core/periods.js";
import type { RunManifest } from "../../functions/src/core/manifest.js";
import { DEFAULT_LOOKBACK_DAYS, eventsQuery } from "../../functions/src/core/source-sql.js";
import { exampleQuerySql } from "../fixtures/seed-example-query.js";
import { interval, query, runExport, waitForRun, destinationOf } from "../helpers/stack-helpers.js";
import { generateSampleData } from "../local/clickhouse/sample-data.js";
import { findGoogleCloudSdk } from "../local/google-cloud-sdk.js";
import { setUpGoogleTools, type GoogleToolsSetup } from "../local/google-tools.js";
import { startLocalStack, type Destination, type LocalStack } from "../local/stack.js";

const run = promisify(execFile);
const sdk = findGoogleCloudSdk();
if (!sdk) {
  console.warn(
    "google-tools.test.ts: the Google Cloud SDK is not installed; the bq and gcloud checks are skipped",
  );
}

const DATASET = "BatchExports";
const DAY: Period = { start: new Date("2026-11-25T00:00:00Z"), end: new Date("2026-11-26T00:00:00Z") };
const TEAM = 1;

let stack: LocalStack;
let dest: Destination;
let tools: GoogleToolsSetup;
/** The completed runs and the failed one whose staged parts stay for inspection. */
const runs: Record<"events" | "persons" | "failed", RunManifest> = {} as never;

function definition(id: string, model: "events" | "persons", tableId: string, useJsonType: boolean) {
  return {
    id,
    model,
    teamId: TEAM,
    interval: "day",
    useJsonType,
    destination: destinationOf(stack, dest, tableId),
  };
}

/**
 * The one place this file runs an export through exportRun: stores the
 * definition and asks for the period. Resolves when the run has settled.
 */
async function exportPeriod(def: ReturnType<typeof definition>, period: Period): Promise<RunManifest> {
  const res = await runExport(stack, def, { dataInterval: interval(period) });
  expect([200, 202], JSON.stringify(res.body)).toContain(res.status);
  return waitForRun(stack, def.id, period, 60_000);
}

/** Runs a Google CLI with the stack's tool environment; resolves to its stdout. */
async function cli(file: string, args: string[]): Promise<string> {
  const { stdout } = await run(file, args, {
    env: { ...process.env, ...tools.env, CLOUDSDK_CORE_DISABLE_PROMPTS: "1" },
    timeout: 120_000,
    maxBuffer: 64 << 20,
  });
  return stdout;
}

/** bq pointed at the local BigQuery, without a person's ~/.bigqueryrc. */
const bq = (...args: string[]) =>
  cli(sdk!.bq, [
    ...tools.bqFlags,
    `--bigqueryrc=${path.join(stack.dir, "no-bigqueryrc")}`,
    "--quiet",
    ...args,
  ]);
const gcloud = (...args: string[]) => cli(sdk!.gcloud, args);

/** A table as bq prints it: the lines between the header rule and the end. */
function tableLines(stdout: string): string[] {
  const lines = stdout.split("\n").filter((l) => l.trim() !== "");
  const rule = lines.findIndex((l) => /^[\s+-]+$/.test(l) && l.includes("-"));
  return lines.slice(rule + 1).filter((l) => !/^[\s+-]+$/.test(l));
}

beforeAll(async () => {
  stack = await startLocalStack();
  tools = await setUpGoogleTools(stack);
  await generateSampleData(stack.clickhouse, {
    events: 3000,
    teams: 2,
    seed: 13,
    start: DAY.start,
    end: new Date(DAY.start.getTime() + 20 * 3600_000),
    eventsPerPerson: 5,
  });
  dest = await stack.createDestination({ datasetId: DATASET });
  runs.events = await exportPeriod(definition("events-daily", "events", "events", true), DAY);
  runs.persons = await exportPeriod(definition("persons-daily", "persons", "persons", false), DAY);
  // A load BigQuery fails: the run is FAILED and its staged parts stay under staging/.
  const failed = definition("events-failed", "events", "events_strings", false);
  stack.bigquery.faults.failJob(loadJobId(runId(failed.id, DAY), 1), {
    reason: "invalid",
    message: "Error while reading data, error message: JSON parsing error in row starting at position 0",
  });
  runs.failed = await exportPeriod(failed, DAY);
}, 240_000);

afterAll(async () => {
  await stack?.stop();
});

describe("the exports this file looks at", () => {
  it("completed two runs with rows and failed the third with BigQuery's message", () => {
    expect(runs.events.state).toBe("COMPLETED");
    expect(runs.events.rows).toBeGreaterThan(0);
    expect(runs.persons.state).toBe("COMPLETED");
    expect(runs.persons.rows).toBeGreaterThan(0);
    expect(runs.failed.state).toBe("FAILED");
    expect(runs.failed.error?.message).toContain("JSON parsing error");
  });
});

// Each CLI call starts a Python process (seconds on a shared machine): the
// read-only checks of a group run side by side.
describe.skipIf(!sdk).concurrent("bq against the local BigQuery", { timeout: 180_000 }, () => {
  it("bq ls lists the dataset", async () => {
    expect(tableLines(await bq("ls")).map((l) => l.trim())).toContain(DATASET);
  });

  it("bq ls <dataset> lists the tables, partitioned and clustered as created, and no stage table", async () => {
    const rows = tableLines(await bq("ls", DATASET)).map((l) => l.trim().split(/\s{2,}/));
    const byName = new Map(rows.map((r) => [r[0], r.slice(1).join(" | ")]));
    expect([...byName.keys()].sort()).toEqual(["events", "events_strings", "persons"]);
    expect(byName.get("events")).toBe("TABLE | DAY (field: timestamp)");
    expect(byName.get("persons")).toBe("TABLE | team_id, distinct_id");
  });

  it("bq show --schema gives the model's columns, types and descriptions", async () => {
    // The REST API answers with the legacy type names (INT64 is INTEGER).
    const restType = (type: string) => (type === "INT64" ? "INTEGER" : type);
    const tables = [
      ["events", "events", true],
      ["events_strings", "events", false],
      ["persons", "persons", false],
    ] as const;
    const shown = await Promise.all(
      tables.map(([table]) => bq("show", "--schema", "--format=prettyjson", `${DATASET}.${table}`)),
    );
    tables.forEach(([, model, json], i) => {
      expect(JSON.parse(shown[i]!)).toEqual(
        modelFields(model, json).map((f) => ({
          name: f.name,
          type: restType(f.type),
          mode: f.mode,
          description: f.description,
        })),
      );
    });
  });

  it("bq show -j shows the load job: done, labelled, with the run's row count", async () => {
    const jobId = runs.events.job!.jobId;
    const text = await bq("show", "-j", jobId);
    expect(text).toContain(`Job ${stack.projectId}:${jobId}`);
    const [row] = tableLines(text);
    expect(row).toMatch(/^\s*load\s+SUCCESS\s/);
    for (const label of ["bqx_export:events-daily", `bqx_run:${runs.events.runId}`, "bqx_model:events"]) {
      expect(text).toContain(label);
    }
    const job = JSON.parse(await bq("show", "--format=prettyjson", "-j", jobId));
    expect(job.status).toEqual({ state: "DONE" });
    expect(job.configuration.load.destinationTable).toEqual({
      projectId: stack.projectId,
      datasetId: DATASET,
      tableId: "events",
    });
    expect(job.statistics.load.outputRows).toBe(String(runs.events.rows));
    expect(job.user_email).toBe(dest.serviceAccount);
  });

  it("bq show -j of the failed load shows BigQuery's error, as the run records it", async () => {
    const job = JSON.parse(await bq("show", "--format=prettyjson", "-j", runs.failed.job!.jobId));
    expect(job.status.state).toBe("DONE");
    expect(job.status.errorResult.reason).toBe("invalid");
    expect(runs.failed.error?.message).toContain(job.status.errorResult.message);
  });

  it("bq ls -j -a lists every job of the runs with its outcome", async () => {
    const states = new Map(
      tableLines(await bq("ls", "-j", "-a", "-n", "100")).map((l) => {
        const [id, type, state] = l.trim().split(/\s+/);
        return [id, `${type} ${state}`];
      }),
    );
    expect(states.get(loadJobId(runs.events.runId, 1))).toBe("load SUCCESS");
    expect(states.get(loadJobId(runs.persons.runId, 1))).toBe("load SUCCESS");
    expect(states.get(mergeJobId(runs.persons.runId, 1))).toBe("query SUCCESS");
    expect(states.get(loadJobId(runs.failed.runId, 1))).toBe("load FAILURE");
  });

  it("bq query runs the seed's example query and answers what the client library answers", async () => {
    const sql = exampleQuerySql(
      { projectId: stack.projectId, datasetId: DATASET, tableId: "events" },
      { projectId: stack.projectId, datasetId: DATASET, tableId: "persons" },
    );
    const viaBq = JSON.parse(await bq("query", "--use_legacy_sql=false", "--format=json", sql));
    const viaClient = await query(stack, sql);
    expect(viaBq.length).toBeGreaterThan(0);
    // Events with equal counts come in no set order: compare as sets.
    const byEvent = (a: { event: string }, b: { event: string }) => a.event.localeCompare(b.event);
    expect([...viaBq].sort(byEvent)).toEqual(
      viaClient
        .map((r) => ({
          event: r["event"] as string,
          unique_persons_count: String(r["unique_persons_count"]),
        }))
        .sort(byEvent),
    );
    // And both in the query's order of counts.
    const counts = viaBq.map((r: { unique_persons_count: string }) => Number(r.unique_persons_count));
    expect(counts).toEqual([...counts].sort((a, b) => b - a));
    for (const row of viaBq) expect(Number(row.unique_persons_count)).toBeGreaterThan(0);
  });

  it("bq query reads the JSON-typed properties with JSON_VALUE, as the source holds them", async () => {
    const sql =
      "SELECT uuid, JSON_VALUE(properties, '$.\"$current_url\"') AS url " +
      `FROM \`${stack.projectId}.${DATASET}.events\` WHERE event = '$pageview' ORDER BY uuid`;
    const viaBq: { uuid: string; url: string | null }[] = JSON.parse(
      await bq("query", "--use_legacy_sql=false", "--format=json", "--max_rows=100000", sql),
    );
    const source: { uuid: string; url: string | null }[] = [];
    const q = eventsQuery({
      teamId: TEAM,
      period: DAY,
      exportedAt: new Date(),
      includeEvents: ["$pageview"],
      excludeEvents: [],
      selection: "ingested",
      lookbackDays: DEFAULT_LOOKBACK_DAYS,
    });
    for await (const line of stack.deps.source.rows(q)) {
      const row = JSON.parse(line) as { uuid: string; properties: string };
      const url = (JSON.parse(row.properties) as Record<string, unknown>)["$current_url"];
      source.push({ uuid: row.uuid, url: typeof url === "string" ? url : null });
    }
    source.sort((a, b) => (a.uuid < b.uuid ? -1 : a.uuid > b.uuid ? 1 : 0));
    expect(viaBq.length).toBeGreaterThan(0);
    expect(viaBq).toEqual(source);
  });

  it("bq head shows the first rows under the model's column names", async () => {
    const text = await bq("head", "-n", "3", `${DATASET}.persons`);
    const lines = text.split("\n").filter((l) => l.startsWith("|"));
    const header = lines[0]!
      .split("|")
      .map((c) => c.trim())
      .filter(Boolean);
    expect(header).toEqual(modelFields("persons", false).map((f) => f.name));
    expect(lines).toHaveLength(4);
  });
});

describe.skipIf(!sdk).concurrent("gcloud storage against the local GCS", { timeout: 180_000 }, () => {
  const manifestUrl = (m: RunManifest) => `gs://${stack.bucket}/${manifestObject(m.exportId, DAY)}`;

  it("gcloud storage ls lists the run's manifest (the README's Where to look)", async () => {
    const out = await gcloud("storage", "ls", `gs://${stack.bucket}/runs/events-daily/`);
    expect(out.trim().split("\n")).toEqual([manifestUrl(runs.events)]);
  });

  it("gcloud storage cat prints the manifest of a completed run", async () => {
    const manifest = JSON.parse(await gcloud("storage", "cat", manifestUrl(runs.events)));
    expect(manifest).toMatchObject({
      exportId: "events-daily",
      runId: runs.events.runId,
      state: "COMPLETED",
      rows: runs.events.rows,
    });
  });

  it("gcloud storage cp brings a failed run's staged part down, and takes it up again unchanged", async () => {
    const prefix = `gs://${stack.bucket}/${stagingPrefix("events-failed", runs.failed.runId, 1)}`;
    const listed = (await gcloud("storage", "ls", prefix)).trim().split("\n");
    expect(listed).toEqual(runs.failed.files.map((name) => `gs://${stack.bucket}/${name}`));

    const local = path.join(stack.dir, "part-00000.ndjson.gz");
    await gcloud("storage", "cp", listed[0]!, local);
    const bytes = await readFile(local);
    const rows = gunzipSync(bytes).toString("utf8").trim().split("\n");
    expect(rows).toHaveLength(runs.failed.rows);
    expect(JSON.parse(rows[0]!)).toHaveProperty("uuid");

    // Up again (the SDK's multipart upload: quoted boundary, LF line breaks), then described.
    const copy = `gs://${stack.bucket}/inspect/part-00000.ndjson.gz`;
    await gcloud("storage", "cp", local, copy);
    const described = JSON.parse(await gcloud("storage", "objects", "describe", copy, "--format=json"));
    expect(Number(described.size)).toBe(bytes.length);
    expect(described.md5_hash).toBe(createHash("md5").update(bytes).digest("base64"));
  });

  it("gcloud storage cp takes a file above the SDK's resumable threshold up and down", async () => {
    const big = Buffer.alloc(9 << 20);
    for (let i = 0; i < big.length; i += 4096) big.writeUInt32BE(i, i);
    const local = path.join(stack.dir, "big.bin");
    await writeFile(local, big);
    const url = `gs://${stack.bucket}/inspect/big.bin`;
    await gcloud("storage", "cp", local, url);
    const back = path.join(stack.dir, "big-back.bin");
    await gcloud("storage", "cp", url, back);
    expect((await readFile(back)).equals(big)).toBe(true);
  });
});

describe.skipIf(!sdk)("the README's Where to look, locally", () => {
  it("the run history (curl $URL/?export=<id>) lists the run, completed", async () => {
    // The README adds an ID token; the local functions take calls without one.
    const { stdout } = await run("curl", ["-sS", `${stack.functions.exportRunUrl}?export=events-daily`]);
    const history = JSON.parse(stdout);
    expect(history.export).toBe("events-daily");
    expect(history.runs).toEqual([
      expect.objectContaining({ object: manifestObject("events-daily", DAY), state: "COMPLETED" }),
    ]);
  });
});

describe("the functions as the Functions Framework serves them", () => {
  const post = (contentType: string | undefined, body: string) =>
    fetch(stack.functions.exportRunUrl, {
      method: "POST",
      headers: contentType ? { "content-type": contentType } : {},
      body,
    });

  it.each([
    ["application/octet-stream", "application/octet-stream"],
    ["text/plain", "text/plain"],
    ["application/x-www-form-urlencoded", "application/x-www-form-urlencoded"],
    ["application/cloudevents+json", "application/cloudevents+json"],
  ])("a body sent as %s gets one short JSON 415 naming the Content-Type", async (contentType, named) => {
    const body = JSON.stringify({ exportId: "events-daily" });
    const res = await post(contentType, body);
    expect(res.status).toBe(415);
    const answer = await res.json();
    expect(answer.error.code).toBe("INVALID_REQUEST");
    expect(answer.error.message).toContain(`Content-Type: ${named}`);
    expect(answer.error.message).toContain("application/json");
  });

  it("a megabyte of octet-stream gets the same short answer", async () => {
    const res = await post("application/octet-stream", "{".repeat(1 << 20));
    expect(res.status).toBe(415);
    expect((await res.text()).length).toBeLessThan(300);
  });

  it("a JSON array is a 400 saying the body must be an object", async () => {
    const res = await post("application/json", "[1, 2]");
    expect(res.status).toBe(400);
    expect((await res.json()).error.message).toContain("must be a JSON object");
  });

  it("a body that is not JSON gets the framework's own 400 page, as in production", async () => {
    // body-parser rejects it before any function code runs: nothing of ours can answer.
    const res = await post("application/json", "{not json");
    expect(res.status).toBe(400);
    expect(res.headers.get("content-type")).toMatch(/^text\/html/);
  });

  it("100,000 unknown fields get a bounded error that names a few and counts the rest", async () => {
    const body: Record<string, unknown> = { exportId: "events-daily" };
    for (let i = 0; i < 100_000; i++) body[`field${i}`] = i;
    const res = await post("application/json", JSON.stringify(body));
    expect(res.status).toBe(400);
    const text = await res.text();
    expect(text.length).toBeLessThan(8_000);
    const { error } = JSON.parse(text);
    expect(error.message).toContain("field0: unknown field");
    expect(error.message).toContain(`and ${100_000 - MAX_LISTED_ISSUES} more problems.`);
    expect(error.details.issues).toHaveLength(MAX_LISTED_ISSUES);
    expect(error.details.moreIssues).toBe(100_000 - MAX_LISTED_ISSUES);
  });

  it("a field name a megabyte long is clipped in the error", async () => {
    const body = { exportId: "events-daily", ["x".repeat(1 << 20)]: 1 };
    const res = await post("application/json", JSON.stringify(body));
    expect(res.status).toBe(400);
    expect((await res.text()).length).toBeLessThan(2_000);
  });

  it("finalizeRun takes Eventarc's binary-mode CloudEvent and acknowledges an entry that is not ours", async () => {
    const entry = { protoPayload: { serviceName: "storage.googleapis.com" } };
    const res = await fetch(stack.functions.finalizeRunUrl, {
      method: "POST",
      headers: {
        "content-type": "application/json; charset=utf-8",
        "ce-id": "42",
        "ce-source": `//pubsub.googleapis.com/projects/${stack.projectId}/topics/bqx-job-done`,
        "ce-specversion": "1.0",
        "ce-type": "google.cloud.pubsub.topic.v1.messagePublished",
        "ce-time": new Date().toISOString(),
      },
      body: JSON.stringify({
        message: {
          data: Buffer.from(JSON.stringify(entry)).toString("base64"),
          messageId: "42",
          publishTime: new Date().toISOString(),
        },
        subscription: `projects/${stack.projectId}/subscriptions/eventarc-local-finalize-run-sub-000`,
      }),
    });
    expect(res.status).toBe(204);
  });
});
