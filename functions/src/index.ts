// Entry points: exportRun (HTTP) and finalizeRun (CloudEvent from Pub/Sub).
// Configuration is read on the first invocation, not at import, so a bad
// environment is reported as a clear error on every call. The request
// translation lives in handlers/http-function.ts, where the local stack
// registers the same factories with the Functions Framework.
import * as functions from "@google-cloud/functions-framework";
import { loadConfig } from "./config.js";
import type { AppDeps } from "./app/deps.js";
import { exportRunFunction, finalizeRunFunction } from "./handlers/http-function.js";
import { createLogger } from "./log.js";
import { createDeps } from "./wiring.js";

let deps: AppDeps | undefined;
function appDeps(): AppDeps {
  if (!deps) {
    const config = loadConfig(process.env);
    deps = createDeps(config, createLogger(config.logLevel));
  }
  return deps;
}

functions.http("exportRun", exportRunFunction(appDeps));
functions.cloudEvent("finalizeRun", finalizeRunFunction(appDeps));
