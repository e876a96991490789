// bqx, the operator's command line: exports, runs, reruns, backfills, the
// preflight check, pause and resume. Parses the command line (commander),
// runs one command and returns its exit code (errors.ts EXIT); every failure
// is one line on stderr that names the fix.
import { readFileSync } from "node:fs";
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { attachCommand, backfillCommand, cancelCommand, statusCommand } from "./commands/backfill.js";
import { checkCommand } from "./commands/check.js";
import { exportsCommand } from "./commands/exports.js";
import { runCommand } from "./commands/run.js";
import { runsCommand } from "./commands/runs.js";
import { scheduleCommand, type ScheduleOptions } from "./commands/schedule.js";
import { makeCtx, type Ctx, type GlobalOptions } from "./context.js";
import { CliError, EXIT, type ExitCode } from "./errors.js";
import { output, type CliIo } from "./io.js";

const EXPORT_ID = "<id>";

function examples(...lines: string[]): string {
  return `\nExamples:\n${lines.map((l) => `  $ ${l}`).join("\n")}\n`;
}

/** The product's version (package.json, three levels above src/cli and dist/cli). */
function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as {
      version?: unknown;
    };
    return typeof pkg.version === "string" ? pkg.version : "unknown";
  } catch {
    return "unknown";
  }
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError("a positive whole number is needed.");
  return n;
}

