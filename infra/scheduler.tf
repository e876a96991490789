# One Cloud Scheduler job per export: one minute after each period boundary
# (local.schedules) it POSTs {"exportId": "<id>"} to exportRun with an OIDC
# token of the scheduler account. exportRun loads the stored definition
# (definitions.tf) and derives the period from X-CloudScheduler-ScheduleTime.

locals {
  # Full job name = this prefix + export ID. exportRun builds the name of the
  # job to pause from it (BQX_SCHEDULER_JOB_PREFIX).
  scheduler_job_prefix = "projects/${var.project_id}/locations/${var.region}/jobs/${local.prefix}-"
}

resource "google_cloud_scheduler_job" "export" {
  for_each    = var.exports
  project     = var.project_id
  region      = var.region
  name        = "${local.prefix}-${each.key}"
  description = "BigQuery batch export ${each.key}: ${each.value.model} of team ${each.value.teamId} every ${each.value.interval} into ${each.value.destination.projectId}.${each.value.destination.datasetId}.${each.value.destination.tableId}"
  schedule    = local.schedules[each.value.interval]
  time_zone   = local.schedule_time_zone
  # Scheduler allows at most 30 minutes for an HTTP attempt.
  attempt_deadline = "${min(var.export_run_timeout_seconds + 30, 1800)}s"

  # `paused` is deliberately not set: exportRun pauses a failing export's job
  # and a person resumes it (`bqx resume <id>`). The provider's `paused` is
  # Optional+Computed (google/services/cloudscheduler, v6.39.0), so an apply
  # neither resumes an auto-paused job nor pauses a resumed one.

  retry_config {
    retry_count          = var.scheduler_retry.retry_count
    min_backoff_duration = var.scheduler_retry.min_backoff_duration
    max_backoff_duration = var.scheduler_retry.max_backoff_duration
    max_doublings        = var.scheduler_retry.max_doublings
    max_retry_duration   = var.scheduler_retry.max_retry_duration
  }

  http_target {
    http_method = "POST"
    uri         = google_cloudfunctions2_function.export_run.service_config[0].uri
    headers     = { "Content-Type" = "application/json" }
    body        = base64encode(jsonencode({ exportId = each.key }))

    oidc_token {
      service_account_email = google_service_account.scheduler.email
      audience              = google_cloudfunctions2_function.export_run.service_config[0].uri
    }
  }

  depends_on = [
    google_project_service.apis,
    google_cloud_run_v2_service_iam_member.export_run_invoker,
    # The job names the export; its definition must be there when it fires.
    google_storage_bucket_object.export_definition,
  ]
}

# Auto-pause: after repeated non-retryable failures exportRun pauses the
# export's job (cloudscheduler.jobs.pause; .get to read the job's state first).
# Resuming is a person's action and is not granted.
#
# Scoping, checked against Google's documentation:
#  - Cloud Scheduler has no IAM policy on a job (the v1 API has no
#    get/setIamPolicy; its roles' "lowest-level resource where you can grant
#    this role" is the project: cloud.google.com/iam/docs/roles-permissions/
#    cloudscheduler), so there is no per-job grant for Terraform to make.
#  - IAM Conditions on resource.name work only for the services listed in
#    "Resource attributes for IAM Conditions" (cloud.google.com/iam/docs/
#    conditions-resource-attributes); Cloud Scheduler is not among them ("Other
#    services and resource types do not recognize resource attributes"), so a
#    condition on the jobs' name prefix cannot narrow this grant.
# The tightest grant available is therefore this two-permission custom role on
# the functions' project: exportRun can pause (not create, change, run, resume
# or delete) Scheduler jobs of this project, and reads their configuration.
# Deploy into a project of its own if other teams' jobs live in that project.
resource "google_project_iam_custom_role" "scheduler_pause" {
  project     = var.project_id
  role_id     = coalesce(var.scheduler_pause_role_id, "${replace(local.prefix, "-", "_")}_scheduler_pause")
  title       = "BigQuery batch exports: pause Scheduler jobs"
  description = "Lets exportRun pause the Cloud Scheduler job of an export that keeps failing (auto-pause). Resuming is left to people."
  stage       = "GA"
  permissions = local.scheduler_pause_permissions

  # A deleted custom role's ID stays reserved: undeletable for 7 days, then
  # unusable until it is purged, up to 37 days after the delete (provider
  # docs of google_project_iam_custom_role; IAM projects.roles.delete). An
  # apply within 7 days of a destroy undeletes it; between 7 and 37 days it
  # fails: set scheduler_pause_role_id to a new ID.
  depends_on = [google_project_service.apis]
}

locals {
  scheduler_pause_permissions = [
    "cloudscheduler.jobs.get",
    "cloudscheduler.jobs.pause",
  ]
}

resource "google_project_iam_member" "export_run_scheduler_pause" {
  project = var.project_id
  role    = google_project_iam_custom_role.scheduler_pause.name
  member  = google_service_account.export_run.member
}
