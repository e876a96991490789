// Local Secret Manager: the v1 gRPC service the official client
// (@google-cloud/secret-manager) speaks, on loopback with insecure credentials.

import {
  startCloudService,
  RpcError,
  GrpcStatus,
  type CallContext,
  type UnaryHandler,
} from "../grpc/server.js";
import { paginate } from "../grpc/paging.js";
import { localClientOptions, type LocalClientOptions, type RequestHeadersSource } from "../grpc/tls.js";
import { AccessControl, bearerIsPrincipal, type Permission, type PrincipalResolver } from "./access.js";
import { SecretStore, parseSecretName, parseVersionName, projectOf } from "./store.js";

const SERVICE = "google.cloud.secretmanager.v1.SecretManagerService";

export interface SecretManagerServerOptions {
  port?: number;
  /** Serve TLS with the loopback test certificate (see grpc/tls.ts) so clients can send credentials. */
  tls?: boolean;
  /**
   * Who is calling, from the `authorization` metadata. Only consulted once a grant exists.
   * Default: "Bearer <principal>" names the principal (a test convenience).
   */
  resolvePrincipal?: PrincipalResolver;
  now?: () => Date;
}

export interface RunningSecretManager {
  /** "grpc://127.0.0.1:PORT" */
  url: string;
  host: string;
  port: number;
  /**
   * Options for `new SecretManagerServiceClient(...)` that reach this server offline. Insecure gRPC carries no
   * credentials; with `tls` on, a given auth client's Authorization header goes on every call.
   */
  clientOptions(authClient?: RequestHeadersSource): LocalClientOptions;
  /** Grants secretmanager.versions.access on a secret (or a whole project: "projects/p"). */
  grantAccess(principal: string, resource: string): void;
  /** Grants any permissions on a secret or project. The first grant switches access control on. */
  grant(principal: string, resource: string, permissions: readonly Permission[]): void;
  /** Methods implemented, as "SecretManagerService.Method"; every other method answers UNIMPLEMENTED. */
  implemented: string[];
  stop(): Promise<void>;
}

interface Named {
  name?: string;
}
interface Listing {
  parent?: string;
  pageSize?: number;
  pageToken?: string;
  filter?: string;
}

function required(value: string | undefined, field: string): string {
  if (!value) throw new RpcError(GrpcStatus.INVALID_ARGUMENT, `${field} is required.`);
  return value;
}

function noFilter(filter: string | undefined): void {
  if (filter)
    throw new RpcError(GrpcStatus.UNIMPLEMENTED, "List filters are not implemented by the local emulator.");
}

export async function startSecretManagerServer(
  opts: SecretManagerServerOptions = {},
): Promise<RunningSecretManager> {
  const store = new SecretStore(opts.now);
  const acl = new AccessControl(opts.resolvePrincipal ?? bearerIsPrincipal);

  /** Permission check on a secret-scoped resource: grants on the secret or its project count. */
  const allow = (ctx: CallContext, permission: Permission, resource: string, secret: string): void =>
    acl.check(ctx.authorization, permission, resource, [secret, projectOf(secret)]);

  const versionCall =
    (permission: Permission, run: (name: string) => unknown): UnaryHandler =>
    (req: Named, ctx) => {
      const name = required(req.name, "name");
      allow(ctx, permission, name, parseVersionName(name).secret);
      return run(name);
    };

  const handlers: Record<string, UnaryHandler> = {
    CreateSecret: (
      req: {
        parent?: string;
        secretId?: string;
        secret?: { labels?: Record<string, string>; replication?: unknown };
      },
      ctx,
    ) => {
      const parent = required(req.parent, "parent");
      acl.check(ctx.authorization, "secretmanager.secrets.create", parent, [parent, projectOf(parent)]);
      return store.createSecret(parent, required(req.secretId, "secret_id"), req.secret ?? {});
    },
    GetSecret: (req: Named, ctx) => {
      const name = required(req.name, "name");
      parseSecretName(name);
      allow(ctx, "secretmanager.secrets.get", name, name);
      return store.getSecret(name);
    },
    ListSecrets: (req: Listing, ctx) => {
      const parent = required(req.parent, "parent");
      acl.check(ctx.authorization, "secretmanager.secrets.list", parent, [parent, projectOf(parent)]);
      noFilter(req.filter);
      const all = store.listSecrets(parent);
      const { page, nextPageToken } = paginate(all, req.pageSize, req.pageToken, 25000);
      return { secrets: page, nextPageToken, totalSize: all.length };
    },
    DeleteSecret: (req: Named, ctx) => {
      const name = required(req.name, "name");
      parseSecretName(name);
      allow(ctx, "secretmanager.secrets.delete", name, name);
      store.deleteSecret(name);
      return {};
    },
    AddSecretVersion: (req: { parent?: string; payload?: { data?: Buffer; dataCrc32c?: string } }, ctx) => {
      const parent = required(req.parent, "parent");
      parseSecretName(parent);
      allow(ctx, "secretmanager.versions.add", parent, parent);
      if (!req.payload) throw new RpcError(GrpcStatus.INVALID_ARGUMENT, "Field [payload] is required.");
      return store.addVersion(parent, req.payload.data ?? Buffer.alloc(0), req.payload.dataCrc32c);
    },
    ListSecretVersions: (req: Listing, ctx) => {
      const parent = required(req.parent, "parent");
      parseSecretName(parent);
      allow(ctx, "secretmanager.versions.list", parent, parent);
      noFilter(req.filter);
      const all = store.listVersions(parent);
      const { page, nextPageToken } = paginate(all, req.pageSize, req.pageToken, 25000);
      return { versions: page, nextPageToken, totalSize: all.length };
    },
    GetSecretVersion: versionCall("secretmanager.versions.get", (name) => store.getVersion(name)),
    AccessSecretVersion: versionCall("secretmanager.versions.access", (name) => store.access(name)),
    DisableSecretVersion: versionCall("secretmanager.versions.disable", (name) =>
      store.setState(name, "DISABLED"),
    ),
    EnableSecretVersion: versionCall("secretmanager.versions.enable", (name) =>
      store.setState(name, "ENABLED"),
    ),
    DestroySecretVersion: versionCall("secretmanager.versions.destroy", (name) =>
      store.setState(name, "DESTROYED"),
    ),
  };

  const server = await startCloudService({
    clientPackage: "@google-cloud/secret-manager",
    protoFile: "google/cloud/secretmanager/v1/service.proto",
    service: SERVICE,
    handlers,
    port: opts.port,
    tls: opts.tls,
  });

  return {
    url: `grpc://${server.address}`,
    host: server.host,
    port: server.port,
    clientOptions: (authClient) => localClientOptions(server, opts.tls ?? false, authClient),
    grantAccess: (principal, resource) => acl.grant(principal, resource, ["secretmanager.versions.access"]),
    grant: (principal, resource, permissions) => acl.grant(principal, resource, permissions),
    implemented: server.implemented,
    stop: () => server.stop(),
  };
}
