// The preflight's decisions, free of I/O: which of the seed's permissions an
// export needs (from the ways its runs write, core/write-path.ts), how a
// probe's outcome reads as one line with its fix, and which lines make the
// check fail. app/preflight.ts runs the probes and asks these.
import type { Credentials, ExportDefinition } from "../core/definition.js";
import type { ExportError } from "../core/errors.js";
import { PATH_PERMISSIONS, type WritePath } from "../core/write-path.js";

/** The seed's permission list, in its order: what its custom role grants on the dataset. */
export const SEED_PERMISSIONS = [
  "bigquery.datasets.get",
  "bigquery.jobs.create",
  "bigquery.tables.create",
  "bigquery.tables.get",
  "bigquery.tables.getData",
  "bigquery.tables.list",
  "bigquery.tables.updateData",
  "bigquery.tables.delete",
] as const;
export type SeedPermission = (typeof SEED_PERMISSIONS)[number];

/**
 * ok: present. failed: something the export needs is missing (exit code 1).
 * warning: runs work, with a cost named in the line. info: nothing to do.
 * skipped: not testable because an earlier check failed (the line says which).
 */
export type CheckStatus = "ok" | "failed" | "warning" | "info" | "skipped";

export interface CheckLine {
  /**
   * What was checked: "credentials", "dataset", "location", "permission",
   * "staging-bucket", "table", "clickhouse", "source".
   */
  check: string;
  /** Permission lines: the seed's permission name. */
  permission?: string;
  status: CheckStatus;
  /** One line: what was found. */
  message: string;
  /** What to do, when the line is failed or warning. */
  fix?: string;
}

/** required: a run fails without it. optional: runs complete, at a cost. unused: the seed lists it, nothing here uses it. */
export type Need = "required" | "optional" | "unused";

export interface PermissionNeed {
  permission: SeedPermission;
  need: Need;
  /** Why this export needs it (or not), for the line. */
  why: string;
}

/**
 * The ways this export's runs may write. Events append on scheduled runs,
 * but forced reruns, backfill chunks and retries after an attempt that
 * reached LOADING go through a stage table (insert-new), so both paths are
 * possible for every events export without deduplicate.
 */
export function possibleWritePaths(def: ExportDefinition): WritePath[] {
  if (def.model === "persons") return ["merge-versions"];
  return def.deduplicate ? ["insert-new"] : ["append", "insert-new"];
}

const WHY: Record<SeedPermission, string> = {
  "bigquery.datasets.get": "every run reads the dataset's location",
  "bigquery.jobs.create": "every run starts a load job",
  "bigquery.tables.create": "the first run creates the table",
  "bigquery.tables.get": "every run reads the table's schema",
  "bigquery.tables.getData": "the MERGE reads the stage table",
  "bigquery.tables.list": "",
  "bigquery.tables.updateData": "the load job writes the rows",
  "bigquery.tables.delete": "stage tables are dropped after their MERGE",
};

/** Each seed permission with what this export needs it for, from PATH_PERMISSIONS. */
export function permissionNeeds(def: ExportDefinition): PermissionNeed[] {
  const paths = possibleWritePaths(def);
  return SEED_PERMISSIONS.map((permission): PermissionNeed => {
    if (permission === "bigquery.tables.list") {
      return { permission, need: "unused", why: "in the seed's list, but this product never lists tables" };
    }
    const usedBy = paths.filter((p) => PATH_PERMISSIONS[p].includes(permission));
    if (usedBy.length === 0) return { permission, need: "unused", why: "not used by this export's runs" };
    if (permission === "bigquery.tables.delete") {
      return {
        permission,
        need: "optional",
        why: "stage tables are dropped after their MERGE; without it they are left to expire after 7 days",
      };
    }
    let why = WHY[permission];
    if (usedBy.length < paths.length) {
      // Only some of the export's runs need it: say which.
      why = `forced reruns, backfills and retries after a load merge through a stage table: ${why}`;
    }
    return { permission, need: "required", why };
  });
}

/** Who the checks act as, for the fixes. */
export function principalOf(credentials: Credentials): string {
  switch (credentials.mode) {
    case "impersonate":
      return credentials.serviceAccount;
    case "key":
      return `the service account whose key is in ${credentials.secret}`;
    case "function":
      return "the function's own service account";
  }
}

/** What a probe of one permission found. */
export type ProbeOutcome =
  | { kind: "allowed"; how: string; detail?: string }
  | { kind: "denied"; how: string; message: string }
  | { kind: "not-tested"; reason: string }
  | { kind: "error"; how: string; error: ExportError };

