// Backfill benchmark on the local stack (npm run bench -- --backfill; see
// README.md): one events backfill over N hourly periods at each concurrency
// asked for, on the same generated data, each into its own destination table.
//
//   npm run bench -- --backfill [--events N] [--hours H] [--concurrency 1,2,4]
//                    [--rows-per-chunk R] [--seed S] [--late-fraction F]
//                    [--string] [--timeout-minutes M] [--no-warmup]
//
// The stack (chdb ClickHouse, GCS, BigQuery on DuckDB, Cloud Tasks,
// finalizeRun) runs in this process. For each concurrency a functions
// instance is started in a child process (backfill-host.ts) and the backfill
// is POSTed to it, so the tasks it enqueues target it and it serves every
// chunk call: its peak RSS is one instance's, taking up to c calls at once.
// Cloud Tasks runs in real time here (time scale 1), so dispatch deadlines
// and retry backoffs are the real ones.
import { spawn, type ChildProcess } from "node:child_process";
import { loadavg } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { DEFAULT_ROWS_PER_CHUNK } from "../../functions/src/core/backfill-plan.js";
import { parseManifest, type RunManifest } from "../../functions/src/core/manifest.js";
import { chunkManifestPrefix, JOB_LABELS } from "../../functions/src/core/names.js";
import { waitForBackfill } from "../helpers/stack-helpers.js";
import { generateSampleData } from "../local/clickhouse/sample-data.js";
import { BACKFILL_QUEUE, startLocalStack, type Destination, type LocalStack } from "../local/stack.js";
import type { HostMessage, HostStats } from "./backfill-host.js";
import { benchNumber, fmt, formatTable, loadAverage, machineLine, MiB } from "./common.js";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "../..");
const HOUR_MS = 3600_000;
const DML_STATEMENTS = new Set(["MERGE", "INSERT", "UPDATE", "DELETE"]);

export interface BackfillArgs {
  events: number;
  hours: number;
  concurrency: number[];
  /** BQX_BACKFILL_ROWS_PER_CHUNK; undefined: the product's default. */
  rowsPerChunk: number | undefined;
  seed: number;
  lateFraction: number;
  useJsonType: boolean;
  timeoutMinutes: number;
  /** A small untimed backfill first (default on). */
  warmup: boolean;
}

export function parseBackfillArgs(argv: string[]): BackfillArgs {
  const { values: v } = parseArgs({
    args: argv,
    strict: true,
    options: {
      events: { type: "string", default: "2_000_000" },
      hours: { type: "string", default: "96" },
      concurrency: { type: "string", default: "1,2,4" },
      "rows-per-chunk": { type: "string" },
      seed: { type: "string", default: "2026" },
      "late-fraction": { type: "string", default: "0.02" },
      string: { type: "boolean", default: false },
      "timeout-minutes": { type: "string", default: "120" },
      "no-warmup": { type: "boolean", default: false },
    },
  });
  const args: BackfillArgs = {
    events: benchNumber(v.events),
    hours: benchNumber(v.hours),
    concurrency: v.concurrency.split(",").map(benchNumber),
    rowsPerChunk: v["rows-per-chunk"] === undefined ? undefined : benchNumber(v["rows-per-chunk"]),
    seed: benchNumber(v.seed),
    lateFraction: Number(v["late-fraction"]),
    useJsonType: !v.string,
    timeoutMinutes: Number(v["timeout-minutes"]),
    warmup: !v["no-warmup"],
  };
  const positive = (n: number) => Number.isInteger(n) && n > 0;
  if (!positive(args.events)) throw new Error("--events must be a positive integer");
  if (!positive(args.hours)) throw new Error("--hours must be a positive integer");
  if (args.concurrency.length === 0 || !args.concurrency.every(positive))
    throw new Error("--concurrency must be a list of positive integers, e.g. 1,2,4");
  if (args.rowsPerChunk !== undefined && !positive(args.rowsPerChunk))
    throw new Error("--rows-per-chunk must be a positive integer");
  if (!(args.lateFraction >= 0 && args.lateFraction <= 1))
    throw new Error("--late-fraction must be in [0, 1]");
  if (!(args.timeoutMinutes > 0)) throw new Error("--timeout-minutes must be positive");
  return args;
}

