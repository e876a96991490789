// Queries end to end through @google-cloud/bigquery: loaded tables, the seed's
// example query via jobs.query, a MERGE job with its affected-row count, a
// DROP TABLE, and a rejected statement answered as invalidQuery.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { BigQuery } from "@google-cloud/bigquery";
import { Storage } from "@google-cloud/storage";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { destinationTable } from "../../../functions/src/core/models.js";
import { staticTokenAuth } from "./client-auth.js";
import { startBigQueryServer, type BigQueryServer } from "./server.js";
import { startGcsServer, type GcsServer } from "../gcs/server.js";

const PROJECT = "bqx-query-project";
const BUCKET = "bqx-query-staging";

// The seed's example: unique persons per event.
const SEED_EXAMPLE = `SELECT event, COUNT(persons.person_id) AS unique_persons_count
FROM example.events AS events
LEFT JOIN example.persons AS persons ON events.distinct_id = persons.distinct_id AND events.team_id = persons.team_id
WHERE persons.person_id IS NOT NULL
GROUP BY event
ORDER BY unique_persons_count DESC`;

describe("queries through the client", () => {
  let dir: string;
  let gcs: GcsServer;
  let server: BigQueryServer;
  let bq: BigQuery;
  let storage: Storage;

  async function loadRows(
    tableId: string,
    rows: Array<Record<string, unknown>>,
    writeDisposition = "WRITE_APPEND",
  ): Promise<void> {
    const name = `${tableId}-${Date.now()}.ndjson.gz`;
    await storage
      .bucket(BUCKET)
      .file(name)
      .save(gzipSync(rows.map((r) => JSON.stringify(r)).join("\n")), { resumable: false });
    const [job] = await bq.createJob({
      configuration: {
        load: {
          sourceUris: [`gs://${BUCKET}/${name}`],
          sourceFormat: "NEWLINE_DELIMITED_JSON",
          destinationTable: { projectId: PROJECT, datasetId: "example", tableId },
          writeDisposition,
        },
      },
    });
    await job.promise();
  }

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "bq-query-"));
    gcs = await startGcsServer({ dataDir: path.join(dir, "gcs"), projectId: PROJECT });
    await gcs.ensureBucket(BUCKET);
    server = await startBigQueryServer({ dataDir: path.join(dir, "bq"), gcs: { url: gcs.url } });
    bq = new BigQuery({ projectId: PROJECT, apiEndpoint: server.url, authClient: staticTokenAuth() });
    storage = new Storage({ projectId: PROJECT, apiEndpoint: gcs.url });
    await bq.createDataset("example");
    const ref = (tableId: string) => ({ projectId: PROJECT, datasetId: "example", tableId });
    await bq.dataset("example").createTable("events", destinationTable("events", true, ref("events")));
    await bq.dataset("example").createTable("persons", destinationTable("persons", true, ref("persons")));
    await bq
      .dataset("example")
      .createTable("persons_stage", destinationTable("persons", true, ref("persons_stage")));
    const event = (uuid: string, name: string, distinctId: string) => ({
      uuid,
      event: name,
      distinct_id: distinctId,
      team_id: 1,
      properties: {},
      timestamp: "2026-11-25 10:00:00 UTC",
    });
    await loadRows("events", [
      event("e1", "$pageview", "alice"),
      event("e2", "$pageview", "bob"),
      event("e3", "signup", "alice"),
      event("e4", "$pageview", "nobody"),
    ]);
    const person = (distinctId: string, personId: string, v: number) => ({
      team_id: 1,
      distinct_id: distinctId,
      person_id: personId,
      properties: { v },
      person_version: v,
      person_distinct_id_version: 0,
    });
    await loadRows("persons", [person("alice", "p-alice", 1), person("bob", "p-bob", 1)]);
    await loadRows("persons_stage", [person("alice", "p-alice-2", 2), person("carol", "p-carol", 1)]);
  });
  afterAll(async () => {
    await server?.stop();
    await gcs?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("answers the seed's example query", async () => {
    const [rows] = await bq.query({ query: SEED_EXAMPLE });
    expect(rows).toEqual([
      { event: "$pageview", unique_persons_count: 2 },
      { event: "signup", unique_persons_count: 1 },
    ]);
  });

  it("runs a MERGE job and reports numDmlAffectedRows, then DROP TABLE", async () => {
    const merge = `MERGE INTO example.persons AS final
USING example.persons_stage AS stage
ON final.team_id = stage.team_id AND final.distinct_id = stage.distinct_id
WHEN MATCHED AND (stage.person_version > final.person_version OR stage.person_distinct_id_version > final.person_distinct_id_version) THEN
  UPDATE SET person_id = stage.person_id, properties = stage.properties,
    person_version = stage.person_version, person_distinct_id_version = stage.person_distinct_id_version
WHEN NOT MATCHED BY TARGET THEN
  INSERT (team_id, distinct_id, person_id, properties, person_version, person_distinct_id_version)
  VALUES (stage.team_id, stage.distinct_id, stage.person_id, stage.properties, stage.person_version, stage.person_distinct_id_version)`;
    const [job] = await bq.createQueryJob({
      query: merge,
      jobId: "bqx_query_merge_a1",
      labels: { bqx_model: "persons" },
    });
    await job.getQueryResults();
    const [meta] = await job.getMetadata();
    expect(meta.status.state).toBe("DONE");
    expect(meta.statistics.query.statementType).toBe("MERGE");
    expect(meta.statistics.query.numDmlAffectedRows).toBe("2");
    const [rows] = await bq.query({
      query: "SELECT distinct_id, person_id FROM example.persons ORDER BY distinct_id",
    });
    expect(rows).toEqual([
      { distinct_id: "alice", person_id: "p-alice-2" },
      { distinct_id: "bob", person_id: "p-bob" },
      { distinct_id: "carol", person_id: "p-carol" },
    ]);

    await bq.query({ query: "DROP TABLE example.persons_stage" });
    const [exists] = await bq.dataset("example").table("persons_stage").exists();
    expect(exists).toBe(false);
  });

  it("returns TIMESTAMP and JSON values the client parses", async () => {
    const [rows] = await bq.query({
      query: "SELECT timestamp, properties FROM example.events WHERE uuid = 'e1'",
    });
    expect(rows).toHaveLength(1);
    const row = rows[0] as { timestamp: { value: string }; properties: string };
    expect(Date.parse(row.timestamp.value)).toBe(Date.parse("2026-11-25T10:00:00Z"));
    expect(JSON.parse(row.properties)).toEqual({});
  });

  it("rejects what BigQuery rejects with 400 invalidQuery", async () => {
    let err: { code?: number; message: string; errors?: Array<{ reason?: string }> } | undefined;
    await bq
      .query({ query: "SELECT nope FROM example.events" })
      .catch((e: unknown) => (err = e as typeof err));
    expect(err?.code).toBe(400);
    expect(err?.errors?.[0]?.reason).toBe("invalidQuery");
    expect(err?.message).toContain("nope");
  });
});
