// Maps errors from the Google client libraries to typed ExportErrors: HTTP
// status and BigQuery/GCS error reasons decide the code and whether a retry
// can help.
import { ExportError, type ErrorCode } from "../core/errors.js";

interface GoogleLikeError {
  code?: number | string;
  status?: number;
  message?: string;
  errors?: { reason?: string; message?: string }[];
  response?: { status?: number; data?: unknown };
}

export function googleErrorStatus(err: unknown): number | undefined {
  const e = err as GoogleLikeError;
  if (typeof e?.code === "number") return e.code;
  if (typeof e?.status === "number") return e.status;
  if (typeof e?.response?.status === "number") return e.response.status;
  return undefined;
}

export function googleErrorReason(err: unknown): string | undefined {
  const e = err as GoogleLikeError;
  return e?.errors?.[0]?.reason;
}

const RETRYABLE_REASONS = new Set([
  "rateLimitExceeded",
  "backendError",
  "internalError",
  "jobRateLimitExceeded",
]);

/**
 * `what` names the operation for the message ("creating table p:d.t"). OAuth
 * token failures (a revoked or mistyped key) become BAD_CREDENTIALS.
 */
export function fromGoogleError(err: unknown, what: string): ExportError {
  if (err instanceof ExportError) return err;
  const e = err as GoogleLikeError;
  const status = googleErrorStatus(err);
  const reason = googleErrorReason(err);
  const message = e?.message ?? String(err);
  const data = e?.response?.data as { error?: unknown; error_description?: unknown } | undefined;
  if (
    typeof data?.error === "string" &&
    /invalid_grant|invalid_client|unauthorized_client/.test(data.error)
  ) {
    const description = typeof data.error_description === "string" ? data.error_description : data.error;
    return new ExportError(
      "BAD_CREDENTIALS",
      `The destination service-account key was rejected while ${what}: ${description}. Upload a current JSON key for the service account to the export's key secret.`,
      { cause: err },
    );
  }
  let code: ErrorCode;
  let retryable: boolean;
  if (reason === "quotaExceeded" || reason === "rateLimitExceeded" || status === 429) {
    code = "RATE_LIMITED";
    retryable = true;
  } else if (status === 401) {
    code = "BAD_CREDENTIALS";
    retryable = false;
  } else if (status === 403) {
    code = "PERMISSION_DENIED";
    retryable = false;
  } else if (status !== undefined && status >= 500) {
    code = "UNAVAILABLE";
    retryable = true;
  } else if (reason && RETRYABLE_REASONS.has(reason)) {
    code = "UNAVAILABLE";
    retryable = true;
  } else if (
    status === undefined &&
    /ECONNRESET|ECONNREFUSED|ETIMEDOUT|socket hang up|EAI_AGAIN/.test(message)
  ) {
    code = "UNAVAILABLE";
    retryable = true;
  } else {
    code = "INTERNAL";
    retryable = false;
  }
  return new ExportError(code, `${what}: ${message}`, {
    retryable,
    cause: err,
    details: { ...(status ? { status } : {}), ...(reason ? { reason } : {}) },
  });
}
