// Export benchmark on the local stack (npm run bench; not part of npm test):
// rows/s, MB/s and peak RSS of the events export of one hourly period, against
// the raw-copy floor (the same query's bytes piped unchanged, gzip'd, to the
// same GCS emulator).
//
//   npm run bench -- [--events N] [--repeat R] [--modes floor,stage,export]
//                    [--breakdown] [--cpu-prof DIR] [--string] [--gzip-level L]
//                    [--product-gzip-level L]
//   npm run bench -- --backfill [...]   (a backfill at several concurrencies: backfill.ts)
//
// --breakdown runs the steps that leave parts out (see worker.ts) to show where
// the time goes; --gzip-level sets the zlib level of floor and gzip-only;
// --product-gzip-level tries another level in stageRows (its own is 6) by
// wrapping node:zlib's createGzip in the worker, the product unchanged;
// --cpu-prof writes a V8 CPU profile per worker (see profile-summary.ts).
//
// The stack (chdb ClickHouse, GCS, BigQuery on DuckDB, finalizeRun) runs in
// this process; each measured step runs in a child process (worker.ts) built
// from the same environment the functions get, so the child's RSS is the
// product's own. The parent's RSS (the emulators) is reported beside it.
// Both processes share the machine's cores: read the numbers with the load
// average printed at the top.
import { spawn } from "node:child_process";
import { loadavg } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { createClient } from "@clickhouse/client";
import { eventsQuery, DEFAULT_LOOKBACK_DAYS } from "../../functions/src/core/source-sql.js";
import { generateSampleData } from "../local/clickhouse/sample-data.js";
import { startLocalStack, type LocalStack } from "../local/stack.js";
import { parseBackfillArgs, runBackfillBench } from "./backfill.js";
import { benchNumber, fmt, machineLine, MiB } from "./common.js";
import { MODES, type BenchJob, type BenchResult, type Mode } from "./worker.js";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "../..");
const HOUR_MS = 3600_000;

interface Args {
  events: number;
  repeat: number;
  modes: Mode[];
  cpuProf: string | undefined;
  useJsonType: boolean;
  seed: number;
  gzipLevel: number | undefined;
  productGzipLevel: number | undefined;
}

function benchArgs(argv: string[]): Args {
  const { values: v } = parseArgs({
    args: argv,
    strict: true,
    options: {
      events: { type: "string", default: "1_000_000" },
      repeat: { type: "string", default: "2" },
      seed: { type: "string", default: "2026" },
      modes: { type: "string", default: "floor,stage,export" },
      breakdown: { type: "boolean", default: false },
      "cpu-prof": { type: "string" },
      "gzip-level": { type: "string" },
      "product-gzip-level": { type: "string" },
      string: { type: "boolean", default: false },
    },
  });
  const level = (text: string | undefined) => (text === undefined ? undefined : Number(text));
  const args: Args = {
    events: benchNumber(v.events),
    repeat: benchNumber(v.repeat),
    modes: v.breakdown
      ? ["floor", "gzip-only", "rows", "encode", "stage-raw", "stage"]
      : (v.modes.split(",") as Mode[]),
    cpuProf: v["cpu-prof"] === undefined ? undefined : path.resolve(v["cpu-prof"]),
    useJsonType: !v.string,
    seed: benchNumber(v.seed),
    gzipLevel: level(v["gzip-level"]),
    productGzipLevel: level(v["product-gzip-level"]),
  };
  if (!(Number.isInteger(args.events) && args.events > 0))
    throw new Error("--events must be a positive integer");
  if (!(Number.isInteger(args.repeat) && args.repeat > 0))
    throw new Error("--repeat must be a positive integer");
  for (const m of args.modes)
    if (!MODES.includes(m)) throw new Error(`unknown mode ${m} (${MODES.join(", ")})`);
  return args;
}

interface Measured extends BenchResult {
  run: number;
  /** The parent's (stack's) RSS during the step. */
  stackRssBeforeMiB: number;
  stackRssPeakMiB: number;
  stackCpuSeconds: number;
}

/** Runs one step in a child process, sampling this process's RSS meanwhile. */
async function runChild(job: BenchJob, run: number, cpuProf: string | undefined): Promise<Measured> {
  const nodeArgs = ["--import", "tsx"];
  // One directory per step: the loader's worker thread (tsx hooks) writes a profile too.
  if (cpuProf) nodeArgs.push("--cpu-prof", "--cpu-prof-dir", path.join(cpuProf, `${job.mode}-${run}`));
  const stackRssBefore = process.memoryUsage().rss;
  let stackPeak = stackRssBefore;
  const sampler = setInterval(() => {
    stackPeak = Math.max(stackPeak, process.memoryUsage().rss);
  }, 50);
  const cpu0 = process.cpuUsage();
  const child = spawn(process.execPath, [...nodeArgs, path.join(HERE, "worker.ts")], {
    cwd: ROOT,
    env: { ...process.env, BQX_BENCH_JOB: JSON.stringify(job) },
    stdio: ["ignore", "pipe", "inherit"],
  });
  let stdout = "";
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (s: string) => (stdout += s));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once("error", reject);
    child.once("close", resolve);
  });
  clearInterval(sampler);
  const cpu = process.cpuUsage(cpu0);
  const line = stdout.split("\n").find((l) => l.startsWith("BENCH_RESULT "));
  if (code !== 0 || !line) throw new Error(`${job.mode} worker exited with ${code}: ${stdout.slice(-2000)}`);
  const result = JSON.parse(line.slice("BENCH_RESULT ".length)) as BenchResult;
  return {
    ...result,
    run,
    stackRssBeforeMiB: stackRssBefore / MiB,
    stackRssPeakMiB: stackPeak / MiB,
    stackCpuSeconds: (cpu.user + cpu.system) / 1e6,
  };
}

