# Shared values, the project's APIs and the names that cross boundaries.
# Resources are split by concern: storage.tf, identities.tf, secrets.tf,
# functions.tf, events.tf, scheduler.tf, destination.tf.

data "google_project" "this" {
  project_id = var.project_id
}

locals {
  prefix              = var.name_prefix
  staging_bucket_name = coalesce(var.staging_bucket_name, "${var.project_id}-bqx-staging")
  source_bucket_name  = "${var.project_id}-${var.name_prefix}-source"
  repo_root           = abspath("${path.module}/..")

  # exportRun exports the full period BEFORE X-CloudScheduler-ScheduleTime, so
  # every job fires on its period boundary (UTC; weeks start on Monday).
  schedules = {
    "5m"   = "*/5 * * * *"
    "15m"  = "*/15 * * * *"
    "hour" = "0 * * * *"
    "day"  = "0 0 * * *"
    "week" = "0 0 * * 1"
  }
  schedule_time_zone = "Etc/UTC"

  # The BigQuery audit entries finalizeRun acts on: a job of ours (all three
  # job labels present) reaching DONE. The local stack reads this same string
  # from this file, so its log sink selects exactly what production selects.
  audit_sink_filter = <<-EOT
    resource.type="bigquery_project"
    AND protoPayload.metadata."@type"="type.googleapis.com/google.cloud.audit.BigQueryAuditMetadata"
    AND protoPayload.metadata.jobChange.after="DONE"
    AND protoPayload.metadata.jobChange.job.jobConfig.labels.bqx_export:*
    AND protoPayload.metadata.jobChange.job.jobConfig.labels.bqx_run:*
    AND protoPayload.metadata.jobChange.job.jobConfig.labels.bqx_model:*
  EOT

  # The export definition exactly as exportRun validates it (unknown or null
  # fields are rejected there, so an absent keySecret is left out).
  export_definitions = {
    for id, e in var.exports : id => {
      id            = id
      model         = e.model
      teamId        = e.teamId
      interval      = e.interval
      destination   = { for k, v in e.destination : k => v if v != null }
      useJsonType   = e.useJsonType
      includeEvents = e.includeEvents
      excludeEvents = e.excludeEvents
      deduplicate   = e.deduplicate
    }
  }

  destination_projects = toset([for e in values(var.exports) : e.destination.projectId])

  # keySecret = projects/<project>/secrets/<name>/versions/<version>
  key_secret_refs = {
    for id, e in var.exports : id => {
      project = regex("^projects/([^/]+)/secrets/([^/]+)/versions/", e.destination.keySecret)[0]
      name    = regex("^projects/([^/]+)/secrets/([^/]+)/versions/", e.destination.keySecret)[1]
    } if e.destination.keySecret != null
  }
  key_secret_names = toset([for r in values(local.key_secret_refs) : r.name])

  function_env = {
    BQX_STAGING_BUCKET      = google_storage_bucket.staging.name
    BQX_CLICKHOUSE_URL      = var.clickhouse_url
    BQX_CLICKHOUSE_USER     = var.clickhouse_user
    BQX_CLICKHOUSE_DATABASE = var.clickhouse_database
    BQX_LOG_LEVEL           = var.log_level
  }

  apis = toset([
    "artifactregistry.googleapis.com",
    "bigquery.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudfunctions.googleapis.com",
    "cloudscheduler.googleapis.com",
    "eventarc.googleapis.com",
    "iam.googleapis.com",
    "logging.googleapis.com",
    "pubsub.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "storage.googleapis.com",
  ])
  destination_apis = {
    for pair in setproduct(local.destination_projects, ["bigquery.googleapis.com", "logging.googleapis.com"]) :
    "${pair[0]}/${pair[1]}" => { project = pair[0], service = pair[1] }
    if pair[0] != var.project_id
  }
}

resource "google_project_service" "apis" {
  for_each           = local.apis
  project            = var.project_id
  service            = each.value
  disable_on_destroy = false
}

resource "google_project_service" "destination_apis" {
  for_each           = local.destination_apis
  project            = each.value.project
  service            = each.value.service
  disable_on_destroy = false
}
