// Pointing Google's own tools at a local stack: the client libraries through
// their emulator variables, gcloud and gsutil through an endpoint override and
// an access-token file, bq through --api and the discovery document it ships.
// The token belongs to an administrator principal of the local IAM, created
// here (BigQuery Admin on the project), so what the tools show is what an
// owner of the project would see. gcloud gets a configuration directory of its
// own, so a person's real gcloud setup is neither used nor changed.
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { BIGQUERY_ADMIN } from "./iam/roles.js";
import { findGoogleCloudSdk, type GoogleCloudSdk } from "./google-cloud-sdk.js";
import type { LocalStack } from "./stack.js";

export interface GoogleToolsSetup {
  /** Undefined when the Google Cloud SDK is not installed (the client-library variables still apply). */
  sdk: GoogleCloudSdk | undefined;
  /** The administrator principal whose token is in tokenFile. */
  principal: string;
  tokenFile: string;
  /** Variables for the client libraries, gcloud, gsutil and bq, in print order. */
  env: Record<string, string>;
  /** bq's flags for the local BigQuery: --api URL --discovery_file FILE. */
  bqFlags: string[];
  /** Writes a fresh token (local tokens last an hour, as Google's do). */
  refreshToken(): Promise<void>;
}

export async function setUpGoogleTools(stack: LocalStack): Promise<GoogleToolsSetup> {
  const sdk = findGoogleCloudSdk();
  const dir = path.join(stack.dir, "google-tools");
  const config = path.join(dir, "gcloud-config");
  await mkdir(config, { recursive: true });
  const principal = `local-admin@${stack.projectId}.iam.gserviceaccount.com`;
  stack.iam.createServiceAccount(principal, stack.projectId);
  stack.iam.grant(principal, { projectId: stack.projectId }, BIGQUERY_ADMIN);
  const tokenFile = path.join(dir, "access-token");
  const refreshToken = () => writeFile(tokenFile, stack.iam.issueAccessToken(principal), { mode: 0o600 });
  await refreshToken();
  const env: Record<string, string> = {
    // @google-cloud/bigquery takes the whole REST base; @google-cloud/storage the server.
    BIGQUERY_EMULATOR_HOST: stack.bigquery.baseUrl,
    STORAGE_EMULATOR_HOST: stack.gcs.url,
    // gcloud storage: the JSON API root (it appends storage/v1/...).
    CLOUDSDK_API_ENDPOINT_OVERRIDES_STORAGE: `${stack.gcs.url}/`,
    CLOUDSDK_AUTH_ACCESS_TOKEN_FILE: tokenFile,
    CLOUDSDK_CORE_PROJECT: stack.projectId,
    CLOUDSDK_CONFIG: config,
  };
  const bqFlags = sdk ? ["--api", stack.bigquery.url, "--discovery_file", sdk.bqDiscoveryFile] : [];
  return { sdk, principal, tokenFile, env, bqFlags, refreshToken };
}
