// Service-account impersonation through the local IAM Credentials API, driven by
// google-auth-library's own Impersonated client (unchanged: only its `endpoint`
// option points at the local IAM), and the impersonated token used against the
// local BigQuery, whose permission checks must see the TARGET account.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { BigQuery } from "@google-cloud/bigquery";
import { Impersonated, type AuthClient } from "google-auth-library";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BIGQUERY_SCOPE, staticTokenAuth } from "../bigquery/client-auth.js";
import { startBigQueryServer, type BigQueryServer } from "../bigquery/server.js";
import { Iam } from "./iam.js";
import { BIGQUERY_ADMIN, BIGQUERY_DATA_EDITOR, BIGQUERY_JOB_USER, TOKEN_CREATOR } from "./roles.js";

const PROJECT = "bqx-impersonation";
const FUNCTIONS_SA = `bqx-functions@${PROJECT}.iam.gserviceaccount.com`;
const TARGET_SA = `bq-writer@${PROJECT}.iam.gserviceaccount.com`;
const OTHER_SA = `bq-other@${PROJECT}.iam.gserviceaccount.com`;
const STRANGER_SA = `stranger@${PROJECT}.iam.gserviceaccount.com`;
const ALLOWED = "allowed_ds";
const FORBIDDEN = "forbidden_ds";

interface GoogleErrorBody {
  error: { code: number; message: string; status: string; details?: Array<Record<string, unknown>> };
}

