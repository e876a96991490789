// Table-modification quotas and load-job limits as "Quotas and limits"
// documents them (https://cloud.google.com/bigquery/quotas): DML does not
// count toward a table's daily modifications, loads do (failed ones too), a
// column-partitioned table counts partition modifications instead, a load
// takes at most 10,000 source URIs; and NDJSON rows keep the first of
// duplicate keys. Loads read from an in-memory object source.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { BigQuery } from "@google-cloud/bigquery";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { staticTokenAuth } from "./client-auth.js";
import { MAX_SOURCE_URIS } from "./load/load-job.js";
import type { ObjectInfo, ObjectSource } from "./load/object-source.js";
import { DEFAULT_PARTITION_MODIFICATIONS_PER_DAY, DEFAULT_TABLE_MODIFICATIONS_PER_DAY } from "./quota.js";
import { startBigQueryServer, type BigQueryServer } from "./server.js";

const PROJECT = "bqx-quota";
const BUCKET = "b";

/** Objects held in memory; `size` may claim more bytes than the content (for size limits). */
class MemorySource implements ObjectSource {
  readonly objects = new Map<string, { content: string; size?: number }>();
  // eslint-disable-next-line @typescript-eslint/require-await
  async *list(bucket: string, prefix: string): AsyncIterable<ObjectInfo> {
    for (const [name, o] of [...this.objects].sort(([a], [b]) => a.localeCompare(b))) {
      if (name.startsWith(prefix)) yield { bucket, name, size: o.size ?? Buffer.byteLength(o.content) };
    }
  }
  open(object: ObjectInfo): Promise<Readable> {
    return Promise.resolve(Readable.from([Buffer.from(this.objects.get(object.name)?.content ?? "")]));
  }
}

