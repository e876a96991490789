// Bytes processed and billed as BigQuery's on-demand pricing counts them,
// through the REST API: referenced columns only, partitions kept by constant
// filters on the partitioning column (WHERE, a MERGE's ON condition), DML's
// q + t, the 10 MB minimum per referenced table, and dry runs.
// Expected numbers are computed here from the documented data sizes
// (https://cloud.google.com/bigquery/docs/reference/standard-sql/data-types#data_type_sizes)
// of the rows the tests insert.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { BigQuery } from "@google-cloud/bigquery";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { staticTokenAuth } from "./client-auth.js";
import { startBigQueryServer, type BigQueryServer } from "./server.js";

const PROJECT = "bqx-bytes";
const DS = "ds";
const DAY_MS = 86_400_000;
const START = Date.UTC(2026, 9, 1); // 60 daily partitions from 2026-10-01
const DAYS = 60;
const MIB = 1_048_576;

interface EventRow {
  uuid: string;
  event: string | null;
  timestamp: number;
  n: number;
  props: string | null;
}

// Documented logical sizes: STRING 2 + UTF-8 bytes, INT64/TIMESTAMP 8, JSON its canonical text, NULL 0.
const str = (s: string | null) => (s === null ? 0 : 2 + Buffer.byteLength(s, "utf8"));
const json = (s: string | null) => (s === null ? 0 : Buffer.byteLength(s, "utf8"));
const size = {
  uuid: (r: EventRow) => str(r.uuid),
  event: (r: EventRow) => str(r.event),
  timestamp: () => 8,
  n: () => 8,
  props: (r: EventRow) => json(r.props),
};
const allColumns = (r: EventRow) => size.uuid(r) + size.event(r) + 8 + 8 + size.props(r);

// Two rows a day; the second has a NULL event and NULL properties, and some UUIDs are not ASCII.
const ROWS: EventRow[] = Array.from({ length: DAYS }, (_, d) => [
  {
    uuid: `u-${d}-a`,
    event: d % 3 === 0 ? "pageview" : "$autocapture",
    timestamp: START + d * DAY_MS + 3_600_000,
    n: d,
    props: `{"d":${d},"k":"é"}`,
  },
  { uuid: `ü-${d}-b`, event: null, timestamp: START + d * DAY_MS + 7_200_000, n: -d, props: null },
]).flat();

const STAGE: EventRow[] = [
  // New events on days 10..12, and one already in the table (day 11).
  { uuid: "new-1", event: "pageview", timestamp: START + 10 * DAY_MS + 60_000, n: 1, props: '{"x":1}' },
  { uuid: "new-2", event: "signup", timestamp: START + 12 * DAY_MS + 60_000, n: 2, props: null },
  { uuid: "u-11-a", event: "$autocapture", timestamp: START + 11 * DAY_MS + 3_600_000, n: 11, props: null },
];

const iso = (ms: number) => new Date(ms).toISOString();
const literal = (r: EventRow) =>
  `('${r.uuid}', ${r.event === null ? "NULL" : `'${r.event}'`}, TIMESTAMP '${iso(r.timestamp)}', ${r.n}, ${r.props === null ? "NULL" : `JSON '${r.props}'`})`;

const inDays = (r: EventRow, from: number, to: number) =>
  r.timestamp >= START + from * DAY_MS && r.timestamp < START + (to + 1) * DAY_MS;
const sum = (rows: EventRow[], f: (r: EventRow) => number) => rows.reduce((n, r) => n + f(r), 0);
/** On-demand billing: at least 10 MiB per referenced table, rounded up to a whole MiB. */
const billed = (...perTable: number[]) => {
  const total = perTable.reduce((n, b) => n + Math.max(b, 10 * MIB), 0);
  return String(Math.ceil(total / MIB) * MIB);
};

