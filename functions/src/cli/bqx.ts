// The bqx executable's entry (functions/bin/bqx.js runs the compiled copy).
import { runCli } from "./main.js";
import { processIo } from "./io.js";

// google-auth-library probes the GCE metadata server when no other credentials
// are found and reports the miss as a process warning; the error line bqx
// prints already says what to do.
process.removeAllListeners("warning");
process.on("warning", (w) => {
  if (w.name !== "MetadataLookupWarning") process.stderr.write(`${w.name}: ${w.message}\n`);
});

process.exitCode = await runCli(process.argv.slice(2), processIo());
