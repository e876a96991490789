// Hosts exportRun and finalizeRun on loopback for the local stack with the
// Functions Framework itself (@google-cloud/functions-framework's getTestServer,
// which builds the same Express server `functions-framework --target` runs in
// production), so body parsing and limits, error pages for malformed bodies,
// and CloudEvent decoding (binary mode: ce-* headers, data as the body) are
// production's. Each function gets its own server and URL, as each Cloud Run
// function has its own; both answer on every path, as in production.
//
// The framework's registry is process-global and keyed by name, and tests run
// several stacks in one process: each host registers the factories of
// functions/src/handlers/http-function.ts under names unique to it, and
// re-registers them as stubs on stop so a stopped stack's deps can be freed.
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import * as framework from "@google-cloud/functions-framework";
import { getTestServer } from "@google-cloud/functions-framework/testing";
import type { AppDeps } from "../../functions/src/app/deps.js";
import { exportRunFunction, finalizeRunFunction } from "../../functions/src/handlers/http-function.js";

export interface FunctionsHost {
  /** exportRun's URL (POST a run, GET ?export=<id>), like a deployed function's. */
  exportRunUrl: string;
  /** finalizeRun's URL: CloudEvents (Eventarc's binary mode) are POSTed here. */
  finalizeRunUrl: string;
  /** The names the functions are registered under in this process's framework registry. */
  names: { exportRun: string; finalizeRun: string };
  /** Requests that reached finalizeRun's server, for tests of at-least-once handling. */
  finalizeCalls(): number;
  stop(): Promise<void>;
}

let hosts = 0;

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}

async function close(server: Server): Promise<void> {
  if (!server.listening) return;
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeAllConnections();
  await closed;
}

/** Each function's dependencies, when they differ (their logs, finalizeRun without a Scheduler). */
export interface FunctionDeps {
  exportRun: AppDeps;
  finalizeRun: AppDeps;
}

export async function startFunctionsHost(deps: AppDeps | FunctionDeps): Promise<FunctionsHost> {
  const { exportRun, finalizeRun } = "exportRun" in deps ? deps : { exportRun: deps, finalizeRun: deps };
  const id = ++hosts;
  const names = { exportRun: `exportRun_local${id}`, finalizeRun: `finalizeRun_local${id}` };
  framework.http(
    names.exportRun,
    exportRunFunction(() => exportRun),
  );
  framework.cloudEvent(
    names.finalizeRun,
    finalizeRunFunction(() => finalizeRun),
  );

  let finalizeCalls = 0;
  const exportServer = getTestServer(names.exportRun);
  const finalizeServer = getTestServer(names.finalizeRun);
  finalizeServer.prependListener("request", () => finalizeCalls++);
  try {
    const [exportRunUrl, finalizeRunUrl] = [await listen(exportServer), await listen(finalizeServer)];
    return {
      exportRunUrl,
      finalizeRunUrl,
      names,
      finalizeCalls: () => finalizeCalls,
      async stop() {
        await Promise.all([close(exportServer), close(finalizeServer)]);
        framework.http(names.exportRun, (_req, res) => void res.status(410).send("stopped"));
        framework.cloudEvent(names.finalizeRun, () => {
          throw new Error("stopped");
        });
      },
    };
  } catch (err) {
    await Promise.all([close(exportServer), close(finalizeServer)]);
    throw err;
  }
}
