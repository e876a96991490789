// The local Google Cloud, all of it on loopback in one temp directory: GCS,
// BigQuery (ZetaSQL-checked, on DuckDB) with IAM and audit delivery, Secret
// Manager, Cloud Scheduler, ClickHouse on chdb, and the two functions. Tests
// start it programmatically; `npm run stack` and `npm start` use it too.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { BigQuery } from "@google-cloud/bigquery";
import { SecretManagerServiceClient } from "@google-cloud/secret-manager";
import { CloudTasksClient } from "@google-cloud/tasks";
import { loadConfig } from "../../functions/src/config.js";
import type { AppDeps } from "../../functions/src/app/deps.js";
import { registerExport, type StoredExport } from "../../functions/src/app/export-store.js";
import type { ExportDefinitionInput } from "../../functions/src/core/definition.js";
import { createLogger, type Logger } from "../../functions/src/log.js";
import { createDeps } from "../../functions/src/wiring.js";
import { auditSinkFilter } from "../infra/hcl.js";
import { serviceAccountAuth, staticTokenAuth } from "./bigquery/client-auth.js";
import { startBigQueryServer, type BigQueryServer } from "./bigquery/server.js";
import { posthogSchemaDdl } from "./clickhouse/posthog-schema.js";
import { startClickHouseServer, type ClickHouseServer } from "./clickhouse/server.js";
import { startFunctionsHost, type FunctionsHost } from "./functions-host.js";
import { startGcsServer, type GcsServer } from "./gcs/server.js";
import { prepareAuditTransport, type AuditTransport, type AuditTransportMode } from "./pubsub/audit-leg.js";
import { Iam, type ServiceAccountKeyFile } from "./iam/iam.js";
import {
  BIGQUERY_ADMIN,
  BIGQUERY_JOB_USER,
  SEED_CUSTOM_ROLE,
  TOKEN_CREATOR,
  type Role,
} from "./iam/roles.js";
import { startSchedulerServer, type RunningScheduler } from "./scheduler/server.js";
import { startSecretManagerServer, type RunningSecretManager } from "./secret-manager/server.js";
import { startTasksServer, type RunningTasks } from "./tasks/server.js";

export const LOCAL_PROJECT = "local-project";
/** The backfill queue, as Terraform creates it (infra/backfill.tf). */
export const BACKFILL_QUEUE = `projects/${LOCAL_PROJECT}/locations/us-central1/queues/bqx-backfill`;
/** The region of the stack's Cloud Scheduler jobs. */
export const LOCAL_REGION = "us-central1";
/**
 * An export's Scheduler job is this plus its id, as Terraform names jobs
 * (infra/scheduler.tf, name_prefix "bqx"); exportRun pauses it (auto-pause).
 */
export const SCHEDULER_JOB_PREFIX = `projects/${LOCAL_PROJECT}/locations/${LOCAL_REGION}/jobs/bqx-`;

/** The two functions, as log lines are attributed to them. */
export type FunctionName = "exportRun" | "finalizeRun";
export const STAGING_BUCKET = "bqx-staging";
const CLICKHOUSE_USER = "bqx_reader";
const CLICKHOUSE_PASSWORD = "local-clickhouse-password";

export interface StackOptions {
  /** Directory for all state; a new temp directory by default (removed on stop). */
  dir?: string;
  /** Log level of the functions (default WARNING: quiet tests). */
  logLevel?: "DEBUG" | "INFO" | "WARNING" | "ERROR";
  /** Where the functions' log lines go (default stdout), with the function that wrote each. */
  logSink?: (line: string, fn: FunctionName) => void;
  /** Uncompressed bytes per staged part (default 256 MiB). */
  partBytes?: number;
  /** The functions' clock (tests move it for the sweep). */
  now?: () => Date;
  /** The local Cloud Scheduler's clock (the demo starts it hours back, to fire settled periods). */
  schedulerNow?: () => Date;
  /** How much faster than real time the local Cloud Tasks' clock runs (its retry backoffs; default 20). */
  tasksTimeScale?: number;
  /** Rows a backfill chunk aims at (BQX_BACKFILL_ROWS_PER_CHUNK). */
  backfillRowsPerChunk?: number;
  /**
   * How audit entries reach finalizeRun: "auto" (default) over Google's Pub/Sub
   * emulator when it can run here, else directly; "emulator" requires it;
   * "direct" skips it.
   */
  pubsub?: AuditTransportMode;
}

