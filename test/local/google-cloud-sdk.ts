// Where Google Cloud SDK's tools are on this machine, found without running
// them (gcloud takes a second or two to start): `gcloud` on PATH, its real
// path giving the SDK root (<root>/bin/gcloud), and under the root bq's
// discovery document and the Pub/Sub emulator; Java on PATH or JAVA_HOME for
// the emulator. Undefined when gcloud is not installed.
import { accessSync, constants, existsSync, realpathSync } from "node:fs";
import path from "node:path";

export interface GoogleCloudSdk {
  root: string;
  gcloud: string;
  bq: string;
  /**
   * The BigQuery discovery document shipped with bq. Passing it with
   * --discovery_file lets bq talk to a local --api without fetching
   * `/$discovery/rest` from it.
   */
  bqDiscoveryFile: string;
  /** The Pub/Sub emulator component is installed and Java is there to run it; else why not. */
  pubsubEmulator: { available: true } | { available: false; reason: string };
}

function onPath(name: string, dirs: string[]): string | undefined {
  for (const dir of dirs) {
    const candidate = path.join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

let cached: GoogleCloudSdk | null | undefined;

/** The installed Google Cloud SDK, or undefined (looked up once per process). */
export function findGoogleCloudSdk(env: NodeJS.ProcessEnv = process.env): GoogleCloudSdk | undefined {
  if (cached !== undefined) return cached ?? undefined;
  const dirs = (env["PATH"] ?? "").split(path.delimiter).filter(Boolean);
  const gcloudOnPath = onPath("gcloud", dirs);
  if (!gcloudOnPath) {
    cached = null;
    return undefined;
  }
  const root = path.dirname(path.dirname(realpathSync(gcloudOnPath)));
  const gcloud = path.join(root, "bin", "gcloud");
  const bq = path.join(root, "bin", "bq");
  const bqDiscoveryFile = path.join(root, "platform", "bq", "discovery_next", "bigquery.json");
  const java = onPath("java", env["JAVA_HOME"] ? [path.join(env["JAVA_HOME"], "bin"), ...dirs] : dirs);
  const emulatorInstalled = existsSync(path.join(root, "platform", "pubsub-emulator", "bin"));
  const pubsubEmulator: GoogleCloudSdk["pubsubEmulator"] = !emulatorInstalled
    ? { available: false, reason: "the pubsub-emulator component is not installed" }
    : !java
      ? { available: false, reason: "Java is not on PATH (the Pub/Sub emulator needs it)" }
      : { available: true };
  if (!existsSync(bq) || !existsSync(bqDiscoveryFile)) {
    cached = null;
    return undefined;
  }
  cached = { root, gcloud, bq, bqDiscoveryFile, pubsubEmulator };
  return cached;
}
