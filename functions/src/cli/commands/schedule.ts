// bqx pause <id> / bqx resume <id>: the export's Cloud Scheduler job, through
// @google-cloud/scheduler. The job is `<job prefix><id>`; Terraform outputs
// the prefix (scheduler_job_prefix = projects/<p>/locations/<r>/jobs/<name
// prefix>-). A paused job fires no more; resuming does not catch up on the
// periods it skipped (rerun them with bqx run or a backfill).
// https://cloud.google.com/scheduler/docs/reference/rest/v1/projects.locations.jobs/pause
// ("A job must be in ENABLED to be paused"; resume: "must be in PAUSED").
import type { CloudSchedulerClient } from "@google-cloud/scheduler";
import type { Ctx } from "../context.js";
import { CliError, EXIT, usageError, type ExitCode } from "../errors.js";

export interface ScheduleOptions {
  jobPrefix?: string;
  project?: string;
  location?: string;
  namePrefix?: string;
}

/** The full job name, from --job-prefix (or BQX_SCHEDULER_JOB_PREFIX), or from project, location and name prefix. */
export function jobName(
  exportId: string,
  opts: ScheduleOptions,
  env: Record<string, string | undefined>,
): string {
  const prefix = opts.jobPrefix ?? env.BQX_SCHEDULER_JOB_PREFIX;
  if (prefix) {
    if (!/^projects\/[^/]+\/locations\/[^/]+\/jobs\/[^/]*$/.test(prefix)) {
      throw usageError(
        `job prefix ${JSON.stringify(prefix)} is not projects/<project>/locations/<region>/jobs/<name prefix>`,
        "use terraform -chdir=infra output -raw scheduler_job_prefix",
      );
    }
    return prefix + exportId;
  }
  const project = opts.project ?? env.BQX_PROJECT ?? env.GOOGLE_CLOUD_PROJECT ?? env.CLOUDSDK_CORE_PROJECT;
  const location = opts.location ?? env.BQX_LOCATION;
  if (!project || !location) {
    throw usageError(
      "which Scheduler job? no --job-prefix (BQX_SCHEDULER_JOB_PREFIX), nor --project and --location",
      'export BQX_SCHEDULER_JOB_PREFIX="$(terraform -chdir=infra output -raw scheduler_job_prefix)"',
    );
  }
  return `projects/${project}/locations/${location}/jobs/${opts.namePrefix ?? "bqx"}-${exportId}`;
}

type SchedulerOptions = NonNullable<ConstructorParameters<typeof CloudSchedulerClient>[0]>;

/** gRPC status codes the Scheduler API answers with. */
const GRPC = {
  NOT_FOUND: 5,
  PERMISSION_DENIED: 7,
  FAILED_PRECONDITION: 9,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
};

type Action = "pause" | "resume";

export async function scheduleCommand(
  ctx: Ctx,
  action: Action,
  exportId: string,
  opts: ScheduleOptions,
): Promise<ExitCode> {
  const name = jobName(exportId, opts, ctx.io.env);
  const { CloudSchedulerClient } = await import("@google-cloud/scheduler");
  const client = new CloudSchedulerClient(await clientOptions(ctx.io.env));
  const target = action === "pause" ? "PAUSED" : "ENABLED";
  try {
    const [job] = await client.getJob({ name });
    const before = stateName(job.state);
    let after = before;
    if (before !== target) {
      const [changed] =
        action === "pause" ? await client.pauseJob({ name }) : await client.resumeJob({ name });
      after = stateName(changed.state);
    }
    const result = {
      job: name,
      export: exportId,
      state: after,
      previousState: before,
      changed: before !== after,
    };
    if (ctx.out.json) ctx.out.emitJson(result);
    else {
      const c = ctx.out.c;
      const verb = action === "pause" ? "paused" : "resumed";
      if (!result.changed) ctx.out.line(`${c.green("✔")} ${name} is already ${after}; nothing to do.`);
      else ctx.out.line(`${c.green("✔")} ${verb} ${name} (was ${before}, now ${after}).`);
      ctx.out.line(
        action === "pause"
          ? `No scheduled run starts until: bqx resume ${exportId}`
          : `The next scheduled run is the next period boundary; skipped periods stay unexported (bqx run ${exportId} --start … --end …).`,
      );
    }
    return EXIT.ok;
  } catch (err) {
    throw schedulerError(err, name, action);
  } finally {
    await client.close();
  }
}

function stateName(state: unknown): string {
  // The client returns the enum's name ("ENABLED") or its number (1 ENABLED, 2 PAUSED, 3 DISABLED, 4 UPDATE_FAILED).
  const names = ["STATE_UNSPECIFIED", "ENABLED", "PAUSED", "DISABLED", "UPDATE_FAILED"];
  if (typeof state === "number") return names[state] ?? String(state);
  return typeof state === "string" ? state : "STATE_UNSPECIFIED";
}

/**
 * Production: Google's endpoint with application default credentials. The
 * local stack: BQX_SCHEDULER_ENDPOINT=host:port, plain gRPC without credentials.
 */
async function clientOptions(env: Record<string, string | undefined>): Promise<SchedulerOptions> {
  const endpoint = env.BQX_SCHEDULER_ENDPOINT;
  if (!endpoint) return {};
  const m = /^([^:]+|\[[^\]]+\]):(\d+)$/.exec(endpoint);
  if (!m) throw usageError(`BQX_SCHEDULER_ENDPOINT ${JSON.stringify(endpoint)} is not host:port`);
  const grpc = await import("@grpc/grpc-js");
  return {
    apiEndpoint: m[1],
    port: Number(m[2]),
    sslCreds: grpc.credentials.createInsecure(),
    universeDomain: "googleapis.com",
  };
}

function schedulerError(err: unknown, name: string, action: Action): CliError {
  if (err instanceof CliError) return err;
  const code = (err as { code?: unknown }).code;
  const detail = (err as { details?: unknown }).details;
  const text =
    typeof detail === "string" && detail ? detail : err instanceof Error ? err.message : String(err);
  const permission = action === "pause" ? "cloudscheduler.jobs.pause" : "cloudscheduler.jobs.enable";
  switch (code) {
    case GRPC.NOT_FOUND:
      return usageError(
        `no Scheduler job ${name}`,
        "check the export id and --job-prefix (terraform output scheduler_jobs lists them)",
      );
    case GRPC.PERMISSION_DENIED:
      return usageError(
        `Cloud Scheduler refused to ${action} ${name}: ${text}`,
        `you need cloudscheduler.jobs.get and ${permission} on the project (roles/cloudscheduler.admin has both)`,
      );
    case GRPC.UNAUTHENTICATED:
      return usageError(
        `Cloud Scheduler did not accept the credentials: ${text}`,
        "run gcloud auth application-default login",
      );
    case GRPC.UNAVAILABLE:
      return usageError(
        `cannot reach Cloud Scheduler: ${text}`,
        "check the network, or BQX_SCHEDULER_ENDPOINT for a local stack",
      );
    case GRPC.FAILED_PRECONDITION:
      return new CliError(`Cloud Scheduler cannot ${action} ${name}: ${text}`, EXIT.failed);
    default:
      if (/default credentials/i.test(text)) {
        return usageError(
          `no Google credentials to call Cloud Scheduler: ${text}`,
          "run gcloud auth application-default login",
        );
      }
      return new CliError(`${action} ${name} failed: ${text}`, EXIT.failed);
  }
}
