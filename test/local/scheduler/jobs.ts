// Cloud Scheduler v1 Job resources: the decoded message shape, validation with the
// real service's statuses, defaults, and UpdateJob field masks (snake_case paths).
import { randomBytes } from "node:crypto";
import { RpcError, GrpcStatus } from "../grpc/server.js";
import { durationMs, toDuration, type Duration, type Timestamp } from "../grpc/wellknown.js";
import { parseCron, isValidTimeZone, CronError, type CronSchedule } from "./cron.js";

export type HttpMethod =
  "HTTP_METHOD_UNSPECIFIED" | "POST" | "GET" | "HEAD" | "PUT" | "DELETE" | "PATCH" | "OPTIONS";
export type JobState = "STATE_UNSPECIFIED" | "ENABLED" | "PAUSED" | "DISABLED" | "UPDATE_FAILED";

export interface HttpTargetMessage {
  uri?: string;
  httpMethod?: HttpMethod;
  headers?: Record<string, string>;
  body?: Uint8Array;
  oidcToken?: { serviceAccountEmail?: string; audience?: string };
  oauthToken?: { serviceAccountEmail?: string; scope?: string };
}

export interface RetryConfigMessage {
  retryCount?: number;
  maxRetryDuration?: Duration;
  minBackoffDuration?: Duration;
  maxBackoffDuration?: Duration;
  maxDoublings?: number;
}

/** google.cloud.scheduler.v1.Job as decoded by proto-loader (camelCase, enums as names). */
export interface JobMessage {
  name?: string;
  description?: string;
  httpTarget?: HttpTargetMessage;
  pubsubTarget?: unknown;
  appEngineHttpTarget?: unknown;
  schedule?: string;
  timeZone?: string;
  userUpdateTime?: Timestamp;
  state?: JobState;
  status?: { code?: number; message?: string };
  scheduleTime?: Timestamp;
  lastAttemptTime?: Timestamp;
  retryConfig?: RetryConfigMessage;
  attemptDeadline?: Duration;
}

/** Retry settings in milliseconds, defaults applied (RetryConfig's documented defaults). */
export interface RetryPolicy {
  retryCount: number;
  maxRetryDurationMs: number; // 0 = unlimited
  minBackoffMs: number;
  maxBackoffMs: number;
  maxDoublings: number;
}

const PARENT = /^projects\/[A-Za-z0-9\-:.]+\/locations\/[A-Za-z0-9-]+$/;
const JOB_NAME = /^(projects\/[A-Za-z0-9\-:.]+\/locations\/[A-Za-z0-9-]+)\/jobs\/([A-Za-z0-9_-]{1,500})$/;
const BODY_METHODS: ReadonlySet<HttpMethod> = new Set(["POST", "PUT", "PATCH"]);

function invalid(message: string): RpcError {
  return new RpcError(GrpcStatus.INVALID_ARGUMENT, message);
}

export function checkParent(parent: string | undefined): string {
  if (!parent || !PARENT.test(parent)) {
    throw invalid(
      `Invalid resource field value in the request: parent must look like projects/PROJECT_ID/locations/LOCATION_ID, got "${parent ?? ""}".`,
    );
  }
  return parent;
}

/** Splits "projects/p/locations/l/jobs/j"; INVALID_ARGUMENT naming the rule when malformed. */
export function parseJobName(name: string | undefined): { parent: string; jobId: string } {
  const m = JOB_NAME.exec(name ?? "");
  if (!m?.[1] || !m[2]) {
    throw invalid(
      `Job name "${name ?? ""}" is invalid: it must be projects/PROJECT_ID/locations/LOCATION_ID/jobs/JOB_ID, where JOB_ID has 1-500 letters, digits, hyphens or underscores.`,
    );
  }
  return { parent: m[1], jobId: m[2] };
}

export function newJobName(parent: string): string {
  return `${parent}/jobs/${randomBytes(10).toString("hex")}`;
}

