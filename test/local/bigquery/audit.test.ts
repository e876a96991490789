// The audit LogEntry of a finished job, selected by the production log-sink
// filter (read from infra/ as Terraform deploys it) and pushed as a Pub/Sub CloudEvent, the way
// Eventarc calls a gen2 function; duplicated, dropped and retried on demand.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { BigQuery } from "@google-cloud/bigquery";
import { Storage } from "@google-cloud/storage";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { jobLabels } from "../../../functions/src/core/names.js";
import { auditSinkFilter } from "../../infra/hcl.js";
import { staticTokenAuth } from "./client-auth.js";
import { startBigQueryServer, type BigQueryServer } from "./server.js";
import { readBody, startHttpServer, type RunningHttpServer } from "../common/net.js";
import { startGcsServer, type GcsServer } from "../gcs/server.js";

const PROJECT = "bqx-audit-project";
const DATASET = "BatchExports";
const BUCKET = "bqx-audit-staging";
const TOPIC = "projects/bqx-ops/topics/bqx-audit";

interface Push {
  headers: Record<string, string | string[] | undefined>;
  body: {
    message: { data: string; messageId: string; publishTime: string; attributes?: Record<string, string> };
    subscription: string;
  };
}

/** The parts of the LogEntry that finalizeRun reads. */
interface AuditEntry {
  logName: string;
  severity: string;
  resource: { type: string };
  protoPayload: {
    metadata: {
      "@type": string;
      jobChange: {
        after: string;
        job: {
          jobName: string;
          jobConfig: {
            type: string;
            labels: Record<string, string>;
            loadConfig: { destinationTable: string };
          };
          jobStatus: { jobState: string; errorResult?: { code: number; message: string } };
          jobStats: { loadStats: { totalOutputBytes: string } };
        };
      };
    };
  };
}

function decode(push: Push): AuditEntry {
  return JSON.parse(Buffer.from(push.body.message.data, "base64").toString("utf8")) as AuditEntry;
}

