// Auth clients that let @google-cloud/bigquery talk to the local BigQuery with
// no Google credentials on the machine.
//
// google-auth-library ignores a key file's token_uri (it always posts to
// https://oauth2.googleapis.com/token), so a key file alone cannot work
// offline. A JWT client with useJWTAccessWithScope signs its own bearer token
// with the key (a self-signed JWT with a scope claim): no token endpoint is
// called, the local IAM verifies the signature, and Google's APIs accept the
// same token.
import { JWT, OAuth2Client } from "google-auth-library";
import type { ServiceAccountKeyFile } from "../iam/iam.js";

export const BIGQUERY_SCOPE = "https://www.googleapis.com/auth/bigquery";

/** Auth for a service-account key file: self-signed JWTs, offline. */
export function serviceAccountAuth(
  key: Pick<ServiceAccountKeyFile, "client_email" | "private_key" | "private_key_id">,
): JWT {
  const jwt = new JWT({
    email: key.client_email,
    key: key.private_key,
    keyId: key.private_key_id,
    scopes: [BIGQUERY_SCOPE],
  });
  jwt.useJWTAccessWithScope = true;
  return jwt;
}

/** Auth that sends a fixed access token (a local IAM token, or anything when no IAM is configured). */
export function staticTokenAuth(accessToken = "local-access-token"): OAuth2Client {
  const client = new OAuth2Client();
  client.setCredentials({ access_token: accessToken, expiry_date: Date.now() + 24 * 3600 * 1000 });
  return client;
}
