// Per-principal access control for the local Secret Manager, using the real
// permission names. Off until the first grant, so a bare emulator just works.
import { RpcError, GrpcStatus } from "../grpc/server.js";

export type Permission =
  | "secretmanager.secrets.create"
  | "secretmanager.secrets.get"
  | "secretmanager.secrets.list"
  | "secretmanager.secrets.delete"
  | "secretmanager.versions.add"
  | "secretmanager.versions.access"
  | "secretmanager.versions.get"
  | "secretmanager.versions.list"
  | "secretmanager.versions.enable"
  | "secretmanager.versions.disable"
  | "secretmanager.versions.destroy";

/** Maps the caller's `authorization` metadata to a principal (e.g. "serviceAccount:x@p.iam.gserviceaccount.com"). */
export type PrincipalResolver = (authorization: string | undefined) => string | undefined;

/** Test convenience: "Bearer <principal>" names the principal directly. */
export const bearerIsPrincipal: PrincipalResolver = (authorization) => {
  const match = /^Bearer\s+(.+)$/i.exec(authorization ?? "");
  return match?.[1];
};

export class AccessControl {
  // principal -> resource ("projects/p" or "projects/p/secrets/s") -> permissions
  private readonly grants = new Map<string, Map<string, Set<string>>>();

  constructor(private readonly resolve: PrincipalResolver) {}

  get enabled(): boolean {
    return this.grants.size > 0;
  }

  grant(principal: string, resource: string, permissions: readonly Permission[]): void {
    const byResource = this.grants.get(principal) ?? new Map<string, Set<string>>();
    const perms = byResource.get(resource) ?? new Set<string>();
    for (const p of permissions) perms.add(p);
    byResource.set(resource, perms);
    this.grants.set(principal, byResource);
  }

  /**
   * Throws UNAUTHENTICATED / PERMISSION_DENIED as the real service does. `resource` is the
   * name the caller asked for (quoted in the message); `scopes` are where a grant may sit
   * (the secret, then its project), since IAM policies are inherited down the hierarchy.
   */
  check(authorization: string | undefined, permission: Permission, resource: string, scopes: string[]): void {
    if (!this.enabled) return;
    if (!authorization) {
      throw new RpcError(
        GrpcStatus.UNAUTHENTICATED,
        "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
      );
    }
    const principal = this.resolve(authorization);
    if (principal === undefined) {
      throw new RpcError(
        GrpcStatus.UNAUTHENTICATED,
        "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
      );
    }
    const byResource = this.grants.get(principal);
    if (scopes.some((scope) => byResource?.get(scope)?.has(permission))) return;
    throw new RpcError(
      GrpcStatus.PERMISSION_DENIED,
      `Permission '${permission}' denied for resource '${resource}' (or it may not exist).`,
    );
  }
}
