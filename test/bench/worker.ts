// One measured step of the export benchmark, in its own process so its RSS is
// the product's alone (the local stack, with chdb, the GCS and BigQuery
// emulators, runs in the parent: see run.ts). The job comes as JSON in
// BQX_BENCH_JOB; the result goes to stdout as one line "BENCH_RESULT {json}".
//
// Modes (all read the same ClickHouse events query of one period):
//   floor        raw-copy floor: the query's JSONEachRow bytes from
//                @clickhouse/client exec() (no row split), gzip at stageRows' level, uploaded
//                unchanged with the product's ObjectStore.upload, split at partBytes
//   stage        stageLines() exactly as exportPeriod calls it: the answer's bytes,
//                finished lines copied, marked rows through the real encoder
//   export       the exportRun HTTP call (a functions host in this process) until
//                it answers, then until the run's manifest says COMPLETED
// Breakdown modes (no product code changed, only parts left out):
//   rows         ClickHouseSource.rows() only: the client's row split, nothing else
//   encode       rows + encoder.encodeLine, no gzip, no upload
//   stage-raw    stageRows() with an identity encode: rows split into strings, no encoder
//   gzip-only    raw bytes → gzip → discarded, no upload
import { once } from "node:events";
import { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createRequire, syncBuiltinESMExports } from "node:module";
import { createGzip, type Gzip, type ZlibOptions } from "node:zlib";
import { registerExport } from "../../functions/src/app/export-store.js";
import { createClickHouseClient } from "../../functions/src/adapters/clickhouse.js";
import { STAGE_GZIP_LEVEL, stageLines, stageRows } from "../../functions/src/app/stage-rows.js";
import { loadConfig } from "../../functions/src/config.js";
import { parseManifest } from "../../functions/src/core/manifest.js";
import { manifestObject, partObject } from "../../functions/src/core/names.js";
import { createRowEncoder } from "../../functions/src/core/rows.js";
import { eventsQuery, DEFAULT_LOOKBACK_DAYS } from "../../functions/src/core/source-sql.js";
import { createLogger } from "../../functions/src/log.js";
import { createDeps } from "../../functions/src/wiring.js";
import { startFunctionsHost } from "../local/functions-host.js";
import { memorySampler, MiB } from "./common.js";

export const MODES = ["floor", "stage", "export", "rows", "encode", "stage-raw", "gzip-only"] as const;
export type Mode = (typeof MODES)[number];

export interface BenchJob {
  mode: Mode;
  /** The functions' environment (LocalStack.env). */
  env: Record<string, string>;
  teamId: number;
  period: { start: string; end: string };
  /** Fixed so every mode reads byte-identical rows. */
  exportedAt: string;
  useJsonType: boolean;
  /** Object prefix for floor/stage parts (deleted afterwards, untimed). */
  prefix: string;
  partBytes: number;
  /** zlib level of floor and gzip-only (default: stageRows' level, STAGE_GZIP_LEVEL). */
  gzipLevel?: number;
  /**
   * Tries another level in the product's own code (stage, stage-raw, export):
   * node:zlib's createGzip is wrapped for this process only.
   */
  productGzipLevel?: number;
  /** export mode: the export (stored before the timed call) and the interval to run. */
  exportBody?: {
    definition: { id: string } & Record<string, unknown>;
    dataInterval: { start: string; end: string };
  };
  completeTimeoutMs?: number;
}

export interface BenchResult {
  mode: Mode;
  rows: number;
  /** Bytes read from the source (uncompressed NDJSON incl. newlines), when this mode sees them. */
  sourceBytes?: number;
  /** NDJSON bytes written (after encoding), when this mode writes them. */
  outBytes?: number;
  /** Gzip bytes uploaded (or produced, gzip-only). */
  gzBytes?: number;
  files?: number;
  /** Rows ClickHouse finished as load lines (encode, stage); the rest the encoder wrote. */
  finishedLines?: number;
  /** The step's wall time; export: until the HTTP answer. */
  seconds: number;
  /** export: until the manifest says COMPLETED. */
  completedSeconds?: number;
  httpStatus?: number;
  state?: string;
  loadedRows?: number;
  /** CPU seconds (user + system) this process spent in the step. */
  cpuSeconds: number;
  rssBeforeMiB: number;
  rssPeakMiB: number;
  rssAfterMiB: number;
  /** export: peak RSS until the HTTP answer (the rest is waiting). */
  rssPeakHttpMiB?: number;
  heapPeakMiB: number;
}

