# The destination side, as the product's setup guide describes it: a custom
# role with exactly the listed permissions, granted on each destination
# dataset to the principal the export acts as in BigQuery, plus permission to
# run jobs in the destination project.
#
# An export acts in BigQuery as exactly one principal (credentialsOf in
# functions/src/core/definition.ts):
#   destination.impersonate  that service account, through short-lived tokens
#                            the functions mint with the IAM Credentials API
#                            (generateAccessToken); no key exists anywhere
#   destination.keySecret    the service account whose JSON key the secret holds
#                            (its email from var.key_service_accounts)
#   neither                  the functions' own runtime accounts
#                            (granted only with var.grant_keyless_access)

locals {
  # The setup guide's permission list, verbatim, for every destination project.
  # Any events export may load through a stage table and MERGE it into the
  # final table (forced reruns, a retry after an attempt whose load started,
  # backfill chunks, deduplicate), which reads the final table
  # (bigquery.tables.getData) and drops the stage table
  # (bigquery.tables.delete; a denied drop only leaves a warning and the stage
  # table expires after 7 days), and persons always do: one role fits all.
  custom_role_permissions = [
    "bigquery.datasets.get",
    "bigquery.jobs.create",
    "bigquery.tables.create",
    "bigquery.tables.get",
    "bigquery.tables.getData",
    "bigquery.tables.list",
    "bigquery.tables.updateData",
    "bigquery.tables.delete",
  ]

  impersonated_accounts = toset([
    for e in values(var.exports) : e.destination.impersonate if e.destination.impersonate != null
  ])
  # Every service account a BigQuery job of ours may run as, other than the
  # functions' own: the load job reads the staging bucket as that account.
  destination_service_accounts = setunion(toset(values(var.key_service_accounts)), local.impersonated_accounts)

  # The functions that act in BigQuery: exportRun starts loads, finalizeRun
  # runs the MERGE and drops stage tables.
  runtime_members = {
    export_run   = google_service_account.export_run.member
    finalize_run = google_service_account.finalize_run.member
  }

  # Who is the BigQuery principal of an export (see the table above).
  destination_principals = flatten([
    for id, e in var.exports : (
      e.destination.impersonate != null
      ? [{
        project = e.destination.projectId, dataset = e.destination.datasetId, member = "serviceAccount:${e.destination.impersonate}"
      }]
      : e.destination.keySecret != null
      ? [for email in [lookup(var.key_service_accounts, local.key_secret_refs[id].name, "")] : {
        project = e.destination.projectId, dataset = e.destination.datasetId, member = "serviceAccount:${email}"
      } if email != ""]
      : var.grant_keyless_access ? [
        for m in values(local.runtime_members) : {
          project = e.destination.projectId, dataset = e.destination.datasetId, member = m
        }
      ] : []
    )
  ])
  # Several exports often share a dataset and a principal: group by the grant
  # (a plain for-expression fails on the duplicate keys) and grant once.
  dataset_grants = {
    for k, gs in { for g in local.destination_principals : "${g.project}/${g.dataset}/${g.member}" => g... } : k => gs[0]
  }
  job_user_grants = {
    for k, gs in {
      for g in local.destination_principals : "${g.project}/${g.member}" => { project = g.project, member = g.member }...
    } : k => gs[0]
  }
}

resource "google_project_iam_custom_role" "batch_exports" {
  for_each    = var.create_custom_role ? local.destination_projects : toset([])
  project     = each.value
  role_id     = var.custom_role_id
  title       = "BigQuery batch exports"
  description = "Exactly the permissions BigQuery batch exports need on a destination dataset: create and load tables, MERGE stage tables into them (reading both) and drop the stage tables."
  stage       = "GA"
  permissions = local.custom_role_permissions

  # The role_id is fixed, and IAM soft-deletes custom roles: after a destroy
  # the ID can be undeleted for 7 days (an apply in that window undeletes and
  # updates it) and is then purged, which takes up to 30 more days; between 7
  # and 37 days after the destroy an apply fails because the ID is taken (IAM
  # projects.roles.delete; provider docs of google_project_iam_custom_role).
  # Re-apply in that window with another custom_role_id.
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
  for_each = local.job_user_grants
  project  = each.value.project
  role     = "roles/bigquery.jobUser"
  member   = each.value.member
}

# Keyless destinations: both functions may mint access tokens for each
# impersonated account (generateAccessToken needs
# iam.serviceAccounts.getAccessToken, in roles/iam.serviceAccountTokenCreator),
# on that account only. "projects/-/" lets IAM find the account's project from
# its email, which need not be the destination project.
resource "google_service_account_iam_member" "impersonation_token_creator" {
  for_each = {
    for pair in setproduct(local.impersonated_accounts, keys(local.runtime_members)) :
    "${pair[0]}/${pair[1]}" => { account = pair[0], runtime = pair[1] }
  }
  service_account_id = "projects/-/serviceAccounts/${each.value.account}"
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.runtime_members[each.value.runtime]
}

check "key_service_accounts_cover_key_secrets" {
  assert {
    condition     = length(setsubtract(local.key_secret_names, keys(var.key_service_accounts))) == 0
    error_message = "No key_service_accounts entry for key secret(s) ${join(", ", setsubtract(local.key_secret_names, keys(var.key_service_accounts)))}: their service accounts get no dataset grant from Terraform; grant them yourself or add the emails."
  }
}

check "keyless_exports_have_grants" {
  assert {
    condition     = var.grant_keyless_access || alltrue([for e in values(var.exports) : e.destination.keySecret != null || e.destination.impersonate != null])
    error_message = "Some exports have neither keySecret nor impersonate, so the functions' own service accounts are their BigQuery principal, and grant_keyless_access is false: grant those accounts BigQuery access on the datasets yourself, set grant_keyless_access = true, or (recommended) give those destinations an account to impersonate."
  }
}