/** What a backfill of the range selects: the team's events by `timestamp`, one row per uuid. */
async function countSelected(
  stack: LocalStack,
  range: { start: Date; end: Date },
): Promise<{ rows: number; uuids: number }> {
  const ch = (t: Date) => `toDateTime64('${t.toISOString().replace("T", " ").replace("Z", "")}', 6, 'UTC')`;
  const [counted] = await stack.clickhouse.queryRows<{ n: string | number; d: string | number }>(
    `SELECT count() AS n, uniqExact(uuid) AS d FROM posthog.events
     WHERE team_id = 1 AND timestamp >= ${ch(range.start)} AND timestamp < ${ch(range.end)}`,
  );
  return { rows: Number(counted?.n), uuids: Number(counted?.d) };
}

/** The backfilled range: whole hours ending on 2026-11-01 (earlier if the clock is, so the periods are settled). */
function backfillRange(hours: number): { start: Date; end: Date } {
  const settled = Math.floor((Date.now() - 24 * HOUR_MS) / HOUR_MS) * HOUR_MS;
  const end = Math.min(Date.parse("2026-11-01T00:00:00Z"), settled);
  return { start: new Date(end - hours * HOUR_MS), end: new Date(end) };
}

interface Instance {
  url: string;
  rssReadyMiB: number;
  stats(): Promise<HostStats>;
  /** Rejects if the instance exits before stop(). */
  exited: Promise<never>;
  stop(): Promise<void>;
}

/** Starts one functions instance (backfill-host.ts) in a child process with the functions' environment. */
async function startInstance(env: Record<string, string>): Promise<Instance> {
  const child: ChildProcess = spawn(
    process.execPath,
    ["--import", "tsx", path.join(HERE, "backfill-host.ts")],
    {
      cwd: ROOT,
      env: { ...process.env, BQX_BENCH_HOST_ENV: JSON.stringify(env) },
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    },
  );
  let stopping = false;
  const exited = new Promise<never>((_, reject) => {
    child.once("exit", (code, signal) => {
      if (!stopping)
        reject(new Error(`the functions instance exited (${code ?? signal}) during the backfill`));
    });
  });
  exited.catch(() => undefined); // observed by whoever races it
  const ready = await Promise.race([
    new Promise<HostMessage & { type: "ready" }>((resolve) => {
      const onMessage = (m: HostMessage) => {
        if (m.type !== "ready") return;
        child.off("message", onMessage);
        resolve(m);
      };
      child.on("message", onMessage);
    }),
    exited,
  ]);
  return {
    url: ready.url,
    rssReadyMiB: ready.rssMiB,
    exited,
    stats: () =>
      Promise.race([
        new Promise<HostStats>((resolve) => {
          const onMessage = (m: HostMessage) => {
            if (m.type !== "stats") return;
            child.off("message", onMessage);
            resolve(m);
          };
          child.on("message", onMessage);
          child.send({ type: "stats" });
        }),
        exited,
      ]),
    async stop() {
      stopping = true;
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      child.send({ type: "stop" });
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await gone;
      clearTimeout(timer);
    },
  };
}

interface RunResult {
  concurrency: number;
  exportId: string;
  tableId: string;
  backfillId: string;
  chunks: number;
  periods: number;
  periodsPerChunk: number[];
  estimatedRows: number;
  /** Rows the chunks staged (their manifests). */
  stagedRows: number;
  /** Rows in the final table afterwards. */
  finalRows: number;
  seconds: number;
  /** Until the queue held no task: the chunk calls' answers came back. */
  drainedSeconds: number;
  /** Summed over the chunks, from their manifests' history: STAGING → LOADING, LOADING → COMPLETED. */
  stageSeconds: number;
  loadMergeSeconds: number;
  /** Summed over the chunks: from COMPLETED in the manifest until the chunk call answered its task. */
  heldSeconds: number;
  heldMaxSeconds: number;
  loadJobs: number;
  loadJobsFailed: number;
  dmlStatements: number;
  dmlFailed: number;
  otherQueryJobs: number;
  mergeBytesJobs: number;
  mergeBytesManifests: number;
  /** Modifications of the final table recorded by the emulator's quota model (partitions, it is partitioned). */
  finalTableModifications: number;
  taskAttempts: number;
  taskRetries: number;
  peakInFlight: number;
  instance: HostStats;
  stackRssPeakMiB: number;
  loadAverage1m: number;
}