/** The parsed schedule; INVALID_ARGUMENT with the real message plus which part is wrong. */
export function checkSchedule(schedule: string | undefined, timeZone: string | undefined): CronSchedule {
  const tz = timeZone || "UTC";
  if (!isValidTimeZone(tz)) {
    throw invalid(`Schedule or time zone is invalid. "${tz}" is not a tz database time zone name.`);
  }
  try {
    return parseCron(schedule ?? "");
  } catch (err) {
    if (err instanceof CronError) {
      throw invalid(`Schedule or time zone is invalid. Schedule "${schedule ?? ""}": ${err.message}.`);
    }
    throw err;
  }
}

/** Validates everything a created or updated job must satisfy. */
export function validateJob(job: JobMessage): CronSchedule {
  parseJobName(job.name);
  if ((job.description ?? "").length > 500) throw invalid("Job description must not exceed 500 characters.");
  const schedule = checkSchedule(job.schedule, job.timeZone);
  if (job.pubsubTarget || job.appEngineHttpTarget) {
    throw new RpcError(
      GrpcStatus.UNIMPLEMENTED,
      "Pub/Sub and App Engine targets are not implemented by the local emulator; use an HTTP target.",
    );
  }
  const target = job.httpTarget;
  if (!target) throw invalid("Job must have a target: http_target is required.");
  if (!target.uri || !/^https?:\/\//.test(target.uri)) {
    throw invalid(`HttpTarget.uri must begin with "http://" or "https://", got "${target.uri ?? ""}".`);
  }
  try {
    new URL(target.uri);
  } catch {
    throw invalid(`HttpTarget.uri "${target.uri}" is not a valid URL.`);
  }
  if (target.uri.length > 2083) throw invalid("HttpTarget.uri must not exceed 2083 characters.");
  const method = httpMethodOf(target);
  if (target.body && target.body.length > 0 && !BODY_METHODS.has(method)) {
    throw invalid(`HttpTarget.body is allowed only with POST, PUT or PATCH, not ${method}.`);
  }
  if (target.oidcToken && target.oauthToken)
    throw invalid("Only one of oidc_token and oauth_token may be set.");
  if (target.oidcToken && !target.oidcToken.serviceAccountEmail) {
    throw invalid("OidcToken.service_account_email is required.");
  }
  const retry = job.retryConfig;
  if (retry) {
    if ((retry.retryCount ?? 0) < 0 || (retry.retryCount ?? 0) > 5) {
      throw invalid(`RetryConfig.retry_count must be between 0 and 5, got ${retry.retryCount}.`);
    }
    if ((retry.maxDoublings ?? 0) < 0) throw invalid("RetryConfig.max_doublings must not be negative.");
    for (const field of ["maxRetryDuration", "minBackoffDuration", "maxBackoffDuration"] as const) {
      if ((durationMs(retry[field]) ?? 0) < 0) throw invalid(`RetryConfig.${field} must not be negative.`);
    }
    const policy = retryPolicy(job);
    if (policy.minBackoffMs > policy.maxBackoffMs) {
      throw invalid("RetryConfig.min_backoff_duration must not exceed max_backoff_duration.");
    }
  }
  const deadline = durationMs(job.attemptDeadline);
  if (deadline !== undefined && (deadline < 15_000 || deadline > 30 * 60_000)) {
    throw invalid("attempt_deadline for HTTP targets must be between 15 seconds and 30 minutes.");
  }
  return schedule;
}

export function httpMethodOf(target: HttpTargetMessage): Exclude<HttpMethod, "HTTP_METHOD_UNSPECIFIED"> {
  const m = target.httpMethod;
  return !m || m === "HTTP_METHOD_UNSPECIFIED" ? "POST" : m;
}

