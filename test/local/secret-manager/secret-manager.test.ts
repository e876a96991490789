// The local Secret Manager through the official client, connected the way the
// product's adapters connect to it: apiEndpoint + port + insecure gRPC credentials.
import { rejection } from "../grpc/testing.js";
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { SecretManagerServiceClient } from "@google-cloud/secret-manager";
import { status } from "@grpc/grpc-js";
import { startSecretManagerServer, type RunningSecretManager } from "./server.js";
import { crc32c } from "../common/crc32c.js";
import { LOOPBACK_CA_PATH } from "../grpc/tls.js";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";

/** The code and message of a rejected gRPC call. */

const AUTO = { replication: { automatic: {} } };

/** Per-call options that send an authorization header, as an authenticated caller would. */
function as(principal: string) {
  return { otherArgs: { headers: { authorization: `Bearer ${principal}` } } };
}

describe("local Secret Manager via @google-cloud/secret-manager", () => {
  let server: RunningSecretManager;
  let client: SecretManagerServiceClient;

  beforeAll(async () => {
    server = await startSecretManagerServer();
    client = new SecretManagerServiceClient(server.clientOptions());
  });
  afterAll(async () => {
    await client?.close();
    await server?.stop();
  });

  it("creates a secret, adds versions, accesses latest and numbered versions with a CRC32C", async () => {
    const [secret] = await client.createSecret({
      parent: "projects/demo",
      secretId: "bq-key",
      secret: { replication: { automatic: {} }, labels: { team: "data" } },
    });
    expect(secret.name).toBe("projects/demo/secrets/bq-key");
    expect(secret.labels).toEqual({ team: "data" });

    const first = Buffer.from('{"type":"service_account","n":1}');
    const second = Buffer.from('{"type":"service_account","n":2}');
    const [v1] = await client.addSecretVersion({ parent: secret.name, payload: { data: first } });
    const [v2] = await client.addSecretVersion({
      parent: secret.name,
      payload: { data: second, dataCrc32c: crc32c(second) },
    });
    expect(v1.name).toBe("projects/demo/secrets/bq-key/versions/1");
    expect(v2.name).toBe("projects/demo/secrets/bq-key/versions/2");
    expect(v2.state).toBe("ENABLED");
    expect(v2.clientSpecifiedPayloadChecksum).toBe(true);

    const [latest] = await client.accessSecretVersion({ name: `${secret.name}/versions/latest` });
    expect(latest.name).toBe(v2.name);
    expect(Buffer.from(latest.payload?.data as Uint8Array).toString()).toBe(second.toString());
    expect(Number(latest.payload?.dataCrc32c)).toBe(crc32c(second));

    const [numbered] = await client.accessSecretVersion({ name: v1.name });
    expect(Buffer.from(numbered.payload?.data as Uint8Array).toString()).toBe(first.toString());

    const [got] = await client.getSecret({ name: secret.name });
    expect(got.name).toBe(secret.name);
    const [listed] = await client.listSecrets({ parent: "projects/demo" });
    expect(listed.map((s) => s.name)).toContain(secret.name);
    const [versions] = await client.listSecretVersions({ parent: secret.name });
    expect(versions.map((v) => v.name)).toEqual([v2.name, v1.name]);
  });

  it("knows the published CRC32C (Castagnoli) check value", () => {
    expect(crc32c(Buffer.from("123456789"))).toBe(0xe3069283);
  });

  it("rejects a payload whose dataCrc32c does not match (INVALID_ARGUMENT)", async () => {
    await client.createSecret({ parent: "projects/demo", secretId: "crc", secret: AUTO });
    const data = Buffer.from("payload");
    const err = await rejection(
      client.addSecretVersion({
        parent: "projects/demo/secrets/crc",
        payload: { data, dataCrc32c: crc32c(data) + 1 },
      }),
    );
    expect(err.code).toBe(status.INVALID_ARGUMENT);
  });

  it("answers ALREADY_EXISTS for a duplicate secret and NOT_FOUND for missing ones", async () => {
    await client.createSecret({ parent: "projects/demo", secretId: "dup", secret: AUTO });
    const dup = await rejection(
      client.createSecret({ parent: "projects/demo", secretId: "dup", secret: AUTO }),
    );
    expect(dup.code).toBe(status.ALREADY_EXISTS);

    const missing = await rejection(
      client.accessSecretVersion({ name: "projects/demo/secrets/nope/versions/latest" }),
    );
    expect(missing.code).toBe(status.NOT_FOUND);
    expect(missing.details).toContain("projects/demo/secrets/nope");

    const noVersion = await rejection(
      client.accessSecretVersion({ name: "projects/demo/secrets/dup/versions/7" }),
    );
    expect(noVersion.code).toBe(status.NOT_FOUND);
    const empty = await rejection(
      client.accessSecretVersion({ name: "projects/demo/secrets/dup/versions/latest" }),
    );
    expect(empty.code).toBe(status.NOT_FOUND);

    const badName = await rejection(client.getSecret({ name: "projects/demo/secrets/has space" }));
    expect(badName.code).toBe(status.INVALID_ARGUMENT);
  });

  it("refuses disabled and destroyed versions with FAILED_PRECONDITION, also through latest", async () => {
    const [secret] = await client.createSecret({ parent: "projects/demo", secretId: "states", secret: AUTO });
    const [v1] = await client.addSecretVersion({ parent: secret.name, payload: { data: Buffer.from("a") } });
    const [v2] = await client.addSecretVersion({ parent: secret.name, payload: { data: Buffer.from("b") } });

    const [disabled] = await client.disableSecretVersion({ name: v2.name });
    expect(disabled.state).toBe("DISABLED");
    const viaLatest = await rejection(client.accessSecretVersion({ name: `${secret.name}/versions/latest` }));
    expect(viaLatest.code).toBe(status.FAILED_PRECONDITION);
    expect(viaLatest.details).toContain("DISABLED");

    const [enabled] = await client.enableSecretVersion({ name: v2.name });
    expect(enabled.state).toBe("ENABLED");
    const [again] = await client.accessSecretVersion({ name: `${secret.name}/versions/latest` });
    expect(Buffer.from(again.payload?.data as Uint8Array).toString()).toBe("b");

    const [destroyed] = await client.destroySecretVersion({ name: v1.name });
    expect(destroyed.state).toBe("DESTROYED");
    expect(destroyed.destroyTime).toBeTruthy();
    const gone = await rejection(client.accessSecretVersion({ name: v1.name }));
    expect(gone.code).toBe(status.FAILED_PRECONDITION);
    const reenable = await rejection(client.enableSecretVersion({ name: v1.name }));
    expect(reenable.code).toBe(status.FAILED_PRECONDITION);
  });

  it("requires a replication policy for global secrets and refuses one for regional secrets", async () => {
    const none = await rejection(
      client.createSecret({ parent: "projects/demo", secretId: "norepl", secret: {} }),
    );
    expect(none.code).toBe(status.INVALID_ARGUMENT);
    const regional = await rejection(
      client.createSecret({ parent: "projects/demo/locations/europe-west1", secretId: "r", secret: AUTO }),
    );
    expect(regional.code).toBe(status.INVALID_ARGUMENT);
    const [ok] = await client.createSecret({
      parent: "projects/demo/locations/europe-west1",
      secretId: "r",
      secret: {},
    });
    expect(ok.name).toBe("projects/demo/locations/europe-west1/secrets/r");
  });

  it("deletes a secret", async () => {
    const [secret] = await client.createSecret({ parent: "projects/demo", secretId: "doomed", secret: AUTO });
    await client.deleteSecret({ name: secret.name });
    const err = await rejection(client.getSecret({ name: secret.name }));
    expect(err.code).toBe(status.NOT_FOUND);
  });

  it("answers UNIMPLEMENTED naming any method it does not implement", async () => {
    const err = await rejection(client.getIamPolicy({ resource: "projects/demo/secrets/bq-key" }));
    expect(err.code).toBe(status.UNIMPLEMENTED);
    expect(err.details).toContain("SecretManagerService.GetIamPolicy");
    const loc = await rejection(client.getLocation({ name: "projects/demo/locations/us" }));
    expect(loc.code).toBe(status.UNIMPLEMENTED);
    expect(loc.details).toContain("Locations.GetLocation");
  });
});

