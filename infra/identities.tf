# One service account per job, none of them the default compute account:
#   export_run   runtime identity of exportRun
#   finalize_run runtime identity of finalizeRun
#   scheduler    identity whose OIDC token Cloud Scheduler sends to exportRun
#   tasks        identity whose OIDC token Cloud Tasks sends to exportRun
#                (backfill chunks, backfill.tf)
#   trigger      identity whose OIDC token Eventarc sends to finalizeRun
#   build        Cloud Build identity that builds both functions' images

resource "google_service_account" "export_run" {
  project      = var.project_id
  account_id   = "${local.prefix}-export-run"
  display_name = "BigQuery batch exports: exportRun"
  description  = "Runtime identity of exportRun: reads ClickHouse credentials and destination keys, writes the staging bucket."
}

resource "google_service_account" "finalize_run" {
  project      = var.project_id
  account_id   = "${local.prefix}-finalize-run"
  display_name = "BigQuery batch exports: finalizeRun"
  description  = "Runtime identity of finalizeRun: reads destination keys, updates run manifests, deletes staged data."
}

resource "google_service_account" "scheduler" {
  project      = var.project_id
  account_id   = "${local.prefix}-scheduler"
  display_name = "BigQuery batch exports: Scheduler invoker"
  description  = "Cloud Scheduler calls exportRun with this account's OIDC token; it may invoke exportRun and nothing else."
}

resource "google_service_account" "tasks" {
  project      = var.project_id
  account_id   = "${local.prefix}-tasks"
  display_name = "BigQuery batch exports: Cloud Tasks invoker"
  description  = "Cloud Tasks delivers backfill chunks to exportRun with this account's OIDC token; it may invoke exportRun and nothing else."
}

resource "google_service_account" "trigger" {
  project      = var.project_id
  account_id   = "${local.prefix}-trigger"
  display_name = "BigQuery batch exports: Eventarc invoker"
  description  = "Eventarc delivers BigQuery job completions to finalizeRun with this account's OIDC token; it may invoke finalizeRun and nothing else."
}

resource "google_service_account" "build" {
  project      = var.project_id
  account_id   = "${local.prefix}-build"
  display_name = "BigQuery batch exports: function builds"
  description  = "Cloud Build identity for building the functions (instead of the default compute service account)."
}

# Staging bucket: objects only, this bucket only.
resource "google_storage_bucket_iam_member" "staging_export_run" {
  bucket = google_storage_bucket.staging.name
  role   = "roles/storage.objectAdmin"
  member = google_service_account.export_run.member
}

resource "google_storage_bucket_iam_member" "staging_finalize_run" {
  bucket = google_storage_bucket.staging.name
  role   = "roles/storage.objectAdmin"
  member = google_service_account.finalize_run.member
}

# Invokers: a gen2 function is a Cloud Run service of the same name. Only the
# two invoker accounts are granted; no allUsers, no allAuthenticatedUsers.
resource "google_cloud_run_v2_service_iam_member" "export_run_invoker" {
  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.export_run.name
  role     = "roles/run.invoker"
  member   = google_service_account.scheduler.member
}

resource "google_cloud_run_v2_service_iam_member" "export_run_tasks_invoker" {
  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.export_run.name
  role     = "roles/run.invoker"
  member   = google_service_account.tasks.member
}

resource "google_cloud_run_v2_service_iam_member" "finalize_run_invoker" {
  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.finalize_run.name
  role     = "roles/run.invoker"
  member   = google_service_account.trigger.member
}

# Pub/Sub mints the push OIDC token for the trigger account.
resource "google_service_account_iam_member" "trigger_token_creator" {
  service_account_id = google_service_account.trigger.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"

  depends_on = [google_project_service.apis]
}

# Eventarc checks that a trigger's account may receive events; harmless for a
# Pub/Sub source and required for the others, so granted explicitly.
resource "google_project_iam_member" "trigger_event_receiver" {
  project = var.project_id
  role    = "roles/eventarc.eventReceiver"
  member  = google_service_account.trigger.member
}

# The build account: what Cloud Build needs to build and push a function image.
resource "google_project_iam_member" "build_builder" {
  project = var.project_id
  role    = "roles/cloudbuild.builds.builder"
  member  = google_service_account.build.member
}

resource "google_storage_bucket_iam_member" "source_build_reader" {
  bucket = google_storage_bucket.source.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.build.member
}

# A BigQuery load job reads its gs:// URIs as the job's principal: the
# destination account of each key or impersonation (exports acting as the
# functions themselves use the runtime accounts, which already hold
# objectAdmin). Read-only, this bucket only.
resource "google_storage_bucket_iam_member" "staging_destination_reader" {
  for_each = local.destination_service_accounts
  bucket   = google_storage_bucket.staging.name
  role     = "roles/storage.objectViewer"
  member   = "serviceAccount:${each.value}"
}
