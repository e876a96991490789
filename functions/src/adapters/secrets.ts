// Secret Manager: reads a secret version's payload, cached per function
// instance (keys change rarely; a new version name is a new cache entry).
import type { SecretManagerServiceClient } from "@google-cloud/secret-manager";
import { ExportError } from "../core/errors.js";
import type { SecretSource } from "../app/ports.js";

const GRPC_NOT_FOUND = 5;
const GRPC_PERMISSION_DENIED = 7;
const GRPC_FAILED_PRECONDITION = 9;
const CACHE_MS = 10 * 60 * 1000;

export class SecretManagerSource implements SecretSource {
  private readonly cache = new Map<string, { value: Promise<string>; at: number }>();

  constructor(
    private readonly client: SecretManagerServiceClient,
    private readonly now: () => number = Date.now,
  ) {}

  access(versionName: string): Promise<string> {
    const hit = this.cache.get(versionName);
    if (hit && this.now() - hit.at < CACHE_MS) return hit.value;
    const value = this.fetch(versionName);
    this.cache.set(versionName, { value, at: this.now() });
    // A failure is not cached: the next call asks again.
    value.catch(() => this.cache.delete(versionName));
    return value;
  }

  private async fetch(name: string): Promise<string> {
    try {
      const [version] = await this.client.accessSecretVersion({ name });
      const data = version.payload?.data;
      if (!data) throw new ExportError("SECRET_NOT_FOUND", `Secret version ${name} has no payload.`);
      return typeof data === "string" ? data : Buffer.from(data).toString("utf8");
    } catch (err) {
      if (err instanceof ExportError) throw err;
      const code = (err as { code?: number }).code;
      if (code === GRPC_NOT_FOUND || code === GRPC_FAILED_PRECONDITION) {
        throw new ExportError(
          "SECRET_NOT_FOUND",
          `Secret version ${name} does not exist or is not enabled: add the service-account key as a new version of that secret.`,
          { cause: err },
        );
      }
      if (code === GRPC_PERMISSION_DENIED) {
        throw new ExportError(
          "PERMISSION_DENIED",
          `The function's service account may not read ${name}: grant it roles/secretmanager.secretAccessor on that secret.`,
          { cause: err },
        );
      }
      throw new ExportError("UNAVAILABLE", `Reading secret ${name} failed: ${String(err)}`, {
        retryable: true,
        cause: err,
      });
    }
  }
}
