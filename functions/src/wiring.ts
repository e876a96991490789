// The composition root: builds the adapters from the parsed configuration.
// Production uses Google's default endpoints and the function's identity; the
// local stack sets endpoint switches in the environment (see config.ts).
import { BigQuery } from "@google-cloud/bigquery";
import { CloudSchedulerClient } from "@google-cloud/scheduler";
import { SecretManagerServiceClient } from "@google-cloud/secret-manager";
import { CloudTasksClient } from "@google-cloud/tasks";
import { Storage } from "@google-cloud/storage";
import * as grpc from "@grpc/grpc-js";
import { GoogleAuth, Impersonated, JWT, OAuth2Client, type AuthClient } from "google-auth-library";
import { z } from "zod";
import type { Config } from "./config.js";
import { credentialsOf, type Credentials, type Destination } from "./core/definition.js";
import { ExportError } from "./core/errors.js";
import type { AppDeps } from "./app/deps.js";
import type { SecretSource, TaskQueue, Warehouse, WarehouseFactory } from "./app/ports.js";
import { CloudTasksQueue } from "./adapters/tasks.js";
import { BigQueryWarehouse } from "./adapters/bigquery.js";
import { ClickHouseSource, createClickHouseClient } from "./adapters/clickhouse.js";
import { GcsObjectStore } from "./adapters/gcs.js";
import { CloudSchedulerControl } from "./adapters/scheduler.js";
import { fromGoogleError, googleErrorStatus } from "./adapters/google-errors.js";
import { SecretManagerSource } from "./adapters/secrets.js";
import type { Logger } from "./log.js";

const BIGQUERY_SCOPE = "https://www.googleapis.com/auth/bigquery";
const CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform";

// The fields of a service-account JSON key file that we use.
const keyFileSchema = z.object({
  type: z.literal("service_account"),
  client_email: z.string(),
  private_key: z.string(),
  private_key_id: z.string().optional(),
});

/**
 * Auth for a destination key: self-signed JWTs with the BigQuery scope, so no
 * token exchange is needed (google-auth-library ignores a key's token_uri,
 * and Google's APIs accept scoped self-signed JWTs).
 */
export function keyAuth(keyJson: string, secretName: string): JWT {
  let parsed: unknown;
  try {
    parsed = JSON.parse(keyJson);
  } catch (cause) {
    throw new ExportError(
      "BAD_CREDENTIALS",
      `Secret ${secretName} is not a JSON key file: upload the service account's JSON key.`,
      { cause },
    );
  }
  const key = keyFileSchema.safeParse(parsed);
  if (!key.success) {
    throw new ExportError(
      "BAD_CREDENTIALS",
      `Secret ${secretName} is not a service-account JSON key (needs type "service_account", client_email and private_key).`,
    );
  }
  const jwt = new JWT({
    email: key.data.client_email,
    key: key.data.private_key,
    ...(key.data.private_key_id ? { keyId: key.data.private_key_id } : {}),
    scopes: [BIGQUERY_SCOPE],
  });
  jwt.useJWTAccessWithScope = true;
  return jwt;
}

/** How long a destination's BigQuery client (and the token it holds) is reused by an instance. */
const CLIENT_TTL_MS = 10 * 60 * 1000;

/**
 * BigQuery clients per destination credentials, cached per function instance
 * for CLIENT_TTL_MS: a key secret is read once per version (SecretManagerSource
 * caches it too) and an impersonated token is reused until it nears expiry,
 * instead of one Secret Manager read or IAM call per run.
 */
class DestinationWarehouses implements WarehouseFactory {
  private readonly cache = new Map<string, { warehouse: Promise<Warehouse>; at: number }>();

  constructor(
    private readonly secrets: SecretSource,
    private readonly apiEndpoint: string | undefined,
    /** The function's own identity; undefined: application default credentials. */
    private readonly functionAuth: () => Promise<AuthClient>,
    private readonly iamCredentialsEndpoint: string | undefined,
  ) {}

  forDestination(dest: Destination): Promise<Warehouse> {
    const credentials = credentialsOf(dest);
    const key = `${dest.projectId}|${JSON.stringify(credentials)}`;
    const hit = this.cache.get(key);
    if (hit && Date.now() - hit.at < CLIENT_TTL_MS) return hit.warehouse;
    const warehouse = this.build(dest.projectId, credentials);
    this.cache.set(key, { warehouse, at: Date.now() });
    warehouse.catch(() => this.cache.delete(key));
    return warehouse;
  }

  private async build(projectId: string, credentials: Credentials): Promise<Warehouse> {
    const authClient = await this.authFor(credentials);
    const bq = new BigQuery({
      projectId,
      ...(this.apiEndpoint ? { apiEndpoint: this.apiEndpoint } : {}),
      authClient,
    });
    return new BigQueryWarehouse(bq);
  }

  private async authFor(credentials: Credentials): Promise<AuthClient> {
    switch (credentials.mode) {
      case "key":
        return keyAuth(await this.secrets.access(credentials.secret), credentials.secret);
      case "function":
        return this.functionAuth();
      case "impersonate": {
        const target = credentials.serviceAccount;
        const client = new Impersonated({
          sourceClient: await this.functionAuth(),
          targetPrincipal: target,
          targetScopes: [BIGQUERY_SCOPE],
          lifetime: 3600,
          delegates: [],
          ...(this.iamCredentialsEndpoint ? { endpoint: this.iamCredentialsEndpoint } : {}),
        });
        // Fetch the first token now, so a missing grant is reported as such
        // and not as a failure of whichever BigQuery call came first.
        try {
          await client.getAccessToken();
        } catch (err) {
          throw impersonationError(err, target);
        }
        return client;
      }
    }
  }
}

