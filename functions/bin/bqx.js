#!/usr/bin/env node
// bqx, the operator's command line (functions/src/cli). Runs the compiled
// copy that `npm run build` writes to functions/dist; says so when it is not
// there rather than failing on a missing module.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const entry = new URL("../dist/cli/bqx.js", import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  process.stderr.write(
    "bqx: error: the command line is not built (fix: run npm run build in the repository)\n",
  );
  process.exit(2);
}
await import(entry.href);
