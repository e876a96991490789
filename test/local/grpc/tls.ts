// Optional TLS for the loopback gRPC servers. Over plain (insecure) gRPC the Google
// clients send no credentials at all, so a server that must know its caller (Secret
// Manager's per-principal checks) can instead serve TLS with this TEST-ONLY self-signed
// certificate (CN=localhost, SAN 127.0.0.1, valid to 2126), letting the client libraries
// attach their own Authorization header exactly as in production.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { ServerCredentials, credentials, type ChannelCredentials } from "@grpc/grpc-js";

/** PEM of the loopback certificate, which is also its own CA: trust it to reach a TLS emulator. */
export const LOOPBACK_CA_PATH = fileURLToPath(new URL("./loopback-test-cert.pem", import.meta.url));
const LOOPBACK_KEY_PATH = fileURLToPath(new URL("./loopback-test-key.pem", import.meta.url));

export function serverCredentials(tls: boolean): ServerCredentials {
  if (!tls) return ServerCredentials.createInsecure();
  return ServerCredentials.createSsl(
    null,
    [{ cert_chain: readFileSync(LOOPBACK_CA_PATH), private_key: readFileSync(LOOPBACK_KEY_PATH) }],
    false,
  );
}

/** What grpc-js needs from an auth client (google-auth-library's AuthClient satisfies it). */
export interface RequestHeadersSource {
  getRequestHeaders(url?: string): Promise<Headers | Record<string, string>>;
}

/**
 * Channel credentials for a client of a loopback emulator: insecure for a plain server;
 * for a TLS server, the loopback CA plus (when given) an auth client whose headers go on every call.
 */
export function channelCredentials(tls: boolean, authClient?: RequestHeadersSource): ChannelCredentials {
  if (!tls) return credentials.createInsecure();
  const ssl = credentials.createSsl(readFileSync(LOOPBACK_CA_PATH));
  if (!authClient) return ssl;
  return credentials.combineChannelCredentials(
    ssl,
    credentials.createFromGoogleCredential({
      // grpc-js copies these into metadata; it wants a plain object, and auth clients return Headers.
      getRequestHeaders: async (url?: string) => {
        const headers = await authClient.getRequestHeaders(url);
        if (!(headers instanceof Headers)) return headers;
        const plain: Record<string, string> = {};
        headers.forEach((value, key) => (plain[key] = value));
        return plain;
      },
    }),
  );
}

/**
 * Options for an official gRPC client (`new XClient(options)`) that reach a
 * local server offline. A type alias, not an interface: the clients' option
 * types have an index signature that only object type aliases satisfy.
 */
export type LocalClientOptions = {
  apiEndpoint: string;
  port: number;
  sslCreds: ChannelCredentials;
  universeDomain: string;
  "grpc.ssl_target_name_override"?: string;
};

export function localClientOptions(
  server: { host: string; port: number },
  tls: boolean,
  authClient?: RequestHeadersSource,
): LocalClientOptions {
  return {
    apiEndpoint: server.host,
    port: server.port,
    sslCreds: channelCredentials(tls, authClient),
    universeDomain: "googleapis.com",
    // The loopback certificate names "localhost"; TLS servername must not be an IP (RFC 6066).
    ...(tls ? { "grpc.ssl_target_name_override": "localhost" } : {}),
  };
}
