// The composition root: builds the adapters from the parsed configuration.
// Production uses Google's default endpoints and the function's identity; the
// local stack sets endpoint switches in the environment (see config.ts).
import { BigQuery } from "@google-cloud/bigquery";
import { SecretManagerServiceClient } from "@google-cloud/secret-manager";
import { Storage } from "@google-cloud/storage";
import * as grpc from "@grpc/grpc-js";
import { JWT, OAuth2Client, type AuthClient } from "google-auth-library";
import { z } from "zod";
import type { Config } from "./config.js";
import { ExportError } from "./core/errors.js";
import type { AppDeps } from "./app/deps.js";
import type { SecretSource, Warehouse, WarehouseFactory } from "./app/ports.js";
import { BigQueryWarehouse } from "./adapters/bigquery.js";
import { ClickHouseSource, createClickHouseClient } from "./adapters/clickhouse.js";
import { GcsObjectStore } from "./adapters/gcs.js";
import { SecretManagerSource } from "./adapters/secrets.js";
import type { Logger } from "./log.js";

const BIGQUERY_SCOPE = "https://www.googleapis.com/auth/bigquery";

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

class DestinationWarehouses implements WarehouseFactory {
  constructor(
    private readonly secrets: SecretSource,
    private readonly apiEndpoint: string | undefined,
    private readonly keylessAuth: AuthClient | undefined,
  ) {}

  async forDestination(projectId: string, keySecret: string | undefined): Promise<Warehouse> {
    const authClient = keySecret
      ? keyAuth(await this.secrets.access(keySecret), keySecret)
      : this.keylessAuth;
    const bq = new BigQuery({
      projectId,
      ...(this.apiEndpoint ? { apiEndpoint: this.apiEndpoint } : {}),
      ...(authClient ? { authClient } : {}),
    });
    return new BigQueryWarehouse(bq);
  }
}

function secretManagerClient(endpoint: string | undefined): SecretManagerServiceClient {
  if (!endpoint) return new SecretManagerServiceClient();
  // Local stack: host:port over plain gRPC, no Google credentials.
  const [host, port] = endpoint.split(":");
  return new SecretManagerServiceClient({
    apiEndpoint: host,
    port: Number(port),
    sslCreds: grpc.credentials.createInsecure(),
    universeDomain: "googleapis.com",
  });
}

export function createDeps(config: Config, log: Logger, now: () => Date = () => new Date()): AppDeps {
  const storage = new Storage(config.endpoints.storage ? { apiEndpoint: config.endpoints.storage } : {});
  const secrets = new SecretManagerSource(secretManagerClient(config.endpoints.secretManager));
  // Without a key secret the function's own identity is used; on the local
  // stack that identity is the emulator's default principal.
  let keyless: AuthClient | undefined;
  if (config.endpoints.bigquery) {
    const local = new OAuth2Client();
    local.setCredentials({
      access_token: "local-default-principal",
      expiry_date: Date.now() + 365 * 24 * 3600 * 1000,
    });
    keyless = local;
  }
  const clickhouse = createClickHouseClient(config.clickhouse);
  return {
    store: new GcsObjectStore(storage.bucket(config.stagingBucket)),
    source: new ClickHouseSource(clickhouse),
    warehouses: new DestinationWarehouses(secrets, config.endpoints.bigquery, keyless),
    settings: {
      partBytes: config.partBytes,
      lookbackDays: config.lookbackDays,
      staleAfterMs: config.staleAfterMs,
      database: config.clickhouse.database,
    },
    now,
    log,
  };
}
