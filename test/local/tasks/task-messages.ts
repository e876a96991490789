// Cloud Tasks v2 Task resources: the decoded message shape, task names and ids,
// CreateTask's validation with the real service's statuses and texts, and the
// BASIC/FULL views. Reference: task.proto, target.proto and cloudtasks.proto of
// @google-cloud/tasks, https://cloud.google.com/tasks/docs/reference/rest/v2/projects.locations.queues.tasks
// and the limits at https://cloud.google.com/tasks/docs/quotas.
import { randomInt } from "node:crypto";
import { RpcError, GrpcStatus } from "../grpc/server.js";
import { durationMs, type Duration, type Timestamp } from "../grpc/wellknown.js";
import { parseQueueName } from "./queues.js";

export type HttpMethod =
  "HTTP_METHOD_UNSPECIFIED" | "POST" | "GET" | "HEAD" | "PUT" | "DELETE" | "PATCH" | "OPTIONS";
export type TaskView = "VIEW_UNSPECIFIED" | "BASIC" | "FULL";

export interface HttpRequestMessage {
  url?: string;
  httpMethod?: HttpMethod;
  headers?: Record<string, string>;
  body?: Uint8Array;
  oauthToken?: { serviceAccountEmail?: string; scope?: string };
  oidcToken?: { serviceAccountEmail?: string; audience?: string };
}

export interface AttemptMessage {
  scheduleTime?: Timestamp;
  dispatchTime?: Timestamp;
  responseTime?: Timestamp;
  responseStatus?: { code: number; message: string };
}

/** google.cloud.tasks.v2.Task as decoded by proto-loader. */
export interface TaskMessage {
  name?: string;
  appEngineHttpRequest?: unknown;
  httpRequest?: HttpRequestMessage;
  scheduleTime?: Timestamp;
  createTime?: Timestamp;
  dispatchDeadline?: Duration;
  dispatchCount?: number;
  responseCount?: number;
  firstAttempt?: AttemptMessage;
  lastAttempt?: AttemptMessage;
  view?: TaskView;
}

/** An HTTP task's request as stored: defaults applied, service-computed headers in place. */
export interface StoredHttpRequest {
  url: string;
  httpMethod: Exclude<HttpMethod, "HTTP_METHOD_UNSPECIFIED">;
  headers: Record<string, string>;
  body: Buffer;
  oauthToken?: { serviceAccountEmail: string; scope: string };
  oidcToken?: { serviceAccountEmail: string; audience: string };
}

/** Task.dispatch_deadline for HTTP tasks: "the default is 10 minutes … in the interval [15 seconds, 30 minutes]". */
export const DEFAULT_DISPATCH_DEADLINE_MS = 10 * 60_000;
const MIN_DISPATCH_DEADLINE_MS = 15_000;
const MAX_DISPATCH_DEADLINE_MS = 30 * 60_000;
/** Quotas: "Maximum schedule time for a task: 30 days from current date and time". */
const MAX_SCHEDULE_AHEAD_MS = 30 * 24 * 3600_000;
/**
 * CreateTask: "The maximum task size is 100KB." (the API reference shipped with the client;
 * the quotas page has allowed more for HTTP tasks: the stricter figure keeps local runs honest).
 */
const MAX_TASK_BYTES = 100 * 1024;
/** HttpRequest.headers: "The size of the headers must be less than 80KB." */
const MAX_HEADER_BYTES = 80 * 1024;
/** HttpRequest.url: "The maximum allowed URL length is 2083 characters after encoding." */
const MAX_URL_LENGTH = 2083;
const BODY_METHODS: ReadonlySet<string> = new Set(["POST", "PUT", "PATCH"]);
const TASK_ID = /^[A-Za-z0-9_-]{1,500}$/;

/**
 * Headers the service computes or reserves (HttpRequest.headers: Host, Content-Length,
 * User-Agent, X-Google-*, X-AppEngine-*; and the X-CloudTasks-* service headers).
 */
const RESERVED_HEADER = /^(host|content-length|user-agent|x-google-.*|x-appengine-.*|x-cloudtasks-.*)$/i;
export const USER_AGENT = "Google-Cloud-Tasks";

function invalid(message: string): RpcError {
  return new RpcError(GrpcStatus.INVALID_ARGUMENT, message);
}

export interface TaskName {
  queue: string;
  taskId: string;
}

/** Splits a full task name; INVALID_ARGUMENT with the real service's texts when malformed. */
export function parseTaskName(name: string | undefined): TaskName {
  const m = /^(.*)\/tasks\/([^/]*)$/.exec(name ?? "");
  if (!m || m[1] === undefined || m[2] === undefined) {
    throw invalid(
      'Task name must be formatted: "projects/<PROJECT_ID>/locations/<LOCATION_ID>/queues/<QUEUE_ID>/tasks/<TASK_ID>".',
    );
  }
  parseQueueName(m[1]);
  if (!TASK_ID.test(m[2])) {
    throw invalid(
      `Task ID "${m[2]}" can contain only letters ([A-Za-z]), numbers ([0-9]), hyphens (-), or underscores (_). Task ID must between 1 and 500 characters.`,
    );
  }
  return { queue: m[1], taskId: m[2] };
}