/** How a destination acts in BigQuery (the export definition's credentials). */
export type DestinationCredentials = "key" | "impersonate" | "function";

export interface Destination {
  datasetId: string;
  location: string;
  /** The BigQuery principal the grants went to (for "function": the functions' own account). */
  serviceAccount: string;
  /** The part of an export's destination that names the credentials: keySecret, impersonate, or nothing. */
  credentials: { keySecret?: string; impersonate?: string };
  /** "key" only: the secret version holding the key, and the key itself. */
  keySecret: string;
  key: ServiceAccountKeyFile | undefined;
}

export interface LocalStack {
  dir: string;
  projectId: string;
  bucket: string;
  gcs: GcsServer;
  bigquery: BigQueryServer;
  iam: Iam;
  secretManager: RunningSecretManager;
  scheduler: RunningScheduler;
  tasks: RunningTasks;
  clickhouse: ClickHouseServer;
  functions: FunctionsHost;
  /** The audit leg to finalizeRun: Pub/Sub emulator or direct pushes. */
  auditTransport: AuditTransport;
  deps: AppDeps;
  /** The environment the functions run with (what `npm run stack` prints). */
  env: Record<string, string>;
  /** The function's own identity (used for exports without a key secret). */
  functionsServiceAccount: string;
  /**
   * A dataset, a destination service account with a key in Secret Manager,
   * and grants: `role` on the dataset (default: the seed's custom role) and
   * `projectRole` on the project (default: BigQuery Job User).
   */
  createDestination(opts: {
    datasetId: string;
    location?: string;
    role?: Role;
    projectRole?: Role;
    createDataset?: boolean;
    /** Default "key": a service account with its JSON key in Secret Manager (the seed's way). */
    credentials?: DestinationCredentials;
    /** "impersonate" only: grant the functions token-creator on the account (default true). */
    tokenCreator?: boolean;
  }): Promise<Destination>;
  /**
   * Stores an export definition (exports/<id>.json) through the product's
   * own registerExport, as Terraform does in production.
   */
  registerExport(definition: ExportDefinitionInput | Record<string, unknown>): Promise<StoredExport>;
  /** A BigQuery client as an administrator, for looking at results. */
  adminBigQuery(): BigQuery;
  /** A BigQuery client as a destination's service account. */
  bigQueryAs(dest: Destination): BigQuery;
  secretClient(): SecretManagerServiceClient;
  stop(): Promise<void>;
}

