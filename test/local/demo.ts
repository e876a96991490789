// `npm start`: the product end to end on the local stack, in about a minute.
//
// 1. starts the local Google Cloud (GCS, BigQuery, IAM, Secret Manager, Cloud
//    Scheduler), ClickHouse and the two functions on loopback;
// 2. fills ClickHouse with deterministic PostHog sample data of the last hours;
// 3. creates the seed's BatchExports dataset with a destination service account
//    holding exactly the seed's custom role (+ BigQuery Job User), its key in
//    Secret Manager;
// 4. stores two export definitions (events hourly with JSON columns, persons
//    hourly) as Terraform would, and registers a Cloud Scheduler job for each
//    through the official client, POSTing {"exportId": …} to exportRun;
// 5. fires them for a few consecutive past hours and waits for each run to settle
//    (finalizeRun is reached by the BigQuery audit log, as in production);
// 6. reruns the first events hour by hand over HTTP with force: true and shows
//    that no event was loaded twice, then the export's run history (GET);
// 7. prints every run and the seed's example query over BatchExports.
//
// runDemo() is what the e2e test calls; running this file runs it on stdout
// (BQX_DEMO_EVENTS=N changes the number of sample events, default 50,000).
import path from "node:path";
import { fileURLToPath } from "node:url";
import { CloudSchedulerClient } from "@google-cloud/scheduler";
import type { ExportDefinitionInput } from "../../functions/src/core/definition.js";
import { exampleQuerySql } from "../fixtures/seed-example-query.js";
import { quoteTable, type TableRef } from "../../functions/src/core/identifiers.js";
import type { RunManifest, RunSummary } from "../../functions/src/core/manifest.js";
import { floorToInterval, periodBefore, type Period } from "../../functions/src/core/periods.js";
import { waitForRun } from "../helpers/stack-helpers.js";
import { generateSampleData } from "./clickhouse/sample-data.js";
import {
  startLocalStack,
  LOCAL_PROJECT,
  SCHEDULER_JOB_PREFIX,
  type Destination,
  type LocalStack,
} from "./stack.js";

const HOUR_MS = 3_600_000;
const DATASET = "BatchExports";
const SCHEDULER_PARENT = SCHEDULER_JOB_PREFIX.replace(/\/jobs\/.*$/, "");

export interface DemoOptions {
  /** Where the demo's lines go (stdout when run directly). */
  out: (line: string) => void;
  /** Distinct sample events to generate (default 50,000). */
  events?: number;
  /** Scheduled hours to run (default 3). */
  periods?: number;
  /** Stop the stack and exit on SIGINT/SIGTERM (the command line; not for tests). */
  handleSignals?: boolean;
}

export interface DemoRun {
  exportId: string;
  trigger: "scheduler" | "manual rerun";
  /** ISO instants without milliseconds, as printed. */
  period: { start: string; end: string };
  /** exportRun's HTTP status for the call that started the run. */
  httpStatus: number | undefined;
  state: RunManifest["state"];
  attempt: number;
  rows: number;
  /** Uncompressed NDJSON bytes staged. */
  bytes: number;
  /** Gzip bytes in GCS. */
  stagedBytes: number;
  files: number;
  jobId: string | undefined;
  error: string | undefined;
}

export interface DemoSummary {
  teamId: number;
  runs: DemoRun[];
  rerun: DemoRun;
  events: {
    /** COUNT(*) of the events table after the scheduled runs, before the forced rerun. */
    rowsBeforeRerun: number;
    /** COUNT(*) and COUNT(DISTINCT uuid) after the rerun. */
    rows: number;
    distinctUuids: number;
    /** Distinct events of the team that ClickHouse ingested in the demo hours. */
    sourceDistinctUuids: number;
    /**
     * Copies of those events ingested again in a later hour: each is exported by
     * the run of its own hour (ingestion-time periods, deduplicate off).
     */
    sourceCrossPeriodCopies: number;
  };
  personsRows: number;
  history: RunSummary[];
  exampleQuery: string;
  exampleRows: Record<string, unknown>[];
  elapsedMs: number;
}

