// The local BigQuery through @google-cloud/bigquery, unchanged: datasets,
// tables (the seed's events schema), schema patches, job ids, faults.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { BigQuery } from "@google-cloud/bigquery";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { destinationTable, modelFields } from "../../../functions/src/core/models.js";
import { staticTokenAuth } from "./client-auth.js";
import { startBigQueryServer, type BigQueryServer } from "./server.js";

const PROJECT = "bqx-local-project";

interface ApiErrorLike {
  code?: number;
  message: string;
  errors?: Array<{ reason?: string; message?: string }>;
}

async function failure(p: Promise<unknown>): Promise<ApiErrorLike> {
  try {
    await p;
  } catch (err) {
    return err as ApiErrorLike;
  }
  throw new Error("expected the call to fail");
}

describe("local BigQuery REST server", () => {
  let dir: string;
  let server: BigQueryServer;
  let bq: BigQuery;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "bq-rest-"));
    server = await startBigQueryServer({ dataDir: dir, gcs: { url: "http://127.0.0.1:9" } });
    bq = new BigQuery({ projectId: PROJECT, apiEndpoint: server.url, authClient: staticTokenAuth() });
  });
  afterAll(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("creates, gets and lists datasets; a second create is 409 duplicate", async () => {
    await bq.createDataset("BatchExports", { location: "US" });
    const [meta] = await bq.dataset("BatchExports").getMetadata();
    expect(meta.datasetReference).toEqual({ projectId: PROJECT, datasetId: "BatchExports" });
    expect(meta.location).toBe("US");
    const [datasets] = await bq.getDatasets();
    expect(datasets.map((d) => d.id)).toContain("BatchExports");
    const err = await failure(bq.createDataset("BatchExports"));
    expect(err.code).toBe(409);
    expect(err.errors?.[0]?.reason).toBe("duplicate");
  });

  it("answers 404 notFound for a missing dataset, naming it", async () => {
    const err = await failure(bq.dataset("Nope").getMetadata());
    expect(err.code).toBe(404);
    expect(err.errors?.[0]?.reason).toBe("notFound");
    expect(err.message).toContain(`Not found: Dataset ${PROJECT}:Nope`);
  });

  it("creates the events table with modes, descriptions, partitioning and expiration", async () => {
    const resource = destinationTable("events", true, {
      projectId: PROJECT,
      datasetId: "BatchExports",
      tableId: "events",
    });
    const expirationTime = String(Date.now() + 3_600_000);
    await bq.dataset("BatchExports").createTable("events", { ...resource, expirationTime });
    const [meta] = await bq.dataset("BatchExports").table("events").getMetadata();
    const fields = meta.schema.fields as Array<{
      name: string;
      type: string;
      mode: string;
      description: string;
    }>;
    expect(fields.map((f) => f.name)).toEqual(modelFields("events", true).map((f) => f.name));
    const team = fields.find((f) => f.name === "team_id");
    expect(team).toMatchObject({
      type: "INTEGER",
      mode: "NULLABLE",
      description: "The team_id for the event",
    });
    expect(fields.find((f) => f.name === "properties")?.type).toBe("JSON");
    expect(meta.timePartitioning).toEqual({ type: "DAY", field: "timestamp" });
    expect(meta.expirationTime).toBe(expirationTime);
    expect(meta.numRows).toBe("0");
    const [tables] = await bq.dataset("BatchExports").getTables();
    expect(tables.map((t) => t.id)).toEqual(["events"]);
  });

  it("rejects a table whose schema BigQuery would reject", async () => {
    const dataset = bq.dataset("BatchExports");
    const badType = await failure(
      dataset.createTable("bad1", { schema: { fields: [{ name: "a", type: "VARCHAR" }] } }),
    );
    expect(badType.code).toBe(400);
    expect(badType.errors?.[0]?.reason).toBe("invalid");
    const badName = await failure(
      dataset.createTable("bad2", { schema: { fields: [{ name: "a-b", type: "STRING" }] } }),
    );
    expect(badName.code).toBe(400);
    const badPartition = await failure(
      dataset.createTable("bad3", {
        schema: { fields: [{ name: "a", type: "STRING" }] },
        timePartitioning: { type: "DAY", field: "a" },
      }),
    );
    expect(badPartition.code).toBe(400);
    const [tables] = await dataset.getTables();
    expect(tables.map((t) => t.id)).not.toContain("bad1");
  });

  it("patches a table to add a NULLABLE column, but refuses a REQUIRED one or a type change", async () => {
    const table = bq.dataset("BatchExports").table("events");
    const [meta] = await table.getMetadata();
    const fields = meta.schema.fields as Array<Record<string, string>>;
    await table.setMetadata({
      schema: { fields: [...fields, { name: "extra", type: "STRING", mode: "NULLABLE" }] },
    });
    const [after] = await table.getMetadata();
    expect((after.schema.fields as Array<{ name: string }>).map((f) => f.name)).toContain("extra");

    const required = await failure(
      table.setMetadata({
        schema: {
          fields: [
            ...fields,
            { name: "extra", type: "STRING" },
            { name: "r", type: "STRING", mode: "REQUIRED" },
          ],
        },
      }),
    );
    expect(required.code).toBe(400);
    expect(required.message).toContain("Cannot add required fields");
    const changed = fields.map((f) => (f["name"] === "uuid" ? { ...f, type: "INTEGER" } : f));
    const typeChange = await failure(
      table.setMetadata({ schema: { fields: [...changed, { name: "extra", type: "STRING" }] } }),
    );
    expect(typeChange.message).toContain("Field uuid has changed type from STRING to INTEGER");
  });

  it("lists no rows from an empty table", async () => {
    const [rows] = await bq.dataset("BatchExports").table("events").getRows();
    expect(rows).toEqual([]);
  });

  it("answers 409 duplicate to a repeated job id, and 400 to an invalid one", async () => {
    const configuration = {
      load: {
        sourceUris: ["gs://bucket/none.ndjson.gz"],
        sourceFormat: "NEWLINE_DELIMITED_JSON",
        destinationTable: { projectId: PROJECT, datasetId: "BatchExports", tableId: "events" },
      },
      labels: { bqx_export: "events-hourly" },
    };
    const [job] = await bq.createJob({ jobId: "bqx_repeat_a1_load", configuration });
    expect(job.id).toBe("bqx_repeat_a1_load");
    const again = await failure(bq.createJob({ jobId: "bqx_repeat_a1_load", configuration }));
    expect(again.code).toBe(409);
    expect(again.errors?.[0]?.reason).toBe("duplicate");
    expect(again.message).toContain("Already Exists: Job");
    const bad = await failure(bq.createJob({ jobId: "bad id!", configuration }));
    expect(bad.code).toBe(400);
    expect(bad.message).toContain("Invalid job ID");
    const badLabel = await failure(
      bq.createJob({ configuration: { ...configuration, labels: { BQX: "x" } } }),
    );
    expect(badLabel.code).toBe(400);
    expect(badLabel.message).toContain("Label key");
  });

  it("fails the next N calls of a method as asked (the client retries 503s)", async () => {
    server.faults.failNext("tables.get", 1, { reason: "backendError" });
    const [meta] = await bq.dataset("BatchExports").table("events").getMetadata();
    expect(meta.id).toBe(`${PROJECT}:BatchExports.events`);

    const noRetry = new BigQuery({
      projectId: PROJECT,
      apiEndpoint: server.url,
      authClient: staticTokenAuth(),
      autoRetry: false,
    });
    server.faults.failNext("datasets.get", 1, { reason: "rateLimitExceeded" });
    const err = await failure(noRetry.dataset("BatchExports").getMetadata());
    expect(err.code).toBe(403);
    expect(err.errors?.[0]?.reason).toBe("rateLimitExceeded");
    await noRetry.dataset("BatchExports").getMetadata();
  });

  it("deletes tables; a deleted table is 404", async () => {
    await bq
      .dataset("BatchExports")
      .createTable("tmp", { schema: { fields: [{ name: "a", type: "STRING" }] } });
    await bq.dataset("BatchExports").table("tmp").delete();
    const err = await failure(bq.dataset("BatchExports").table("tmp").getMetadata());
    expect(err.code).toBe(404);
  });

  it("works through BIGQUERY_EMULATOR_HOST as well as apiEndpoint", async () => {
    const saved = process.env["BIGQUERY_EMULATOR_HOST"];
    process.env["BIGQUERY_EMULATOR_HOST"] = server.baseUrl;
    try {
      const viaEnv = new BigQuery({ projectId: PROJECT, authClient: staticTokenAuth() });
      const [meta] = await viaEnv.dataset("BatchExports").getMetadata();
      expect(meta.id).toBe(`${PROJECT}:BatchExports`);
    } finally {
      if (saved === undefined) delete process.env["BIGQUERY_EMULATOR_HOST"];
      else process.env["BIGQUERY_EMULATOR_HOST"] = saved;
    }
  });
});
