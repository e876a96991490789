// bqx end to end: each command run as a child process (not a terminal, so
// plain output) against one local stack, as an operator runs it after
// `npm run stack`: BQX_URL is the loopback exportRun (no ID token), the
// Scheduler endpoint and job prefix come from the environment.
import { execFile, spawn } from "node:child_process";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { CloudSchedulerClient } from "@google-cloud/scheduler";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EVENT_ROWS, PERIOD, TEAM } from "../fixtures/posthog-fixtures.js";
import { callExportRun, insertRows, interval, query } from "../helpers/stack-helpers.js";
import { createExportJob } from "../local/export-jobs.js";
import { PERMISSIONS, SEED_CUSTOM_ROLE, withoutPermission } from "../local/iam/roles.js";
import { SCHEDULER_JOB_PREFIX, startLocalStack, type LocalStack } from "../local/stack.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
/**
 * The command line compiled once (esbuild, which tsx itself runs on), so each
 * command starts as fast as an installed bqx; packages stay external and
 * resolve from the repository's node_modules, hence the bundle's place.
 */
const ENTRY = join(ROOT, "node_modules", ".cache", "bqx-e2e", `bqx-${process.pid}.mjs`);

let stack: LocalStack;
let env: Record<string, string>;
const iso = (d: Date) => d.toISOString().replace(".000Z", "Z");

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** `bqx <args>` as a child process; asynchronous, so the in-process stack keeps serving. */
function bqx(args: string[], extraEnv: Record<string, string> = {}): Promise<Result> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [ENTRY, ...args],
      { cwd: ROOT, env: { ...env, ...extraEnv }, timeout: 60_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

function definition(id: string, datasetId: string, credentials: object, model = "events") {
  return {
    id,
    model,
    teamId: TEAM,
    interval: "hour",
    destination: { projectId: stack.projectId, datasetId, tableId: model, location: "US", ...credentials },
  };
}

beforeAll(async () => {
  await build({
    entryPoints: [join(ROOT, "functions/src/cli/bqx.ts")],
    outfile: ENTRY,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    packages: "external",
    logLevel: "error",
  });
  stack = await startLocalStack();
  await insertRows(stack, "events", EVENT_ROWS);
  const ok = await stack.createDestination({ datasetId: "CliOk" });
  await stack.registerExport(definition("events-cli", "CliOk", ok.credentials));
  const partial = await stack.createDestination({
    datasetId: "CliNoGetData",
    role: withoutPermission(SEED_CUSTOM_ROLE, PERMISSIONS.tablesGetData),
  });
  await stack.registerExport(definition("persons-nogetdata", "CliNoGetData", partial.credentials, "persons"));
  const imp = await stack.createDestination({
    datasetId: "CliImp",
    credentials: "impersonate",
    tokenCreator: false,
  });
  await stack.registerExport(definition("events-imp", "CliImp", imp.credentials));
  const missing = await stack.createDestination({ datasetId: "CliMissing", createDataset: false });
  await stack.registerExport(definition("events-missing", "CliMissing", missing.credentials));
  await createExportJob(stack, { id: "events-cli", interval: "hour" });

  // Only what `npm run stack` prints: no BQX_* from the test's own environment.
  const base = Object.fromEntries(
    Object.entries(process.env).filter(
      (e): e is [string, string] => e[1] !== undefined && !e[0].startsWith("BQX_"),
    ),
  );
  env = {
    ...base,
    BQX_URL: stack.functions.exportRunUrl,
    BQX_SCHEDULER_ENDPOINT: `${stack.scheduler.host}:${stack.scheduler.port}`,
    BQX_SCHEDULER_JOB_PREFIX: SCHEDULER_JOB_PREFIX,
  };
});

afterAll(async () => {
  await stack?.stop();
  await rm(ENTRY, { force: true });
});

const noAnsi = (r: Result) => expect(r.stdout + r.stderr).not.toContain("\x1b[");

describe("bqx exports", () => {
  it("lists the configured exports as a table, and as JSON", async () => {
    const r = await bqx(["exports"]);
    expect(r.code).toBe(0);
    noAnsi(r);
    const lines = r.stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^ID +MODEL +TEAM +INTERVAL +DESTINATION +LOCATION +CREDENTIALS +PAUSED$/);
    const row = lines.find((l) => l.startsWith("events-cli "))!;
    expect(row.split(/ {2,}/)).toEqual([
      "events-cli",
      "events",
      String(TEAM),
      "hour",
      `${stack.projectId}.CliOk.events`,
      "US",
      expect.stringMatching(/^key projects\/local-project\/secrets\/.+\/versions\/1$/),
      "no",
    ]);
    expect(lines.find((l) => l.startsWith("events-imp "))).toContain("impersonate bqx-cliimp@");

    const json = await bqx(["exports", "--json"]);
    const body = JSON.parse(json.stdout) as { exports: Record<string, unknown>[] };
    expect(body.exports.map((e) => e.id).sort()).toEqual([
      "events-cli",
      "events-imp",
      "events-missing",
      "persons-nogetdata",
    ]);
    expect(body.exports.find((e) => e.id === "events-cli")).toMatchObject({
      paused: null,
      model: "events",
      teamId: TEAM,
      interval: "hour",
      destination: `${stack.projectId}.CliOk.events`,
      location: "US",
      credentials: { mode: "key" },
    });
  });
});