function iso(t: Date): string {
  return t.toISOString().replace(/\.000Z$/, "Z");
}

function periodText(p: { start: string; end: string }): string {
  return `${p.start}/${p.end}`;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/** A fixed-width text table; numbers right-aligned. */
export function formatTable(headers: string[], rows: (string | number)[][]): string[] {
  const cells = rows.map((r) => r.map((c) => (typeof c === "number" ? c.toLocaleString("en-US") : c)));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? "").length)));
  const numeric = headers.map((_, i) => rows.length > 0 && rows.every((r) => typeof r[i] === "number"));
  const line = (r: string[]) =>
    r
      .map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [line(headers), line(widths.map((w) => "-".repeat(w))), ...cells.map(line)];
}

function toRun(m: RunManifest, trigger: DemoRun["trigger"], httpStatus: number | undefined): DemoRun {
  return {
    exportId: m.exportId,
    trigger,
    period: { start: iso(new Date(m.period.start)), end: iso(new Date(m.period.end)) },
    httpStatus,
    state: m.state,
    attempt: m.attempt,
    rows: m.rows,
    bytes: m.bytes,
    stagedBytes: m.stagedBytes,
    files: m.files.length,
    jobId: m.job?.jobId,
    error: m.error ? `${m.error.code}: ${m.error.message}` : undefined,
  };
}

/** A Scheduler job named as Terraform names it (`<prefix>-<export id>`), so auto-pause finds it. */
function schedulerJob(stack: LocalStack, definition: ExportDefinitionInput) {
  return {
    name: `${SCHEDULER_JOB_PREFIX}${definition.id}`,
    description: `BigQuery batch export ${definition.id} (${definition.model}, ${definition.interval})`,
    // As Terraform schedules hourly exports: a minute after the hour, once the period has settled.
    schedule: "1 * * * *",
    timeZone: "Etc/UTC",
    httpTarget: {
      uri: stack.functions.exportRunUrl,
      httpMethod: "POST" as const,
      headers: { "Content-Type": "application/json" },
      body: Buffer.from(JSON.stringify({ exportId: definition.id })),
      oidcToken: {
        serviceAccountEmail: `bqx-scheduler@${LOCAL_PROJECT}.iam.gserviceaccount.com`,
        audience: stack.functions.exportRunUrl,
      },
    },
    retryConfig: {
      retryCount: 3,
      minBackoffDuration: { seconds: 5 },
      maxBackoffDuration: { seconds: 60 },
      maxDoublings: 2,
    },
    attemptDeadline: { seconds: 600 },
  };
}

function definitions(dest: Destination, teamId: number) {
  const destination = (tableId: string) => ({
    projectId: LOCAL_PROJECT,
    datasetId: dest.datasetId,
    tableId,
    location: dest.location,
    keySecret: dest.keySecret,
  });
  const events: ExportDefinitionInput = {
    id: "events-hourly",
    model: "events",
    teamId,
    interval: "hour",
    destination: destination("events"),
    useJsonType: true,
  };
  const persons: ExportDefinitionInput = {
    id: "persons-hourly",
    model: "persons",
    teamId,
    interval: "hour",
    destination: destination("persons"),
  };
  return { events, persons };
}

