// The decisions that matter most for operations: which failures a retry can
// fix (5xx → Cloud Scheduler, Pub/Sub and Cloud Tasks retry) and which are
// permanent (the run is FAILED with a message naming the fix). Every error
// shape the adapters can see, from the Google client libraries and from
// @clickhouse/client, against the code and the retryable flag it maps to.
import { ClickHouseError } from "@clickhouse/client";
import { describe, expect, it } from "vitest";
import { toSourceError } from "../../functions/src/adapters/clickhouse.js";
import { fromGoogleError, googleErrorStatus } from "../../functions/src/adapters/google-errors.js";
import { ExportError, type ErrorCode } from "../../functions/src/core/errors.js";

/** An error as @google-cloud/common's ApiError (BigQuery, Storage) carries it. */
function apiError(code: number, reason?: string, message = "boom"): Error {
  return Object.assign(new Error(message), {
    code,
    errors: reason ? [{ reason, message }] : [],
    response: { status: code },
  });
}

/** A gaxios error from the token endpoint (google-auth-library). */
function tokenError(error: string, description: string): Error {
  return Object.assign(new Error(`${error}: ${description}`), {
    response: { status: 400, data: { error, error_description: description } },
  });
}

describe("fromGoogleError", () => {
  const cases: [string, unknown, ErrorCode, boolean][] = [
    [
      "403 accessDenied",
      apiError(403, "accessDenied", "Access Denied: Permission bigquery.tables.create denied"),
      "PERMISSION_DENIED",
      false,
    ],
    [
      "403 quotaExceeded (BigQuery reports quotas as 403)",
      apiError(403, "quotaExceeded"),
      "RATE_LIMITED",
      true,
    ],
    ["403 rateLimitExceeded", apiError(403, "rateLimitExceeded"), "RATE_LIMITED", true],
    ["429 Too Many Requests", apiError(429), "RATE_LIMITED", true],
    ["401 authError", apiError(401, "authError"), "BAD_CREDENTIALS", false],
    ["500 backendError", apiError(500, "backendError"), "UNAVAILABLE", true],
    ["503 Service Unavailable", apiError(503), "UNAVAILABLE", true],
    ["400 with reason backendError", apiError(400, "backendError"), "UNAVAILABLE", true],
    ["400 jobRateLimitExceeded", apiError(400, "jobRateLimitExceeded"), "UNAVAILABLE", true],
    ["400 invalid (a bad request)", apiError(400, "invalid"), "INTERNAL", false],
    ["404 notFound", apiError(404, "notFound"), "INTERNAL", false],
    [
      "a revoked key (invalid_grant)",
      tokenError("invalid_grant", "Invalid JWT Signature."),
      "BAD_CREDENTIALS",
      false,
    ],
    [
      "an unknown client (invalid_client)",
      tokenError("invalid_client", "The OAuth client was not found."),
      "BAD_CREDENTIALS",
      false,
    ],
    [
      "connection reset",
      new Error("request to https://bigquery.googleapis.com failed, reason: read ECONNRESET"),
      "UNAVAILABLE",
      true,
    ],
    ["connection refused", new Error("connect ECONNREFUSED 127.0.0.1:443"), "UNAVAILABLE", true],
    ["DNS failure", new Error("getaddrinfo EAI_AGAIN bigquery.googleapis.com"), "UNAVAILABLE", true],
    ["a socket hang up", new Error("socket hang up"), "UNAVAILABLE", true],
    ["anything else", new Error("unexpected"), "INTERNAL", false],
    ["a string thrown", "weird", "INTERNAL", false],
  ];
  it.each(cases)("%s → code and retryable", (_name, err, code, retryable) => {
    const e = fromGoogleError(err, "doing it");
    expect(e).toBeInstanceOf(ExportError);
    expect({ code: e.code, retryable: e.retryable }).toEqual({ code, retryable });
    expect(e.message).toContain("doing it");
    expect(e.cause).toBe(err);
  });

  it("names the fix for a rejected key", () => {
    const e = fromGoogleError(tokenError("invalid_grant", "Invalid JWT Signature."), "reading dataset p:d");
    expect(e.message).toMatch(/Upload a current JSON key/);
    expect(e.message).toContain("reading dataset p:d");
  });

  it("keeps an ExportError as it is", () => {
    const typed = new ExportError("CONFLICT", "x");
    expect(fromGoogleError(typed, "w")).toBe(typed);
  });

  it("reads the status from code, status or response.status", () => {
    expect(googleErrorStatus({ code: 409 })).toBe(409);
    expect(googleErrorStatus({ status: 412 })).toBe(412);
    expect(googleErrorStatus({ response: { status: 404 } })).toBe(404);
    expect(googleErrorStatus({ code: "ECONNRESET" })).toBeUndefined();
  });
});

describe("toSourceError (ClickHouse)", () => {
  const ch = (code: string, type: string, message = `Code: ${code}. DB::Exception: (${type})`) =>
    new ClickHouseError({ message, code, type });
  const cases: [string, unknown, boolean, RegExp | undefined][] = [
    ["159 TIMEOUT_EXCEEDED", ch("159", "TIMEOUT_EXCEEDED"), true, undefined],
    ["160 TOO_SLOW", ch("160", "TOO_SLOW"), true, undefined],
    ["202 TOO_MANY_SIMULTANEOUS_QUERIES", ch("202", "TOO_MANY_SIMULTANEOUS_QUERIES"), true, undefined],
    ["209 SOCKET_TIMEOUT", ch("209", "SOCKET_TIMEOUT"), true, undefined],
    ["210 NETWORK_ERROR", ch("210", "NETWORK_ERROR"), true, undefined],
    ["241 MEMORY_LIMIT_EXCEEDED", ch("241", "MEMORY_LIMIT_EXCEEDED"), true, undefined],
    ["242 TABLE_IS_READ_ONLY", ch("242", "TABLE_IS_READ_ONLY"), true, undefined],
    ["279 ALL_CONNECTION_TRIES_FAILED", ch("279", "ALL_CONNECTION_TRIES_FAILED"), true, undefined],
    ["425 SYSTEM_ERROR", ch("425", "SYSTEM_ERROR"), true, undefined],
    ["164 READONLY (a readonly=1 user)", ch("164", "READONLY"), false, /readonly=2/],
    ["516 AUTHENTICATION_FAILED", ch("516", "AUTHENTICATION_FAILED"), false, /BQX_CLICKHOUSE_USER/],
    ["497 ACCESS_DENIED", ch("497", "ACCESS_DENIED"), false, /GRANT SELECT/],
    ["60 UNKNOWN_TABLE", ch("60", "UNKNOWN_TABLE"), false, /BQX_CLICKHOUSE_DATABASE/],
    ["81 UNKNOWN_DATABASE", ch("81", "UNKNOWN_DATABASE"), false, /BQX_CLICKHOUSE_DATABASE/],
    ["62 SYNTAX_ERROR", ch("62", "SYNTAX_ERROR"), false, undefined],
    [
      "a reset connection",
      Object.assign(new Error("socket hang up"), { code: "ECONNRESET" }),
      true,
      /could not be reached/,
    ],
    ["a refused connection", new Error("connect ECONNREFUSED 10.0.0.1:8443"), true, /could not be reached/],
  ];
  it.each(cases)("%s", (_name, err, retryable, fix) => {
    const e = toSourceError(err);
    expect(e.code).toBe("SOURCE_FAILED");
    expect(e.retryable).toBe(retryable);
    if (fix) expect(e.message).toMatch(fix);
  });
});
