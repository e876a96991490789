// Permission checks for each call, with BigQuery's accessDenied messages.
// Checks come before existence checks: a caller without the permission
// cannot tell a missing resource from a forbidden one ("or it may not exist").
import { IamAuthError, type Iam, type Principal } from "../iam/iam.js";
import type { TableRef } from "./contracts.js";
import { ApiError } from "./errors.js";

/** Who calls when no IAM is configured: everything is allowed. */
export const DEFAULT_PRINCIPAL: Principal = { email: "local-developer@localhost" };

export class Access {
  constructor(private readonly iam: Iam | undefined) {}

  get enabled(): boolean {
    return this.iam !== undefined;
  }

  principal(authorization: string | undefined): Principal {
    if (!this.iam) return DEFAULT_PRINCIPAL;
    try {
      return this.iam.principalFor(authorization);
    } catch (err) {
      if (err instanceof IamAuthError) {
        throw new ApiError(
          "authError",
          `Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. (${err.message})`,
          { httpStatus: 401 },
        );
      }
      throw err;
    }
  }

  has(p: Principal, permission: string, projectId: string, datasetId?: string): boolean {
    if (!this.iam) return true;
    return this.iam.hasPermission(p.email, permission, {
      projectId,
      ...(datasetId !== undefined ? { datasetId } : {}),
    });
  }

  requireProject(p: Principal, permission: string, projectId: string): void {
    if (this.has(p, permission, projectId)) return;
    throw new ApiError(
      "accessDenied",
      `Access Denied: Project ${projectId}: User does not have ${permission} permission in project ${projectId}.`,
    );
  }

  requireDataset(p: Principal, permission: string, projectId: string, datasetId: string): void {
    if (this.has(p, permission, projectId, datasetId)) return;
    const name = `${projectId}:${datasetId}`;
    throw new ApiError(
      "accessDenied",
      `Access Denied: Dataset ${name}: Permission ${permission} denied on dataset ${name} (or it may not exist).`,
    );
  }

  requireTable(p: Principal, permission: string, ref: TableRef): void {
    if (this.has(p, permission, ref.projectId, ref.datasetId)) return;
    const name = `${ref.projectId}:${ref.datasetId}.${ref.tableId}`;
    throw new ApiError(
      "accessDenied",
      `Access Denied: Table ${name}: Permission ${permission} denied on table ${name} (or it may not exist).`,
    );
  }
}
