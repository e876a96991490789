// Run as a child process by the tests: reads one secret version with the Secret Manager
// client built the production way (no sslCreds; an auth client supplies Authorization),
// trusting the loopback CA through GRPC_DEFAULT_SSL_ROOTS_FILE_PATH. Prints the payload.
import { SecretManagerServiceClient } from "@google-cloud/secret-manager";

const [port, name, token] = process.argv.slice(2);
const authClient = {
  universeDomain: "googleapis.com",
  getRequestHeaders: () => Promise.resolve(new Headers({ authorization: `Bearer ${token ?? ""}` })),
};
const client = new SecretManagerServiceClient({
  apiEndpoint: "127.0.0.1",
  port: Number(port),
  "grpc.ssl_target_name_override": "localhost",
  // google-auth-library's AuthClient is what callers normally pass; this stand-in has the two members used.
  authClient: authClient as unknown as never,
});
try {
  const [version] = await client.accessSecretVersion({ name });
  process.stdout.write(Buffer.from(version.payload?.data ?? new Uint8Array()).toString("utf8"));
} catch (err) {
  const e = err as { code?: number; details?: string };
  process.stdout.write(`ERROR ${e.code ?? "?"} ${e.details ?? String(err)}`);
} finally {
  await client.close();
}