/** Rows the export query selects for the period (its own SQL, counted by ClickHouse). */
async function countSelected(stack: LocalStack, job: BenchJob): Promise<number> {
  const q = eventsQuery({
    teamId: job.teamId,
    period: { start: new Date(job.period.start), end: new Date(job.period.end) },
    exportedAt: new Date(job.exportedAt),
    includeEvents: [],
    excludeEvents: [],
    selection: "ingested",
    lookbackDays: DEFAULT_LOOKBACK_DAYS,
    database: "posthog",
  });
  const client = createClient({
    url: stack.clickhouse.url,
    username: stack.clickhouse.user,
    password: stack.clickhouse.password,
    request_timeout: 30 * 60 * 1000,
    clickhouse_settings: { send_progress_in_http_headers: 1, http_headers_progress_interval_ms: "60000" },
  });
  try {
    const result = await client.query({
      query: `SELECT count() AS n FROM (${q.sql})`,
      query_params: q.params,
      format: "JSONEachRow",
    });
    const [row] = await result.json<{ n: number | string }>();
    return Number(row?.n);
  } finally {
    await client.close();
  }
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function printTable(results: Measured[], sourceBytes: number | undefined): void {
  const header = [
    "step",
    "run",
    "rows",
    "seconds",
    "rows/s",
    "src MB/s",
    "out MB",
    "gz MB",
    "cpu s",
    "RSS before",
    "RSS peak",
    "growth",
    "stack RSS peak (growth)",
    "stack cpu s",
  ];
  const lines: string[][] = [];
  for (const r of results) {
    const label = r.mode === "export" ? "export→202" : r.mode;
    const rowOf = (name: string, seconds: number, peak: number) => [
      name,
      String(r.run),
      fmt(r.rows),
      fmt(seconds, 1),
      fmt(r.rows / seconds),
      sourceBytes !== undefined ? fmt(sourceBytes / 1e6 / seconds, 1) : "",
      r.outBytes !== undefined ? fmt(r.outBytes / 1e6) : "",
      r.gzBytes !== undefined ? fmt(r.gzBytes / 1e6) : "",
      fmt(r.cpuSeconds, 1),
      fmt(r.rssBeforeMiB),
      fmt(peak),
      fmt(peak - r.rssBeforeMiB),
      `${fmt(r.stackRssPeakMiB)} (+${fmt(r.stackRssPeakMiB - r.stackRssBeforeMiB)})`,
      fmt(r.stackCpuSeconds, 1),
    ];
    lines.push(rowOf(label, r.seconds, r.rssPeakHttpMiB ?? r.rssPeakMiB));
    if (r.mode === "export" && r.completedSeconds !== undefined) {
      lines.push(rowOf("export→COMPLETED", r.completedSeconds, r.rssPeakMiB));
    }
  }
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const show = (cells: string[]) =>
    cells.map((c, i) => (i <= 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  console.log(show(header));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const l of lines) console.log(show(l));
}

function printSummary(results: Measured[]): void {
  const by = new Map<string, { seconds: number[]; peaks: number[]; growth: number[] }>();
  const add = (name: string, seconds: number, peak: number, before: number) => {
    const e = by.get(name) ?? { seconds: [], peaks: [], growth: [] };
    e.seconds.push(seconds);
    e.peaks.push(peak);
    e.growth.push(peak - before);
    by.set(name, e);
  };
  for (const r of results) {
    if (r.mode === "export") {
      add("export→202", r.seconds, r.rssPeakHttpMiB ?? r.rssPeakMiB, r.rssBeforeMiB);
      if (r.completedSeconds !== undefined)
        add("export→COMPLETED", r.completedSeconds, r.rssPeakMiB, r.rssBeforeMiB);
    } else add(r.mode, r.seconds, r.rssPeakMiB, r.rssBeforeMiB);
  }
  const floor = by.get("floor");
  const floorSeconds = floor ? median(floor.seconds) : undefined;
  console.log("\nmedians (time ratio to the raw-copy floor: 1.0 = as fast as piping the bytes):");
  for (const [name, e] of by) {
    const s = median(e.seconds);
    console.log(
      `  ${name.padEnd(18)} ${fmt(s, 1).padStart(7)} s   ×${floorSeconds ? fmt(s / floorSeconds, 2) : "?"} floor   peak RSS ${fmt(median(e.peaks))} MiB (max ${fmt(Math.max(...e.peaks))}, growth max ${fmt(Math.max(...e.growth))})`,
    );
  }
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  // --backfill: the backfill benchmark, with its own flags (backfill.ts).
  if (argv.includes("--backfill")) {
    await runBackfillBench(parseBackfillArgs(argv.filter((a) => a !== "--backfill")));
    return;
  }
  const args = benchArgs(argv);
  console.log(machineLine());
  console.log(
    `events: ${fmt(args.events)}, repeat: ${args.repeat}, steps: ${args.modes.join(", ")}, ${args.useJsonType ? "JSON" : "STRING"} variant`,
  );

  const partBytes = 256 * MiB; // the product's default (BQX_PART_BYTES)
  const stack = await startLocalStack({ logLevel: "WARNING", partBytes, logSink: (l) => console.error(l) });
  try {
    // One team, event timestamps in the first 59 minutes of one hour, no late
    // arrivals: every event (and every re-ingested duplicate, +30 s) is
    // ingested within that hour, so the hour's period selects all N.
    const hour = new Date("2026-11-25T10:00:00Z");
    const period = { start: hour, end: new Date(hour.getTime() + HOUR_MS) };
    const t0 = performance.now();
    const summary = await generateSampleData(stack.clickhouse, {
      events: args.events,
      teams: 1,
      firstTeamId: 1,
      seed: args.seed,
      start: period.start,
      end: new Date(period.end.getTime() - 60_000),
      lateFraction: 0,
    });
    console.log(
      `generated ${fmt(summary.eventRows)} event rows (${fmt(summary.events)} uuids, ${fmt(summary.duplicateRows)} re-ingested duplicates) in ${fmt((performance.now() - t0) / 1000, 1)} s`,
    );

    const base: Omit<BenchJob, "mode" | "prefix"> = {
      env: stack.env,
      teamId: 1,
      period: { start: period.start.toISOString(), end: period.end.toISOString() },
      exportedAt: "2026-11-25T11:00:05.000001Z",
      useJsonType: args.useJsonType,
      partBytes,
      ...(args.gzipLevel !== undefined ? { gzipLevel: args.gzipLevel } : {}),
      ...(args.productGzipLevel !== undefined ? { productGzipLevel: args.productGzipLevel } : {}),
    };
    const selected = await countSelected(stack, { ...base, mode: "floor", prefix: "" });
    console.log(
      `the export query selects ${fmt(selected)} rows for ${base.period.start} (expected ${fmt(summary.events)})`,
    );
    if (selected !== summary.events)
      throw new Error("the period does not select exactly the generated events");

    const dest = args.modes.includes("export")
      ? await stack.createDestination({ datasetId: "bench" })
      : undefined;
    const results: Measured[] = [];
    for (let run = 1; run <= args.repeat; run++) {
      for (const mode of args.modes) {
        const job: BenchJob = { ...base, mode, prefix: `bench/${mode}/${run}/` };
        if (mode === "export" && dest) {
          const id = `bench-events-${run}`;
          job.exportBody = {
            definition: {
              id,
              model: "events",
              teamId: 1,
              interval: "hour",
              destination: {
                projectId: stack.projectId,
                datasetId: dest.datasetId,
                tableId: `events_${run}`,
                location: dest.location,
                keySecret: dest.keySecret,
              },
              useJsonType: args.useJsonType,
            },
            dataInterval: base.period,
          };
        }
        const r = await runChild(job, run, args.cpuProf);
        results.push(r);
        console.log(
          `  ${mode} #${run}: ${fmt(r.rows)} rows in ${fmt(r.seconds, 1)} s${r.finishedLines !== undefined ? ` (${fmt(r.finishedLines)} finished by ClickHouse)` : ""}${r.completedSeconds !== undefined ? ` (COMPLETED at ${fmt(r.completedSeconds, 1)} s, loaded ${fmt(r.loadedRows ?? 0)})` : ""}, peak RSS ${fmt(r.rssPeakMiB)} MiB; load average ${loadavg()[0]!.toFixed(1)}`,
        );
        if (r.rows !== selected) throw new Error(`${mode} saw ${r.rows} rows, the query selects ${selected}`);
        if (mode === "export" && r.loadedRows !== selected) {
          throw new Error(`export loaded ${r.loadedRows} rows, the query selects ${selected}`);
        }
      }
    }
    const floorBytes = results.find((r) => r.mode === "floor" || r.mode === "gzip-only")?.sourceBytes;
    console.log(
      `\nsource: ${floorBytes !== undefined ? `${fmt(floorBytes / 1e6)} MB of JSONEachRow` : "bytes unknown (no floor step)"}; MB = 10^6 bytes, RSS in MiB; load average now ${loadavg()
        .map((l) => l.toFixed(1))
        .join(" ")}\n`,
    );
    printTable(results, floorBytes);
    printSummary(results);
    if (args.cpuProf) console.log(`\nCPU profiles of the workers: ${args.cpuProf}`);
  } finally {
    await stack.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