describe("local Secret Manager access control", () => {
  let server: RunningSecretManager;
  let client: SecretManagerServiceClient;
  const admin = "user:admin@example.com";
  const reader = "serviceAccount:exporter@demo.iam.gserviceaccount.com";

  beforeAll(async () => {
    // Tokens map to principals through an injected resolver, as the local IAM will provide.
    const tokens: Record<string, string> = { "Bearer admin-token": admin, "Bearer reader-token": reader };
    server = await startSecretManagerServer({
      resolvePrincipal: (auth) => (auth ? tokens[auth] : undefined),
    });
    client = new SecretManagerServiceClient(server.clientOptions());
    server.grant(admin, "projects/demo", [
      "secretmanager.secrets.create",
      "secretmanager.versions.add",
      "secretmanager.versions.access",
    ]);
    server.grantAccess(reader, "projects/demo/secrets/granted");
    for (const id of ["granted", "other"]) {
      await client.createSecret({ parent: "projects/demo", secretId: id, secret: AUTO }, as("admin-token"));
      await client.addSecretVersion(
        { parent: `projects/demo/secrets/${id}`, payload: { data: Buffer.from(id) } },
        as("admin-token"),
      );
    }
  });
  afterAll(async () => {
    await client?.close();
    await server?.stop();
  });

  it("lets a principal read only the secrets it was granted", async () => {
    const [ok] = await client.accessSecretVersion(
      { name: "projects/demo/secrets/granted/versions/latest" },
      as("reader-token"),
    );
    expect(Buffer.from(ok.payload?.data as Uint8Array).toString()).toBe("granted");

    const denied = await rejection(
      client.accessSecretVersion({ name: "projects/demo/secrets/other/versions/1" }, as("reader-token")),
    );
    expect(denied.code).toBe(status.PERMISSION_DENIED);
    expect(denied.details).toBe(
      "Permission 'secretmanager.versions.access' denied for resource 'projects/demo/secrets/other/versions/1' (or it may not exist).",
    );
  });

  it("does not reveal whether an ungranted secret exists", async () => {
    const err = await rejection(
      client.accessSecretVersion(
        { name: "projects/demo/secrets/missing/versions/latest" },
        as("reader-token"),
      ),
    );
    expect(err.code).toBe(status.PERMISSION_DENIED);
  });

  it("refuses callers without credentials or with unknown ones (UNAUTHENTICATED)", async () => {
    const none = await rejection(
      client.accessSecretVersion({ name: "projects/demo/secrets/granted/versions/1" }),
    );
    expect(none.code).toBe(status.UNAUTHENTICATED);
    const unknown = await rejection(
      client.accessSecretVersion({ name: "projects/demo/secrets/granted/versions/1" }, as("forged")),
    );
    expect(unknown.code).toBe(status.UNAUTHENTICATED);
  });

  it("checks other methods' own permissions", async () => {
    const err = await rejection(
      client.createSecret({ parent: "projects/demo", secretId: "sneaky", secret: AUTO }, as("reader-token")),
    );
    expect(err.code).toBe(status.PERMISSION_DENIED);
    expect(err.details).toContain("secretmanager.secrets.create");
  });
});

