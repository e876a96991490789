// The permission matrix of the seed: with exactly its custom role the events
// flow works; without any one of its permissions the flow fails with 403
// accessDenied naming that permission. Also: the built-in roles, key
// verification and the token endpoint.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { BigQuery } from "@google-cloud/bigquery";
import { Storage } from "@google-cloud/storage";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { destinationTable } from "../../../functions/src/core/models.js";
import { serviceAccountAuth, staticTokenAuth } from "./client-auth.js";
import { startBigQueryServer, type BigQueryServer } from "./server.js";
import { startGcsServer, type GcsServer } from "../gcs/server.js";
import { Iam, type ServiceAccountKeyFile } from "../iam/iam.js";
import { signJwt } from "../iam/jwt.js";
import {
  BIGQUERY_ADMIN,
  BIGQUERY_DATA_EDITOR,
  BIGQUERY_JOB_USER,
  PERMISSIONS,
  SEED_CUSTOM_ROLE,
  SEED_EVENTS_PERMISSIONS,
  withoutPermission,
} from "../iam/roles.js";

const PROJECT = "bqx-iam-project";
const DATASET = "BatchExports";
const BUCKET = "bqx-iam-staging";

interface ErrorLike {
  code?: number;
  message: string;
  errors?: Array<{ reason?: string; message?: string }>;
}

