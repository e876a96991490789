// Load jobs through @google-cloud/bigquery from the local GCS: gzip NDJSON,
// several URIs and wildcards, BigQuery's value conversions, bad rows and
// their errors, dispositions, schema updates, statistics.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { BigQuery, type Job } from "@google-cloud/bigquery";
import { Storage } from "@google-cloud/storage";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { destinationTable } from "../../../functions/src/core/models.js";
import { staticTokenAuth } from "./client-auth.js";
import { startBigQueryServer, type BigQueryServer } from "./server.js";
import { startGcsServer, type GcsServer } from "../gcs/server.js";

const PROJECT = "bqx-load-project";
const DATASET = "BatchExports";
const BUCKET = "bqx-staging";

interface JobError {
  code?: number;
  message: string;
  errors?: Array<{ reason?: string; message?: string; location?: string }>;
}

function eventRow(i: number, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    uuid: `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`,
    event: i % 2 === 0 ? "$pageview" : "signup",
    properties: { $browser: "Firefox", n: i },
    elements: "",
    set: { plan: "free" },
    set_once: null,
    distinct_id: `user-${i % 7}`,
    team_id: String(1 + (i % 2)),
    ip: "127.0.0.1",
    site_url: "",
    timestamp: `2026-11-25 10:${String(i % 60).padStart(2, "0")}:00.123456 UTC`,
    bq_ingested_timestamp: "2026-11-25T11:00:00.5Z",
    ...overrides,
  };
}

const ndjson = (rows: Array<Record<string, unknown>>): string =>
  rows.map((r) => JSON.stringify(r)).join("\n") + "\n";

