// The IAM Credentials API (iamcredentials.googleapis.com, REST v1) as far as the
// product uses it: generateAccessToken, which lets a caller holding
// roles/iam.serviceAccountTokenCreator on a service account obtain a short-lived
// access token OF that account (impersonation, no key anywhere). The token it
// mints is an ordinary token of the local IAM, so every emulator that resolves
// callers through the IAM (BigQuery's permission checks) sees the target account.
//
// Reference: https://cloud.google.com/iam/docs/reference/credentials/rest/v1/projects.serviceAccounts/generateAccessToken
//   POST /v1/projects/-/serviceAccounts/{email}:generateAccessToken
//   {"scope": [...] (required, at least one), "lifetime": "3600s" (default 1 hour, at most
//    1 hour unless an org policy extends it), "delegates": ["projects/-/serviceAccounts/…"]}
//   → {"accessToken": "...", "expireTime": "2026-11-25T11:00:00Z"}
// Errors are Google's JSON error bodies, with the texts the real service answers:
//   401 UNAUTHENTICATED  without a valid caller token;
//   404 NOT_FOUND        "Not found; Gaia id not found for email <email>" for an unknown account;
//   403 PERMISSION_DENIED "Permission 'iam.serviceAccounts.getAccessToken' denied on resource
//                        (or it may not exist)." with an ErrorInfo naming the permission. The real
//                        message does not name the account, so neither does this one: a caller that
//                        wants the account in its error must add it itself.
import type { IncomingMessage, ServerResponse } from "node:http";
import { readBody, sendJson } from "../common/net.js";
import { IamAuthError } from "./errors.js";
import type { Iam, Principal } from "./iam.js";
import { IAM_PERMISSIONS } from "./roles.js";

/** Default and, without the lifetime-extension org policy, maximum token lifetime (documented: 1 hour). */
const MAX_LIFETIME_S = 3600;
const SERVICE = "IAMCredentials";
const KNOWN_METHODS = new Set(["generateAccessToken", "generateIdToken", "signBlob", "signJwt"]);
const REQUEST_FIELDS = new Set(["delegates", "scope", "lifetime"]);
/** projects/-/serviceAccounts/{ACCOUNT_EMAIL_OR_UNIQUEID}; the "-" wildcard is required. */
const ACCOUNT_NAME = /^projects\/([^/]+)\/serviceAccounts\/([^/]+)$/;
/** google.protobuf.Duration in JSON: seconds with up to 9 fractional digits and an "s". */
const DURATION = /^(-?\d+)(?:\.(\d{1,9}))?s$/;

type Status = "INVALID_ARGUMENT" | "UNAUTHENTICATED" | "PERMISSION_DENIED" | "NOT_FOUND" | "UNIMPLEMENTED";
const HTTP_STATUS: Record<Status, number> = {
  INVALID_ARGUMENT: 400,
  UNAUTHENTICATED: 401,
  PERMISSION_DENIED: 403,
  NOT_FOUND: 404,
  UNIMPLEMENTED: 501,
};

/** A Google API error that becomes `{"error": {code, message, status, details}}`. */
class CredentialsApiError extends Error {
  constructor(
    readonly status: Status,
    message: string,
    readonly details: unknown[] = [],
  ) {
    super(message);
    this.name = "CredentialsApiError";
  }
}

function sendError(res: ServerResponse, err: CredentialsApiError): void {
  const code = HTTP_STATUS[err.status];
  sendJson(
    res,
    code,
    {
      error: {
        code,
        message: err.message,
        status: err.status,
        ...(err.details.length > 0 ? { details: err.details } : {}),
      },
    },
    code === 401 ? { "www-authenticate": 'Bearer realm="https://accounts.google.com/"' } : {},
  );
}

function permissionDenied(permission: string): CredentialsApiError {
  return new CredentialsApiError(
    "PERMISSION_DENIED",
    `Permission '${permission}' denied on resource (or it may not exist).`,
    [
      {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        reason: "IAM_PERMISSION_DENIED",
        domain: "iam.googleapis.com",
        metadata: { permission },
      },
    ],
  );
}

function accountNotFound(email: string): CredentialsApiError {
  return new CredentialsApiError("NOT_FOUND", `Not found; Gaia id not found for email ${email}`);
}

/** The account email in "projects/-/serviceAccounts/EMAIL"; INVALID_ARGUMENT naming the field otherwise. */
function accountOf(name: string, field: string): string {
  const m = ACCOUNT_NAME.exec(name);
  if (!m?.[1] || !m[2]) {
    throw new CredentialsApiError(
      "INVALID_ARGUMENT",
      `${field}: "${name}" is not a service account resource name; use projects/-/serviceAccounts/ACCOUNT_EMAIL.`,
    );
  }
  if (m[1] !== "-") {
    throw new CredentialsApiError(
      "INVALID_ARGUMENT",
      `${field}: the project in "${name}" must be the "-" wildcard; replacing it with a project ID is invalid.`,
    );
  }
  return m[2];
}

interface GenerateAccessTokenRequest {
  scope: string[];
  lifetimeS: number;
  delegates: string[];
}

function stringList(value: unknown, field: string): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || value.some((v) => typeof v !== "string")) {
    throw new CredentialsApiError(
      "INVALID_ARGUMENT",
      `Invalid value at '${field}' (type.googleapis.com/google.protobuf.ListValue): a list of strings is expected.`,
    );
  }
  return value as string[];
}