describe("audit CloudEvents on job completion", () => {
  let dir: string;
  let gcs: GcsServer;
  let server: BigQueryServer;
  let receiver: RunningHttpServer;
  let bq: BigQuery;
  const pushes: Push[] = [];
  const answers: number[] = [];
  let jobs = 0;

  async function runLoad(labels: Record<string, string>, file = "good.ndjson.gz"): Promise<string> {
    jobs++;
    const jobId = `bqx_audit_${jobs}_load`;
    const [job] = await bq.createJob({
      jobId,
      configuration: {
        load: {
          sourceUris: [`gs://${BUCKET}/${file}`],
          sourceFormat: "NEWLINE_DELIMITED_JSON",
          schema: { fields: [{ name: "a", type: "INT64" }] },
          destinationTable: { projectId: PROJECT, datasetId: DATASET, tableId: "t" },
        },
        labels,
      },
    });
    await job.promise().catch(() => undefined);
    await server.audit.drain();
    return jobId;
  }

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "bq-audit-"));
    receiver = await startHttpServer(async (req, res) => {
      const body = JSON.parse((await readBody(req)).toString("utf8")) as Push["body"];
      pushes.push({ headers: req.headers, body });
      res.writeHead(answers.shift() ?? 204).end();
    });
    gcs = await startGcsServer({ dataDir: path.join(dir, "gcs"), projectId: PROJECT });
    await gcs.ensureBucket(BUCKET);
    const bucket = new Storage({ projectId: PROJECT, apiEndpoint: gcs.url }).bucket(BUCKET);
    await bucket.file("good.ndjson.gz").save(gzipSync('{"a": 1}\n{"a": "2"}\n'), { resumable: false });
    await bucket.file("bad.ndjson.gz").save(gzipSync('{"a": 1}\n{"a": "x"}\n'), { resumable: false });
    server = await startBigQueryServer({
      dataDir: path.join(dir, "bq"),
      gcs: { url: gcs.url },
      auditSinks: [{ filter: await auditSinkFilter(), url: receiver.url, topic: TOPIC }],
      auditDelivery: { retryBaseMs: 10 },
    });
    bq = new BigQuery({ projectId: PROJECT, apiEndpoint: server.url, authClient: staticTokenAuth() });
    await bq.createDataset(DATASET);
  });
  beforeEach(() => {
    pushes.length = 0;
    answers.length = 0;
  });
  afterAll(async () => {
    await server?.stop();
    await gcs?.stop();
    await receiver?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const labels = jobLabels("events-hourly", "events-hourly-20261125t100000z-20261125t110000z", "events");

  it("delivers the jobChange DONE entry of a successful load as a binary-mode CloudEvent", async () => {
    const jobId = await runLoad(labels);
    expect(pushes).toHaveLength(1);
    const push = pushes[0] as Push;
    expect(push.headers["ce-type"]).toBe("google.cloud.pubsub.topic.v1.messagePublished");
    expect(push.headers["ce-source"]).toBe(`//pubsub.googleapis.com/${TOPIC}`);
    expect(push.headers["ce-specversion"]).toBe("1.0");
    expect(push.headers["ce-id"]).toBe(push.body.message.messageId);
    expect(Number.isNaN(Date.parse(String(push.headers["ce-time"])))).toBe(false);
    const entry = decode(push);
    expect(entry.logName).toBe(`projects/${PROJECT}/logs/cloudaudit.googleapis.com%2Fdata_access`);
    expect(entry.resource.type).toBe("bigquery_project");
    const metadata = entry.protoPayload.metadata;
    expect(metadata["@type"]).toBe("type.googleapis.com/google.cloud.audit.BigQueryAuditMetadata");
    expect(metadata.jobChange.after).toBe("DONE");
    const job = metadata.jobChange.job;
    expect(job.jobName).toBe(`projects/${PROJECT}/jobs/${jobId}`);
    expect(job.jobConfig.type).toBe("IMPORT");
    expect(job.jobConfig.labels).toEqual(labels);
    expect(job.jobConfig.loadConfig.destinationTable).toBe(
      `projects/${PROJECT}/datasets/${DATASET}/tables/t`,
    );
    expect(job.jobStatus.jobState).toBe("DONE");
    expect(job.jobStatus.errorResult).toBeUndefined();
    expect(Number(job.jobStats.loadStats.totalOutputBytes)).toBeGreaterThan(0);
  });

  it("carries the job's error when the load fails", async () => {
    await runLoad(labels, "bad.ndjson.gz");
    expect(pushes).toHaveLength(1);
    const entry = decode(pushes[0] as Push);
    expect(entry.severity).toBe("ERROR");
    const status = entry.protoPayload.metadata.jobChange.job.jobStatus;
    expect(status.errorResult?.code).toBe(3);
    expect(status.errorResult?.message).toContain("JSON table encountered too many errors");
  });

  it("delivers nothing for jobs the sink filter does not select (missing labels)", async () => {
    await runLoad({});
    await runLoad({ bqx_export: "events-hourly" });
    expect(pushes).toHaveLength(0);
  });

  it("duplicates and drops deliveries on demand", async () => {
    server.audit.duplicateNext(1);
    await runLoad(labels);
    expect(pushes).toHaveLength(2);
    expect(pushes[0]?.body.message.messageId).toBe(pushes[1]?.body.message.messageId);
    expect(decode(pushes[0] as Push)).toEqual(decode(pushes[1] as Push));

    pushes.length = 0;
    server.audit.dropNext(1);
    await runLoad(labels);
    expect(pushes).toHaveLength(0);
    await runLoad(labels);
    expect(pushes).toHaveLength(1);
  });

  it("retries a push the function answers with an error", async () => {
    answers.push(500, 503);
    await runLoad(labels);
    expect(pushes).toHaveLength(3);
    const record = server.audit.records.at(-1);
    expect(record?.delivered).toBe(true);
    expect(record?.attempts).toBe(3);
  });
});