/** Runs the whole demo; throws (after printing what it could) when a step fails or a check does not hold. */
export async function runDemo(opts: DemoOptions): Promise<DemoSummary> {
  const out = opts.out;
  const eventCount = opts.events ?? 50_000;
  const periodCount = Math.max(1, Math.floor(opts.periods ?? 3));
  const t0 = Date.now();
  const step = (title: string) => out(`\n[${seconds(Date.now() - t0).padStart(7)}] ${title}`);

  out("BigQuery batch exports: local demo");
  step(
    "Starting the local stack (GCS, BigQuery, IAM, Secret Manager, Cloud Scheduler, ClickHouse, functions)",
  );
  // The demo exports the last `periodCount` full hours before the previous
  // one, so every period has settled: the local Scheduler's clock starts that
  // many hours back and fireDue walks it forward.
  const hour = floorToInterval(new Date(), "hour");
  const schedulerStart = new Date(hour.getTime() - periodCount * HOUR_MS);
  const startedAt = Date.now();
  const stack = await startLocalStack({
    logLevel: "WARNING",
    logSink: (line) => out(`  function log: ${line}`),
    schedulerNow: () => new Date(schedulerStart.getTime() + (Date.now() - startedAt)),
  });
  let scheduler: CloudSchedulerClient | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    out(`\n${signal}: stopping the local stack`);
    void stack.stop().finally(() => process.exit(130));
  };
  if (opts.handleSignals) {
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
  }
  try {
    out(`  state directory     ${stack.dir}`);
    out(`  GCS (JSON API)      ${stack.gcs.url}   staging bucket gs://${stack.bucket}`);
    out(`  BigQuery (REST)     ${stack.bigquery.url}`);
    out(`  Secret Manager      ${stack.secretManager.url}`);
    out(`  Cloud Scheduler     ${stack.scheduler.url}`);
    out(`  ClickHouse (HTTP)   ${stack.clickhouse.url}   database ${stack.clickhouse.database}`);
    out(`  exportRun           ${stack.functions.exportRunUrl}`);
    out(`  finalizeRun         ${stack.functions.finalizeRunUrl}   (pushed by the BigQuery audit-log sink)`);

    // Event timestamps start an hour before the first demo period (so it also
    // picks up stragglers) and end at the current hour.
    const dataStart = new Date(schedulerStart.getTime() - 2 * HOUR_MS);
    const dataEnd = hour;
    step(
      `Generating ${eventCount.toLocaleString("en-US")} PostHog sample events in ClickHouse (timestamps ${iso(dataStart)} to ${iso(dataEnd)})`,
    );
    const sample = await generateSampleData(stack.clickhouse, {
      events: eventCount,
      teams: 2,
      seed: 42,
      start: dataStart,
      end: dataEnd,
      lateFraction: 0.05,
      duplicateFraction: 0.01,
      // More persons per event than the default, so persons change in every demo hour.
      eventsPerPerson: 5,
    });
    for (const t of sample.teams) {
      out(
        `  team ${t.teamId}: ${t.eventRows.toLocaleString("en-US")} event rows (${(t.eventRows - t.distinctUuids).toLocaleString("en-US")} re-ingested duplicates, ${t.lateEvents.toLocaleString("en-US")} late), ${t.persons.toLocaleString("en-US")} persons, ${t.distinctIds.toLocaleString("en-US")} distinct_ids`,
      );
    }
    const busiest = [...sample.teams].sort((a, b) => b.eventRows - a.eventRows)[0];
    if (!busiest) throw new Error("the sample data has no team");
    const teamId = busiest.teamId;

    step(
      `Creating dataset ${DATASET} and its destination service account (the seed's custom role + BigQuery Job User)`,
    );
    const dest = await stack.createDestination({ datasetId: DATASET });
    out(`  service account     ${dest.serviceAccount}`);
    out(`  key secret          ${dest.keySecret}`);
    const defs = definitions(dest, teamId);

    step("Storing the two export definitions (exports/<id>.json, as terraform apply does)");
    for (const def of [defs.events, defs.persons]) {
      const stored = await stack.registerExport(def);
      out(
        `  gs://${stack.bucket}/exports/${def.id}.json  ${stored.definition.model}, team ${def.teamId}, ${DATASET}.${def.destination.tableId}  definition ${stored.hash}`,
      );
    }

    step("Registering two Cloud Scheduler jobs with @google-cloud/scheduler");
    scheduler = new CloudSchedulerClient(stack.scheduler.clientOptions());
    const firstFires: Date[] = [];
    for (const def of [defs.events, defs.persons]) {
      const [job] = await scheduler.createJob({
        parent: SCHEDULER_PARENT,
        job: schedulerJob(stack, def),
      });
      const next = new Date(Number(job.scheduleTime?.seconds ?? 0) * 1000);
      firstFires.push(next);
      out(
        `  ${job.name}  "${job.schedule}" ${job.timeZone}  → POST exportRun {"exportId": "${def.id}"}  next ${iso(next)}`,
      );
    }
    const firstFire = new Date(Math.min(...firstFires.map((d) => d.getTime())));
    out(
      `  (the local scheduler's clock starts ${periodCount} hours back, so the demo fires ${periodCount} settled schedule times at once; the sample events span those hours)`,
    );

    const runs: DemoRun[] = [];
    const ids = { [defs.events.id]: defs.events, [defs.persons.id]: defs.persons };
    for (let i = 0; i < periodCount; i++) {
      const at = new Date(firstFire.getTime() + i * HOUR_MS);
      step(`Cloud Scheduler fires at ${iso(at)} (local scheduler's fireDue)`);
      const fired = await stack.scheduler.fireDue(at);
      if (fired.length === 0) throw new Error(`no scheduler job was due at ${iso(at)}`);
      for (const f of fired) {
        const exportId = f.job.slice(SCHEDULER_JOB_PREFIX.length);
        const def = ids[exportId];
        if (!def) throw new Error(`unexpected scheduler job ${f.job}`);
        const last = f.attempts.at(-1);
        const period = periodBefore(f.scheduleTime, "hour");
        const m = await waitForRun(stack, exportId, period, 60_000);
        const run = toRun(m, "scheduler", last?.httpStatus);
        runs.push(run);
        out(
          `  ${exportId.padEnd(15)} ${periodText(run.period)}  HTTP ${last?.httpStatus ?? last?.error ?? "?"} → ${run.state}, ${run.rows.toLocaleString("en-US")} rows${run.jobId ? `, job ${run.jobId}` : ""}`,
        );
      }
    }

    const bq = stack.adminBigQuery();
    const eventsRef: TableRef = { projectId: LOCAL_PROJECT, datasetId: DATASET, tableId: "events" };
    const personsRef: TableRef = { projectId: LOCAL_PROJECT, datasetId: DATASET, tableId: "persons" };
    const bqRows = async <T>(sql: string): Promise<T[]> => {
      const [rows] = await bq.query({ query: sql, useLegacySql: false });
      return rows as T[];
    };
    const countEvents = async () => {
      const [row] = await bqRows<{ n: number; d: number }>(
        `SELECT COUNT(*) AS n, COUNT(DISTINCT uuid) AS d FROM ${quoteTable(eventsRef)}`,
      );
      return { rows: Number(row?.n ?? 0), distinctUuids: Number(row?.d ?? 0) };
    };
    const before = await countEvents();

    const firstPeriod: Period = periodBefore(firstFire, "hour");
    const rerunInterval = { start: iso(firstPeriod.start), end: iso(firstPeriod.end) };
    step(`Manual rerun of ${defs.events.id} ${periodText(rerunInterval)} over HTTP with force: true`);
    out(
      `  curl -X POST ${stack.functions.exportRunUrl} -H 'Content-Type: application/json' -d '{"exportId": "${defs.events.id}", "dataInterval": ${JSON.stringify(rerunInterval)}, "force": true}'`,
    );
    const res = await fetch(stack.functions.exportRunUrl, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ exportId: defs.events.id, dataInterval: rerunInterval, force: true }),
    });
    const resBody = (await res.json()) as { runs?: { status?: string; state?: string; attempt?: number }[] };
    const answered = resBody.runs?.[0];
    out(
      `  HTTP ${res.status}: ${answered ? `${answered.status} (state ${answered.state}, attempt ${answered.attempt})` : JSON.stringify(resBody)}`,
    );
    const rerunManifest = await waitForRun(stack, defs.events.id, firstPeriod, 60_000);
    const rerun = toRun(rerunManifest, "manual rerun", res.status);
    runs.push(rerun);
    out(
      `  → ${rerun.state}, attempt ${rerun.attempt}, ${rerun.rows.toLocaleString("en-US")} rows staged and MERGEd on uuid`,
    );

    step(`Run history: GET ${stack.functions.exportRunUrl}?export=${defs.events.id}`);
    const historyRes = await fetch(
      `${stack.functions.exportRunUrl}?export=${encodeURIComponent(defs.events.id)}`,
    );
    const historyBody = (await historyRes.json()) as { runs?: RunSummary[] };
    const history = historyBody.runs ?? [];
    out(`  HTTP ${historyRes.status}, ${history.length} runs (newest first)`);
    for (const line of formatTable(
      ["manifest", "state", "attempt", "rows", "updated"],
      history.map((h) => [
        `gs://${stack.bucket}/${h.object}`,
        h.state,
        h.attempt ?? "",
        h.rows ?? "",
        h.updatedAt ?? "",
      ]),
    ))
      out(`  ${line}`);

    step("Runs");
    for (const line of formatTable(
      ["export", "period", "trigger", "state", "attempt", "rows", "bytes (staged gz)", "job id"],
      runs.map((r) => [
        r.exportId,
        periodText(r.period),
        r.trigger,
        r.state,
        r.attempt,
        r.rows,
        r.stagedBytes,
        r.jobId ?? "(no job: empty period)",
      ]),
    ))
      out(`  ${line}`);
    for (const r of runs.filter((x) => x.error)) out(`  ${r.exportId} ${periodText(r.period)}: ${r.error}`);

    step(`What landed in BigQuery (${LOCAL_PROJECT}:${DATASET})`);
    const after = await countEvents();
    const [personCounts] = await bqRows<{ n: number }>(`SELECT COUNT(*) AS n FROM ${quoteTable(personsRef)}`);
    // The source side: distinct events of the team ingested in the demo hours
    // (timestamps within the 7-day lookback), and the extra copies PostHog
    // ingested in a later hour than the first: with ingestion-time periods each
    // such copy is exported by the run of its own hour (only `deduplicate: true`
    // MERGEs them away), so they are the only duplicates the table may hold.
    const lastEnd = periodBefore(new Date(firstFire.getTime() + (periodCount - 1) * HOUR_MS), "hour").end;
    const ch = (t: Date) => `toDateTime64('${t.toISOString().replace("T", " ").replace("Z", "")}', 6, 'UTC')`;
    const ingested = "coalesce(inserted_at, toDateTime64(_timestamp, 6, 'UTC'))";
    const [source] = await stack.clickhouse.queryRows<{ n: string | number; extra: string | number }>(
      `SELECT count() AS n, sum(hours) - count() AS extra FROM (
         SELECT uuid, uniqExact(toStartOfHour(${ingested})) AS hours FROM posthog.events
         WHERE team_id = ${teamId}
           AND ${ingested} >= ${ch(firstPeriod.start)} AND ${ingested} < ${ch(lastEnd)}
           AND timestamp >= ${ch(new Date(firstPeriod.start.getTime() - 7 * 24 * HOUR_MS))}
         GROUP BY uuid)`,
    );
    const events = {
      rowsBeforeRerun: before.rows,
      rows: after.rows,
      distinctUuids: after.distinctUuids,
      sourceDistinctUuids: Number(source?.n ?? 0),
      sourceCrossPeriodCopies: Number(source?.extra ?? 0),
    };
    const personsRows = Number(personCounts?.n ?? 0);
    const n = (x: number) => x.toLocaleString("en-US");
    out(
      `  ${DATASET}.events: COUNT(*) = ${n(events.rows)}, COUNT(DISTINCT uuid) = ${n(events.distinctUuids)}; before the forced rerun COUNT(*) was ${n(events.rowsBeforeRerun)}`,
    );
    out(
      `  ClickHouse, team ${teamId}, ingested ${iso(firstPeriod.start)} to ${iso(lastEnd)}: ${n(events.sourceDistinctUuids)} distinct events, ${n(events.sourceCrossPeriodCopies)} of them ingested again in a later hour`,
    );
    out(
      events.rows === events.rowsBeforeRerun
        ? `  the forced rerun loaded nothing twice: it MERGEd its ${n(rerun.rows)} rows on uuid and added ${n(events.rows - events.rowsBeforeRerun)}`
        : `  DUPLICATES: the forced rerun added ${n(events.rows - events.rowsBeforeRerun)} rows`,
    );
    out(
      events.rows - events.distinctUuids === events.sourceCrossPeriodCopies
        ? events.rows === events.distinctUuids
          ? "  no duplicate uuids in the table"
          : `  the ${n(events.rows - events.distinctUuids)} repeated uuids are exactly the source's re-ingested copies, each exported by the run of the hour it arrived in (an export with "deduplicate": true would MERGE them away)`
        : `  DUPLICATES: ${n(events.rows - events.distinctUuids)} repeated uuids, but the source re-ingested only ${n(events.sourceCrossPeriodCopies)} events in a later hour`,
    );
    out(
      `  ${DATASET}.persons: ${personsRows.toLocaleString("en-US")} rows, one per (team_id, distinct_id) of the persons that changed in these hours`,
    );

    const exampleQuery = exampleQuerySql(eventsRef, personsRef);
    step("The seed's example query: count unique persons that have triggered an event");
    for (const line of exampleQuery.split("\n")) out(`  | ${line}`);
    const exampleRows = await bqRows<Record<string, unknown>>(exampleQuery);
    out("");
    for (const line of formatTable(
      ["event", "unique_persons_count"],
      exampleRows.map((r) => [String(r["event"]), Number(r["unique_persons_count"])]),
    ))
      out(`  ${line}`);

    const elapsedMs = Date.now() - t0;
    const problems: string[] = [];
    for (const r of runs)
      if (r.state !== "COMPLETED") problems.push(`${r.exportId} ${periodText(r.period)} is ${r.state}`);
    if (rerun.attempt < 2) problems.push(`the rerun did not start a new attempt (attempt ${rerun.attempt})`);
    if (events.rows !== events.rowsBeforeRerun)
      problems.push(
        `the forced rerun added ${events.rows - events.rowsBeforeRerun} rows to the events table`,
      );
    if (events.rows - events.distinctUuids !== events.sourceCrossPeriodCopies)
      problems.push(
        `the events table repeats ${events.rows - events.distinctUuids} uuids; the source re-ingested ${events.sourceCrossPeriodCopies} in a later hour`,
      );
    if (events.distinctUuids !== events.sourceDistinctUuids)
      problems.push(
        `the events table holds ${events.distinctUuids} events, ClickHouse ingested ${events.sourceDistinctUuids}`,
      );
    if (exampleRows.length === 0) problems.push("the example query returned no rows");

    step(problems.length === 0 ? "Done: every check holds" : "Done, with problems");
    for (const p of problems) out(`  PROBLEM: ${p}`);
    out(`  elapsed ${seconds(elapsedMs)}`);
    out(
      "  Next: `npm test` runs every test (`npx vitest run test/e2e/demo.test.ts` runs this demo as a test); `npm run stack` keeps a local stack up for curl.",
    );
    if (problems.length > 0) throw new Error(`demo checks failed: ${problems.join("; ")}`);
    return {
      teamId,
      runs,
      rerun,
      events,
      personsRows,
      history,
      exampleQuery,
      exampleRows,
      elapsedMs,
    };
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    await scheduler?.close().catch(() => undefined);
    await stack.stop();
  }
}

async function main(): Promise<void> {
  const out = (line: string) => process.stdout.write(line + "\n");
  const events = process.env["BQX_DEMO_EVENTS"] ? Number(process.env["BQX_DEMO_EVENTS"]) : undefined;
  try {
    await runDemo({ out, handleSignals: true, ...(events !== undefined && events > 0 ? { events } : {}) });
    out("  local stack stopped");
    process.exit(0);
  } catch (err) {
    process.stderr.write(
      `\nDemo failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exit(1);
  }
}

const invokedPath = process.argv[1] ? path.resolve(process.argv[1]) : "";
if (invokedPath === fileURLToPath(import.meta.url)) void main();
