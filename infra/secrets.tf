# Secret Manager secrets, created EMPTY: their values are added out of band
# (gcloud secrets versions add ...), so no secret ever enters Terraform state.
# Access is granted per secret, to the accounts that read it.

resource "google_secret_manager_secret" "clickhouse_password" {
  project   = var.project_id
  secret_id = var.clickhouse_password_secret_id
  labels    = { app = "bigquery-batch-exports" }

  replication {
    auto {}
  }

  depends_on = [google_project_service.apis]
}

# One secret per distinct keySecret name in var.exports: the destination
# service account's JSON key (the file the product's setup guide creates).
resource "google_secret_manager_secret" "destination_key" {
  for_each  = local.key_secret_names
  project   = var.project_id
  secret_id = each.value
  labels    = { app = "bigquery-batch-exports" }

  replication {
    auto {}
  }

  lifecycle {
    precondition {
      condition = alltrue([
        for r in values(local.key_secret_refs) : contains([var.project_id, tostring(data.google_project.this.number)], r.project)
      ])
      error_message = "Every destination.keySecret must name a secret in project ${var.project_id} (where the functions run): projects/${var.project_id}/secrets/<name>/versions/latest."
    }
  }

  depends_on = [google_project_service.apis]
}

# exportRun reads the ClickHouse password (as BQX_CLICKHOUSE_PASSWORD) and the keys.
resource "google_secret_manager_secret_iam_member" "clickhouse_password_export_run" {
  project   = var.project_id
  secret_id = google_secret_manager_secret.clickhouse_password.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.export_run.member
}

resource "google_secret_manager_secret_iam_member" "destination_key_export_run" {
  for_each  = google_secret_manager_secret.destination_key
  project   = var.project_id
  secret_id = each.value.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.export_run.member
}

# finalizeRun runs the MERGE/DROP as the destination account, so it reads the
# keys too. It never talks to ClickHouse and gets no access to that password.
resource "google_secret_manager_secret_iam_member" "destination_key_finalize_run" {
  for_each  = google_secret_manager_secret.destination_key
  project   = var.project_id
  secret_id = each.value.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.finalize_run.member
}