/** One permission's line: its outcome judged by what the export needs it for. */
export function permissionLine(
  need: PermissionNeed,
  outcome: ProbeOutcome,
  where: { projectId: string; datasetId: string; principal: string },
): CheckLine {
  const base = { check: "permission", permission: need.permission };
  const p = need.permission;
  switch (outcome.kind) {
    case "allowed": {
      const detail = outcome.detail ? `: ${outcome.detail}` : "";
      const note = need.need === "unused" ? `; ${need.why}` : "";
      return { ...base, status: "ok", message: `granted (${outcome.how})${detail}${note}` };
    }
    case "denied": {
      if (need.need === "unused") {
        return { ...base, status: "info", message: `not granted: fine, ${need.why}` };
      }
      const scope =
        p === "bigquery.jobs.create"
          ? `on project ${where.projectId} (BigQuery Job User has it)`
          : `on dataset ${where.projectId}:${where.datasetId} (the seed's custom role, or BigQuery Data Editor, has it)`;
      const fix = `grant ${p} to ${where.principal} ${scope}`;
      if (need.need === "optional") {
        return { ...base, status: "warning", message: `denied (${outcome.how}): ${need.why}`, fix };
      }
      return {
        ...base,
        status: "failed",
        message: `denied (${outcome.how}): needed because ${need.why}`,
        fix,
      };
    }
    case "not-tested":
      return { ...base, status: "skipped", message: `not tested: ${outcome.reason}` };
    case "error":
      return {
        ...base,
        status: need.need === "required" ? "failed" : "warning",
        message: `could not be tested (${outcome.how}): ${firstLine(outcome.error.message)}`,
        ...(outcome.error.retryable ? { fix: "a transient failure: run the check again" } : {}),
      };
  }
}

/** How a failed load of the probe file reads: which of its two requirements BigQuery refused. */
export type LoadFailure = "updateData" | "bucket" | "other";

/**
 * A load job needs bigquery.tables.updateData on the table and read access to
 * the source objects (storage.objects.get;
 * https://cloud.google.com/bigquery/docs/loading-data-cloud-storage-json,
 * "Required permissions"); BigQuery's accessDenied message names the table
 * permission or the gs:// object it could not read.
 */
export function classifyLoadFailure(message: string): LoadFailure {
  if (/bigquery\.tables\.updateData/.test(message)) return "updateData";
  if (/storage\.objects|gs:\/\//i.test(message)) return "bucket";
  return "other";
}

/** The credentials line from the error that building them, or the first BigQuery call, raised. */
export function credentialsFailure(credentials: Credentials, error: ExportError): CheckLine {
  const message = firstLine(error.message);
  const line = (fix: string): CheckLine => ({ check: "credentials", status: "failed", message, fix });
  const permission = error.details?.permission;
  if (credentials.mode === "impersonate" && permission === "iam.serviceAccounts.getAccessToken") {
    return {
      check: "credentials",
      status: "failed",
      message: `the function may not impersonate ${credentials.serviceAccount} (iam.serviceAccounts.getAccessToken denied)`,
      fix: `grant the function's service account roles/iam.serviceAccountTokenCreator on ${credentials.serviceAccount}`,
    };
  }
  if (credentials.mode === "key") {
    const secret = credentials.secret;
    const keyFixes: Partial<Record<ExportError["code"], string>> = {
      SECRET_NOT_FOUND: `add the service account's JSON key as a version of ${secret}, or fix keySecret`,
      PERMISSION_DENIED: `grant the function's service account roles/secretmanager.secretAccessor on ${secret}`,
      BAD_CREDENTIALS: `upload a current JSON key of the destination service account as a new version of ${secret}`,
    };
    const fix = keyFixes[error.code];
    if (fix) return line(fix);
  }
  if (error.code === "BAD_CREDENTIALS" && credentials.mode === "impersonate") {
    return line(`fix destination.impersonate, or create ${credentials.serviceAccount}`);
  }
  return {
    check: "credentials",
    status: "failed",
    message,
    ...(error.retryable ? { fix: "run the check again" } : {}),
  };
}

export function credentialsOk(credentials: Credentials): CheckLine {
  const message =
    credentials.mode === "key"
      ? `key secret ${credentials.secret} is readable and BigQuery accepts its key`
      : credentials.mode === "impersonate"
        ? `the function may impersonate ${credentials.serviceAccount} and BigQuery accepts its token`
        : "the function's own service account (no keySecret, no impersonate)";
  return { check: "credentials", status: "ok", message };
}

/** The dataset's location against the definition's (BigQuery compares case-insensitively). */
export function locationLine(def: ExportDefinition, actual: string): CheckLine {
  const wanted = def.destination.location;
  if (actual.toLowerCase() === wanted.toLowerCase()) {
    return { check: "location", status: "ok", message: `dataset is in ${actual}, as the export says` };
  }
  return {
    check: "location",
    status: "failed",
    message: `dataset is in ${actual}, but the export says ${wanted}`,
    fix: `set destination.location to "${actual}" in the export's definition`,
  };
}

/** True when nothing the export needs is missing. */
export function passed(lines: readonly CheckLine[]): boolean {
  return lines.every((l) => l.status !== "failed");
}

export function firstLine(text: string): string {
  const line = text.split("\n", 1)[0] ?? "";
  return line.length > 300 ? `${line.slice(0, 297)}...` : line;
}
