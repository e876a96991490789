// BigQuery's error shapes: the HTTP error body of the REST API, and the
// ErrorProto inside job statuses, with BigQuery's reasons.

export type BigQueryReason =
  | "notFound"
  | "duplicate"
  | "invalid"
  | "invalidQuery"
  | "accessDenied"
  | "rateLimitExceeded"
  | "quotaExceeded"
  | "backendError"
  | "internalError"
  | "stopped"
  | "required"
  | "authError"
  | "badRequest"
  | "notImplemented"
  | "resourcesExceeded";

/** ErrorProto (REST v2): what status.errorResult and status.errors hold. */
export interface ErrorProto {
  reason: string;
  message: string;
  location?: string;
  debugInfo?: string;
}

const HTTP_STATUS: Record<BigQueryReason, number> = {
  notFound: 404,
  duplicate: 409,
  invalid: 400,
  invalidQuery: 400,
  accessDenied: 403,
  rateLimitExceeded: 403,
  quotaExceeded: 403,
  backendError: 503,
  internalError: 500,
  stopped: 200,
  required: 400,
  authError: 401,
  badRequest: 400,
  notImplemented: 501,
  resourcesExceeded: 400,
};

const RPC_STATUS: Record<number, string> = {
  400: "INVALID_ARGUMENT",
  401: "UNAUTHENTICATED",
  403: "PERMISSION_DENIED",
  404: "NOT_FOUND",
  409: "ALREADY_EXISTS",
  500: "INTERNAL",
  501: "UNIMPLEMENTED",
  503: "UNAVAILABLE",
};

// google.rpc.Code numbers, for audit-log statuses.
const RPC_CODE: Record<string, number> = {
  INVALID_ARGUMENT: 3,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  ABORTED: 10,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
};

export function httpStatusFor(reason: string): number {
  return HTTP_STATUS[reason as BigQueryReason] ?? 400;
}

/** google.rpc.Code for a BigQuery reason (used in audit LogEntry statuses). */
export function rpcCodeFor(reason: string): number {
  if (reason === "rateLimitExceeded" || reason === "quotaExceeded" || reason === "resourcesExceeded") {
    return RPC_CODE["RESOURCE_EXHAUSTED"] ?? 8;
  }
  if (reason === "stopped") return RPC_CODE["ABORTED"] ?? 10;
  const status = RPC_STATUS[httpStatusFor(reason)] ?? "INVALID_ARGUMENT";
  return RPC_CODE[status] ?? 3;
}

/** A REST failure: answered as BigQuery's error body. */
export class ApiError extends Error {
  readonly httpStatus: number;
  constructor(
    readonly reason: string,
    message: string,
    options: { httpStatus?: number; location?: string; extraErrors?: ErrorProto[] } = {},
  ) {
    super(message);
    this.name = "ApiError";
    this.httpStatus = options.httpStatus ?? httpStatusFor(reason);
    this.location = options.location;
    this.extraErrors = options.extraErrors ?? [];
  }
  readonly location: string | undefined;
  readonly extraErrors: ErrorProto[];

  toProto(): ErrorProto {
    return {
      reason: this.reason,
      message: this.message,
      ...(this.location ? { location: this.location } : {}),
    };
  }

  /** {"error": {code, message, errors: [{message, domain, reason}], status}} */
  toBody(): unknown {
    const errors = [this.toProto(), ...this.extraErrors].map((e) => ({
      message: e.message,
      domain: "global",
      reason: e.reason,
      ...(e.location ? { location: e.location, locationType: "other" } : {}),
    }));
    return {
      error: {
        code: this.httpStatus,
        message: this.message,
        errors,
        status: RPC_STATUS[this.httpStatus] ?? "UNKNOWN",
      },
    };
  }
}

export const notFound = (what: string): ApiError => new ApiError("notFound", `Not found: ${what}`);
export const duplicate = (what: string): ApiError => new ApiError("duplicate", `Already Exists: ${what}`);
export const invalid = (message: string): ApiError => new ApiError("invalid", message);
