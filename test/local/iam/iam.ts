// The local IAM: service accounts and their keys, a token endpoint that trades a
// key's signed JWT for an access token, the IAM Credentials API's
// generateAccessToken (impersonation, see credentials-api.ts), role bindings on
// projects, datasets and service accounts, and the permission checks the local
// emulators make on every call.
import { createPublicKey, generateKeyPairSync, randomBytes, randomUUID, type KeyObject } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { readBody, sendJson, startHttpServer, type RunningHttpServer } from "../common/net.js";
import { decodeJwt, verifyRs256, type DecodedJwt } from "./jwt.js";
import type { Role } from "./roles.js";
import { handleCredentialsRequest } from "./credentials-api.js";
import { IamAuthError } from "./errors.js";

export { IamAuthError };

/** The key file a user downloads for a service account (the seed's "JSON key file"). */
export interface ServiceAccountKeyFile {
  type: "service_account";
  project_id: string;
  private_key_id: string;
  private_key: string;
  client_email: string;
  client_id: string;
  auth_uri: string;
  token_uri: string;
}

/**
 * Where a role is granted or checked: a project, or one resource in it (a dataset, or a
 * service account: set at most one of the two). A project grant applies to every
 * resource in the project, as IAM policies inherit downwards.
 */
export interface IamResource {
  projectId: string;
  datasetId?: string;
  /** A service account's email: the resource `projects/P/serviceAccounts/EMAIL`. */
  serviceAccount?: string;
}

export interface Principal {
  /** e.g. "exporter@my-project.iam.gserviceaccount.com" */
  email: string;
  /**
   * OAuth scopes the credential carries, when it was minted for named scopes
   * (generateAccessToken); undefined for setup tokens and keys, which are not scope-limited here.
   */
  scopes?: readonly string[];
}

/** An access token as minted: the token, whose it is, and when it stops working. */
export interface IssuedToken {
  token: string;
  email: string;
  expiresAt: Date;
  scopes?: readonly string[];
}

const GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token";
const JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const ACCESS_TOKEN_TTL_S = 3600;
// Google refuses assertions valid for more than an hour; allow a little clock skew.
const MAX_JWT_LIFETIME_S = 3600;
const CLOCK_SKEW_S = 300;

interface RegisteredKey {
  email: string;
  keyId: string;
  publicKey: KeyObject;
}

interface Binding {
  resource: IamResource;
  role: Role;
}

function resourceKey(r: IamResource): string {
  if (r.serviceAccount !== undefined) return `projects/${r.projectId}/serviceAccounts/${r.serviceAccount}`;
  return r.datasetId === undefined
    ? `projects/${r.projectId}`
    : `projects/${r.projectId}/datasets/${r.datasetId}`;
}

/** Whether a grant on `granted` reaches `checked`: the same resource, or its project. */
function grantReaches(granted: IamResource, checked: IamResource): boolean {
  if (granted.projectId !== checked.projectId) return false;
  if (granted.datasetId === undefined && granted.serviceAccount === undefined) return true;
  return resourceKey(granted) === resourceKey(checked);
}

export class Iam {
  private readonly keys = new Map<string, RegisteredKey>();
  private readonly accountKeys = new Map<string, RegisteredKey[]>();
  /** Service accounts that exist, by email, with their project. */
  private readonly accounts = new Map<string, { projectId: string }>();
  private readonly tokens = new Map<string, IssuedToken>();
  private readonly bindings = new Map<string, Binding[]>();
  private http: RunningHttpServer | undefined;

  /**
   * Starts an IAM on 127.0.0.1 serving its token endpoint and, under /v1/, the IAM
   * Credentials API (see credentials-api.ts).
   */
  static async start(): Promise<Iam> {
    const iam = new Iam();
    iam.http = await startHttpServer((req, res) =>
      (req.url ?? "").startsWith("/v1/")
        ? handleCredentialsRequest(iam, req, res)
        : iam.handleTokenRequest(req, res),
    );
    return iam;
  }

  /** The token endpoint ("token_uri" of minted key files). */
  get tokenUri(): string {
    if (!this.http)
      throw new Error("Iam.start() serves the token endpoint; this IAM was constructed without it");
    return `${this.http.url}/token`;
  }

  /**
   * Base URL of the IAM Credentials API (what https://iamcredentials.googleapis.com is in
   * production): the `endpoint` option of google-auth-library's Impersonated client.
   */
  get credentialsEndpoint(): string {
    if (!this.http)
      throw new Error("Iam.start() serves the IAM Credentials API; this IAM was constructed without it");
    return this.http.url;
  }