/** Runs bqx with `argv` (the arguments after "bqx") and returns the exit code. */
export async function runCli(argv: string[], io: CliIo): Promise<ExitCode> {
  let exit: ExitCode = EXIT.ok;
  const program = new Command("bqx");
  const ctxOf = (cmd: Command): Ctx => {
    const g = cmd.optsWithGlobals<GlobalOptions>();
    const global = { url: g.url, json: g.json ?? false, color: g.color ?? true };
    return makeCtx(io, output(io, global), global);
  };
  const action =
    <A extends unknown[]>(fn: (ctx: Ctx, ...args: A) => Promise<ExitCode>) =>
    async (...args: unknown[]) => {
      const cmd = args.at(-1) as Command;
      exit = await fn(ctxOf(cmd), ...(args.slice(0, -1) as A));
    };

  program
    .description(
      "The operator's command line of BigQuery batch exports: list exports and runs, rerun periods, backfill ranges, check an export's setup, pause and resume its schedule.",
    )
    .addOption(
      new Option("--url <url>", "exportRun's URL (terraform -chdir=infra output -raw export_run_url)").env(
        "BQX_URL",
      ),
    )
    .option("--json", "print JSON for scripts (field names: README, Command line)")
    .option("--no-color", "no colours (also: NO_COLOR=1; never when piped)")
    .version(version(), "-V, --version", "print bqx's version")
    .showHelpAfterError("(bqx --help, or bqx <command> --help, shows usage)")
    .exitOverride()
    .configureOutput({
      writeOut: (s) => void io.stdout.write(s),
      writeErr: (s) => void io.stderr.write(s),
    })
    .addHelpText(
      "after",
      `
Authentication: requests carry an ID token for --url from application default
credentials (gcloud auth application-default login, or a service account). A
loopback URL (the local stack, or gcloud run services proxy) gets none;
BQX_ID_TOKEN=<token> sends that token instead.

Exit codes: 0 ok; 1 the run, check or backfill failed (or the server did);
2 usage, connection or authentication error; 130 interrupted (Ctrl-C detaches
from a run or backfill, which goes on).
${examples(
  "export BQX_URL=$(terraform -chdir=infra output -raw export_run_url)",
  "bqx exports",
  "bqx runs events-hourly --limit 10",
  "bqx run events-hourly --start 2026-11-25T10:00:00Z --end 2026-11-25T11:00:00Z --force",
  "bqx backfill events-hourly --start 2026-10-01 --end 2026-11-01",
  "bqx check events-hourly",
  "bqx pause events-hourly",
)}`,
    );

  program
    .command("exports")
    .description(
      "List the configured exports: id, model, team, interval, destination, credentials, paused or not.",
    )
    .addHelpText("after", examples("bqx exports", "bqx exports --json | jq -r '.exports[].id'"))
    .action(action((ctx) => exportsCommand(ctx)));

  program
    .command("runs")
    .description(
      "Show an export's runs, newest period first: period, state, attempt, rows, bytes, job, duration, error.",
    )
    .argument(EXPORT_ID, "the export's id")
    .option("-n, --limit <n>", "show at most n runs", positiveInt, 20)
    .option("--state <state>", "only runs in this state: STAGING, LOADING, COMPLETED or FAILED")
    .option(
      "-w, --watch",
      "refresh every 2 seconds (in place on a terminal; changed runs as lines when piped)",
    )
    .addHelpText(
      "after",
      examples(
        "bqx runs events-hourly",
        "bqx runs events-hourly --state FAILED --limit 5",
        "bqx runs events-hourly --watch",
      ),
    )
    .action(
      action((ctx, id: string, opts: { limit: number; state?: string; watch?: boolean }) =>
        runsCommand(ctx, id, { ...opts, watch: opts.watch ?? false }),
      ),
    );

  program
    .command("run")
    .description(
      "Run an export now: a period range (--start/--end, on the interval's boundaries, at most 48 periods) or the newest settled period; follows the run to COMPLETED or FAILED.",
    )
    .argument(EXPORT_ID, "the export's id")
    .option("--start <time>", "first period's start, e.g. 2026-11-25T10:00:00Z (or a date: midnight UTC)")
    .option("--end <time>", "last period's end (exclusive)")
    .option("--force", "export COMPLETED periods again (no duplicates: rows merge on uuid)")
    .option("--no-wait", "return once exportRun has started the run")
    .addHelpText(
      "after",
      examples(
        "bqx run events-hourly",
        "bqx run events-hourly --start 2026-11-25T10:00:00Z --end 2026-11-25T11:00:00Z --force",
        "bqx run persons-daily --start 2026-11-20 --end 2026-11-25 --no-wait",
      ),
    )
    .action(
      action((ctx, id: string, opts: { start?: string; end?: string; force?: boolean; wait: boolean }) =>
        runCommand(ctx, id, { ...opts, force: opts.force ?? false }),
      ),
    );

  const backfill = program
    .command("backfill")
    .description(
      "Backfill a range of any length (planned into chunks run by Cloud Tasks), follow, check or cancel one.",
    );
  backfill
    .command("start", { isDefault: true })
    .description(
      "Start a backfill of <id> over [--start, --end) and follow it with a progress bar (Ctrl-C detaches).",
    )
    .argument(EXPORT_ID, "the export's id")
    .requiredOption("--start <time>", "range start, e.g. 2026-10-01 or 2026-10-01T00:00:00Z")
    .requiredOption("--end <time>", "range end (exclusive)")
    .option("--concurrency <n>", "chunks running at once (default: the queue's)", positiveInt)
    .option("--no-wait", "return once the backfill is planned")
    .addHelpText(
      "after",
      examples(
        "bqx backfill events-hourly --start 2026-10-01 --end 2026-11-01",
        "bqx backfill start events-hourly --start 2026-10-01 --end 2026-11-01 --concurrency 4 --no-wait",
      ) +
        "\n(`bqx backfill <id> …` is `bqx backfill start <id> …`; an export named attach, status or cancel needs `start`.)\n",
    )
    .action(
      action((ctx, id: string, opts: { start: string; end: string; concurrency?: number; wait: boolean }) =>
        backfillCommand(ctx, id, opts),
      ),
    );
  backfill
    .command("attach")
    .description("Follow a running backfill again (after Ctrl-C or --no-wait).")
    .argument(EXPORT_ID, "the export's id")
    .argument("<backfill>", "the backfill's id (bf-…)")
    .addHelpText("after", examples("bqx backfill attach events-hourly bf-0123456789abcdef"))
    .action(action((ctx, id: string, bid: string) => attachCommand(ctx, id, bid)));
  backfill
    .command("status")
    .description("Show a backfill's progress once; exit 1 when it failed or was cancelled.")
    .argument(EXPORT_ID, "the export's id")
    .argument("<backfill>", "the backfill's id (bf-…)")
    .addHelpText("after", examples("bqx backfill status events-hourly bf-0123456789abcdef --json"))
    .action(action((ctx, id: string, bid: string) => statusCommand(ctx, id, bid)));
  backfill
    .command("cancel")
    .description("Cancel a backfill: chunks not yet started do not run; running ones finish.")
    .argument(EXPORT_ID, "the export's id")
    .argument("<backfill>", "the backfill's id (bf-…)")
    .addHelpText("after", examples("bqx backfill cancel events-hourly bf-0123456789abcdef"))
    .action(action((ctx, id: string, bid: string) => cancelCommand(ctx, id, bid)));

  program
    .command("check")
    .description(
      "Preflight: exportRun tests the destination with the export's own credentials (each permission, the location, the staging bucket, the key or impersonation) and ClickHouse with the export's own query; nothing is exported. Exit 1 when something the export needs is missing.",
    )
    .argument(EXPORT_ID, "the export's id")
    .addHelpText(
      "after",
      examples(
        "bqx check events-hourly",
        "bqx check events-hourly --json | jq '.checks[] | select(.status == \"failed\")'",
      ),
    )
    .action(action((ctx, id: string) => checkCommand(ctx, id)));

  for (const verb of ["pause", "resume"] as const) {
    program
      .command(verb)
      .description(
        verb === "pause"
          ? "Pause the export's Cloud Scheduler job: no scheduled run starts until it is resumed."
          : "Resume the export's Cloud Scheduler job; skipped periods are not caught up (rerun them with bqx run).",
      )
      .argument(EXPORT_ID, "the export's id")
      .addOption(
        new Option(
          "--job-prefix <prefix>",
          "the jobs' name prefix (terraform output scheduler_job_prefix)",
        ).env("BQX_SCHEDULER_JOB_PREFIX"),
      )
      .addOption(
        new Option("--project <project>", "without --job-prefix: the functions' project").env("BQX_PROJECT"),
      )
      .addOption(
        new Option("--location <region>", "without --job-prefix: the functions' region").env("BQX_LOCATION"),
      )
      .option("--name-prefix <prefix>", "without --job-prefix: Terraform's name_prefix", "bqx")
      .addHelpText(
        "after",
        examples(
          `export BQX_SCHEDULER_JOB_PREFIX="$(terraform -chdir=infra output -raw scheduler_job_prefix)"`,
          `bqx ${verb} events-hourly`,
          `bqx ${verb} events-hourly --project my-project --location us-central1`,
        ),
      )
      .action(action((ctx, id: string, opts: ScheduleOptions) => scheduleCommand(ctx, verb, id, opts)));
  }

  try {
    await program.parseAsync(argv, { from: "user" });
    return exit;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander printed its message; help and version are not errors.
      return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    const e =
      err instanceof CliError
        ? err
        : new CliError(err instanceof Error ? err.message : String(err), EXIT.failed);
    const color = output(io, { json: false, color: true }).ce;
    io.stderr.write(`${color.red("bqx: error:")} ${e.message}${e.fix ? ` (fix: ${e.fix})` : ""}\n`);
    return e.exitCode;
  }
}
