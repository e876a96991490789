// `npm run stack`: the local stack, kept up until Ctrl-C, for trying exportRun
// by hand (curl) or pointing other tools at the local Google Cloud.
//
// It starts every server on free loopback ports in a temp directory (removed on
// exit), loads a small PostHog sample data set into ClickHouse (the last 24 hours
// up to now), creates the seed's BatchExports dataset with a destination
// service account (its key in Secret Manager), stores two exports
// (events-hourly, persons-hourly), and prints the endpoints, the
// functions' environment as `export` lines, the variables and the bq alias that
// point Google's tools (client libraries, gcloud, bq) at it, the lines for bqx
// (the command line; the exports get their Cloud Scheduler jobs), and
// ready-to-paste curl commands.
//
// Options: --events N (default 10,000 distinct events).
import { floorToInterval } from "../../functions/src/core/periods.js";
import type { ExportDefinitionInput } from "../../functions/src/core/definition.js";
import { generateSampleData } from "./clickhouse/sample-data.js";
import { setUpGoogleTools } from "./google-tools.js";
import { startLocalStack, LOCAL_PROJECT } from "./stack.js";
import { prepareBqx } from "./bqx-env.js";

const HOUR_MS = 3_600_000;
/** The tools' token file is rewritten this often (local tokens last an hour). */
const TOKEN_REFRESH_MS = 30 * 60_000;
const DATASET = "BatchExports";

function iso(t: Date): string {
  return t.toISOString().replace(/\.000Z$/, "Z");
}