/** The most attempts in flight at once, from their dispatch and response times. */
function peakOverlap(spans: { from: number; to: number }[]): number {
  const edges = spans.flatMap((s) => [
    { t: s.from, d: 1 },
    { t: s.to, d: -1 },
  ]);
  edges.sort((a, b) => a.t - b.t || a.d - b.d);
  let now = 0;
  let peak = 0;
  for (const e of edges) peak = Math.max(peak, (now += e.d));
  return peak;
}

async function chunkManifests(
  stack: LocalStack,
  exportId: string,
  backfillId: string,
): Promise<RunManifest[]> {
  const listed = await stack.deps.store.list(chunkManifestPrefix(exportId, backfillId));
  const out: RunManifest[] = [];
  for (const o of listed) {
    if (!/\/c\d{5}\.json$/.test(o.name)) continue;
    const found = await stack.deps.store.read(o.name);
    if (found) out.push(parseManifest(found.text, o.name));
  }
  return out;
}

async function runOne(
  stack: LocalStack,
  dest: Destination,
  args: BackfillArgs,
  range: { start: Date; end: Date },
  /** Names the export (bench-bf-<name>) and its table (events_<name>). */
  name: string,
  concurrency: number,
  expectedRows: number,
): Promise<RunResult> {
  const exportId = `bench-bf-${name}`;
  const tableId = `events_${name.replace(/-/g, "_")}`;
  const definition = {
    id: exportId,
    model: "events",
    teamId: 1,
    interval: "hour",
    destination: {
      projectId: stack.projectId,
      datasetId: dest.datasetId,
      tableId,
      location: dest.location,
      ...dest.credentials,
    },
    useJsonType: args.useJsonType,
  };
  await stack.registerExport(definition);
  const instance = await startInstance(stack.env);
  try {
    let stackPeak = process.memoryUsage().rss;
    const sampler = setInterval(() => (stackPeak = Math.max(stackPeak, process.memoryUsage().rss)), 50);
    const t0 = performance.now();
    const res = await fetch(instance.url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        exportId,
        backfill: { start: range.start.toISOString(), end: range.end.toISOString() },
        concurrency,
      }),
    });
    const answer = (await res.json()) as { backfill?: any; error?: unknown };
    if (res.status !== 202 || !answer.backfill) {
      throw new Error(`the backfill POST answered ${res.status}: ${JSON.stringify(answer)}`);
    }
    const plan = answer.backfill;
    console.log(
      `  ${exportId} (c=${concurrency}): backfill ${plan.id}, ${plan.chunks} chunks (${fmt(Math.min(...plan.periodsPerChunk))}–${fmt(Math.max(...plan.periodsPerChunk))} periods each), estimated ${fmt(plan.estimatedRows)} rows, queue concurrency ${plan.concurrency}`,
    );
    if (plan.chunks < concurrency) {
      console.log(
        `  note: ${plan.chunks} chunk(s) < concurrency ${concurrency}: at most ${plan.chunks} can run at once (--rows-per-chunk splits finer)`,
      );
    }
    const done = await Promise.race([
      waitForBackfill(
        stack,
        exportId,
        plan.id,
        ["COMPLETED", "FAILED", "CANCELLED"],
        args.timeoutMinutes * 60_000,
      ),
      instance.exited,
    ]);
    const seconds = (performance.now() - t0) / 1000;
    if (done.state !== "COMPLETED") {
      throw new Error(`backfill ${plan.id} ended ${done.state}: ${JSON.stringify(done.failedChunks)}`);
    }
    // A chunk can be COMPLETED (finalizeRun MERGEd it on the load's audit
    // event) while its call still polls: wait for the calls' answers too.
    let drainTimer: NodeJS.Timeout | undefined;
    await Promise.race([
      stack.tasks.drained(BACKFILL_QUEUE),
      instance.exited,
      new Promise<never>((_, reject) => {
        drainTimer = setTimeout(
          () => reject(new Error("the queue did not drain within 10 minutes")),
          600_000,
        );
      }),
    ]).finally(() => clearTimeout(drainTimer));
    const drainedSeconds = (performance.now() - t0) / 1000;
    clearInterval(sampler);
    const stats = await instance.stats();

    // What landed: every distinct uuid ClickHouse has in the range, once.
    const [[landed]] = await stack.adminBigQuery().query({
      query: `SELECT COUNT(*) AS n, COUNT(DISTINCT uuid) AS d FROM \`${stack.projectId}.${dest.datasetId}.${tableId}\``,
      useLegacySql: false,
    });
    const finalRows = Number(landed.n);
    const finalDistinct = Number(landed.d);
    if (finalRows !== expectedRows || finalDistinct !== finalRows) {
      throw new Error(
        `not exactly once: ${tableId} holds ${finalRows} rows (${finalDistinct} distinct uuids), ClickHouse has ${expectedRows} distinct uuids in the range`,
      );
    }

    // The run's BigQuery jobs: every job the product starts carries its export label.
    const [jobs] = await stack.adminBigQuery().getJobs({ allUsers: true });
    let loadJobs = 0;
    let loadJobsFailed = 0;
    let dmlStatements = 0;
    let dmlFailed = 0;
    let otherQueryJobs = 0;
    let mergeBytesJobs = 0;
    for (const job of jobs) {
      const meta = job.metadata;
      if (meta?.configuration?.labels?.[JOB_LABELS.export] !== exportId) continue;
      const failed = meta.status?.errorResult !== undefined;
      if (meta.configuration.load) {
        loadJobs++;
        if (failed) loadJobsFailed++;
        continue;
      }
      const statement = meta.statistics?.query?.statementType as string | undefined;
      if (statement && DML_STATEMENTS.has(statement)) {
        dmlStatements++;
        if (failed) dmlFailed++;
        if (statement === "MERGE") mergeBytesJobs += Number(meta.statistics?.query?.totalBytesProcessed ?? 0);
      } else if (!statement && failed && /\bMERGE\b/i.test(String(meta.configuration.query?.query ?? ""))) {
        // A MERGE that failed before it had statistics (e.g. a concurrent update).
        dmlStatements++;
        dmlFailed++;
      } else otherQueryJobs++;
    }
    const manifests = await chunkManifests(stack, exportId, plan.id);
    const stagedRows = manifests.reduce((n, m) => n + m.rows, 0);
    const mergeBytesManifests = manifests.reduce((n, m) => n + (m.mergeBytesProcessed ?? 0), 0);

    const attempts = stack.tasks.attempts().filter((a) => a.task.includes(`/tasks/${plan.id}-`));
    const at = (m: RunManifest, state: string) => {
      const h = m.history.find((e) => e.state === state);
      return h ? Date.parse(h.at) : undefined;
    };
    let stageSeconds = 0;
    let loadMergeSeconds = 0;
    let heldSeconds = 0;
    let heldMaxSeconds = 0;
    for (const m of manifests) {
      const staging = at(m, "STAGING") ?? Date.parse(m.createdAt);
      const loading = at(m, "LOADING");
      const completed = at(m, "COMPLETED");
      if (loading !== undefined) stageSeconds += (loading - staging) / 1000;
      if (loading !== undefined && completed !== undefined) loadMergeSeconds += (completed - loading) / 1000;
      const chunk = m.backfill?.chunk;
      const answered = attempts.find(
        (a) => a.result === "done" && a.task.includes(`-c${String(chunk).padStart(5, "0")}-r`),
      );
      if (completed !== undefined && answered) {
        const held = Math.max(0, (answered.responseTime.getTime() - completed) / 1000);
        heldSeconds += held;
        heldMaxSeconds = Math.max(heldMaxSeconds, held);
      }
    }
    const final = { projectId: stack.projectId, datasetId: dest.datasetId, tableId };
    const [tableMeta] = await stack.adminBigQuery().dataset(dest.datasetId).table(tableId).getMetadata();
    const partitioned = tableMeta.timePartitioning?.field !== undefined;
    return {
      concurrency,
      exportId,
      tableId,
      backfillId: plan.id,
      chunks: plan.chunks,
      periods: (plan.periodsPerChunk as number[]).reduce((a, b) => a + b, 0),
      periodsPerChunk: plan.periodsPerChunk,
      estimatedRows: plan.estimatedRows,
      stagedRows,
      finalRows,
      seconds,
      drainedSeconds,
      stageSeconds,
      loadMergeSeconds,
      heldSeconds,
      heldMaxSeconds,
      loadJobs,
      loadJobsFailed,
      dmlStatements,
      dmlFailed,
      otherQueryJobs,
      mergeBytesJobs,
      mergeBytesManifests,
      finalTableModifications: stack.bigquery.quota.used(final, partitioned),
      taskAttempts: attempts.length,
      taskRetries: attempts.filter((a) => a.result === "retry").length,
      peakInFlight: peakOverlap(
        attempts.map((a) => ({ from: a.dispatchTime.getTime(), to: a.responseTime.getTime() })),
      ),
      instance: stats,
      stackRssPeakMiB: stackPeak / MiB,
      loadAverage1m: loadavg()[0]!,
    };
  } finally {
    await instance.stop();
  }
}