  async close(): Promise<void> {
    await this.http?.close();
    this.http = undefined;
  }

  /**
   * Registers a service account without any key: one that is only ever used through
   * impersonation, the keyless setup Google recommends.
   */
  addServiceAccount(email: string, projectId: string): void {
    if (!this.accounts.has(email)) this.accounts.set(email, { projectId });
  }

  /** The project of an existing service account; undefined when no such account exists. */
  serviceAccountProject(email: string): string | undefined {
    return this.accounts.get(email)?.projectId;
  }

  /** Registers a service account with a fresh RSA key and returns its key file. */
  createServiceAccount(email: string, projectId: string): ServiceAccountKeyFile {
    this.addServiceAccount(email, projectId);
    const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const keyId = randomBytes(20).toString("hex");
    const key: RegisteredKey = { email, keyId, publicKey };
    this.keys.set(keyId, key);
    this.accountKeys.set(email, [...(this.accountKeys.get(email) ?? []), key]);
    return {
      type: "service_account",
      project_id: projectId,
      private_key_id: keyId,
      private_key: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
      client_email: email,
      client_id: String(BigInt(`0x${randomBytes(8).toString("hex")}`)),
      auth_uri: "https://accounts.google.com/o/oauth2/auth",
      token_uri: this.http ? this.tokenUri : GOOGLE_TOKEN_URL,
    };
  }

  /** Deletes a key: JWTs signed with it stop verifying (tokens already issued stay valid until they expire). */
  deleteKey(keyId: string): void {
    const key = this.keys.get(keyId);
    if (!key) return;
    this.keys.delete(keyId);
    this.accountKeys.set(
      key.email,
      (this.accountKeys.get(key.email) ?? []).filter((k) => k.keyId !== keyId),
    );
  }

  /** Registers an externally generated public key (PEM) for an account (of the project in its email). */
  addPublicKey(email: string, keyId: string, publicKeyPem: string): void {
    const project = /@([^.]+)\.iam\.gserviceaccount\.com$/.exec(email)?.[1];
    if (project) this.addServiceAccount(email, project);
    const key: RegisteredKey = { email, keyId, publicKey: createPublicKey(publicKeyPem) };
    this.keys.set(keyId, key);
    this.accountKeys.set(email, [...(this.accountKeys.get(email) ?? []), key]);
  }

  /**
   * An access token for a principal, without a key (for test and stack setup).
   * Tokens last an hour as Google's do; long-running stacks can ask for more.
   */
  issueAccessToken(email: string, ttlSeconds = ACCESS_TOKEN_TTL_S): string {
    return this.mintAccessToken(email, ttlSeconds).token;
  }

  /** Mints an access token for `email`, optionally limited to OAuth scopes, valid for `ttlSeconds`. */
  mintAccessToken(email: string, ttlSeconds: number, scopes?: readonly string[]): IssuedToken {
    const issued: IssuedToken = {
      token: `ya29.local-${randomUUID()}`,
      email,
      // Whole seconds, as Google's expireTime is.
      expiresAt: new Date(Math.floor(Date.now() / 1000) * 1000 + ttlSeconds * 1000),
      ...(scopes ? { scopes: [...scopes] } : {}),
    };
    this.tokens.set(issued.token, issued);
    return issued;
  }

  grant(email: string, resource: IamResource, role: Role): void {
    const list = this.bindings.get(email) ?? [];
    list.push({ resource, role });
    this.bindings.set(email, list);
  }

  /** Removes the principal's bindings on the resource (only the named role, if given). */
  revoke(email: string, resource: IamResource, roleName?: string): void {
    const key = resourceKey(resource);
    const list = this.bindings.get(email) ?? [];
    this.bindings.set(
      email,
      list.filter(
        (b) => resourceKey(b.resource) !== key || (roleName !== undefined && b.role.name !== roleName),
      ),
    );
  }

  /** Removes every binding of the principal. */
  revokeAll(email: string): void {
    this.bindings.delete(email);
  }

  /**
   * Effective permissions on a resource: grants on a dataset or a service account add
   * to those on its project (IAM inheritance: project → dataset → table, project →
   * service account).
   */
  permissionsOf(email: string, resource: IamResource): Set<string> {
    const result = new Set<string>();
    for (const b of this.bindings.get(email) ?? []) {
      if (grantReaches(b.resource, resource)) for (const p of b.role.permissions) result.add(p);
    }
    return result;
  }