interface QueryStats {
  totalBytesProcessed?: string;
  totalBytesBilled?: string;
  totalPartitionsProcessed?: string;
  numDmlAffectedRows?: string;
  dmlStats?: Record<string, string>;
  statementType?: string;
  totalBytesProcessedAccuracy?: string;
}
interface JobMeta {
  status: { state: string; errorResult?: { message: string } };
  statistics: { totalBytesProcessed?: string; query?: QueryStats };
  jobReference: { jobId?: string };
}

describe("bytes processed and billed", () => {
  let dir: string;
  let server: BigQueryServer;
  let bq: BigQuery;

  async function run(query: string, dryRun = false): Promise<JobMeta> {
    const [job] = await bq.createQueryJob({ query, useLegacySql: false, dryRun });
    if (!dryRun) await job.promise();
    if (dryRun) return job.metadata as JobMeta;
    const [meta] = await job.getMetadata();
    return meta as JobMeta;
  }

  const mergeSql = (bounds?: [number, number]) =>
    [
      `MERGE INTO \`${PROJECT}.${DS}.events\` AS final`,
      `USING (SELECT * FROM \`${PROJECT}.${DS}.stage\` WHERE TRUE QUALIFY ROW_NUMBER() OVER (PARTITION BY \`uuid\` ORDER BY \`timestamp\`) = 1) AS stage`,
      "ON final.`uuid` = stage.`uuid`",
      ...(bounds
        ? [
            `  AND final.\`timestamp\` >= TIMESTAMP '${iso(bounds[0])}'`,
            `  AND final.\`timestamp\` <= TIMESTAMP '${iso(bounds[1])}'`,
          ]
        : []),
      "  WHEN NOT MATCHED BY TARGET THEN INSERT (`uuid`, `event`, `timestamp`, `n`, `props`)",
      "  VALUES (stage.`uuid`, stage.`event`, stage.`timestamp`, stage.`n`, stage.`props`)",
    ].join("\n");

  async function reset(): Promise<void> {
    await run(`DELETE FROM ${DS}.events WHERE TRUE`);
    await run(
      `INSERT INTO ${DS}.events (uuid, event, timestamp, n, props) VALUES ${ROWS.map(literal).join(", ")}`,
    );
  }

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "bq-bytes-"));
    server = await startBigQueryServer({
      dataDir: dir,
      gcs: { url: "http://127.0.0.1:9" },
      jobStateDelayMs: 1,
    });
    bq = new BigQuery({ projectId: PROJECT, apiEndpoint: server.url, authClient: staticTokenAuth() });
    await bq.createDataset(DS);
    const fields = [
      { name: "uuid", type: "STRING" },
      { name: "event", type: "STRING" },
      { name: "timestamp", type: "TIMESTAMP" },
      { name: "n", type: "INT64" },
      { name: "props", type: "JSON" },
    ];
    await bq.dataset(DS).createTable("events", {
      schema: { fields },
      timePartitioning: { type: "DAY", field: "timestamp" },
    });
    await bq.dataset(DS).createTable("stage", { schema: { fields } });
    await run(
      `INSERT INTO ${DS}.stage (uuid, event, timestamp, n, props) VALUES ${STAGE.map(literal).join(", ")}`,
    );
    await reset();
  });
  afterAll(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("a SELECT with a partition filter processes its referenced columns in the kept partitions only", async () => {
    const meta = await run(
      `SELECT uuid FROM ${DS}.events WHERE timestamp >= TIMESTAMP '${iso(START + 10 * DAY_MS)}' AND timestamp < TIMESTAMP '${iso(START + 20 * DAY_MS)}'`,
    );
    const kept = ROWS.filter((r) => inDays(r, 10, 19));
    const expected = sum(kept, (r) => size.uuid(r) + size.timestamp());
    expect(meta.statistics.query?.totalBytesProcessed).toBe(String(expected));
    expect(meta.statistics.totalBytesProcessed).toBe(String(expected));
    expect(meta.statistics.query?.totalPartitionsProcessed).toBe("10");
    expect(meta.statistics.query?.totalBytesBilled).toBe(billed(expected));
  });

  it("a function of the partitioning column prunes nothing", async () => {
    const meta = await run(`SELECT n FROM ${DS}.events WHERE DATE(timestamp) = '2026-10-05'`);
    expect(meta.statistics.query?.totalBytesProcessed).toBe(String(ROWS.length * 16));
    expect(meta.statistics.query?.totalPartitionsProcessed).toBe(String(DAYS));
  });

  it("bounds the insert-only events MERGE to the partitions its ON condition keeps", async () => {
    const bounds: [number, number] = [START + 10 * DAY_MS, START + 12 * DAY_MS + 60_000];
    const meta = await run(mergeSql(bounds));
    // Target: the ON condition's columns (uuid, timestamp) on days 10..12; stage: every column.
    const target = sum(
      ROWS.filter((r) => inDays(r, 10, 12)),
      (r) => size.uuid(r) + size.timestamp(),
    );
    const stage = sum(STAGE, allColumns);
    const q = meta.statistics.query;
    expect(q?.totalBytesProcessed).toBe(String(target + stage));
    expect(q?.totalPartitionsProcessed).toBe("3");
    expect(q?.totalBytesBilled).toBe(billed(target, stage));
    expect(q?.dmlStats).toEqual({ insertedRowCount: "2", updatedRowCount: "0", deletedRowCount: "0" });
    expect(q?.numDmlAffectedRows).toBe("2");
    await reset();
  });

  it("processes the whole table's referenced columns when the MERGE is unbounded", async () => {
    const meta = await run(mergeSql());
    // Without bounds the ON condition reads only uuid from the target (timestamp is only written).
    const target = sum(ROWS, size.uuid);
    expect(meta.statistics.query?.totalBytesProcessed).toBe(String(target + sum(STAGE, allColumns)));
    expect(meta.statistics.query?.totalPartitionsProcessed).toBe(String(DAYS));
    await reset();
  });

  it("a dry run reports the same bytes without running, and is not kept", async () => {
    const bounds: [number, number] = [START + 10 * DAY_MS, START + 12 * DAY_MS + 60_000];
    const dry = await run(mergeSql(bounds), true);
    expect(dry.status.state).toBe("DONE");
    expect(dry.statistics.query?.totalBytesProcessedAccuracy).toBe("PRECISE");
    expect(dry.statistics.query?.totalBytesBilled).toBe("0");
    const [[count]] = await bq.query(`SELECT COUNT(*) AS c FROM ${DS}.events`);
    expect(count).toEqual({ c: ROWS.length });
    const real = await run(mergeSql(bounds));
    expect(dry.statistics.query?.totalBytesProcessed).toBe(real.statistics.query?.totalBytesProcessed);
    const lookup = await fetch(
      `${server.baseUrl}/projects/${PROJECT}/jobs/${dry.jobReference.jobId}?location=US`,
    );
    expect(lookup.status).toBe(404);
    await reset();
  });

  it("a dry run of an invalid query answers the error the query would get", async () => {
    const err = await bq.createQueryJob({ query: `SELECT nope FROM ${DS}.events`, dryRun: true }).then(
      () => undefined,
      (e: unknown) => e as { code?: number; message: string },
    );
    expect(err?.code).toBe(400);
    expect(err?.message).toContain("Unrecognized name: nope");
  });

  it("DELETE in some partitions processes q' + t': its columns there, then those partitions whole", async () => {
    const meta = await run(
      `DELETE FROM ${DS}.events WHERE timestamp >= TIMESTAMP '${iso(START + 50 * DAY_MS)}' AND event IS NULL`,
    );
    const kept = ROWS.filter((r) => inDays(r, 50, 59));
    const q = sum(kept, (r) => size.event(r) + size.timestamp());
    const t = sum(kept, allColumns);
    expect(meta.statistics.query?.totalBytesProcessed).toBe(String(q + t));
    expect(meta.statistics.query?.totalPartitionsProcessed).toBe("10");
    expect(meta.statistics.query?.dmlStats).toEqual({
      insertedRowCount: "0",
      updatedRowCount: "0",
      deletedRowCount: "10",
    });
    await reset();
  });

  it("a persons MERGE with UPDATE and DELETE clauses on an unpartitioned table processes q + t", async () => {
    await run(
      `CREATE TABLE ${DS}.persons (team_id INT64, distinct_id STRING, person_id STRING, person_version INT64, is_deleted BOOL)`,
    );
    await run(
      `CREATE TABLE ${DS}.persons_stage (team_id INT64, distinct_id STRING, person_id STRING, person_version INT64, is_deleted BOOL)`,
    );
    await run(
      `INSERT INTO ${DS}.persons VALUES (1, 'd1', 'p1', 1, FALSE), (1, 'd2', 'p2', 1, FALSE), (1, 'd3', 'p3', 5, FALSE)`,
    );
    await run(
      `INSERT INTO ${DS}.persons_stage VALUES (1, 'd1', 'p1', 2, FALSE), (1, 'd2', 'p2', 2, TRUE), (1, 'd4', 'p4', 1, FALSE)`,
    );
    const persons = [
      [1, "d1", "p1", 1, false],
      [1, "d2", "p2", 1, false],
      [1, "d3", "p3", 5, false],
    ] as const;
    const meta = await run(
      [
        `MERGE ${DS}.persons AS final USING (SELECT * FROM ${DS}.persons_stage) AS stage`,
        "ON final.team_id = stage.team_id AND final.distinct_id = stage.distinct_id",
        "WHEN MATCHED AND stage.is_deleted AND stage.person_version > final.person_version THEN DELETE",
        "WHEN MATCHED AND stage.person_version > final.person_version THEN UPDATE SET person_id = stage.person_id, person_version = stage.person_version",
        "WHEN NOT MATCHED BY TARGET AND NOT stage.is_deleted THEN INSERT (team_id, distinct_id, person_id, person_version, is_deleted) VALUES (stage.team_id, stage.distinct_id, stage.person_id, stage.person_version, stage.is_deleted)",
      ].join("\n"),
    );
    // q: every stage column (SELECT *), the target columns the statement reads; t: the whole target.
    const stageBytes =
      3 * (8 + 8 + 1) + str("d1") + str("d2") + str("d4") + str("p1") + str("p2") + str("p4");
    const targetRead = persons.reduce((n, p) => n + 8 + str(p[1]) + 8, 0);
    const targetAll = persons.reduce((n, p) => n + 8 + str(p[1]) + str(p[2]) + 8 + 1, 0);
    expect(meta.statistics.query?.totalBytesProcessed).toBe(String(stageBytes + targetRead + targetAll));
    expect(meta.statistics.query?.totalPartitionsProcessed).toBe("0");
    expect(meta.statistics.query?.dmlStats).toEqual({
      insertedRowCount: "1",
      updatedRowCount: "1",
      deletedRowCount: "1",
    });
    expect(meta.statistics.query?.numDmlAffectedRows).toBe("3");
  });

  it("jobs.query answers totalBytesProcessed, totalBytesBilled and dmlStats as strings", async () => {
    const res = await fetch(`${server.baseUrl}/projects/${PROJECT}/queries`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: `UPDATE ${DS}.events SET n = n + 1 WHERE n = 5`, useLegacySql: false }),
    });
    const body = (await res.json()) as Record<string, unknown>;
    expect(body["totalBytesProcessed"]).toBe(String(ROWS.length * 8 + sum(ROWS, allColumns)));
    expect(body["totalBytesBilled"]).toBe(billed(ROWS.length * 8 + sum(ROWS, allColumns)));
    expect(body["dmlStats"]).toEqual({ insertedRowCount: "0", updatedRowCount: "1", deletedRowCount: "0" });
    expect(body["numDmlAffectedRows"]).toBe("1");
    await reset();
  });

  it("a query that reads no column processes and bills nothing", async () => {
    const meta = await run(`SELECT COUNT(*) AS c FROM ${DS}.events`);
    expect(meta.statistics.query?.totalBytesProcessed).toBe("0");
    expect(meta.statistics.query?.totalBytesBilled).toBe("0");
  });
});