function printResults(results: RunResult[]): void {
  const main = results.map((r) => [
    String(r.concurrency),
    fmt(r.chunks),
    fmt(r.periods),
    fmt(r.finalRows),
    fmt(r.seconds, 1),
    fmt(r.finalRows / r.seconds),
    fmt(r.loadJobs),
    fmt(r.dmlStatements),
    fmt(r.mergeBytesJobs),
    fmt(r.instance.rssPeakMiB),
    r.loadAverage1m.toFixed(1),
  ]);
  console.log(
    formatTable(
      [
        "concurrency",
        "chunks",
        "periods",
        "rows",
        "seconds",
        "rows/s",
        "load jobs",
        "DML statements",
        "MERGE bytes processed",
        "instance peak RSS (MiB)",
        "load average",
      ],
      main,
    ),
  );
  console.log(
    "\nrows: in the final table (= distinct uuids in the range, checked); seconds: from the backfill POST until its progress said COMPLETED;",
  );
  console.log(
    "load jobs, DML statements: the BigQuery jobs labelled with the run's export (failed ones included); MERGE bytes processed: their statistics' totalBytesProcessed, summed;",
  );
  console.log(
    "peak RSS: the one functions instance (a child process) that served every chunk call of the run, up to `concurrency` calls at once; load average: 1 minute, at the end of the run.\n",
  );
  const work = results.map((r) => [
    String(r.concurrency),
    fmt(r.estimatedRows),
    fmt(r.stagedRows),
    `${fmt(r.taskAttempts)} / ${fmt(r.taskRetries)}`,
    fmt(r.peakInFlight),
    `${fmt(r.loadJobsFailed)} / ${fmt(r.dmlFailed)}`,
    fmt(r.otherQueryJobs),
    fmt(r.mergeBytesManifests),
    fmt(r.finalTableModifications),
  ]);
  console.log(
    formatTable(
      [
        "concurrency",
        "estimated rows",
        "staged rows",
        "task attempts / retried",
        "peak in flight",
        "failed loads / DML",
        "other query jobs",
        "MERGE bytes (manifests)",
        "final table modifications",
      ],
      work,
    ),
  );
  console.log(
    "\nestimated rows: the plan's (count() per day by timestamp, duplicates included); staged rows: the chunks' manifests (one row per uuid per chunk);",
  );
  console.log(
    "peak in flight: the most chunk calls the local Cloud Tasks had out at once; final table modifications: the emulator's quota count for the final table (DML does not count).\n",
  );
  const time = results.map((r) => [
    String(r.concurrency),
    fmt(r.seconds, 1),
    fmt(r.drainedSeconds, 1),
    fmt(r.stageSeconds, 1),
    fmt(r.loadMergeSeconds, 1),
    `${fmt(r.heldSeconds, 1)} (${fmt(r.heldMaxSeconds, 1)})`,
    fmt(r.instance.cpuSeconds, 1),
    fmt(r.instance.rssReadyMiB),
    fmt(r.instance.rssPeakMiB - r.instance.rssReadyMiB),
    fmt(r.instance.heapPeakMiB),
    fmt(r.stackRssPeakMiB),
  ]);
  console.log(
    formatTable(
      [
        "concurrency",
        "COMPLETED s",
        "drained s",
        "Σ staging s",
        "Σ load+MERGE s",
        "Σ held after COMPLETED s (max)",
        "instance CPU s",
        "instance RSS at start",
        "growth",
        "heap peak",
        "stack RSS peak",
      ],
      time,
    ),
  );
  console.log(
    "\ndrained: until the queue held no task (every chunk call answered); Σ staging, Σ load+MERGE: per chunk from its manifest's history (STAGING→LOADING→COMPLETED), summed;",
  );
  console.log(
    "held after COMPLETED: from the manifest's COMPLETED until the chunk call answered its task (the call polls its load while finalizeRun, on the audit event, may finish the chunk);",
  );
  console.log(
    "instance: the child process serving the chunk calls (CPU: user+system, all threads; RSS at start: once listening, Node, tsx and the client libraries); stack RSS peak: this process",
  );
  console.log(
    "(chdb ClickHouse, the GCS, BigQuery/DuckDB and Cloud Tasks emulators, finalizeRun, the progress polling). RSS and heap in MiB.",
  );
}