describe("bqx run and bqx runs", () => {
  it("runs a period, follows it to COMPLETED and exits 0", async () => {
    const r = await bqx(["run", "events-cli", "--start", iso(PERIOD.start), "--end", iso(PERIOD.end)]);
    expect(r.code).toBe(0);
    noAnsi(r);
    const [n] = await query(stack, `SELECT COUNT(*) AS n FROM \`${stack.projectId}.CliOk.events\``);
    expect(Number(n!.n)).toBeGreaterThan(0);
    expect(r.stdout).toMatch(
      new RegExp(
        `^✔ 2026-11-25 10:00–11:00  COMPLETED  attempt 1  ${Number(n!.n)} rows  [\\d.]+ (B|KiB)  job local-project:US\\.bqx_events-cli-20261125t100000z-20261125t110000z_a1_load  \\d+s$`,
        "m",
      ),
    );
    // Progress went to stderr as plain lines.
    expect(r.stderr).toContain("events-cli: exporting 2026-11-25 10:00–11:00 …");
  });

  it("a forced rerun, with --json for scripts", async () => {
    const r = await bqx([
      "run",
      "events-cli",
      "--start",
      iso(PERIOD.start),
      "--end",
      iso(PERIOD.end),
      "--force",
      "--json",
    ]);
    expect(r.code).toBe(0);
    const body = JSON.parse(r.stdout) as { export: string; runs: Record<string, unknown>[] };
    expect(body.export).toBe("events-cli");
    expect(body.runs).toHaveLength(1);
    expect(body.runs[0]).toMatchObject({
      run: "events-cli-20261125t100000z-20261125t110000z",
      period: interval(PERIOD),
      state: "COMPLETED",
      attempt: 2,
      rows: expect.any(Number),
      bytes: expect.any(Number),
      job: "local-project:US.bqx_events-cli-20261125t100000z-20261125t110000z_a2_load",
      durationSeconds: expect.any(Number),
    });
  });

  it("a run that fails exits 1 with the error's fix", async () => {
    const r = await bqx(["run", "events-missing", "--start", iso(PERIOD.start), "--end", iso(PERIOD.end)]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^✗ 2026-11-25 10:00–11:00 {2}FAILED/m);
    expect(r.stdout).toContain("DATASET_NOT_FOUND: Dataset local-project:CliMissing was not found");
  });

  it("lists the runs: the table, the JSON shape, the state filter", async () => {
    const r = await bqx(["runs", "events-cli"]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^PERIOD \(UTC\) +STATE +ATTEMPT +TRIGGER +ROWS +BYTES +JOB +DURATION +ERROR$/);
    expect(lines[1]!.split(/ {2,}/).slice(0, 4)).toEqual([
      "2026-11-25 10:00–11:00",
      "COMPLETED",
      "2",
      "manual",
    ]);
    expect(lines[1]).toContain("bqx_events-cli-20261125t100000z-20261125t110000z_a2_load");

    const json = JSON.parse((await bqx(["runs", "events-cli", "--json"])).stdout) as {
      export: string;
      runs: Record<string, unknown>[];
    };
    expect(json.export).toBe("events-cli");
    expect(json.runs[0]).toEqual({
      object: "runs/events-cli/20261125T100000Z--20261125T110000Z.json",
      period: interval(PERIOD),
      state: "COMPLETED",
      attempt: 2,
      rows: expect.any(Number),
      bytes: expect.any(Number),
      startedAt: expect.any(String),
      updatedAt: expect.any(String),
      job: "local-project:US.bqx_events-cli-20261125t100000z-20261125t110000z_a2_load",
      definitionHash: expect.any(String),
      trigger: "manual",
    });

    const failed = await bqx(["runs", "events-missing", "--state", "failed", "--limit", "1"]);
    expect(failed.stdout).toContain("DATASET_NOT_FOUND: Dataset local-project:CliMissing was not found");
    const none = await bqx(["runs", "events-cli", "--state", "FAILED"]);
    expect(none.stdout.trim()).toBe("No runs of events-cli yet.");
  });

  it("--watch, piped, prints a line for each run that changes until Ctrl-C", async () => {
    const child = spawn(process.execPath, [ENTRY, "runs", "events-cli", "--watch"], {
      cwd: ROOT,
      env: { ...env, BQX_POLL_MS: "200" },
    });
    let stdout = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    const until = async (what: () => boolean) => {
      for (let i = 0; i < 300 && !what(); i++) await new Promise((r) => setTimeout(r, 100));
      expect(what()).toBe(true);
    };
    await until(() => stdout.includes("PERIOD (UTC)"));
    const rerun = await callExportRun(stack, {
      exportId: "events-cli",
      dataInterval: interval(PERIOD),
      force: true,
    });
    expect(rerun.status).toBe(202);
    await until(() => /^2026-11-25 10:00–11:00 {2}COMPLETED {2}attempt 3 /m.test(stdout));
    child.kill("SIGINT");
    expect(await exited).toBe(0);
    expect(stdout).not.toContain("\x1b[");
  });
});

