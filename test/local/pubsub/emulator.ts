// Google's Pub/Sub emulator, started the way its documentation says
// (`gcloud beta emulators pubsub start --host-port=HOST:PORT --project=P`) on a
// free loopback port, and always stopped. gcloud runs as the leader of a new
// session, so its Python and the Java it starts stay in one process group
// (gcloud moves itself to a group of its own unless it leads its session:
// command_lib/emulators/util.py, Exec). stop() ends that group, as does a
// handler on this process's exit; and a watchdog shell ends it when this
// process dies without running handlers (the watchdog's stdin pipe closes).
// Ready when its REST root answers (about 5 s on this machine).
import { spawn, type ChildProcess } from "node:child_process";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { freePort } from "../common/net.js";
import type { GoogleCloudSdk } from "../google-cloud-sdk.js";

export interface PubSubEmulator {
  /** REST base, e.g. http://127.0.0.1:PORT (the v1 API is under /v1). */
  url: string;
  /** What PUBSUB_EMULATOR_HOST would hold for the client libraries: 127.0.0.1:PORT. */
  host: string;
  projectId: string;
  stop(): Promise<void>;
}

export interface EmulatorOptions {
  sdk: GoogleCloudSdk;
  projectId: string;
  /** The emulator's data directory and gcloud's configuration go here. */
  dataDir: string;
  /** How long to wait for it to answer (default 60 s: CI machines are shared). */
  startTimeoutMs?: number;
}

// Process groups still running, ended synchronously when this process exits.
const liveGroups = new Set<number>();
let exitHookInstalled = false;
function killGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // already gone
  }
}
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once("exit", () => {
    for (const pgid of liveGroups) killGroup(pgid, "SIGKILL");
  });
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function answers(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
    await res.arrayBuffer();
    return res.ok;
  } catch {
    return false;
  }
}

/** A shell that ends process group `pgid` once its stdin (a pipe from this process) closes. */
function startWatchdog(pgid: number): ChildProcess {
  const watchdog = spawn("sh", ["-c", `cat >/dev/null; kill -KILL -${pgid} 2>/dev/null`], {
    detached: true,
    stdio: ["pipe", "ignore", "ignore"],
  });
  watchdog.unref();
  return watchdog;
}

async function stopGroup(pgid: number, watchdog: ChildProcess): Promise<void> {
  killGroup(pgid, "SIGTERM");
  const deadline = Date.now() + 5000;
  while (groupAlive(pgid) && Date.now() < deadline) await sleep(50);
  if (groupAlive(pgid)) killGroup(pgid, "SIGKILL");
  liveGroups.delete(pgid);
  watchdog.kill("SIGKILL");
  watchdog.stdin?.destroy();
}

async function startOnce(opts: EmulatorOptions, port: number): Promise<PubSubEmulator> {
  const host = `127.0.0.1:${port}`;
  const url = `http://${host}`;
  const dataDir = path.join(opts.dataDir, "data");
  await mkdir(dataDir, { recursive: true });
  const child = spawn(
    opts.sdk.gcloud,
    [
      "beta",
      "emulators",
      "pubsub",
      "start",
      `--host-port=${host}`,
      `--project=${opts.projectId}`,
      `--data-dir=${dataDir}`,
    ],
    {
      detached: true, // a new session, led by gcloud (its wrapper script execs Python)
      stdio: ["ignore", "pipe", "pipe"],
      env: {
        ...process.env,
        CLOUDSDK_CONFIG: path.join(opts.dataDir, "gcloud-config"),
        CLOUDSDK_CORE_DISABLE_PROMPTS: "1",
      },
    },
  );
  const pgid = child.pid;
  if (pgid === undefined) throw new Error("could not start the Pub/Sub emulator");
  liveGroups.add(pgid);
  installExitHook();
  const watchdog = startWatchdog(pgid);
  // The last few KB of its output, for the error when it does not come up.
  let output = "";
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString("utf8")).slice(-4096);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  let exited = false;
  child.once("exit", () => {
    exited = true;
  });

  const deadline = Date.now() + (opts.startTimeoutMs ?? 60_000);
  while (!(await answers(`${url}/`))) {
    if (exited || !groupAlive(pgid) || Date.now() > deadline) {
      await stopGroup(pgid, watchdog);
      throw new Error(
        `the Pub/Sub emulator did not come up on ${host} ` +
          `(${exited ? "it exited" : "timed out"}); its output ends:\n${output.trim()}`,
      );
    }
    await sleep(200);
  }
  let stopped: Promise<void> | undefined;
  return {
    url,
    host,
    projectId: opts.projectId,
    stop: () => (stopped ??= stopGroup(pgid, watchdog)),
  };
}

/** Starts the emulator on a free port (another one if that port was taken meanwhile). */
export async function startPubSubEmulator(opts: EmulatorOptions): Promise<PubSubEmulator> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    try {
      return await startOnce(opts, port);
    } catch (err) {
      const portTaken = err instanceof Error && /BindException|Address already in use/i.test(err.message);
      if (!portTaken || attempt >= 3) throw err;
    }
  }
}