describe("local Secret Manager over TLS, with the client's own credentials", () => {
  let server: RunningSecretManager;
  const reader = "serviceAccount:exporter@demo.iam.gserviceaccount.com";
  const tokens: Record<string, string> = { "Bearer reader-token": reader };

  beforeAll(async () => {
    server = await startSecretManagerServer({
      tls: true,
      resolvePrincipal: (auth) => (auth ? tokens[auth] : undefined),
    });
    // Seed with access control still off, then grant.
    const seeder = new SecretManagerServiceClient(server.clientOptions());
    await seeder.createSecret({ parent: "projects/demo", secretId: "key", secret: AUTO });
    await seeder.addSecretVersion({
      parent: "projects/demo/secrets/key",
      payload: { data: Buffer.from("k1") },
    });
    await seeder.createSecret({ parent: "projects/demo", secretId: "private", secret: AUTO });
    await seeder.close();
    server.grantAccess(reader, "projects/demo/secrets/key");
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("identifies the caller from the auth client's header on every call", async () => {
    const authClient = {
      getRequestHeaders: () => Promise.resolve(new Headers({ authorization: "Bearer reader-token" })),
    };
    const client = new SecretManagerServiceClient(server.clientOptions(authClient));
    try {
      const [version] = await client.accessSecretVersion({
        name: "projects/demo/secrets/key/versions/latest",
      });
      expect(Buffer.from(version.payload?.data as Uint8Array).toString()).toBe("k1");
      const denied = await rejection(
        client.accessSecretVersion({ name: "projects/demo/secrets/private/versions/latest" }),
      );
      expect(denied.code).toBe(status.PERMISSION_DENIED);
    } finally {
      await client.close();
    }
  });

  it("serves a client constructed the production way (authClient, default TLS roots from GRPC_DEFAULT_SSL_ROOTS_FILE_PATH)", async () => {
    // grpc-js reads that variable once at load, so the client runs in its own process.
    const probe = fileURLToPath(new URL("./probe-client.ts", import.meta.url));
    const run = (name: string, token: string) =>
      new Promise<string>((resolve, reject) => {
        execFile(
          process.execPath,
          ["--import", "tsx", probe, String(server.port), name, token],
          { env: { ...process.env, GRPC_DEFAULT_SSL_ROOTS_FILE_PATH: LOOPBACK_CA_PATH }, timeout: 60_000 },
          (err, stdout, stderr) =>
            err ? reject(new Error(`probe failed: ${err.message}\n${stderr}`)) : resolve(stdout),
        );
      });
    expect(await run("projects/demo/secrets/key/versions/1", "reader-token")).toBe("k1");
    expect(await run("projects/demo/secrets/private/versions/latest", "reader-token")).toMatch(
      /^ERROR 7 Permission/,
    );
  });
});