describe("bqx check", () => {
  it("passes a complete setup, one line per check", async () => {
    const r = await bqx(["check", "events-cli"]);
    expect(r.code).toBe(0);
    noAnsi(r);
    const lines = r.stdout.trim().split("\n");
    for (const p of Object.values(PERMISSIONS).filter((x) => SEED_CUSTOM_ROLE.permissions.includes(x))) {
      expect(lines.find((l) => l.includes(` ${p} `))).toMatch(/^✔ /);
    }
    expect(lines.find((l) => l.includes("bigquery.tables.list"))).toContain(
      "this product never lists tables",
    );
    expect(lines.find((l) => l.startsWith("✔ staging bucket"))).toContain("gs://bqx-staging is readable");
    expect(lines.at(-1)).toBe("✔ ready: nothing the export needs is missing.");
  });

  it("with one permission removed, names exactly that permission and exits 1", async () => {
    const r = await bqx(["check", "persons-nogetdata"]);
    expect(r.code).toBe(1);
    const failed = r.stdout.split("\n").filter((l) => l.startsWith("✗ "));
    expect(failed).toHaveLength(2);
    expect(failed[0]).toMatch(/^✗ bigquery\.tables\.getData +denied/);
    expect(failed[1]).toBe(
      "✗ 1 problem: bigquery.tables.getData. Fix it and run bqx check persons-nogetdata again.",
    );
    const json = JSON.parse((await bqx(["check", "persons-nogetdata", "--json"])).stdout) as {
      ok: boolean;
      checks: { check: string; permission?: string; status: string; fix?: string }[];
    };
    expect(json.ok).toBe(false);
    const bad = json.checks.filter((c) => c.status === "failed");
    expect(bad.map((c) => c.permission)).toEqual([PERMISSIONS.tablesGetData]);
    expect(bad[0]!.fix).toContain("on dataset local-project:CliNoGetData");
  });

  it("with impersonation not allowed, names the token-creator role", async () => {
    const r = await bqx(["check", "events-imp"]);
    expect(r.code).toBe(1);
    const credentials = r.stdout.split("\n").findIndex((l) => l.startsWith("✗ credentials"));
    expect(credentials).toBeGreaterThan(0);
    expect(r.stdout.split("\n")[credentials + 1]).toContain(
      "fix: grant the function's service account roles/iam.serviceAccountTokenCreator on bqx-cliimp@",
    );
  });
});