/** A value for a POSIX shell: single-quoted unless plainly safe. */
function shellQuote(value: string): string {
  return /^[A-Za-z0-9_./:@%+=,-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

function eventsOption(argv: string[]): number {
  const i = argv.indexOf("--events");
  if (i < 0) return 10_000;
  const n = Number(argv[i + 1]);
  if (!Number.isInteger(n) || n < 0)
    throw new Error(`--events needs a non-negative integer, got ${argv[i + 1]}`);
  return n;
}

async function main(): Promise<void> {
  const out = (line: string) => process.stdout.write(line + "\n");
  const events = eventsOption(process.argv.slice(2));
  const t0 = Date.now();
  out("Starting the local stack ...");
  const stack = await startLocalStack({ logLevel: "INFO" });

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    out(`\n${signal}: stopping the local stack ...`);
    stack
      .stop()
      .then(() => {
        out("stopped; state directory removed.");
        process.exit(0);
      })
      .catch((err: unknown) => {
        process.stderr.write(`stopping failed: ${String(err)}\n`);
        process.exit(1);
      });
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));

  try {
    const hour = floorToInterval(new Date(), "hour");
    const start = new Date(hour.getTime() - 24 * HOUR_MS);
    // Up to now: no event stamped in the future.
    const end = new Date(Math.floor(Date.now() / 1000) * 1000);
    const sample = await generateSampleData(stack.clickhouse, {
      events,
      teams: 2,
      seed: 42,
      start,
      end,
      eventsPerPerson: 5,
    });
    const dest = await stack.createDestination({ datasetId: DATASET });
    const tools = await setUpGoogleTools(stack);
    setInterval(() => void tools.refreshToken(), TOKEN_REFRESH_MS).unref();
    const team = [...sample.teams].sort((a, b) => b.eventRows - a.eventRows)[0]?.teamId ?? 1;

    const definition: ExportDefinitionInput = {
      id: "events-hourly",
      model: "events",
      teamId: team,
      interval: "hour",
      destination: {
        projectId: LOCAL_PROJECT,
        datasetId: DATASET,
        tableId: "events",
        location: dest.location,
        keySecret: dest.keySecret,
      },
      useJsonType: true,
    };
    // Stored as Terraform stores them in production; exportRun is then called by id.
    await stack.registerExport(definition);
    await stack.registerExport({
      ...definition,
      id: "persons-hourly",
      model: "persons",
      destination: { ...definition.destination, tableId: "persons" },
      useJsonType: false,
    });
    const lastHour = { start: iso(new Date(hour.getTime() - HOUR_MS)), end: iso(hour) };
    const bqxLines = await prepareBqx(
      stack,
      [
        { id: "events-hourly", interval: "hour" },
        { id: "persons-hourly", interval: "hour" },
      ],
      { exportId: "events-hourly", period: lastHour },
    );
    const body = JSON.stringify({ exportId: "events-hourly", dataInterval: lastHour, force: true });
    const personsBody = JSON.stringify({ exportId: "persons-hourly", dataInterval: lastHour });

    out(`Local stack up in ${((Date.now() - t0) / 1000).toFixed(1)} s (state in ${stack.dir})`);
    out("");
    out("Endpoints");
    out(`  GCS (JSON API)      ${stack.gcs.url}   staging bucket gs://${stack.bucket}`);
    out(
      `  BigQuery (REST)     ${stack.bigquery.url}   project ${LOCAL_PROJECT}, dataset ${DATASET} (${dest.location})`,
    );
    out(`  Secret Manager      ${stack.secretManager.url}`);
    out(`  Cloud Scheduler     ${stack.scheduler.url}   (jobs fire only through the test API: fireDue)`);
    out(`  ClickHouse (HTTP)   ${stack.clickhouse.url}   database ${stack.clickhouse.database}`);
    out(`  exportRun           ${stack.functions.exportRunUrl}`);
    out(`  finalizeRun         ${stack.functions.finalizeRunUrl}   (pushed by the BigQuery audit-log sink)`);
    if (stack.auditTransport.leg) out(`  Pub/Sub emulator    ${stack.auditTransport.leg.emulator.url}`);
    out(`  Audit delivery: ${stack.auditTransport.description}.`);
    out("");
    out("Sample data (ClickHouse, database posthog)");
    for (const t of sample.teams) {
      out(
        `  team ${t.teamId}: ${t.eventRows.toLocaleString("en-US")} event rows (timestamps ${iso(start)} to ${iso(end)}), ${t.persons.toLocaleString("en-US")} persons`,
      );
    }
    out("");
    out("Destination");
    out(
      `  service account     ${dest.serviceAccount}  (the seed's custom role on ${DATASET}, BigQuery Job User)`,
    );
    out(`  key secret          ${dest.keySecret}`);
    out("");
    out("The functions' environment (local values; paste into a shell to run tools against this stack):");
    for (const [k, v] of Object.entries(stack.env)) out(`export ${k}=${shellQuote(v)}`);
    out("");
    out(`Google's tools against this stack (client libraries, gcloud, bq), as ${tools.principal}`);
    out("(BigQuery Admin on the project; the token file is refreshed while the stack runs):");
    for (const [k, v] of Object.entries(tools.env)) out(`export ${k}=${shellQuote(v)}`);
    if (tools.sdk) {
      out(`alias bq=${shellQuote(["bq", ...tools.bqFlags].map(shellQuote).join(" "))}`);
      out(`  bq ls ${DATASET}`);
      out(
        `  bq query --use_legacy_sql=false 'SELECT event, COUNT(*) AS n FROM ${DATASET}.events GROUP BY event'`,
      );
      out(`  bq ls -j -a`);
      out(`  gcloud storage ls gs://${stack.bucket}/runs/events-hourly/`);
    } else {
      out("(the Google Cloud SDK is not installed here: no gcloud or bq lines)");
    }
    out("");
    for (const line of bqxLines) out(line);
    out("");
    out(
      `Export the last full hour (${lastHour.start} to ${lastHour.end}) of team ${team}'s events, as a manual rerun:`,
    );
    out(`curl -sS -X POST ${stack.functions.exportRunUrl} -H 'Content-Type: application/json' -d '${body}'`);
    out("");
    out("The same hour for the persons model:");
    out(
      `curl -sS -X POST ${stack.functions.exportRunUrl} -H 'Content-Type: application/json' -d '${personsBody}'`,
    );
    out("");
    out("Run history, and the stored exports:");
    out(`curl -sS '${stack.functions.exportRunUrl}?export=events-hourly'`);
    out(`curl -sS '${stack.functions.exportRunUrl}'`);
    out("");
    out("Press Ctrl-C to stop (the state directory is removed).");
  } catch (err) {
    process.stderr.write(
      `\nStarting the stack failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    await stack.stop();
    process.exit(1);
  }
}

void main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
