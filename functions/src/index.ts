// Entry points: exportRun (HTTP) and finalizeRun (CloudEvent from Pub/Sub).
// Configuration is read on the first invocation, not at import, so a bad
// environment is reported as a clear error on every call.
import * as functions from "@google-cloud/functions-framework";
import type { CloudEvent } from "@google-cloud/functions-framework";
import { loadConfig } from "./config.js";
import { toExportError } from "./core/errors.js";
import type { AppDeps } from "./app/deps.js";
import { handleExportRun } from "./handlers/export-run.js";
import { handleFinalizeEvent } from "./handlers/finalize-run.js";
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

functions.http("exportRun", async (req, res) => {
  let d: AppDeps;
  try {
    d = appDeps();
  } catch (err) {
    const e = toExportError(err);
    createLogger().error("exportRun is misconfigured", { error: e.toJSON() });
    res.status(500).json({ error: e.toJSON() });
    return;
  }
  const result = await handleExportRun(
    { method: req.method, headers: req.headers, query: req.query, body: req.body, path: req.path },
    d,
  );
  res.status(result.status).json(result.body);
});

functions.cloudEvent("finalizeRun", async (event: CloudEvent<unknown>) => {
  await handleFinalizeEvent(event.data, appDeps());
});