describe("bqx pause and resume", () => {
  it("pauses and resumes the export's Scheduler job, as @google-cloud/scheduler sees it", async () => {
    const scheduler = new CloudSchedulerClient(stack.scheduler.clientOptions());
    const name = `${SCHEDULER_JOB_PREFIX}events-cli`;
    try {
      const paused = await bqx(["pause", "events-cli"]);
      expect(paused.code).toBe(0);
      expect(paused.stdout).toContain(`paused ${name} (was ENABLED, now PAUSED)`);
      expect((await scheduler.getJob({ name }))[0].state).toBe("PAUSED");
      const again = JSON.parse((await bqx(["pause", "events-cli", "--json"])).stdout) as Record<
        string,
        unknown
      >;
      expect(again).toEqual({
        job: name,
        export: "events-cli",
        state: "PAUSED",
        previousState: "PAUSED",
        changed: false,
      });
      const resumed = await bqx(["resume", "events-cli"]);
      expect(resumed.code).toBe(0);
      expect((await scheduler.getJob({ name }))[0].state).toBe("ENABLED");
      const unknown = await bqx(["pause", "events-imp"]);
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toBe(
        `bqx: error: no Scheduler job ${SCHEDULER_JOB_PREFIX}events-imp (fix: check the export id and --job-prefix (terraform output scheduler_jobs lists them))\n`,
      );
    } finally {
      await scheduler.close();
    }
  });
});

describe("bqx backfill", () => {
  // Written against the backfill contract (POST {exportId, backfill} → 202
  // {backfill: {id, chunks, …}}; GET ?export=&backfill= → progress); it runs
  // once exportRun implements backfills, and is skipped while exportRun answers 501 to a backfill.
  it("starts a backfill, prints plain progress lines, and ends COMPLETED with exit 0", async (ctx) => {
    const r = await bqx(["backfill", "events-cli", "--start", "2026-11-25", "--end", "2026-11-26"], {
      BQX_POLL_MS: "250",
    });
    if (r.stderr.includes("backfill is not available in this version yet")) ctx.skip();
    expect(r.code).toBe(0);
    noAnsi(r);
    const id = /^Backfill (bf-[0-9a-f]{16}) of events-cli, 2026-11-25 00:00–2026-11-26 00:00: /m.exec(
      r.stderr,
    )?.[1];
    if (id === undefined) throw new Error(`no backfill id in: ${r.stderr}`);
    const progress = r.stderr.split("\n").filter((l) => l.startsWith(`backfill ${id} of events-cli: `));
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.at(-1)).toMatch(/(\d+)\/\1 chunks done/);
    expect(r.stdout).toMatch(
      new RegExp(`^✔ backfill ${id} of events-cli: COMPLETED, (\\d+)/\\1 chunks done`, "m"),
    );
    const status = JSON.parse((await bqx(["backfill", "status", "events-cli", id, "--json"])).stdout) as {
      backfill: Record<string, unknown>;
    };
    expect(status.backfill).toMatchObject({
      id,
      state: "COMPLETED",
      chunks: { pending: 0, running: 0, failed: 0 },
      rows: expect.any(Number),
    });
  });
});

describe("bqx when it cannot reach exportRun", () => {
  it("a wrong URL: one line, exit code 2", async () => {
    const r = await bqx(["runs", "events-cli"], { BQX_URL: `${stack.gcs.url}/exportRun` });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr.split("\n").filter(Boolean)).toHaveLength(1);
    expect(r.stderr).toMatch(
      /^bqx: error: http:\/\/127\.0\.0\.1:\d+\/exportRun answered HTTP 501 application\/json, not exportRun: No method of the local GCS server matches GET \/exportRun \(fix: check --url or BQX_URL/,
    );
  });

  it("a refused token: one line naming the invoker role, exit code 2", async () => {
    // Cloud Run's answer to a token it does not accept: 401 with an HTML page.
    const refusing = createServer((_req, res) => {
      res.writeHead(401, {
        "Content-Type": "text/html; charset=UTF-8",
        "WWW-Authenticate": 'Bearer error="invalid_token"',
      });
      res.end(
        "<html><head><title>401 Unauthorized</title></head><body><h1>Error: Unauthorized</h1></body></html>",
      );
    });
    await new Promise<void>((r) => refusing.listen(0, "127.0.0.1", r));
    try {
      const port = (refusing.address() as AddressInfo).port;
      const r = await bqx(["exports"], { BQX_URL: `http://127.0.0.1:${port}/` });
      expect(r.code).toBe(2);
      expect(r.stderr.split("\n").filter(Boolean)).toHaveLength(1);
      expect(r.stderr).toContain(
        "exportRun refused the request (HTTP 401: 401 Unauthorized Error: Unauthorized)",
      );
      expect(r.stderr).toContain("roles/run.invoker");
    } finally {
      await new Promise<void>((r) => refusing.close(() => r()));
    }
  });
});