describe("IAM Credentials generateAccessToken (impersonation)", () => {
  let dir: string;
  let iam: Iam;
  let bigquery: BigQueryServer;
  let functionsToken: string;

  /** What the product builds: an Impersonated client whose source is the function's own identity. */
  const impersonate = (
    source: AuthClient,
    target: string,
    extra: { lifetime?: number; scopes?: string[] } = {},
  ) =>
    new Impersonated({
      sourceClient: source,
      targetPrincipal: target,
      targetScopes: extra.scopes ?? [BIGQUERY_SCOPE],
      lifetime: extra.lifetime ?? 3600,
      // The only change from production: the IAM Credentials API's base URL.
      endpoint: iam.credentialsEndpoint,
    });

  /** POSTs an IAM Credentials method directly, for the wire shapes (`token: null` sends none). */
  async function post(
    name: string,
    body: unknown,
    token: string | null = functionsToken,
  ): Promise<{ status: number; json: unknown }> {
    const res = await fetch(`${iam.credentialsEndpoint}/v1/${name}`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        ...(token !== null ? { authorization: `Bearer ${token}` } : {}),
      },
      body: JSON.stringify(body),
    });
    return { status: res.status, json: await res.json() };
  }

  const generate = (target: string, body: unknown, token?: string | null) =>
    post(`projects/-/serviceAccounts/${target}:generateAccessToken`, body, token);

  async function rejection(call: Promise<unknown>): Promise<Error & { status?: number; code?: number }> {
    try {
      await call;
    } catch (err) {
      return err as Error;
    }
    throw new Error("expected the call to fail");
  }

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "iam-impersonation-"));
    iam = await Iam.start();
    // The functions' identity has a key elsewhere; here only its access token matters.
    iam.addServiceAccount(FUNCTIONS_SA, PROJECT);
    iam.addServiceAccount(TARGET_SA, PROJECT);
    iam.addServiceAccount(OTHER_SA, PROJECT);
    iam.addServiceAccount(STRANGER_SA, PROJECT);
    functionsToken = iam.issueAccessToken(FUNCTIONS_SA);
    // The customer lets the functions impersonate the destination's account, and only it.
    iam.grant(FUNCTIONS_SA, { projectId: PROJECT, serviceAccount: TARGET_SA }, TOKEN_CREATOR);
    iam.grant(TARGET_SA, { projectId: PROJECT }, BIGQUERY_JOB_USER);
    iam.grant(TARGET_SA, { projectId: PROJECT, datasetId: ALLOWED }, BIGQUERY_DATA_EDITOR);

    const admin = `admin@${PROJECT}.iam.gserviceaccount.com`;
    iam.addServiceAccount(admin, PROJECT);
    iam.grant(admin, { projectId: PROJECT }, BIGQUERY_ADMIN);
    bigquery = await startBigQueryServer({
      dataDir: path.join(dir, "bq"),
      gcs: { url: "http://127.0.0.1:9" }, // no loads in this file
      iam,
    });
    const adminBq = new BigQuery({
      projectId: PROJECT,
      apiEndpoint: bigquery.url,
      authClient: staticTokenAuth(iam.issueAccessToken(admin)),
    });
    await adminBq.createDataset(ALLOWED, { location: "US" });
    await adminBq.createDataset(FORBIDDEN, { location: "US" });
  });

  afterAll(async () => {
    await bigquery?.stop();
    await iam?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("gives the functions' identity a token of the target account that BigQuery checks as the target", async () => {
    const before = Date.now();
    const client = impersonate(staticTokenAuth(functionsToken), TARGET_SA, { lifetime: 1800 });
    const { token } = await client.getAccessToken();
    expect(token).toBeTruthy();
    expect(iam.principalFor(`Bearer ${token}`)).toEqual({ email: TARGET_SA, scopes: [BIGQUERY_SCOPE] });
    // expireTime carried the requested lifetime (whole seconds, as Google's).
    const expiry = client.credentials.expiry_date ?? 0;
    expect(expiry).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 + 1800_000);
    expect(expiry).toBeLessThanOrEqual(Date.now() + 1800_000);

    const bq = new BigQuery({ projectId: PROJECT, apiEndpoint: bigquery.url, authClient: client });
    const [meta] = await bq.dataset(ALLOWED).getMetadata();
    expect(meta.datasetReference?.datasetId).toBe(ALLOWED);
    await bq.dataset(ALLOWED).createTable("t1", { schema: { fields: [{ name: "x", type: "STRING" }] } });

    const denied = await rejection(bq.dataset(FORBIDDEN).getMetadata());
    expect(denied.code).toBe(403);
    expect(denied.message).toContain(
      `Permission bigquery.datasets.get denied on dataset ${PROJECT}:${FORBIDDEN}`,
    );

    // The functions' own identity has no BigQuery grants: the success above was the target's.
    const own = new BigQuery({
      projectId: PROJECT,
      apiEndpoint: bigquery.url,
      authClient: staticTokenAuth(functionsToken),
    });
    expect((await rejection(own.dataset(ALLOWED).getMetadata())).code).toBe(403);
  });

  it("answers 403 naming iam.serviceAccounts.getAccessToken without the token-creator role on the target", async () => {
    const err = await rejection(impersonate(staticTokenAuth(functionsToken), OTHER_SA).getAccessToken());
    expect(err.message).toBe(
      "PERMISSION_DENIED: unable to impersonate: Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist).",
    );

    const wire = await generate(OTHER_SA, { scope: [BIGQUERY_SCOPE] });
    expect(wire.status).toBe(403);
    expect(wire.json).toEqual({
      error: {
        code: 403,
        message: "Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist).",
        status: "PERMISSION_DENIED",
        details: [
          {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            reason: "IAM_PERMISSION_DENIED",
            domain: "iam.googleapis.com",
            metadata: { permission: "iam.serviceAccounts.getAccessToken" },
          },
        ],
      },
    });
  });

  it("honours a project-level grant for every account of the project, and revocation", async () => {
    const creator = `deployer@${PROJECT}.iam.gserviceaccount.com`;
    iam.addServiceAccount(creator, PROJECT);
    const token = iam.issueAccessToken(creator);
    expect((await generate(OTHER_SA, { scope: [BIGQUERY_SCOPE] }, token)).status).toBe(403);
    iam.grant(creator, { projectId: PROJECT }, TOKEN_CREATOR);
    expect((await generate(OTHER_SA, { scope: [BIGQUERY_SCOPE] }, token)).status).toBe(200);
    // A project grant does not reach another project's accounts.
    iam.addServiceAccount("elsewhere@other-project.iam.gserviceaccount.com", "other-project");
    expect(
      (await generate("elsewhere@other-project.iam.gserviceaccount.com", { scope: [BIGQUERY_SCOPE] }, token))
        .status,
    ).toBe(403);
    iam.revoke(creator, { projectId: PROJECT });
    expect((await generate(OTHER_SA, { scope: [BIGQUERY_SCOPE] }, token)).status).toBe(403);
  });

  it("answers 404 with IAM's text for an unknown account", async () => {
    const ghost = `ghost@${PROJECT}.iam.gserviceaccount.com`;
    const err = await rejection(impersonate(staticTokenAuth(functionsToken), ghost).getAccessToken());
    expect(err.message).toBe(
      `NOT_FOUND: unable to impersonate: Not found; Gaia id not found for email ${ghost}`,
    );
    const wire = await generate(ghost, { scope: [BIGQUERY_SCOPE] });
    expect(wire.status).toBe(404);
    expect((wire.json as GoogleErrorBody).error.status).toBe("NOT_FOUND");
  });

  it("answers 401 without a valid caller token", async () => {
    for (const token of [null, "not-a-token"]) {
      const wire = await generate(TARGET_SA, { scope: [BIGQUERY_SCOPE] }, token);
      expect(wire.status).toBe(401);
      expect((wire.json as GoogleErrorBody).error.status).toBe("UNAUTHENTICATED");
    }
    const err = await rejection(impersonate(staticTokenAuth("ya29.unknown"), TARGET_SA).getAccessToken());
    expect(err.message).toMatch(
      /^UNAUTHENTICATED: unable to impersonate: Request had invalid authentication credentials/,
    );
  });

  it("validates scope, lifetime and the request fields as the real API", async () => {
    const cases: Array<[unknown, RegExp]> = [
      [{}, /^scope is required/],
      [{ scope: [] }, /^scope is required/],
      [{ scope: [BIGQUERY_SCOPE], lifetime: "3601s" }, /lifetime 3601s is out of range: .* at most 3600s/],
      [{ scope: [BIGQUERY_SCOPE], lifetime: "0s" }, /lifetime 0s is out of range/],
      [
        { scope: [BIGQUERY_SCOPE], lifetime: "an hour" },
        /^Invalid value at 'lifetime' \(type.googleapis.com\/google.protobuf.Duration\)/,
      ],
      [
        { scope: [BIGQUERY_SCOPE], lifetme: "60s" },
        /^Invalid JSON payload received. Unknown name "lifetme": Cannot find field.$/,
      ],
      [
        { scope: [BIGQUERY_SCOPE], delegates: [FUNCTIONS_SA] },
        /^delegates\[0\]: .* is not a service account resource name/,
      ],
    ];
    for (const [body, message] of cases) {
      const wire = await generate(TARGET_SA, body);
      expect(wire.status, JSON.stringify(body)).toBe(400);
      const error = (wire.json as GoogleErrorBody).error;
      expect(error.status).toBe("INVALID_ARGUMENT");
      expect(error.message).toMatch(message);
    }
    const ok = await generate(TARGET_SA, { scope: [BIGQUERY_SCOPE], lifetime: "3600s" });
    expect(ok.status).toBe(200);
    expect(Object.keys(ok.json as object).sort()).toEqual(["accessToken", "expireTime"]);
    expect((ok.json as { expireTime: string }).expireTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

    // google-auth-library sends lifetime as "<n>s": over an hour is refused the same way.
    const long = await rejection(
      impersonate(staticTokenAuth(functionsToken), TARGET_SA, { lifetime: 7200 }).getAccessToken(),
    );
    expect(long.message).toMatch(/^INVALID_ARGUMENT: unable to impersonate: lifetime 7200s is out of range/);
  });

  it("requires the project wildcard in the account name and answers UNIMPLEMENTED for other methods", async () => {
    const named = await post(`projects/${PROJECT}/serviceAccounts/${TARGET_SA}:generateAccessToken`, {
      scope: [BIGQUERY_SCOPE],
    });
    expect(named.status).toBe(400);
    expect((named.json as GoogleErrorBody).error.message).toMatch(/must be the "-" wildcard/);

    // (Directly, not through Impersonated.fetchIdToken: gaxios retries a 501 with backoff.)
    const id = await post(`projects/-/serviceAccounts/${TARGET_SA}:generateIdToken`, {
      audience: "https://x",
    });
    expect(id.status).toBe(501);
    expect((id.json as GoogleErrorBody).error).toMatchObject({
      status: "UNIMPLEMENTED",
      message: "IAMCredentials.GenerateIdToken is not implemented by the local emulator",
    });
  });

  it("follows a delegation chain: each hop needs the role on the next account", async () => {
    // functions → OTHER (delegate) → STRANGER (target).
    const body = { scope: [BIGQUERY_SCOPE], delegates: [`projects/-/serviceAccounts/${OTHER_SA}`] };
    expect((await generate(STRANGER_SA, body)).status).toBe(403);
    iam.grant(FUNCTIONS_SA, { projectId: PROJECT, serviceAccount: OTHER_SA }, TOKEN_CREATOR);
    const noLastHop = await generate(STRANGER_SA, body);
    expect(noLastHop.status).toBe(403);
    expect((noLastHop.json as GoogleErrorBody).error.message).toContain("iam.serviceAccounts.getAccessToken");
    iam.grant(OTHER_SA, { projectId: PROJECT, serviceAccount: STRANGER_SA }, TOKEN_CREATOR);
    const ok = await generate(STRANGER_SA, body);
    expect(ok.status).toBe(200);
    expect(iam.principalFor(`Bearer ${(ok.json as { accessToken: string }).accessToken}`).email).toBe(
      STRANGER_SA,
    );
    iam.revoke(FUNCTIONS_SA, { projectId: PROJECT, serviceAccount: OTHER_SA });
    const broken = await generate(STRANGER_SA, body);
    expect((broken.json as GoogleErrorBody).error.message).toContain(
      "iam.serviceAccounts.implicitDelegation",
    );
  });
});