export async function runBackfillBench(args: BackfillArgs): Promise<void> {
  console.log(machineLine());
  const range = backfillRange(args.hours);
  console.log(
    `backfill: ${fmt(args.events)} events over ${args.hours} hourly periods [${range.start.toISOString()}, ${range.end.toISOString()}), concurrency ${args.concurrency.join(", ")}, rows per chunk ${fmt(args.rowsPerChunk ?? DEFAULT_ROWS_PER_CHUNK)}${args.rowsPerChunk === undefined ? " (the product's default)" : ""}, ${args.useJsonType ? "JSON" : "STRING"} variant`,
  );
  const stack = await startLocalStack({
    logLevel: "WARNING",
    logSink: (l) => console.error(l),
    // Real time: Cloud Tasks' dispatch deadline (30 min) and backoffs as deployed.
    tasksTimeScale: 1,
    ...(args.rowsPerChunk !== undefined ? { backfillRowsPerChunk: args.rowsPerChunk } : {}),
  });
  try {
    const t0 = performance.now();
    const summary = await generateSampleData(stack.clickhouse, {
      events: args.events,
      teams: 1,
      firstTeamId: 1,
      seed: args.seed,
      start: range.start,
      end: range.end,
      lateFraction: args.lateFraction,
    });
    console.log(
      `generated ${fmt(summary.eventRows)} event rows (${fmt(summary.events)} uuids, ${fmt(summary.duplicateRows)} re-ingested duplicates, late fraction ${args.lateFraction}) in ${fmt((performance.now() - t0) / 1000, 1)} s`,
    );
    // What a backfill selects: events of the team by `timestamp` in the range, one row per uuid.
    const selected = await countSelected(stack, range);
    console.log(
      `ClickHouse: ${fmt(selected.rows)} rows, ${fmt(selected.uuids)} distinct uuids with timestamp in the range (what each backfill must land, once)`,
    );
    if (selected.uuids !== summary.events) {
      throw new Error(`the range holds ${selected.uuids} distinct uuids, ${summary.events} were generated`);
    }
    const dest = await stack.createDestination({ datasetId: "bench_backfill" });
    if (args.warmup) {
      // Untimed: the stack's first load, MERGE and queries (DuckDB, chdb, this
      // process's JIT) would otherwise land on the first concurrency measured.
      const hours = Math.min(4, args.hours);
      const warm = { start: range.start, end: new Date(range.start.getTime() + hours * HOUR_MS) };
      const w = await runOne(stack, dest, args, warm, "warmup", 1, (await countSelected(stack, warm)).uuids);
      console.log(
        `  warm-up (not measured): the first ${hours} hours, ${fmt(w.finalRows)} rows in ${fmt(w.seconds, 1)} s, ${w.chunks} chunk(s)`,
      );
    }
    const results: RunResult[] = [];
    for (const [i, c] of args.concurrency.entries()) {
      const r = await runOne(stack, dest, args, range, `${i + 1}-c${c}`, c, selected.uuids);
      results.push(r);
      console.log(
        `  c=${c}: ${fmt(r.finalRows)} rows in ${fmt(r.seconds, 1)} s (${fmt(r.finalRows / r.seconds)} rows/s), ${r.loadJobs} load jobs, ${r.dmlStatements} DML, instance peak RSS ${fmt(r.instance.rssPeakMiB)} MiB; load average ${loadAverage()}`,
      );
    }
    console.log(`\nload average now ${loadAverage()}; MiB = 2^20 bytes\n`);
    printResults(results);
    const queue = stack.tasks.stats(BACKFILL_QUEUE);
    if (queue.dropped > 0) console.log(`\nwarning: the queue dropped ${queue.dropped} task(s)`);
  } finally {
    await stack.stop();
  }
}
