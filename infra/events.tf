# BigQuery job completions -> Pub/Sub -> finalizeRun.
# A log sink in every destination project selects our DONE jobs (the filter is
# local.audit_sink_filter in main.tf) and publishes them to one topic here.

resource "google_pubsub_topic" "bigquery_jobs" {
  project = var.project_id
  name    = "${local.prefix}-bigquery-jobs"
  labels  = { app = "bigquery-batch-exports" }

  # Keep undelivered completions for a week (matches the staging lifecycle).
  message_retention_duration = "604800s"

  depends_on = [google_project_service.apis]
}

resource "google_logging_project_sink" "bigquery_jobs" {
  for_each               = local.destination_projects
  project                = each.value
  name                   = "${local.prefix}-bigquery-jobs"
  description            = "BigQuery batch exports: DONE jobs labelled by the exporter, to finalizeRun."
  destination            = "pubsub.googleapis.com/${google_pubsub_topic.bigquery_jobs.id}"
  filter                 = local.audit_sink_filter
  unique_writer_identity = true

  depends_on = [google_project_service.destination_apis]
}

# Each sink's own writer identity may publish to the topic, and nothing else.
resource "google_pubsub_topic_iam_member" "sink_publisher" {
  for_each = google_logging_project_sink.bigquery_jobs
  project  = var.project_id
  topic    = google_pubsub_topic.bigquery_jobs.name
  role     = "roles/pubsub.publisher"
  member   = each.value.writer_identity
}
