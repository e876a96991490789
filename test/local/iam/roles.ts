// Roles as lists of permissions, with the seed's permission names. The seed
// lets a customer either create a custom role with exactly these permissions,
// or use the built-in roles BigQuery Data Editor (on the dataset) and BigQuery
// Job User (on the project).

export interface Role {
  /** IAM role name, e.g. "roles/bigquery.dataEditor". */
  name: string;
  title: string;
  permissions: readonly string[];
}

export const PERMISSIONS = {
  datasetsGet: "bigquery.datasets.get",
  datasetsCreate: "bigquery.datasets.create",
  datasetsDelete: "bigquery.datasets.delete",
  datasetsUpdate: "bigquery.datasets.update",
  jobsCreate: "bigquery.jobs.create",
  jobsGet: "bigquery.jobs.get",
  jobsList: "bigquery.jobs.list",
  jobsUpdate: "bigquery.jobs.update",
  tablesCreate: "bigquery.tables.create",
  tablesGet: "bigquery.tables.get",
  tablesGetData: "bigquery.tables.getData",
  tablesList: "bigquery.tables.list",
  tablesUpdate: "bigquery.tables.update",
  tablesUpdateData: "bigquery.tables.updateData",
  tablesDelete: "bigquery.tables.delete",
} as const;

/** The seed's "Testing PostHog BatchExports" role: events model (the first seven) + persons (delete). */
export const SEED_EVENTS_PERMISSIONS: readonly string[] = [
  PERMISSIONS.datasetsGet,
  PERMISSIONS.jobsCreate,
  PERMISSIONS.tablesCreate,
  PERMISSIONS.tablesGet,
  PERMISSIONS.tablesGetData,
  PERMISSIONS.tablesList,
  PERMISSIONS.tablesUpdateData,
];

export const SEED_CUSTOM_ROLE: Role = {
  name: "projects/-/roles/testingPostHogBatchExports",
  title: "Testing PostHog BatchExports",
  permissions: [...SEED_EVENTS_PERMISSIONS, PERMISSIONS.tablesDelete],
};

/** The seed's role without the optional delete permission (enough for the events model). */
export const SEED_EVENTS_ROLE: Role = {
  name: "projects/-/roles/testingPostHogBatchExportsEvents",
  title: "Testing PostHog BatchExports (events only)",
  permissions: SEED_EVENTS_PERMISSIONS,
};

/** roles/bigquery.dataEditor, restricted to the BigQuery permissions this emulator checks. */
export const BIGQUERY_DATA_EDITOR: Role = {
  name: "roles/bigquery.dataEditor",
  title: "BigQuery Data Editor",
  permissions: [
    PERMISSIONS.datasetsGet,
    PERMISSIONS.tablesCreate,
    PERMISSIONS.tablesDelete,
    PERMISSIONS.tablesGet,
    PERMISSIONS.tablesGetData,
    PERMISSIONS.tablesList,
    PERMISSIONS.tablesUpdate,
    PERMISSIONS.tablesUpdateData,
  ],
};

/** roles/bigquery.jobUser: runs jobs in the project; grants no data access. */
export const BIGQUERY_JOB_USER: Role = {
  name: "roles/bigquery.jobUser",
  title: "BigQuery Job User",
  permissions: [PERMISSIONS.jobsCreate],
};

/** roles/bigquery.admin, for test setup principals. */
export const BIGQUERY_ADMIN: Role = {
  name: "roles/bigquery.admin",
  title: "BigQuery Admin",
  permissions: Object.values(PERMISSIONS),
};

/** A role with one permission removed (for permission-matrix tests). */
export function withoutPermission(role: Role, permission: string): Role {
  return {
    name: `${role.name}-without-${permission}`,
    title: `${role.title} without ${permission}`,
    permissions: role.permissions.filter((p) => p !== permission),
  };
}

/** roles/secretmanager.secretAccessor, for the local Secret Manager (reading the destination key). */
export const SECRET_MANAGER_ACCESSOR: Role = {
  name: "roles/secretmanager.secretAccessor",
  title: "Secret Manager Secret Accessor",
  permissions: ["secretmanager.versions.access"],
};

/** IAM permissions on service accounts that the local IAM Credentials API checks. */
export const IAM_PERMISSIONS = {
  getAccessToken: "iam.serviceAccounts.getAccessToken",
  getOpenIdToken: "iam.serviceAccounts.getOpenIdToken",
  implicitDelegation: "iam.serviceAccounts.implicitDelegation",
  signBlob: "iam.serviceAccounts.signBlob",
  signJwt: "iam.serviceAccounts.signJwt",
} as const;

/**
 * roles/iam.serviceAccountTokenCreator: lets a principal mint tokens for (impersonate) the
 * service account it is granted on, or every service account of the project it is granted on.
 * https://cloud.google.com/iam/docs/service-account-permissions ("Service Account Token Creator role")
 */
export const TOKEN_CREATOR: Role = {
  name: "roles/iam.serviceAccountTokenCreator",
  title: "Service Account Token Creator",
  permissions: Object.values(IAM_PERMISSIONS),
};