/** A failed generateAccessToken, worded with the grant that fixes it. */
export function impersonationError(err: unknown, target: string): ExportError {
  const status = googleErrorStatus(err);
  const detail = err instanceof Error ? err.message : String(err);
  if (status === 403 || /PERMISSION_DENIED/.test(detail)) {
    return new ExportError(
      "PERMISSION_DENIED",
      `The function may not impersonate ${target} (iam.serviceAccounts.getAccessToken denied): grant the function's service account roles/iam.serviceAccountTokenCreator on ${target}. ${detail}`,
      { cause: err, details: { permission: "iam.serviceAccounts.getAccessToken", serviceAccount: target } },
    );
  }
  if (status === 404 || /NOT_FOUND/.test(detail)) {
    return new ExportError(
      "BAD_CREDENTIALS",
      `Service account ${target} does not exist: fix destination.impersonate, or create the account and grant it access to the dataset. ${detail}`,
      { cause: err, details: { serviceAccount: target } },
    );
  }
  return fromGoogleError(err, `impersonating ${target}`);
}

/** Options reaching a local stack's gRPC service (host:port, plain gRPC, no Google credentials). */
function localGrpcOptions(endpoint: string) {
  const [host, port] = endpoint.split(":");
  return {
    apiEndpoint: host,
    port: Number(port),
    sslCreds: grpc.credentials.createInsecure(),
    universeDomain: "googleapis.com",
  };
}

function secretManagerClient(endpoint: string | undefined): SecretManagerServiceClient {
  return endpoint
    ? new SecretManagerServiceClient(localGrpcOptions(endpoint))
    : new SecretManagerServiceClient();
}

function backfillQueue(config: Config): TaskQueue | undefined {
  const { queue, tasksServiceAccount, dispatchDeadlineSeconds } = config.backfill;
  if (!queue) return undefined;
  const endpoint = config.endpoints.tasks;
  const client = endpoint ? new CloudTasksClient(localGrpcOptions(endpoint)) : new CloudTasksClient();
  return new CloudTasksQueue(client, { queue, serviceAccount: tasksServiceAccount, dispatchDeadlineSeconds });
}

/** Cloud Scheduler for auto-pause; undefined without a job prefix (finalizeRun, or a local run without one). */
function schedulerControl(config: Config): CloudSchedulerControl | undefined {
  if (config.schedulerJobPrefix === undefined) return undefined;
  const endpoint = config.endpoints.scheduler;
  if (!endpoint) return new CloudSchedulerControl(new CloudSchedulerClient(), config.schedulerJobPrefix);
  // Local stack: host:port over plain gRPC, no Google credentials (as Secret Manager's).
  const [host, port] = endpoint.split(":");
  const client = new CloudSchedulerClient({
    apiEndpoint: host,
    port: Number(port),
    sslCreds: grpc.credentials.createInsecure(),
    universeDomain: "googleapis.com",
  });
  return new CloudSchedulerControl(client, config.schedulerJobPrefix);
}

/**
 * The function's own identity: application default credentials in
 * production; on the local stack, the access token the stack minted for the
 * functions' service account (BQX_BIGQUERY_ACCESS_TOKEN).
 */
function functionIdentity(config: Config): () => Promise<AuthClient> {
  const token = config.endpoints.bigqueryAccessToken;
  if (token !== undefined) {
    const local = new OAuth2Client();
    local.setCredentials({ access_token: token, expiry_date: Date.now() + 365 * 24 * 3600 * 1000 });
    return () => Promise.resolve(local);
  }
  const auth = new GoogleAuth({ scopes: [CLOUD_PLATFORM_SCOPE] });
  let client: Promise<AuthClient> | undefined;
  return () => (client ??= auth.getClient());
}

export function createDeps(config: Config, log: Logger, now: () => Date = () => new Date()): AppDeps {
  const storage = new Storage(config.endpoints.storage ? { apiEndpoint: config.endpoints.storage } : {});
  const secrets = new SecretManagerSource(secretManagerClient(config.endpoints.secretManager));
  const clickhouse = createClickHouseClient(config.clickhouse);
  const scheduler = schedulerControl(config);
  return {
    store: new GcsObjectStore(storage.bucket(config.stagingBucket)),
    source: new ClickHouseSource(clickhouse),
    tasks: backfillQueue(config),
    warehouses: new DestinationWarehouses(
      secrets,
      config.endpoints.bigquery,
      functionIdentity(config),
      config.endpoints.iamCredentials,
    ),
    settings: {
      partBytes: config.partBytes,
      lookbackDays: config.lookbackDays,
      settleMs: config.settleMs,
      staleAfterMs: config.staleAfterMs,
      database: config.clickhouse.database,
      backfillRowsPerChunk: config.backfill.rowsPerChunk,
      exportRunUrl: config.backfill.exportRunUrl,
    },
    now,
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    log,
    ...(scheduler ? { scheduler } : {}),
  };
}
