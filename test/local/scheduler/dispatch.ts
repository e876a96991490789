// One execution of a Cloud Scheduler HTTP job: the request the real service sends
// (its headers, body, OIDC bearer token), the attempt deadline, and retries with
// RetryConfig's backoff (min, doubling max_doublings times, then linear, capped at max),
// stopping at retry_count / max_retry_duration or the next scheduled time.
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { GrpcStatus } from "../grpc/server.js";
import { durationMs } from "../grpc/wellknown.js";
import { httpMethodOf, retryPolicy, type JobMessage, type RetryPolicy } from "./jobs.js";
import { backoffMs } from "../common/backoff.js";
import { rpcCodeForHttp } from "../grpc/http-status.js";

export interface AttemptResult {
  /** 1 for the first try, 2 for the first retry, … */
  attempt: number;
  /** When the attempt was due on the scheduler's clock (schedule/run time plus backoff). */
  at: Date;
  /** Backoff waited before this attempt (0 for the first). */
  delayMs: number;
  httpStatus?: number;
  error?: string;
  ok: boolean;
}

export interface FireResult {
  /** Full job name. */
  job: string;
  scheduleTime: Date;
  attempts: AttemptResult[];
  succeeded: boolean;
  /** What the job's `status` field shows afterwards (google.rpc.Status). */
  status: { code: number; message: string };
}

export interface DispatchDeps {
  /** ID token for an OIDC-authenticated target. */
  oidcTokenFor(audience: string, serviceAccountEmail: string): string;
  /** Waits out a backoff; tests may shorten or skip it. */
  sleep(ms: number): Promise<void>;
  /** Called as each attempt starts, so the job can show last_attempt_time. */
  onAttempt?(at: Date): void;
}

export { backoffMs };

/** RFC 3339 in the job's zone: "Z" for UTC, else the zone's offset at that instant. */
export function rfc3339InZone(at: Date, offsetMinutes: number): string {
  if (offsetMinutes === 0) return at.toISOString().replace(/\.000Z$/, "Z");
  const local = new Date(at.getTime() + offsetMinutes * 60_000)
    .toISOString()
    .replace(/\.000Z$/, "")
    .replace(/Z$/, "");
  const sign = offsetMinutes < 0 ? "-" : "+";
  const abs = Math.abs(offsetMinutes);
  return `${local}${sign}${String(Math.floor(abs / 60)).padStart(2, "0")}:${String(abs % 60).padStart(2, "0")}`;
}

// Headers the service computes or reserves; a job's own values for them are dropped.
const RESERVED = /^(host|content-length|user-agent|x-cloudscheduler.*|x-google-.*|x-appengine-.*)$/i;

export function requestHeaders(
  job: JobMessage,
  scheduleTimeHeader: string,
  deps: Pick<DispatchDeps, "oidcTokenFor">,
): Record<string, string> {
  const target = job.httpTarget ?? {};
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(target.headers ?? {}))
    if (!RESERVED.test(k)) headers[k.toLowerCase()] = v;
  if (target.body && target.body.length > 0 && !headers["content-type"]) {
    headers["content-type"] = "application/octet-stream";
  }
  headers["user-agent"] = "Google-Cloud-Scheduler";
  headers["x-cloudscheduler"] = "true";
  headers["x-cloudscheduler-jobname"] = (job.name ?? "").split("/").pop() ?? "";
  headers["x-cloudscheduler-scheduletime"] = scheduleTimeHeader;
  if (target.oidcToken?.serviceAccountEmail) {
    const audience = target.oidcToken.audience || target.uri || "";
    headers["authorization"] = `Bearer ${deps.oidcTokenFor(audience, target.oidcToken.serviceAccountEmail)}`;
  }
  return headers;
}

export { rpcCodeForHttp };

interface Sent {
  status?: number;
  error?: string;
  deadlineExceeded?: boolean;
}