describe("table modification quotas and load limits", () => {
  let dir: string;
  let server: BigQueryServer;
  let bq: BigQuery;
  const source = new MemorySource();

  async function load(tableId: string, uris: string[], extra: Record<string, unknown> = {}) {
    const [job] = await bq.createJob({
      configuration: {
        load: {
          sourceUris: uris,
          sourceFormat: "NEWLINE_DELIMITED_JSON",
          destinationTable: { projectId: PROJECT, datasetId: "ds", tableId },
          ...extra,
        },
      },
    });
    return job.promise().then(
      () => undefined,
      (e: unknown) => e as { message: string; errors?: Array<{ reason?: string; location?: string }> },
    );
  }

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "bq-quota-"));
    server = await startBigQueryServer({
      dataDir: dir,
      gcs: { url: "http://127.0.0.1:9" },
      objectSource: source,
      jobStateDelayMs: 1,
      // Small limits so the tests reach them; the defaults are BigQuery's (checked below).
      tableModificationsPerDay: 3,
      partitionModificationsPerDay: 5,
    });
    bq = new BigQuery({ projectId: PROJECT, apiEndpoint: server.url, authClient: staticTokenAuth() });
    await bq.createDataset("ds");
    source.objects.set("rows.json", { content: '{"n": 1}\n{"n": 2}' });
    source.objects.set("bad.json", { content: '{"n": "x"}' });
    source.objects.set("days.json", {
      content: [
        '{"ts": "2026-11-01 10:00:00"}',
        '{"ts": "2026-11-02 10:00:00"}',
        '{"ts": "2026-11-03 10:00:00"}',
      ].join("\n"),
    });
  });
  afterAll(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("uses BigQuery's documented limits by default", () => {
    expect(DEFAULT_TABLE_MODIFICATIONS_PER_DAY).toBe(1500);
    expect(DEFAULT_PARTITION_MODIFICATIONS_PER_DAY).toBe(30_000);
    expect(MAX_SOURCE_URIS).toBe(10_000);
  });

  it("does not count DML toward a table's modifications; loads count, failed ones too", async () => {
    const schema = { schema: { fields: [{ name: "n", type: "INT64" }] } };
    await bq.dataset("ds").createTable("std", schema);
    for (let i = 0; i < 6; i++) await bq.query(`INSERT INTO ds.std (n) VALUES (${i})`);
    await bq.query("MERGE ds.std AS t USING (SELECT 1 AS n) AS s ON t.n = s.n WHEN MATCHED THEN DELETE");
    expect(await load("std", [`gs://${BUCKET}/rows.json`])).toBeUndefined();
    expect((await load("std", [`gs://${BUCKET}/bad.json`]))?.errors?.[0]?.reason).toBe("invalid");
    expect(await load("std", [`gs://${BUCKET}/rows.json`])).toBeUndefined();
    const refused = await load("std", [`gs://${BUCKET}/rows.json`]);
    expect(refused?.errors?.[0]?.reason).toBe("quotaExceeded");
    expect(refused?.message).toBe(
      "Quota exceeded: Your table exceeded quota for imports or query appends per table. For more information, see https://cloud.google.com/bigquery/docs/troubleshoot-quotas",
    );
    // DML still runs on the table that has used up its modifications.
    await bq.query("DELETE FROM ds.std WHERE n = 0");
    const [rows] = await bq.query("SELECT COUNT(*) AS c FROM ds.std");
    expect(rows).toEqual([{ c: 8 }]);
  });

  it("counts the partitions a load writes on a column-partitioned table, instead of table modifications", async () => {
    const config = {
      schema: { fields: [{ name: "ts", type: "TIMESTAMP" }] },
      timePartitioning: { type: "DAY", field: "ts" },
    };
    // Three partitions, then three more: 6 > 5 partition modifications, though only 2 loads.
    expect(await load("part", [`gs://${BUCKET}/days.json`], config)).toBeUndefined();
    expect(await load("part", [`gs://${BUCKET}/days.json`], config)).toBeUndefined();
    const refused = await load("part", [`gs://${BUCKET}/days.json`], config);
    expect(refused?.errors?.[0]).toMatchObject({
      reason: "quotaExceeded",
      location: "partition_modifications_per_column_partitioned_table.long",
    });
    expect(refused?.message).toContain(
      "Quota exceeded: Your table exceeded quota for Number of partition modifications to a column partitioned table.",
    );
    for (let i = 0; i < 4; i++) await bq.query("UPDATE ds.part SET ts = ts WHERE TRUE");
  });

  it("refuses a load job with more than 10,000 source URIs at jobs.insert", async () => {
    const uris = Array.from({ length: MAX_SOURCE_URIS + 1 }, (_, i) => `gs://${BUCKET}/f${i}.json`);
    const err = await bq
      .createJob({
        configuration: {
          load: {
            sourceUris: uris,
            sourceFormat: "NEWLINE_DELIMITED_JSON",
            destinationTable: { projectId: PROJECT, datasetId: "ds", tableId: "many" },
            schema: { fields: [{ name: "n", type: "INT64" }] },
          },
        },
      })
      .then(
        () => undefined,
        (e: unknown) => e as { code?: number; message: string },
      );
    expect(err?.code).toBe(400);
    expect(err?.message).toBe("Too many sources provided: 10001. Limit is 10000.");
  });

  it("refuses a load whose input files add up to more than 15 TB", async () => {
    source.objects.set("huge-1.json", { content: '{"n": 1}', size: 8e12 });
    source.objects.set("huge-2.json", { content: '{"n": 1}', size: 8e12 });
    const err = await load("huge", [`gs://${BUCKET}/huge-*`], {
      schema: { fields: [{ name: "n", type: "INT64" }] },
    });
    expect(err?.errors?.[0]?.reason).toBe("invalid");
    expect(err?.message).toContain("15 TB");
  });

  it("keeps the first of duplicate keys, in the row and inside JSON values", async () => {
    source.objects.set("dups.json", {
      content: '{"n": 1, "j": {"x": 1, "x": 2, "y": {"z": 1, "z": 2}}, "N": 2, "n": 3, "j": null}',
    });
    expect(
      await load("dups", [`gs://${BUCKET}/dups.json`], {
        schema: {
          fields: [
            { name: "n", type: "INT64" },
            { name: "j", type: "JSON" },
          ],
        },
      }),
    ).toBeUndefined();
    const [rows] = await bq.query("SELECT n, TO_JSON_STRING(j) AS j FROM ds.dups");
    expect(rows).toEqual([{ n: 1, j: '{"x":1,"y":{"z":1}}' }]);
  });
});
