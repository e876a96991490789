// One dispatch attempt of an HTTP task: the request Cloud Tasks sends (the task's
// method, URL, body and headers, its service headers, an OIDC or OAuth bearer token)
// and the wait for an answer within the dispatch deadline.
//
// Service headers, per https://cloud.google.com/tasks/docs/creating-http-target-tasks
// ("Reading request headers") and what the real service was recorded sending:
//   X-CloudTasks-QueueName           the queue's short id
//   X-CloudTasks-TaskName            the task's short id
//   X-CloudTasks-TaskRetryCount      attempts before this one (0 on the first)
//   X-CloudTasks-TaskExecutionCount  earlier attempts that got a response, 5XX answers excluded
//   X-CloudTasks-TaskETA             the schedule time, in seconds since the epoch
//   X-CloudTasks-TaskPreviousResponse / X-CloudTasks-TaskRetryReason  on a retry after an
//                                    HTTP answer: its status code, and an empty reason
//   User-Agent: Google-Cloud-Tasks
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import type { StoredHttpRequest } from "./task-messages.js";
import { USER_AGENT } from "./task-messages.js";

/** What the attempt knows about the task and its history when it starts. */
export interface AttemptContext {
  queueId: string;
  taskId: string;
  request: StoredHttpRequest;
  scheduleTime: Date;
  /** Attempts dispatched before this one. */
  retryCount: number;
  /** Earlier attempts answered with a status other than 5XX. */
  executionCount: number;
  /** The HTTP status of the previous attempt, when it got one. */
  previousResponse?: number;
}

/** How the attempt ended: an HTTP status, or no answer (deadline or connection failure). */
export type AttemptOutcome =
  | { kind: "response"; status: number }
  | { kind: "deadline"; message: string }
  | { kind: "unreachable"; message: string };

export interface BearerTokens {
  /** ID token for an OIDC-authenticated target. */
  oidc(audience: string, serviceAccountEmail: string): string;
  /** Access token for an OAuth-authenticated target (a Google API). */
  oauth(serviceAccountEmail: string, scope: string): string;
}

export function requestHeaders(ctx: AttemptContext, tokens: BearerTokens): Record<string, string> {
  const headers: Record<string, string> = {};
  const stored = ctx.request;
  for (const [key, value] of Object.entries(stored.headers)) {
    // The bearer token of an authenticated target overrides any Authorization header the task has.
    if ((stored.oidcToken || stored.oauthToken) && key.toLowerCase() === "authorization") continue;
    headers[key] = value;
  }
  headers["User-Agent"] = USER_AGENT;
  headers["X-CloudTasks-QueueName"] = ctx.queueId;
  headers["X-CloudTasks-TaskName"] = ctx.taskId;
  headers["X-CloudTasks-TaskRetryCount"] = String(ctx.retryCount);
  headers["X-CloudTasks-TaskExecutionCount"] = String(ctx.executionCount);
  headers["X-CloudTasks-TaskETA"] = (ctx.scheduleTime.getTime() / 1000).toFixed(6);
  if (ctx.previousResponse !== undefined) {
    headers["X-CloudTasks-TaskPreviousResponse"] = String(ctx.previousResponse);
    headers["X-CloudTasks-TaskRetryReason"] = "";
  }
  if (stored.oidcToken) {
    // OidcToken.audience: "If not specified, the URI specified in target will be used."
    const audience = stored.oidcToken.audience || stored.url;
    headers["Authorization"] = `Bearer ${tokens.oidc(audience, stored.oidcToken.serviceAccountEmail)}`;
  } else if (stored.oauthToken) {
    headers["Authorization"] =
      `Bearer ${tokens.oauth(stored.oauthToken.serviceAccountEmail, stored.oauthToken.scope)}`;
  }
  return headers;
}

/** Sends the request; resolves with its outcome, never rejects. */
export function send(
  request: StoredHttpRequest,
  headers: Record<string, string>,
  deadlineRealMs: number,
  deadlineLabel: string,
): { outcome: Promise<AttemptOutcome>; abort(): void } {
  let abort = (): void => undefined;
  const outcome = new Promise<AttemptOutcome>((resolve) => {
    const url = new URL(request.url);
    const body = request.body.length > 0 ? request.body : undefined;
    const req = (url.protocol === "https:" ? httpsRequest : httpRequest)(
      url,
      {
        method: request.httpMethod,
        headers: { ...headers, ...(body ? { "Content-Length": String(body.length) } : {}) },
      },
      (res) => {
        clearTimeout(timer);
        res.resume(); // only the status matters
        resolve({ kind: "response", status: res.statusCode ?? 0 });
      },
    );
    // "If the worker does not respond by this deadline then the request is cancelled and
    // the attempt is marked as a DEADLINE_EXCEEDED failure."
    const timer = setTimeout(() => {
      req.destroy();
      resolve({ kind: "deadline", message: `No response within the dispatch deadline (${deadlineLabel}).` });
    }, deadlineRealMs);
    req.on("error", (err) => {
      clearTimeout(timer);
      resolve({ kind: "unreachable", message: err.message });
    });
    abort = () => {
      clearTimeout(timer);
      req.destroy();
      resolve({ kind: "unreachable", message: "the local Cloud Tasks server stopped" });
    };
    req.end(body);
  });
  return { outcome, abort: () => abort() };
}