/** A sink that counts and drops bytes. */
function counter(): { sink: Writable; bytes: () => number } {
  let n = 0;
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      n += chunk.length;
      cb();
    },
  });
  return { sink, bytes: () => n };
}

function countNewlines(chunk: Buffer): number {
  let n = 0;
  for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) n++;
  return n;
}

/**
 * Makes every createGzip of this process use `level`: the builtin's CommonJS
 * export is replaced and the ES modules' live bindings (stage-rows.ts's
 * `import { createGzip } from "node:zlib"`) are synced to it.
 */
function forceGzipLevel(level: number): void {
  const require = createRequire(import.meta.url);
  const zlib = require("node:zlib") as { createGzip: typeof createGzip };
  const original = zlib.createGzip;
  // Read-only but configurable on the builtin.
  Object.defineProperty(zlib, "createGzip", {
    value: (options?: ZlibOptions) => original({ ...options, level }),
  });
  syncBuiltinESMExports();
}

async function main(): Promise<void> {
  const job = JSON.parse(process.env["BQX_BENCH_JOB"] ?? "") as BenchJob;
  if (job.productGzipLevel !== undefined) forceGzipLevel(job.productGzipLevel);
  const config = loadConfig(job.env);
  const log = createLogger("WARNING", (line) => process.stderr.write(line + "\n"));
  const deps = createDeps(config, log);
  const period = { start: new Date(job.period.start), end: new Date(job.period.end) };
  const query = eventsQuery({
    teamId: job.teamId,
    period,
    exportedAt: new Date(job.exportedAt),
    includeEvents: [],
    excludeEvents: [],
    selection: "ingested",
    lookbackDays: DEFAULT_LOOKBACK_DAYS,
    database: config.clickhouse.database,
    // The query exportPeriod sends: plain rows finished by ClickHouse.
    lines: { useJsonType: job.useJsonType },
  });
  const format = query.output === "lines" ? "TabSeparatedRaw" : "JSONEachRow";
  // The product's client options (wiring.ts): gzip responses, progress headers.
  // The product's own client and query settings, so the floor reads the same bytes the same way.
  const client = createClickHouseClient(config.clickhouse);
  const rawSource = async () =>
    (
      await client.exec({
        query: `${query.sql}\nFORMAT ${format}`,
        query_params: query.params,
      })
    ).stream;

  globalThis.gc?.();
  const rssBefore = process.memoryUsage().rss;
  const mem = memorySampler();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let out: Omit<
    BenchResult,
    "mode" | "seconds" | "cpuSeconds" | "rssBeforeMiB" | "rssPeakMiB" | "rssAfterMiB" | "heapPeakMiB"
  >;
  let seconds: number | undefined;
  let httpPeak: number | undefined;

  switch (job.mode) {
    case "floor": {
      // Raw bytes, split into parts at partBytes on chunk boundaries, each part
      // gzip'd and uploaded as stageRows does (same level, same upload call).
      const files: string[] = [];
      let sourceBytes = 0;
      let rows = 0;
      let gzBytes = 0;
      let part: { gzip: Gzip; upload: Promise<number>; bytes: number } | undefined;
      const close = async () => {
        if (!part) return;
        part.gzip.end();
        gzBytes += await part.upload;
        part = undefined;
      };
      for await (const chunk of await rawSource()) {
        const buf = chunk as Buffer;
        if (!part) {
          const name = partObject(job.prefix, files.length);
          files.push(name);
          const gzip = createGzip({ level: job.gzipLevel ?? STAGE_GZIP_LEVEL });
          const upload = deps.store.upload(name, gzip);
          upload.catch(() => gzip.destroy());
          part = { gzip, upload, bytes: 0 };
        }
        sourceBytes += buf.length;
        rows += countNewlines(buf);
        part.bytes += buf.length;
        if (!part.gzip.write(buf)) await Promise.race([once(part.gzip, "drain"), part.upload]);
        if (part.bytes >= job.partBytes) await close();
      }
      await close();
      out = { rows, sourceBytes, outBytes: sourceBytes, gzBytes, files: files.length };
      break;
    }
    case "gzip-only": {
      const { sink, bytes } = counter();
      let sourceBytes = 0;
      let rows = 0;
      const source = await rawSource();
      source.on("data", (b: Buffer) => {
        sourceBytes += b.length;
        rows += countNewlines(b);
      });
      await pipeline(source, createGzip({ level: job.gzipLevel ?? STAGE_GZIP_LEVEL }), sink);
      out = { rows, sourceBytes, gzBytes: bytes() };
      break;
    }
    case "rows": {
      let rows = 0;
      let chars = 0;
      for await (const row of deps.source.rows(query)) {
        rows++;
        chars += row.length + 1;
      }
      // UTF-16 units, not bytes: the byte count comes from the floor.
      out = { rows, outBytes: chars };
      break;
    }
    case "encode": {
      const encoder = createRowEncoder("events", job.useJsonType);
      let rows = 0;
      let outBytes = 0;
      for await (const row of deps.source.rows(query)) {
        const line = encoder.encodeLine(row) + "\n";
        outBytes += Buffer.byteLength(line, "utf8");
        rows++;
      }
      out = { rows, outBytes, finishedLines: encoder.stats.finishedLines };
      break;
    }
    case "stage":
    case "stage-raw": {
      const encoder = createRowEncoder("events", job.useJsonType);
      const parts = { store: deps.store, prefix: job.prefix, partBytes: job.partBytes };
      // As exportPeriod stages a "lines" query: the answer's bytes, finished lines copied.
      const staged =
        job.mode === "stage" && deps.source.bytes
          ? await stageLines({ ...parts, chunks: deps.source.bytes(query), encoder })
          : await stageRows({ ...parts, rows: deps.source.rows(query), encode: (row: string) => row });
      out = {
        rows: staged.rows,
        outBytes: staged.bytes,
        gzBytes: staged.stagedBytes,
        files: staged.files.length,
        ...(job.mode === "stage" ? { finishedLines: encoder.stats.finishedLines } : {}),
      };
      break;
    }
    case "export": {
      const body = job.exportBody;
      if (!body) throw new Error("export mode needs exportBody");
      const host = await startFunctionsHost(deps);
      try {
        await registerExport(body.definition, deps.store);
        const res = await fetch(host.exportRunUrl, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ exportId: body.definition.id, dataInterval: body.dataInterval }),
        });
        const answer = (await res.json()) as unknown;
        seconds = (performance.now() - t0) / 1000;
        httpPeak = mem.peak().rss;
        if (res.status !== 202 && res.status !== 200) {
          throw new Error(`exportRun answered ${res.status}: ${JSON.stringify(answer)}`);
        }
        const object = manifestObject(body.definition.id, period);
        const deadline = Date.now() + (job.completeTimeoutMs ?? 30 * 60 * 1000);
        for (;;) {
          const found = await deps.store.read(object);
          const m = found ? parseManifest(found.text, object) : undefined;
          if (m && (m.state === "COMPLETED" || m.state === "FAILED")) {
            out = {
              rows: m.rows,
              outBytes: m.bytes,
              gzBytes: m.stagedBytes,
              files: m.files.length,
              httpStatus: res.status,
              state: m.state,
              ...(m.loadedRows !== undefined ? { loadedRows: m.loadedRows } : {}),
              completedSeconds: (performance.now() - t0) / 1000,
            };
            if (m.state === "FAILED") throw new Error(`run failed: ${JSON.stringify(m.error)}`);
            break;
          }
          if (Date.now() > deadline) throw new Error(`run did not complete: ${m?.state ?? "no manifest"}`);
          await new Promise((r) => setTimeout(r, 100));
        }
      } finally {
        await host.stop();
      }
      break;
    }
  }

  seconds ??= (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  mem.stop();
  const peak = mem.peak();
  const result: BenchResult = {
    mode: job.mode,
    ...out,
    seconds,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    rssBeforeMiB: rssBefore / MiB,
    rssPeakMiB: peak.rss / MiB,
    rssAfterMiB: process.memoryUsage().rss / MiB,
    ...(httpPeak !== undefined ? { rssPeakHttpMiB: httpPeak / MiB } : {}),
    heapPeakMiB: peak.heap / MiB,
  };
  if (job.mode === "floor" || job.mode === "stage" || job.mode === "stage-raw") {
    await deps.store.deletePrefix(job.prefix);
  }
  await client.close();
  process.stdout.write(`BENCH_RESULT ${JSON.stringify(result)}\n`);
}

// Only as a child of run.ts (which sets the job), not when imported for its types.
if (process.env["BQX_BENCH_JOB"]) {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