/** Parses and validates the JSON body as the real API does (unknown fields are errors). */
function parseRequest(body: string): GenerateAccessTokenRequest {
  let parsed: unknown;
  try {
    parsed = body.trim() === "" ? {} : JSON.parse(body);
  } catch {
    throw new CredentialsApiError("INVALID_ARGUMENT", "Invalid JSON payload received. Unexpected token.");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new CredentialsApiError(
      "INVALID_ARGUMENT",
      "Invalid JSON payload received. Expected an object for GenerateAccessTokenRequest.",
    );
  }
  const fields = parsed as Record<string, unknown>;
  for (const key of Object.keys(fields)) {
    if (!REQUEST_FIELDS.has(key)) {
      throw new CredentialsApiError(
        "INVALID_ARGUMENT",
        `Invalid JSON payload received. Unknown name "${key}": Cannot find field.`,
      );
    }
  }
  const scope = stringList(fields.scope, "scope").filter((s) => s !== "");
  if (scope.length === 0) {
    throw new CredentialsApiError(
      "INVALID_ARGUMENT",
      "scope is required: at least one OAuth 2.0 scope must be requested.",
    );
  }
  return {
    scope,
    lifetimeS: lifetimeSeconds(fields.lifetime),
    delegates: stringList(fields.delegates, "delegates"),
  };
}

function lifetimeSeconds(value: unknown): number {
  if (value === undefined || value === null) return MAX_LIFETIME_S;
  const m = typeof value === "string" ? DURATION.exec(value) : null;
  if (!m?.[1]) {
    throw new CredentialsApiError(
      "INVALID_ARGUMENT",
      `Invalid value at 'lifetime' (type.googleapis.com/google.protobuf.Duration), ${JSON.stringify(value)}`,
    );
  }
  const seconds = Number(m[1]) + Number(`0.${m[2] ?? "0"}`);
  if (seconds <= 0 || seconds > MAX_LIFETIME_S) {
    throw new CredentialsApiError(
      "INVALID_ARGUMENT",
      `lifetime ${m[0]} is out of range: it must be more than 0s and at most ${MAX_LIFETIME_S}s ` +
        "(longer lifetimes need the constraints/iam.allowServiceAccountCredentialLifetimeExtension organization policy).",
    );
  }
  return Math.floor(seconds);
}

function principalOf(iam: Iam, authorization: string | undefined): Principal {
  try {
    return iam.principalFor(authorization);
  } catch (err) {
    if (err instanceof IamAuthError) {
      throw new CredentialsApiError(
        "UNAUTHENTICATED",
        "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.",
      );
    }
    throw err;
  }
}

/**
 * Walks the delegation chain caller → delegates… → target: each hop needs the permission on
 * the next account (iam.serviceAccounts.implicitDelegation into a delegate that acts on,
 * iam.serviceAccounts.getAccessToken on the target), which roles/iam.serviceAccountTokenCreator grants.
 */
function checkChain(iam: Iam, caller: string, delegates: string[], target: string): void {
  const chain = [...delegates, target];
  let actor = caller;
  for (const [i, account] of chain.entries()) {
    const projectId = iam.serviceAccountProject(account);
    if (projectId === undefined) throw accountNotFound(account);
    const permission =
      i === chain.length - 1 ? IAM_PERMISSIONS.getAccessToken : IAM_PERMISSIONS.implicitDelegation;
    if (!iam.hasPermission(actor, permission, { projectId, serviceAccount: account })) {
      throw permissionDenied(permission);
    }
    actor = account;
  }
}

function rfc3339Seconds(at: Date): string {
  return at.toISOString().replace(/\.\d{3}Z$/, "Z");
}

async function generateAccessToken(
  iam: Iam,
  req: IncomingMessage,
  target: string,
): Promise<{ accessToken: string; expireTime: string }> {
  const caller = principalOf(iam, req.headers.authorization);
  const request = parseRequest((await readBody(req, 1 << 20)).toString("utf8"));
  const delegates = request.delegates.map((d, i) => accountOf(d, `delegates[${i}]`));
  // An unknown target is a 404 whoever asks (the real service looks the account up first).
  if (iam.serviceAccountProject(target) === undefined) throw accountNotFound(target);
  checkChain(iam, caller.email, delegates, target);
  const issued = iam.mintAccessToken(target, request.lifetimeS, request.scope);
  return { accessToken: issued.token, expireTime: rfc3339Seconds(issued.expiresAt) };
}

/** Serves POST /v1/projects/-/serviceAccounts/{account}:{method} for the IAM's HTTP server. */
export async function handleCredentialsRequest(
  iam: Iam,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  try {
    const path = decodeURIComponent(new URL(req.url ?? "/", "http://localhost").pathname);
    const m = /^\/v1\/(projects\/[^/]+\/serviceAccounts\/[^/:]+):([A-Za-z]+)$/.exec(path);
    if (!m?.[1] || !m[2] || !KNOWN_METHODS.has(m[2]) || req.method !== "POST") {
      throw new CredentialsApiError(
        "NOT_FOUND",
        `${req.method ?? "?"} ${path} is not a method of the IAM Credentials API.`,
      );
    }
    const target = accountOf(m[1], "name");
    if (m[2] !== "generateAccessToken") {
      const method = m[2].charAt(0).toUpperCase() + m[2].slice(1);
      throw new CredentialsApiError(
        "UNIMPLEMENTED",
        `${SERVICE}.${method} is not implemented by the local emulator`,
      );
    }
    sendJson(res, 200, await generateAccessToken(iam, req, target));
  } catch (err) {
    if (err instanceof CredentialsApiError) sendError(res, err);
    else throw err;
  }
}
