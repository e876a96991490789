// Cloud Scheduler for auto-pause, over @google-cloud/scheduler: read an
// export's job and pause it. The job's full name is the deployment's prefix
// plus the export id (Terraform's BQX_SCHEDULER_JOB_PREFIX,
// "projects/<project>/locations/<region>/jobs/<prefix>-"). Terraform grants
// exportRun exactly the two permissions used here (infra/scheduler.tf).
import type { CloudSchedulerClient } from "@google-cloud/scheduler";
import { ExportError } from "../core/errors.js";
import type { SchedulerControl, SchedulerJobState } from "../app/ports.js";

/** What each call needs (cloudscheduler.jobs.get / .pause, per the v1 REST reference). */
export const SCHEDULER_PERMISSIONS = {
  state: "cloudscheduler.jobs.get",
  pause: "cloudscheduler.jobs.pause",
} as const;

/** A job prefix as Terraform builds it; the export id completes the job name. */
export const SCHEDULER_JOB_PREFIX_PATTERN = /^projects\/[^/]+\/locations\/[^/]+\/jobs\/[A-Za-z0-9_-]*$/;

const GRPC_NOT_FOUND = 5;
const GRPC_PERMISSION_DENIED = 7;
const GRPC_FAILED_PRECONDITION = 9;
// google.cloud.scheduler.v1.Job.State, for a client that decodes enums as numbers.
const STATES: readonly SchedulerJobState[] = [
  "STATE_UNSPECIFIED",
  "ENABLED",
  "PAUSED",
  "DISABLED",
  "UPDATE_FAILED",
];

function grpcCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === "number" ? code : undefined;
}

function stateOf(value: unknown): SchedulerJobState {
  if (typeof value === "number") return STATES[value] ?? "STATE_UNSPECIFIED";
  return STATES.includes(value as SchedulerJobState) ? (value as SchedulerJobState) : "STATE_UNSPECIFIED";
}

export class CloudSchedulerControl implements SchedulerControl {
  constructor(
    private readonly client: CloudSchedulerClient,
    private readonly jobPrefix: string,
  ) {
    if (!SCHEDULER_JOB_PREFIX_PATTERN.test(jobPrefix)) {
      throw new ExportError(
        "INVALID_REQUEST",
        `Scheduler job prefix ${JSON.stringify(jobPrefix)} is not "projects/<project>/locations/<region>/jobs/<prefix>".`,
      );
    }
  }

  jobName(exportId: string): string {
    return this.jobPrefix + exportId;
  }

  async state(exportId: string): Promise<SchedulerJobState | undefined> {
    const name = this.jobName(exportId);
    try {
      const [job] = await this.client.getJob({ name });
      return stateOf(job.state);
    } catch (err) {
      if (grpcCode(err) === GRPC_NOT_FOUND) return undefined;
      throw schedulerError(err, `reading Cloud Scheduler job ${name}`, SCHEDULER_PERMISSIONS.state);
    }
  }

  async pause(exportId: string): Promise<void> {
    const name = this.jobName(exportId);
    try {
      await this.client.pauseJob({ name });
    } catch (err) {
      // "A job must be in Job.State.ENABLED to be paused" (jobs.pause, v1 REST
      // reference): another call may have paused it between our read and now.
      if (grpcCode(err) === GRPC_FAILED_PRECONDITION && (await this.state(exportId)) === "PAUSED") return;
      throw schedulerError(err, `pausing Cloud Scheduler job ${name}`, SCHEDULER_PERMISSIONS.pause);
    }
  }
}

function schedulerError(err: unknown, what: string, permission: string): ExportError {
  const message = err instanceof Error ? err.message : String(err);
  const code = grpcCode(err);
  if (code === GRPC_PERMISSION_DENIED) {
    return new ExportError(
      "PERMISSION_DENIED",
      `${what} was denied: exportRun's service account needs ${permission} (Terraform grants it with the scheduler_pause role). ${message}`,
      { cause: err, details: { permission } },
    );
  }
  if (code === GRPC_NOT_FOUND) {
    return new ExportError("INVALID_REQUEST", `${what}: no such job. ${message}`, { cause: err });
  }
  return new ExportError("UNAVAILABLE", `${what} failed: ${message}`, { retryable: true, cause: err });
}
