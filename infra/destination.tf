# The destination side, as the product's setup guide describes it: a custom
# role with exactly the listed permissions, granted on each destination
# dataset to the service account whose key the export uses, plus permission to
# run jobs in the destination project.

locals {
  # The setup guide's permission list, verbatim.
  custom_role_permissions = [
    "bigquery.datasets.get",
    "bigquery.jobs.create",
    "bigquery.tables.create",
    "bigquery.tables.get",
    "bigquery.tables.getData",
    "bigquery.tables.list",
    "bigquery.tables.updateData",
  ]
  # "(Optional, for mutable models)": stage tables are dropped after the MERGE.
  # Events exports with deduplicate also load into a stage table and drop it.
  custom_role_mutable_permissions = [
    "bigquery.tables.delete",
  ]
  projects_dropping_stage_tables = toset([
    for e in values(var.exports) : e.destination.projectId if e.model == "persons" || e.deduplicate
  ])

  # Who is the BigQuery principal of an export: the key's service account, or
  # (no keySecret) the functions' own accounts when grant_keyless_access is set.
  destination_principals = flatten([
    for id, e in var.exports : (
      e.destination.keySecret != null
      ? [for email in [lookup(var.key_service_accounts, local.key_secret_refs[id].name, "")] : {
        project = e.destination.projectId, dataset = e.destination.datasetId, member = "serviceAccount:${email}"
      } if email != ""]
      : var.grant_keyless_access ? [
        for m in [google_service_account.export_run.member, google_service_account.finalize_run.member] : {
          project = e.destination.projectId, dataset = e.destination.datasetId, member = m
        }
      ] : []
    )
  ])
  dataset_grants = { for g in local.destination_principals : "${g.project}/${g.dataset}/${g.member}" => g }
  job_user_grants = {
    for g in local.destination_principals : "${g.project}/${g.member}" => { project = g.project, member = g.member }...
  }
}

resource "google_project_iam_custom_role" "batch_exports" {
  for_each    = var.create_custom_role ? local.destination_projects : toset([])
  project     = each.value
  role_id     = var.custom_role_id
  title       = "BigQuery batch exports"
  description = "Exactly the permissions BigQuery batch exports need on a destination dataset (bigquery.tables.delete only for mutable models)."
  stage       = "GA"
  permissions = (
    contains(local.projects_dropping_stage_tables, each.value)
    ? concat(local.custom_role_permissions, local.custom_role_mutable_permissions)
    : local.custom_role_permissions
  )

  depends_on = [google_project_service.destination_apis]
}

# Dataset-level grant: the custom role, or BigQuery Data Editor without it.
resource "google_bigquery_dataset_iam_member" "destination" {
  for_each   = local.dataset_grants
  project    = each.value.project
  dataset_id = each.value.dataset
  role       = var.create_custom_role ? google_project_iam_custom_role.batch_exports[each.value.project].name : "roles/bigquery.dataEditor"
  member     = each.value.member
}

# Running jobs is a project permission: BigQuery Job User on the destination
# project (the guide's "BigQuery Jobs User"), not the custom role, so the table
# permissions stay scoped to the datasets.
resource "google_project_iam_member" "destination_job_user" {
  for_each = { for k, v in local.job_user_grants : k => v[0] }
  project  = each.value.project
  role     = "roles/bigquery.jobUser"
  member   = each.value.member
}

check "key_service_accounts_cover_key_secrets" {
  assert {
    condition     = length(setsubtract(local.key_secret_names, keys(var.key_service_accounts))) == 0
    error_message = "No key_service_accounts entry for key secret(s) ${join(", ", setsubtract(local.key_secret_names, keys(var.key_service_accounts)))}: their service accounts get no dataset grant from Terraform; grant them yourself or add the emails."
  }
}

check "keyless_exports_have_grants" {
  assert {
    condition     = var.grant_keyless_access || alltrue([for e in values(var.exports) : e.destination.keySecret != null])
    error_message = "Some exports have no keySecret, so the functions' own service accounts are their BigQuery principal, and grant_keyless_access is false: grant those accounts BigQuery access on the datasets yourself, or set grant_keyless_access = true."
  }
}