/** A generated task id: the service picks a random number (e.g. "5735318934522405493"). */
export function generatedTaskId(): string {
  return `${randomInt(1, 2 ** 47)}${String(randomInt(0, 1_000_000)).padStart(6, "0")}`;
}

function httpMethodOf(request: HttpRequestMessage): StoredHttpRequest["httpMethod"] {
  const m = request.httpMethod;
  return !m || m === "HTTP_METHOD_UNSPECIFIED" ? "POST" : m;
}

/** Validates a CreateTask's HTTP request and stores it with the service's defaults. */
export function storedHttpRequest(request: HttpRequestMessage | undefined): StoredHttpRequest {
  if (!request) throw invalid("Task.http_request is required.");
  const url = request.url ?? "";
  if (!/^https?:\/\//.test(url)) {
    throw invalid(`HttpRequest.url must begin with "http://" or "https://", got "${url}".`);
  }
  try {
    new URL(url);
  } catch {
    throw invalid(`HttpRequest.url "${url}" is not a valid URL.`);
  }
  if (encodeURI(url).length > MAX_URL_LENGTH) {
    throw invalid(`HttpRequest.url must not exceed ${MAX_URL_LENGTH} characters after encoding.`);
  }
  const httpMethod = httpMethodOf(request);
  const body = Buffer.from(request.body ?? []);
  if (body.length > 0 && !BODY_METHODS.has(httpMethod)) {
    throw invalid(`HttpRequest.body is allowed only with POST, PUT or PATCH, not ${httpMethod}.`);
  }
  const headers: Record<string, string> = {};
  let headerBytes = 0;
  for (const [key, value] of Object.entries(request.headers ?? {})) {
    headerBytes += Buffer.byteLength(key) + Buffer.byteLength(value);
    if (!RESERVED_HEADER.test(key)) headers[key] = value;
  }
  if (headerBytes >= MAX_HEADER_BYTES) throw invalid("HttpRequest.headers must be less than 80KB in total.");
  // Stored as the real service stores it (and shows it in GetTask): the user's headers,
  // names as given, plus the User-Agent it will send; no Content-Type is added.
  headers["User-Agent"] = USER_AGENT;
  const stored: StoredHttpRequest = { url, httpMethod, headers, body };
  if (request.oidcToken) {
    if (!request.oidcToken.serviceAccountEmail) throw invalid("OidcToken.service_account_email is required.");
    stored.oidcToken = {
      serviceAccountEmail: request.oidcToken.serviceAccountEmail,
      audience: request.oidcToken.audience ?? "",
    };
  }
  if (request.oauthToken) {
    if (!request.oauthToken.serviceAccountEmail)
      throw invalid("OAuthToken.service_account_email is required.");
    stored.oauthToken = {
      serviceAccountEmail: request.oauthToken.serviceAccountEmail,
      scope: request.oauthToken.scope || "https://www.googleapis.com/auth/cloud-platform",
    };
  }
  if (Buffer.byteLength(url) + headerBytes + body.length > MAX_TASK_BYTES) {
    throw invalid("Task size exceeds the maximum of 100KB.");
  }
  return stored;
}

/** dispatch_deadline in ms: the default when unset, INVALID_ARGUMENT outside [15s, 30min]. */
export function dispatchDeadlineMs(deadline: Duration | undefined): number {
  const ms = durationMs(deadline);
  if (ms === undefined) return DEFAULT_DISPATCH_DEADLINE_MS;
  if (ms < MIN_DISPATCH_DEADLINE_MS || ms > MAX_DISPATCH_DEADLINE_MS) {
    throw invalid(
      `Task.dispatch_deadline must be between 15s and 1800s for HTTP tasks, got ${(ms / 1000).toString()}s.`,
    );
  }
  return ms;
}

/** schedule_time: "If not set or is in the past then Cloud Tasks will set it to the current time." */
export function effectiveScheduleTime(requested: Date | undefined, now: Date): Date {
  if (!requested || requested.getTime() < now.getTime()) return now;
  if (requested.getTime() - now.getTime() > MAX_SCHEDULE_AHEAD_MS) {
    throw invalid("Task.schedule_time must not be more than 30 days in the future.");
  }
  return requested;
}

/** The view a request asked for: BASIC unless FULL ("VIEW_UNSPECIFIED: Defaults to BASIC"). */
export function viewOf(requested: TaskView | undefined): "BASIC" | "FULL" {
  return requested === "FULL" ? "FULL" : "BASIC";
}

/** The HTTP request as a view shows it: BASIC omits the body, which can be large or sensitive. */
export function httpRequestView(request: StoredHttpRequest, view: "BASIC" | "FULL"): HttpRequestMessage {
  return {
    url: request.url,
    httpMethod: request.httpMethod,
    headers: { ...request.headers },
    ...(view === "FULL" && request.body.length > 0 ? { body: request.body } : {}),
    ...(request.oidcToken ? { oidcToken: { ...request.oidcToken } } : {}),
    ...(request.oauthToken ? { oauthToken: { ...request.oauthToken } } : {}),
  };
}