function send(
  uri: string,
  method: string,
  headers: Record<string, string>,
  body: Buffer | undefined,
  deadlineMs: number,
): Promise<Sent> {
  return new Promise((resolve) => {
    const url = new URL(uri);
    const req = (url.protocol === "https:" ? httpsRequest : httpRequest)(
      url,
      { method, headers: body ? { ...headers, "content-length": String(body.length) } : headers },
      (res) => {
        res.resume(); // drain; only the status matters
        res.on("end", () => resolve({ status: res.statusCode ?? 0 }));
        res.on("error", (err) => resolve({ error: err.message }));
      },
    );
    req.setTimeout(deadlineMs, () => {
      req.destroy();
      resolve({
        deadlineExceeded: true,
        error: `no response within the attempt deadline (${deadlineMs} ms)`,
      });
    });
    req.on("error", (err) => resolve({ error: err.message }));
    req.end(body);
  });
}

/**
 * Runs one execution (first attempt plus retries). `start` is when it is dispatched on the
 * scheduler's clock; `nextScheduled` bounds retries ("until the next scheduled start time").
 */
export async function execute(
  job: JobMessage,
  scheduleTime: Date,
  scheduleTimeHeader: string,
  start: Date,
  nextScheduled: Date | undefined,
  deps: DispatchDeps,
): Promise<FireResult> {
  const target = job.httpTarget ?? {};
  const method = httpMethodOf(target);
  const body = target.body && target.body.length > 0 ? Buffer.from(target.body) : undefined;
  const deadline = durationMs(job.attemptDeadline) ?? 180_000;
  const policy = retryPolicy(job);
  const attempts: AttemptResult[] = [];
  let elapsed = 0;
  let status = { code: GrpcStatus.OK as number, message: "" };

  for (let attempt = 1; ; attempt++) {
    const delayMs = attempt === 1 ? 0 : backoffMs(policy, attempt - 1);
    if (delayMs > 0) await deps.sleep(delayMs);
    elapsed += delayMs;
    const at = new Date(start.getTime() + elapsed);
    deps.onAttempt?.(at);
    const headers = requestHeaders(job, scheduleTimeHeader, deps);
    const sent = await send(target.uri ?? "", method, headers, body, deadline);
    const ok = sent.status !== undefined && sent.status >= 200 && sent.status < 300;
    attempts.push({
      attempt,
      at,
      delayMs,
      ok,
      ...(sent.status !== undefined ? { httpStatus: sent.status } : {}),
      ...(sent.error ? { error: sent.error } : {}),
    });
    if (ok) {
      status = { code: GrpcStatus.OK, message: "" };
      break;
    }
    status =
      sent.status !== undefined
        ? { code: rpcCodeForHttp(sent.status), message: `HTTP ${sent.status} from ${target.uri}` }
        : {
            code: sent.deadlineExceeded ? GrpcStatus.DEADLINE_EXCEEDED : GrpcStatus.UNAVAILABLE,
            message: sent.error ?? "request failed",
          };
    if (!shouldRetry(policy, attempt, elapsed, start, nextScheduled)) break;
  }
  return { job: job.name ?? "", scheduleTime, attempts, succeeded: attempts.at(-1)?.ok ?? false, status };
}

/**
 * Whether to retry after `attempt` failed. retry_count 0 never retries; otherwise retries go on
 * until both retry_count and max_retry_duration (0 = no limit) are reached, and never reach
 * past the next scheduled time.
 */
function shouldRetry(
  policy: RetryPolicy,
  attempt: number,
  elapsed: number,
  start: Date,
  nextScheduled: Date | undefined,
): boolean {
  if (policy.retryCount === 0) return false;
  const nextDelay = backoffMs(policy, attempt);
  if (nextScheduled && start.getTime() + elapsed + nextDelay >= nextScheduled.getTime()) return false;
  const countLeft = attempt - 1 < policy.retryCount;
  const timeLeft = policy.maxRetryDurationMs > 0 && elapsed + nextDelay <= policy.maxRetryDurationMs;
  return countLeft || timeLeft;
}