describe("load jobs from the local GCS", () => {
  let dir: string;
  let gcs: GcsServer;
  let server: BigQueryServer;
  let bq: BigQuery;
  let storage: Storage;

  async function put(name: string, text: string, gzip = true): Promise<string> {
    await storage
      .bucket(BUCKET)
      .file(name)
      .save(gzip ? gzipSync(text) : Buffer.from(text), {
        resumable: false,
        contentType: "application/x-ndjson",
      });
    return `gs://${BUCKET}/${name}`;
  }

  async function load(tableId: string, uris: string[], extra: Record<string, unknown> = {}): Promise<Job> {
    const [job] = await bq.createJob({
      configuration: {
        load: {
          sourceUris: uris,
          sourceFormat: "NEWLINE_DELIMITED_JSON",
          destinationTable: { projectId: PROJECT, datasetId: DATASET, tableId },
          ...extra,
        },
        labels: { bqx_export: "load-test" },
      },
    });
    return job;
  }

  async function loadFailure(job: Job): Promise<JobError> {
    try {
      await job.promise();
    } catch (err) {
      return err as JobError;
    }
    throw new Error("expected the load to fail");
  }

  async function rowCount(tableId: string): Promise<number> {
    const [rows] = await bq.dataset(DATASET).table(tableId).getRows();
    return rows.length;
  }

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "bq-load-"));
    gcs = await startGcsServer({ dataDir: path.join(dir, "gcs"), projectId: PROJECT });
    await gcs.ensureBucket(BUCKET);
    server = await startBigQueryServer({ dataDir: path.join(dir, "bq"), gcs: { url: gcs.url } });
    bq = new BigQuery({ projectId: PROJECT, apiEndpoint: server.url, authClient: staticTokenAuth() });
    storage = new Storage({ projectId: PROJECT, apiEndpoint: gcs.url });
    await bq.createDataset(DATASET, { location: "US" });
    const events = destinationTable("events", true, {
      projectId: PROJECT,
      datasetId: DATASET,
      tableId: "events",
    });
    await bq.dataset(DATASET).createTable("events", events);
  });
  afterAll(async () => {
    await server?.stop();
    await gcs?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("loads gzip NDJSON from several URIs and a wildcard, with statistics", async () => {
    const first = await put("staging/run0/part-00000.ndjson.gz", ndjson([0, 1, 2].map((i) => eventRow(i))));
    await put("staging/run1/part-00001.ndjson.gz", ndjson([3, 4].map((i) => eventRow(i))));
    await put("staging/run1/part-00002.ndjson.gz", ndjson([5].map((i) => eventRow(i))));
    await put("staging/other/part-00003.ndjson.gz", ndjson([6].map((i) => eventRow(i))));
    const job = await load("events", [first, `gs://${BUCKET}/staging/run1/part-*`]);
    await job.promise();
    const [meta] = await job.getMetadata();
    expect(meta.status.state).toBe("DONE");
    expect(meta.status.errorResult).toBeUndefined();
    expect(meta.statistics.load).toMatchObject({ inputFiles: "3", outputRows: "6", badRecords: "0" });
    expect(Number(meta.statistics.load.inputFileBytes)).toBeGreaterThan(0);
    expect(meta.configuration.labels).toEqual({ bqx_export: "load-test" });
    expect(await rowCount("events")).toBe(6);
  });

  it("converts values as BigQuery does: INT64 from strings, TIMESTAMP formats, JSON objects vs strings", async () => {
    await bq.dataset(DATASET).createTable("conv", {
      schema: {
        fields: [
          { name: "n", type: "INT64" },
          { name: "ts", type: "TIMESTAMP" },
          { name: "j", type: "JSON" },
          { name: "s", type: "STRING" },
        ],
      },
    });
    const uri = await put(
      "conv.ndjson.gz",
      ndjson([
        { n: "42", ts: "2026-11-25 10:00:00.123456 UTC", j: { a: 1 }, s: "x" },
        { n: 7, ts: "2026-11-25T10:00:00.5Z", j: '{"a":1}', s: 5 },
        { n: -1, ts: "2026-11-25T12:00:00+02:00", j: [1, 2], s: null },
        { n: "0", ts: 1795600800, j: null },
      ]),
    );
    await (await load("conv", [uri])).promise();
    const [rows] = await bq.dataset(DATASET).table("conv").getRows();
    const byN = new Map(rows.map((r) => [Number(r.n), r]));
    expect([...byN.keys()].sort((x, y) => x - y)).toEqual([-1, 0, 7, 42]);
    // The client turns int64 microseconds into nanosecond ISO strings.
    expect(byN.get(42)?.ts.value).toMatch(/^2026-11-25T10:00:00\.1234560*Z$/);
    expect(byN.get(7)?.ts.value).toMatch(/^2026-11-25T10:00:00\.50*Z$/);
    for (const n of [-1, 0])
      expect(Date.parse(byN.get(n)?.ts.value as string)).toBe(Date.parse("2026-11-25T10:00:00Z"));
    // A JSON object is stored as an object; a JSON string value stays a string.
    expect(JSON.parse(byN.get(42)?.j as string)).toEqual({ a: 1 });
    expect(JSON.parse(byN.get(7)?.j as string)).toBe('{"a":1}');
    expect(byN.get(7)?.s).toBe("5");
    expect(byN.get(0)?.j).toBeNull();
  });

  it("fails a load with a bad row with BigQuery's error (giving up at it), leaving the table unchanged", async () => {
    const before = await rowCount("events");
    const uri = await put(
      "bad/part-00000.ndjson.gz",
      ndjson([eventRow(100), eventRow(101, { team_id: "abc" }), eventRow(102)]),
    );
    const err = await loadFailure(await load("events", [uri]));
    expect(err.message).toContain("JSON table encountered too many errors, giving up. Rows: 2; errors: 1.");
    const rowError = err.errors?.find((e) => e.message?.includes("team_id"));
    expect(rowError?.reason).toBe("invalid");
    expect(rowError?.location).toBe(uri);
    expect(rowError?.message).toContain(
      "Could not convert value 'string_value: \"abc\"' to integer. Field: team_id; Value: abc",
    );
    expect(await rowCount("events")).toBe(before);
  });

  it("reports unknown fields unless ignoreUnknownValues, and tolerates up to maxBadRecords", async () => {
    const before = await rowCount("events");
    const uri = await put(
      "unknown/part-00000.ndjson.gz",
      ndjson([eventRow(200, { surprise: 1 }), eventRow(201)]),
    );
    const err = await loadFailure(await load("events", [uri]));
    const unknown = err.errors?.find((e) => e.message?.includes("No such field"));
    expect(unknown?.message).toMatch(
      /JSON parsing error in row starting at position 0: No such field: surprise\./,
    );
    expect(await rowCount("events")).toBe(before);

    await (await load("events", [uri], { ignoreUnknownValues: true })).promise();
    expect(await rowCount("events")).toBe(before + 2);

    const tolerated = await load("events", [uri], { maxBadRecords: 1 });
    await tolerated.promise();
    const [meta] = await tolerated.getMetadata();
    expect(meta.statistics.load.badRecords).toBe("1");
    expect(meta.statistics.load.outputRows).toBe("1");
    expect(meta.status.errors?.[0]?.message).toContain("No such field: surprise");
    expect(await rowCount("events")).toBe(before + 3);
  });

  it("follows writeDisposition and createDisposition", async () => {
    // The STRING variant of the model: JSON documents arrive as strings (an object would be a bad row).
    const asStrings = (i: number) =>
      eventRow(i, { properties: JSON.stringify({ n: i }), set: "{}", set_once: "{}" });
    const uri = await put("disp/part-00000.ndjson.gz", ndjson([asStrings(300), asStrings(301)]));
    const schema = {
      fields: destinationTable("events", false, { projectId: PROJECT, datasetId: DATASET, tableId: "x" })
        .schema.fields,
    };

    const never = await loadFailure(
      await load("stage_missing", [uri], { createDisposition: "CREATE_NEVER" }),
    );
    expect(never.message).toContain(`Not found: Table ${PROJECT}:${DATASET}.stage_missing`);

    await (await load("stage", [uri], { schema, writeDisposition: "WRITE_TRUNCATE" })).promise();
    await (await load("stage", [uri], { schema, writeDisposition: "WRITE_TRUNCATE" })).promise();
    expect(await rowCount("stage")).toBe(2);
    await (await load("stage", [uri], { writeDisposition: "WRITE_APPEND" })).promise();
    expect(await rowCount("stage")).toBe(4);
    const empty = await loadFailure(await load("stage", [uri], { writeDisposition: "WRITE_EMPTY" }));
    expect(empty.message).toContain("Already Exists");
    expect(await rowCount("stage")).toBe(4);
  });

  it("rejects a JSON object for a STRING column", async () => {
    const schema = {
      fields: destinationTable("events", false, { projectId: PROJECT, datasetId: DATASET, tableId: "x" })
        .schema.fields,
    };
    const uri = await put("obj/part-00000.ndjson.gz", ndjson([eventRow(400)]));
    const err = await loadFailure(await load("strings", [uri], { schema }));
    expect(err.errors?.some((e) => e.message?.includes("Field: properties"))).toBe(true);
  });

  it("adds NULLABLE columns only with schemaUpdateOptions ALLOW_FIELD_ADDITION", async () => {
    await bq.dataset(DATASET).createTable("grow", { schema: { fields: [{ name: "a", type: "STRING" }] } });
    const uri = await put("grow.ndjson", ndjson([{ a: "x", b: 1 }]), false);
    const schema = {
      fields: [
        { name: "a", type: "STRING" },
        { name: "b", type: "INT64" },
      ],
    };
    const refused = await loadFailure(await load("grow", [uri], { schema }));
    expect(refused.message).toContain("Provided Schema does not match Table");
    await (await load("grow", [uri], { schema, schemaUpdateOptions: ["ALLOW_FIELD_ADDITION"] })).promise();
    const [meta] = await bq.dataset(DATASET).table("grow").getMetadata();
    expect(
      (meta.schema.fields as Array<{ name: string; mode: string }>).map((f) => `${f.name}:${f.mode}`),
    ).toEqual(["a:NULLABLE", "b:NULLABLE"]);
  });

  it("enforces REQUIRED columns, and relaxes them only with ALLOW_FIELD_RELAXATION", async () => {
    await bq
      .dataset(DATASET)
      .createTable("strict", { schema: { fields: [{ name: "k", type: "STRING", mode: "REQUIRED" }] } });
    const uri = await put("strict.ndjson.gz", ndjson([{ k: "a" }, { k: null }]));
    const missing = await loadFailure(await load("strict", [uri]));
    expect(missing.errors?.some((e) => e.message?.includes("Missing required field: k."))).toBe(true);
    const relaxed = { fields: [{ name: "k", type: "STRING", mode: "NULLABLE" }] };
    const refused = await loadFailure(await load("strict", [uri], { schema: relaxed }));
    expect(refused.message).toContain("Field k has changed mode from REQUIRED to NULLABLE");
    await (
      await load("strict", [uri], { schema: relaxed, schemaUpdateOptions: ["ALLOW_FIELD_RELAXATION"] })
    ).promise();
    const [meta] = await bq.dataset(DATASET).table("strict").getMetadata();
    expect(meta.schema.fields[0].mode).toBe("NULLABLE");
    expect(await rowCount("strict")).toBe(2);
  });

  it("runs a load in its dataset's location, and fails it elsewhere", async () => {
    await bq.createDataset("eu_exports", { location: "europe-west1" });
    const uri = await put("loc.ndjson.gz", ndjson([{ a: "x" }]));
    const configuration = {
      load: {
        sourceUris: [uri],
        sourceFormat: "NEWLINE_DELIMITED_JSON",
        schema: { fields: [{ name: "a", type: "STRING" }] },
        destinationTable: { projectId: PROJECT, datasetId: "eu_exports", tableId: "t" },
      },
    };
    const [wrong] = await bq.createJob({ configuration, location: "US" });
    const err = await loadFailure(wrong);
    expect(err.message).toContain(`Not found: Dataset ${PROJECT}:eu_exports was not found in location US`);
    const [right] = await bq.createJob({ configuration, location: "europe-west1" });
    await right.promise();
    const [meta] = await right.getMetadata();
    expect(meta.jobReference.location).toBe("europe-west1");
    const unlocated = await fetch(`${server.baseUrl}/projects/${PROJECT}/jobs/${right.id ?? ""}`);
    expect(unlocated.status).toBe(404);
  });

  it("lets concurrent loads create the same missing table, appending both", async () => {
    const schema = { fields: [{ name: "a", type: "STRING" }] };
    const one = await put("conc/one.ndjson.gz", ndjson([{ a: "1" }, { a: "2" }]));
    const two = await put("conc/two.ndjson.gz", ndjson([{ a: "3" }]));
    const jobs = await Promise.all([
      load("concurrent", [one], { schema }),
      load("concurrent", [two], { schema }),
    ]);
    await Promise.all(jobs.map((j) => j.promise()));
    expect(await rowCount("concurrent")).toBe(3);
  });

  it("refuses to mix compressed and uncompressed files in one load", async () => {
    const zipped = await put("mix/a.ndjson.gz", ndjson([{ a: "1" }]));
    const plain = await put("mix/b.ndjson", ndjson([{ a: "2" }]), false);
    const err = await loadFailure(
      await load("mixed", [zipped, plain], { schema: { fields: [{ name: "a", type: "STRING" }] } }),
    );
    expect(err.errors?.[0]?.reason).toBe("invalid");
    const [exists] = await bq.dataset(DATASET).table("mixed").exists();
    expect(exists).toBe(false);
  });

  it("fails a URI that matches no object with notFound", async () => {
    const err = await loadFailure(await load("events", [`gs://${BUCKET}/nothing/here-*`]));
    expect(err.errors?.[0]?.reason).toBe("notFound");
    expect(err.message).toContain(`gs://${BUCKET}/nothing/here-*`);
  });
});
