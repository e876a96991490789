// One functions instance for the backfill benchmark (backfill.ts), in its own
// process so its RSS is the product's alone: exportRun (and finalizeRun,
// unused here: the stack's audit leg goes to the parent's) on the Functions
// Framework, built from the environment the functions get (BQX_BENCH_HOST_ENV,
// LocalStack.env plus the bench's settings). The backfill is POSTed here, so
// its Cloud Tasks target this process's URL and every chunk call runs here;
// with concurrency c the local Cloud Tasks sends up to c calls at once, so
// this is one instance taking c concurrent requests.
//
// Talks to the parent over the IPC channel: sends {type: "ready", url, rssMiB}
// once listening, answers {type: "stats"} with its peak RSS and CPU since
// ready, and exits on {type: "stop"}.
import { createLogger } from "../../functions/src/log.js";
import { loadConfig } from "../../functions/src/config.js";
import { createDeps } from "../../functions/src/wiring.js";
import { startFunctionsHost } from "../local/functions-host.js";
import { memorySampler, MiB } from "./common.js";

export interface HostStats {
  type: "stats";
  /** RSS when the host was ready (Node, tsx, the client libraries, the framework). */
  rssReadyMiB: number;
  rssPeakMiB: number;
  heapPeakMiB: number;
  /** User + system CPU seconds (all threads) since ready. */
  cpuSeconds: number;
}

export type HostMessage = { type: "ready"; url: string; rssMiB: number } | HostStats;

async function main(): Promise<void> {
  const env = JSON.parse(process.env["BQX_BENCH_HOST_ENV"] ?? "") as Record<string, string>;
  const config = loadConfig(env);
  const log = createLogger(config.logLevel, (line) => process.stderr.write(line + "\n"));
  const deps = createDeps(config, log);
  const host = await startFunctionsHost(deps);
  // Memory and CPU only: how many chunk calls were in flight at once is
  // counted by the parent, from the local Cloud Tasks' attempts.
  globalThis.gc?.();
  const rssReady = process.memoryUsage().rss;
  const mem = memorySampler();
  const cpu0 = process.cpuUsage();
  process.on("message", (msg: { type: string }) => {
    if (msg.type === "stats") {
      const cpu = process.cpuUsage(cpu0);
      const stats: HostStats = {
        type: "stats",
        rssReadyMiB: rssReady / MiB,
        rssPeakMiB: Math.max(mem.peak().rss, process.memoryUsage().rss) / MiB,
        heapPeakMiB: mem.peak().heap / MiB,
        cpuSeconds: (cpu.user + cpu.system) / 1e6,
      };
      process.send?.(stats);
    } else if (msg.type === "stop") {
      mem.stop();
      void host.stop().finally(() => process.exit(0));
    }
  });
  // The parent gone (killed, or crashed before stop): go too.
  process.on("disconnect", () => process.exit(0));
  process.send?.({ type: "ready", url: host.exportRunUrl, rssMiB: rssReady / MiB });
}

if (process.env["BQX_BENCH_HOST_ENV"]) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