describe("permissions with the local IAM", () => {
  let dir: string;
  let iam: Iam;
  let gcs: GcsServer;
  let server: BigQueryServer;
  let sourceUri: string;
  let accounts = 0;
  let tables = 0;

  /** A fresh service account with the given grants, and a client using its key. */
  function exporter(grant: (email: string) => void): { bq: BigQuery; key: ServiceAccountKeyFile } {
    accounts++;
    const key = iam.createServiceAccount(`exporter-${accounts}@${PROJECT}.iam.gserviceaccount.com`, PROJECT);
    grant(key.client_email);
    return {
      key,
      bq: new BigQuery({ projectId: PROJECT, apiEndpoint: server.url, authClient: serviceAccountAuth(key) }),
    };
  }

  /**
   * What an events export does in BigQuery: check the dataset, list its
   * tables, look up the destination (creating it when missing), load the
   * period's staged file, read back what landed.
   */
  async function eventsFlow(bq: BigQuery): Promise<number> {
    tables++;
    const tableId = `events_${tables}`;
    const dataset = bq.dataset(DATASET);
    await dataset.getMetadata();
    await dataset.getTables();
    const table = dataset.table(tableId);
    try {
      await table.getMetadata();
    } catch (err) {
      if ((err as ErrorLike).code !== 404) throw err;
      await dataset.createTable(
        tableId,
        destinationTable("events", true, { projectId: PROJECT, datasetId: DATASET, tableId }),
      );
    }
    const [job] = await bq.createJob({
      jobId: `bqx_iam_${tables}_load`,
      configuration: {
        load: {
          sourceUris: [sourceUri],
          sourceFormat: "NEWLINE_DELIMITED_JSON",
          destinationTable: { projectId: PROJECT, datasetId: DATASET, tableId },
          writeDisposition: "WRITE_APPEND",
          createDisposition: "CREATE_NEVER",
        },
        labels: { bqx_export: "iam-test" },
      },
    });
    await job.promise();
    const [rows] = await table.getRows();
    return rows.length;
  }

  async function flowError(bq: BigQuery): Promise<ErrorLike> {
    try {
      await eventsFlow(bq);
    } catch (err) {
      return err as ErrorLike;
    }
    throw new Error("expected the flow to fail");
  }

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "bq-iam-"));
    iam = await Iam.start();
    gcs = await startGcsServer({ dataDir: path.join(dir, "gcs"), projectId: PROJECT });
    await gcs.ensureBucket(BUCKET);
    server = await startBigQueryServer({ dataDir: path.join(dir, "bq"), gcs: { url: gcs.url }, iam });
    const row = {
      uuid: "u1",
      event: "$pageview",
      properties: { a: 1 },
      distinct_id: "d1",
      team_id: 1,
      timestamp: "2026-11-25 10:00:00 UTC",
      bq_ingested_timestamp: "2026-11-25 11:00:00 UTC",
    };
    await new Storage({ projectId: PROJECT, apiEndpoint: gcs.url })
      .bucket(BUCKET)
      .file("staging/part-00000.ndjson.gz")
      .save(gzipSync(`${JSON.stringify(row)}\n${JSON.stringify({ ...row, uuid: "u2" })}\n`), {
        resumable: false,
      });
    sourceUri = `gs://${BUCKET}/staging/part-00000.ndjson.gz`;
    const admin = exporter((email) => iam.grant(email, { projectId: PROJECT }, BIGQUERY_ADMIN));
    await admin.bq.createDataset(DATASET, { location: "US" });
  });
  afterAll(async () => {
    await server?.stop();
    await gcs?.stop();
    await iam?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("runs the events flow with exactly the seed's custom role (project + dataset)", async () => {
    const { bq } = exporter((email) => {
      iam.grant(email, { projectId: PROJECT }, SEED_CUSTOM_ROLE);
      iam.grant(email, { projectId: PROJECT, datasetId: DATASET }, SEED_CUSTOM_ROLE);
    });
    expect(await eventsFlow(bq)).toBe(2);
  });

  it("runs the events flow with BigQuery Job User on the project and Data Editor on the dataset", async () => {
    const { bq } = exporter((email) => {
      iam.grant(email, { projectId: PROJECT }, BIGQUERY_JOB_USER);
      iam.grant(email, { projectId: PROJECT, datasetId: DATASET }, BIGQUERY_DATA_EDITOR);
    });
    expect(await eventsFlow(bq)).toBe(2);
  });

  it("fails without dataset access: Job User alone is not enough", async () => {
    const { bq } = exporter((email) => iam.grant(email, { projectId: PROJECT }, BIGQUERY_JOB_USER));
    const err = await flowError(bq);
    expect(err.code).toBe(403);
    expect(err.message).toContain(`Permission bigquery.datasets.get denied on dataset ${PROJECT}:${DATASET}`);
  });

  for (const permission of SEED_EVENTS_PERMISSIONS) {
    it(`fails with 403 accessDenied naming ${permission} when only it is missing`, async () => {
      const role = withoutPermission(SEED_CUSTOM_ROLE, permission);
      const { bq } = exporter((email) => iam.grant(email, { projectId: PROJECT }, role));
      const err = await flowError(bq);
      expect(err.message).toContain(permission);
      expect(err.errors?.[0]?.reason).toBe("accessDenied");
      // REST calls answer 403; a load job that runs into it fails with the same reason and message.
      if (permission !== PERMISSIONS.tablesUpdateData) expect(err.code).toBe(403);
    });
  }

  it("needs bigquery.tables.delete (the seed's optional permission) to drop a stage table", async () => {
    const withDelete = exporter((email) => iam.grant(email, { projectId: PROJECT }, SEED_CUSTOM_ROLE));
    const without = exporter((email) =>
      iam.grant(email, { projectId: PROJECT }, withoutPermission(SEED_CUSTOM_ROLE, PERMISSIONS.tablesDelete)),
    );
    const schema = { fields: [{ name: "a", type: "STRING" }] };
    await withDelete.bq.dataset(DATASET).createTable("stage_a", { schema });
    let denied: ErrorLike | undefined;
    await without.bq
      .dataset(DATASET)
      .table("stage_a")
      .delete()
      .catch((e: unknown) => (denied = e as ErrorLike));
    expect(denied?.code).toBe(403);
    expect(denied?.message).toContain(
      `Permission bigquery.tables.delete denied on table ${PROJECT}:${DATASET}.stage_a`,
    );
    await withDelete.bq.dataset(DATASET).table("stage_a").delete();
  });

  it("refuses a key the IAM does not know, and a call without credentials", async () => {
    const stranger = new Iam().createServiceAccount(`exporter-1@${PROJECT}.iam.gserviceaccount.com`, PROJECT);
    const bq = new BigQuery({
      projectId: PROJECT,
      apiEndpoint: server.url,
      authClient: serviceAccountAuth(stranger),
    });
    const err = await bq
      .dataset(DATASET)
      .getMetadata()
      .then(() => undefined)
      .catch((e: unknown) => e as ErrorLike);
    expect(err?.code).toBe(401);
    const anonymous = await fetch(`${server.baseUrl}/projects/${PROJECT}/datasets/${DATASET}`);
    expect(anonymous.status).toBe(401);
  });

  it("trades a key's signed JWT for an access token at the key file's token_uri", async () => {
    const { key } = exporter((email) => iam.grant(email, { projectId: PROJECT }, SEED_CUSTOM_ROLE));
    expect(key.token_uri).toBe(server.tokenUri);
    const now = Math.floor(Date.now() / 1000);
    const claims = {
      iss: key.client_email,
      scope: "https://www.googleapis.com/auth/bigquery",
      aud: key.token_uri,
      iat: now,
      exp: now + 3600,
    };
    const post = (assertion: string) =>
      fetch(key.token_uri, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({
          grant_type: "urn:ietf:params:oauth:grant-type:jwt-bearer",
          assertion,
        }).toString(),
      });
    const ok = await post(signJwt(claims, key.private_key, key.private_key_id));
    expect(ok.status).toBe(200);
    const token = (await ok.json()) as { access_token: string; token_type: string; expires_in: number };
    expect(token.token_type).toBe("Bearer");
    const bq = new BigQuery({
      projectId: PROJECT,
      apiEndpoint: server.url,
      authClient: staticTokenAuth(token.access_token),
    });
    const [meta] = await bq.dataset(DATASET).getMetadata();
    expect(meta.id).toBe(`${PROJECT}:${DATASET}`);

    const other = new Iam().createServiceAccount(key.client_email, PROJECT);
    const forged = await post(signJwt(claims, other.private_key, key.private_key_id));
    expect(forged.status).toBe(400);
    expect(((await forged.json()) as { error: string }).error).toBe("invalid_grant");
    const expired = await post(
      signJwt({ ...claims, iat: now - 7200, exp: now - 3600 }, key.private_key, key.private_key_id),
    );
    expect(expired.status).toBe(400);
  });
});