export function retryPolicy(job: JobMessage): RetryPolicy {
  const r = job.retryConfig ?? {};
  return {
    retryCount: r.retryCount ?? 0,
    maxRetryDurationMs: durationMs(r.maxRetryDuration) ?? 0,
    minBackoffMs: durationMs(r.minBackoffDuration) ?? 5_000,
    maxBackoffMs: durationMs(r.maxBackoffDuration) ?? 3_600_000,
    maxDoublings: r.maxDoublings ?? 5,
  };
}

/** What the service reports back: documented defaults filled in. */
export function withDefaults(job: JobMessage): JobMessage {
  const p = retryPolicy(job);
  return {
    ...job,
    httpTarget: job.httpTarget ? { ...job.httpTarget, httpMethod: httpMethodOf(job.httpTarget) } : undefined,
    retryConfig: {
      retryCount: p.retryCount,
      maxRetryDuration: toDuration(p.maxRetryDurationMs),
      minBackoffDuration: toDuration(p.minBackoffMs),
      maxBackoffDuration: toDuration(p.maxBackoffMs),
      maxDoublings: p.maxDoublings,
    },
    attemptDeadline: job.attemptDeadline ?? toDuration(180_000),
  };
}

/** The user-settable part of a decoded Job (drops output-only fields and proto-loader's oneof markers). */
export function userFields(job: JobMessage): JobMessage {
  const out: JobMessage = {};
  for (const key of USER_FIELDS) {
    if (job[key] !== undefined && job[key] !== null) (out as Record<string, unknown>)[key] = job[key];
  }
  return out;
}

const USER_FIELDS = [
  "name",
  "description",
  "httpTarget",
  "pubsubTarget",
  "appEngineHttpTarget",
  "schedule",
  "timeZone",
  "retryConfig",
  "attemptDeadline",
] as const satisfies readonly (keyof JobMessage)[];

const TARGETS = ["http_target", "pubsub_target", "app_engine_http_target"];
const UPDATABLE = new Set([
  "description",
  "schedule",
  "time_zone",
  "retry_config",
  "attempt_deadline",
  ...TARGETS,
]);
const OUTPUT_ONLY = new Set(["user_update_time", "state", "status", "schedule_time", "last_attempt_time"]);

function camel(segment: string): string {
  return segment.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
}

/**
 * Applies an UpdateJob request to the stored job. Paths are proto field names (snake_case);
 * output-only fields are ignored as documented; anything else is "Invalid mask for Job".
 * Without a mask every user field is replaced.
 */
export function applyUpdate(stored: JobMessage, patch: JobMessage, paths: string[] | undefined): JobMessage {
  const next: JobMessage = structuredClone(userFields(stored));
  const update = userFields(patch);
  if (!paths || paths.length === 0) return { ...update, name: stored.name };
  for (const path of paths) {
    const segments = path.split(".");
    const head = segments[0] ?? "";
    if (OUTPUT_ONLY.has(head) || head === "name") continue;
    if (!UPDATABLE.has(head) || segments.some((s) => !/^[a-z][a-z0-9_]*$/.test(s))) {
      throw invalid(`Invalid mask for Job: ${path}`);
    }
    if (TARGETS.includes(head)) {
      // The target is a oneof: setting one clears the others.
      for (const other of TARGETS) if (other !== head) delete (next as Record<string, unknown>)[camel(other)];
    }
    copyPath(next as Record<string, unknown>, update as Record<string, unknown>, segments.map(camel));
  }
  return next;
}

function copyPath(
  target: Record<string, unknown>,
  source: Record<string, unknown> | undefined,
  path: string[],
): void {
  const [key, ...rest] = path;
  if (key === undefined) return;
  const value = source?.[key];
  if (rest.length === 0) {
    if (value === undefined || value === null) delete target[key];
    else target[key] = structuredClone(value);
    return;
  }
  const child = (target[key] ?? {}) as Record<string, unknown>;
  target[key] = child;
  copyPath(child, value as Record<string, unknown> | undefined, rest);
}