  hasPermission(email: string, permission: string, resource: IamResource): boolean {
    return this.permissionsOf(email, resource).has(permission);
  }

  /**
   * The principal behind an Authorization header: an access token issued by
   * the token endpoint, or a self-signed service-account JWT (what
   * google-auth-library sends with useJWTAccessWithScope). Throws IamAuthError
   * for a missing, unknown, expired or badly signed credential.
   */
  principalFor(authorization: string | undefined): Principal {
    const match = /^Bearer\s+(\S+)$/i.exec(authorization ?? "");
    if (!match?.[1]) throw new IamAuthError("Request is missing required authentication credential.");
    const token = match[1];
    const issued = this.tokens.get(token);
    if (issued) {
      if (issued.expiresAt.getTime() <= Date.now()) throw new IamAuthError("The access token has expired.");
      return { email: issued.email, ...(issued.scopes ? { scopes: issued.scopes } : {}) };
    }
    const jwt = decodeJwt(token);
    if (!jwt) throw new IamAuthError("Invalid Credentials: unknown access token.");
    const problem = this.jwtProblem(jwt, "self-signed");
    if (problem) throw new IamAuthError(`Invalid Credentials: ${problem}`);
    return { email: String(jwt.claims.iss) };
  }

  private jwtProblem(jwt: DecodedJwt, use: "self-signed" | "assertion"): string | undefined {
    const { claims } = jwt;
    if (typeof claims.iss !== "string") return "Invalid JWT: missing iss.";
    const candidates =
      jwt.header.kid !== undefined
        ? [this.keys.get(jwt.header.kid)].filter((k): k is RegisteredKey => k?.email === claims.iss)
        : (this.accountKeys.get(claims.iss) ?? []);
    if (candidates.length === 0) return "Invalid JWT Signature.";
    if (!candidates.some((k) => verifyRs256(jwt, k.publicKey))) return "Invalid JWT Signature.";
    const now = Math.floor(Date.now() / 1000);
    if (typeof claims.exp !== "number" || typeof claims.iat !== "number") {
      return "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.";
    }
    if (
      claims.exp < now - CLOCK_SKEW_S ||
      claims.iat > now + CLOCK_SKEW_S ||
      claims.exp - claims.iat > MAX_JWT_LIFETIME_S
    ) {
      return "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.";
    }
    if (use === "assertion") {
      const audOk =
        claims.aud === GOOGLE_TOKEN_URL || (this.http !== undefined && claims.aud === this.tokenUri);
      if (!audOk) return "Invalid JWT: Failed audience check.";
      if (typeof claims.scope !== "string" && typeof claims.target_audience !== "string") {
        return "Invalid OAuth scope or ID token audience provided.";
      }
    } else {
      if (claims.sub !== undefined && claims.sub !== claims.iss) return "Invalid JWT: sub must equal iss.";
      if (typeof claims.scope !== "string" && typeof claims.aud !== "string")
        return "Invalid JWT: missing aud or scope.";
    }
    return undefined;
  }

  /** POST token_uri with grant_type=jwt-bearer and assertion=<signed JWT> (RFC 7523). */
  async handleTokenRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== "POST") {
      sendJson(res, 405, { error: "invalid_request", error_description: "Use POST." });
      return;
    }
    const body = (await readBody(req, 1 << 20)).toString("utf8");
    const contentType = req.headers["content-type"] ?? "";
    const params = contentType.includes("application/json")
      ? new URLSearchParams(Object.entries(JSON.parse(body) as Record<string, string>))
      : new URLSearchParams(body);
    if (params.get("grant_type") !== JWT_BEARER) {
      sendJson(res, 400, { error: "unsupported_grant_type", error_description: "Invalid grant_type." });
      return;
    }
    const jwt = decodeJwt(params.get("assertion") ?? "");
    if (!jwt) {
      sendJson(res, 400, { error: "invalid_grant", error_description: "Invalid JWT: malformed assertion." });
      return;
    }
    const problem = this.jwtProblem(jwt, "assertion");
    if (problem) {
      sendJson(res, 400, { error: "invalid_grant", error_description: problem });
      return;
    }
    const token = this.issueAccessToken(String(jwt.claims.iss));
    sendJson(res, 200, { access_token: token, expires_in: ACCESS_TOKEN_TTL_S - 1, token_type: "Bearer" });
  }
}