export async function startLocalStack(opts: StackOptions = {}): Promise<LocalStack> {
  const ownDir = opts.dir === undefined;
  const dir = opts.dir ?? (await mkdtemp(path.join(tmpdir(), "bqx-stack-")));
  const stops: (() => Promise<void>)[] = [];
  try {
    // Google's Pub/Sub emulator (when it can run here) starts now, beside the other servers.
    const auditTransportPrepared = prepareAuditTransport({
      projectId: LOCAL_PROJECT,
      dir,
      mode: opts.pubsub,
    });
    stops.push(() => auditTransportPrepared.stop());
    const iam = await Iam.start();
    stops.push(() => iam.close());
    const gcs = await startGcsServer({ dataDir: path.join(dir, "gcs"), projectId: LOCAL_PROJECT });
    stops.push(() => gcs.stop());
    await gcs.ensureBucket(STAGING_BUCKET, "US");

    // The audit sink uses the production log-sink filter from infra/, so the
    // local stack routes exactly the entries Cloud Logging would.
    const sinkFilter = await auditSinkFilter();
    const bigquery = await startBigQueryServer({
      dataDir: path.join(dir, "bigquery"),
      gcs: { url: gcs.url },
      iam,
      auditSinks: [],
      jobStateDelayMs: 20,
    });
    stops.push(() => bigquery.stop());

    const secretManager = await startSecretManagerServer({});
    stops.push(() => secretManager.stop());
    const scheduler = await startSchedulerServer(opts.schedulerNow ? { now: opts.schedulerNow } : {});
    stops.push(() => scheduler.stop());
    // Cloud Tasks with the backfill queue as Terraform configures it
    // (infra/backfill.tf: 2 concurrent dispatches, 10 attempts, 10 s to 600 s backoff).
    const tasks = await startTasksServer({ timeScale: opts.tasksTimeScale ?? 20 });
    stops.push(() => tasks.stop());
    const tasksClient = new CloudTasksClient(tasks.clientOptions());
    await tasksClient.createQueue({
      parent: BACKFILL_QUEUE.replace(/\/queues\/.*$/, ""),
      queue: {
        name: BACKFILL_QUEUE,
        rateLimits: { maxConcurrentDispatches: 2, maxDispatchesPerSecond: 10 },
        retryConfig: {
          maxAttempts: 10,
          minBackoff: { seconds: 10 },
          maxBackoff: { seconds: 600 },
          maxDoublings: 4,
        },
      },
    });
    await tasksClient.close();

    const clickhouse = await startClickHouseServer({
      dataDir: path.join(dir, "clickhouse"),
      user: CLICKHOUSE_USER,
      password: CLICKHOUSE_PASSWORD,
      database: "posthog",
    });
    stops.push(() => clickhouse.stop());
    for (const ddl of posthogSchemaDdl("posthog")) await clickhouse.exec(ddl);

    // The functions' own service account: staging access is implicit locally;
    // BigQuery grants are given per destination when an export is keyless.
    const functionsServiceAccount = `bqx-functions@${LOCAL_PROJECT}.iam.gserviceaccount.com`;
    iam.createServiceAccount(functionsServiceAccount, LOCAL_PROJECT);
    const admin = `stack-admin@${LOCAL_PROJECT}.iam.gserviceaccount.com`;
    iam.createServiceAccount(admin, LOCAL_PROJECT);
    iam.grant(admin, { projectId: LOCAL_PROJECT }, BIGQUERY_ADMIN);
    const adminToken = iam.issueAccessToken(admin);

    const env: Record<string, string> = {
      BQX_STAGING_BUCKET: STAGING_BUCKET,
      BQX_CLICKHOUSE_URL: clickhouse.url,
      BQX_CLICKHOUSE_USER: CLICKHOUSE_USER,
      BQX_CLICKHOUSE_PASSWORD: CLICKHOUSE_PASSWORD,
      BQX_CLICKHOUSE_DATABASE: "posthog",
      BQX_LOG_LEVEL: opts.logLevel ?? "WARNING",
      BQX_PART_BYTES: String(opts.partBytes ?? 256 * 1024 * 1024),
      STORAGE_EMULATOR_HOST: gcs.url,
      BQX_BIGQUERY_ENDPOINT: bigquery.url,
      // The function's own identity; valid for a day, so a long `npm run stack` keeps working.
      BQX_BIGQUERY_ACCESS_TOKEN: iam.issueAccessToken(functionsServiceAccount, 24 * 3600),
      BQX_IAM_CREDENTIALS_ENDPOINT: iam.credentialsEndpoint,
      BQX_BACKFILL_QUEUE: BACKFILL_QUEUE,
      BQX_TASKS_SERVICE_ACCOUNT: `bqx-tasks@${LOCAL_PROJECT}.iam.gserviceaccount.com`,
      BQX_TASKS_ENDPOINT: `${tasks.host}:${tasks.port}`,
      ...(opts.backfillRowsPerChunk
        ? { BQX_BACKFILL_ROWS_PER_CHUNK: String(opts.backfillRowsPerChunk) }
        : {}),
      BQX_SECRET_MANAGER_ENDPOINT: `${secretManager.host}:${secretManager.port}`,
    };
    // Auto-pause (exportRun only, as Terraform sets these): the job name
    // prefix, and the local Cloud Scheduler's endpoint.
    env.BQX_SCHEDULER_JOB_PREFIX = SCHEDULER_JOB_PREFIX;
    env.BQX_SCHEDULER_ENDPOINT = `${scheduler.host}:${scheduler.port}`;
    const config = loadConfig(env);
    const sink = opts.logSink;
    const logOf = (fn: FunctionName): Logger =>
      createLogger(config.logLevel, sink ? (line) => sink(line, fn) : undefined);
    const deps = createDeps(config, logOf("exportRun"), opts.now);
    // finalizeRun as deployed: its own log stream, and no Scheduler job
    // prefix (Terraform gives only exportRun the pause permission).
    const { scheduler: _exportRunOnly, ...finalizeShared } = deps;
    const functions = await startFunctionsHost({
      exportRun: deps,
      finalizeRun: { ...finalizeShared, log: logOf("finalizeRun") },
    });
    stops.push(() => functions.stop());
    const auditTransport = await auditTransportPrepared.connect(bigquery.audit, {
      filter: sinkFilter,
      topicId: "bqx-job-done",
      destination: functions.finalizeRunUrl,
    });
    stops.push(() => auditTransport.stop());

    const secretClient = () => new SecretManagerServiceClient(secretManager.clientOptions());

    const stack: LocalStack = {
      dir,
      projectId: LOCAL_PROJECT,
      bucket: STAGING_BUCKET,
      gcs,
      bigquery,
      iam,
      secretManager,
      scheduler,
      tasks,
      clickhouse,
      functions,
      auditTransport,
      deps,
      env,
      functionsServiceAccount,
      async createDestination(d): Promise<Destination> {
        const location = d.location ?? "US";
        const mode = d.credentials ?? "key";
        const adminBq = stack.adminBigQuery();
        if (d.createDataset ?? true) await adminBq.createDataset(d.datasetId, { location });
        const email =
          mode === "function"
            ? functionsServiceAccount
            : `bqx-${d.datasetId
                .toLowerCase()
                .replace(/[^a-z0-9]/g, "-")
                .slice(0, 20)}@${LOCAL_PROJECT}.iam.gserviceaccount.com`;
        const grantBigQuery = () => {
          iam.grant(email, { projectId: LOCAL_PROJECT }, d.projectRole ?? BIGQUERY_JOB_USER);
          iam.grant(email, { projectId: LOCAL_PROJECT, datasetId: d.datasetId }, d.role ?? SEED_CUSTOM_ROLE);
        };
        if (mode === "function") {
          grantBigQuery();
          return {
            datasetId: d.datasetId,
            location,
            serviceAccount: email,
            credentials: {},
            keySecret: "",
            key: undefined,
          };
        }
        if (mode === "impersonate") {
          // No key anywhere: the functions obtain tokens for this account.
          iam.addServiceAccount(email, LOCAL_PROJECT);
          grantBigQuery();
          if (d.tokenCreator ?? true) {
            iam.grant(
              functionsServiceAccount,
              { projectId: LOCAL_PROJECT, serviceAccount: email },
              TOKEN_CREATOR,
            );
          }
          return {
            datasetId: d.datasetId,
            location,
            serviceAccount: email,
            credentials: { impersonate: email },
            keySecret: "",
            key: undefined,
          };
        }
        const key = iam.createServiceAccount(email, LOCAL_PROJECT);
        grantBigQuery();
        const client = secretClient();
        const secretId = `bq-key-${d.datasetId.toLowerCase().replace(/_/g, "-")}`;
        const [secret] = await client.createSecret({
          parent: `projects/${LOCAL_PROJECT}`,
          secretId,
          secret: { replication: { automatic: {} } },
        });
        const [version] = await client.addSecretVersion({
          parent: secret.name!,
          payload: { data: Buffer.from(JSON.stringify(key)) },
        });
        await client.close();
        return {
          datasetId: d.datasetId,
          location,
          serviceAccount: email,
          credentials: { keySecret: version.name! },
          keySecret: version.name!,
          key,
        };
      },
      registerExport: (definition) => registerExport(definition, deps.store),
      adminBigQuery: () =>
        new BigQuery({
          projectId: LOCAL_PROJECT,
          apiEndpoint: bigquery.url,
          authClient: staticTokenAuth(adminToken),
        }),
      bigQueryAs: (dest) =>
        new BigQuery({
          projectId: LOCAL_PROJECT,
          apiEndpoint: bigquery.url,
          authClient: dest.key
            ? serviceAccountAuth(dest.key)
            : staticTokenAuth(iam.issueAccessToken(dest.serviceAccount)),
        }),
      secretClient,
      async stop() {
        for (const stop of stops.reverse()) await stop().catch(() => undefined);
        if (ownDir) await rm(dir, { recursive: true, force: true });
      },
    };
    return stack;
  } catch (err) {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    if (ownDir) await rm(dir, { recursive: true, force: true });
    throw err;
  }
}
