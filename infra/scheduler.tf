# One Cloud Scheduler job per export: at each period boundary it POSTs
# {"export": <definition>} to exportRun with an OIDC token of the scheduler
# account. exportRun derives the period from X-CloudScheduler-ScheduleTime.

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
    body        = base64encode(jsonencode({ export = local.export_definitions[each.key] }))

    oidc_token {
      service_account_email = google_service_account.scheduler.email
      audience              = google_cloudfunctions2_function.export_run.service_config[0].uri
    }
  }

  depends_on = [
    google_project_service.apis,
    google_cloud_run_v2_service_iam_member.export_run_invoker,
  ]
}
