# Shared values, the project's APIs and the names that cross boundaries.
# Resources are split by concern: storage.tf, definitions.tf, identities.tf,
# secrets.tf, functions.tf, events.tf, scheduler.tf, backfill.tf,
# destination.tf, alerting.tf.

data "google_project" "this" {
  project_id = var.project_id
}

locals {
  prefix              = var.name_prefix
  staging_bucket_name = coalesce(var.staging_bucket_name, "${var.project_id}-bqx-staging")
  source_bucket_name  = "${var.project_id}-${var.name_prefix}-source"
  repo_root           = abspath("${path.module}/..")

  # exportRun exports the full period BEFORE X-CloudScheduler-ScheduleTime and
  # never reads a period before its end plus the settle delay (30 s after a
  # 5-minute period, 60 s after longer ones: DEFAULT_SETTLE_MS in
  # functions/src/core/periods.ts). So every job fires ONE MINUTE after its
  # period boundary (UTC; weeks start on Monday): at 10:01 it exports
  # [09:00, 10:00), which settled at 10:01. A range with a step ("1-59/5") is
  # Cloud Scheduler cron: "Following a range with /NUMBER specifies skips of
  # the number's value through the range" (cloud.google.com/scheduler/docs/
  # configuring/cron-job-schedules).
  schedules = {
    "5m"   = "1-59/5 * * * *"
    "15m"  = "1-59/15 * * * *"
    "hour" = "1 * * * *"
    "day"  = "1 0 * * *"
    "week" = "1 0 * * 1"
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

  # The stored export definition (exports/<id>.json, definitions.tf) exactly as
  # the product validates it (exportDefinitionSchema, core/definition.ts):
  # unknown or null fields are rejected there, and Terraform gives null for an
  # unset optional() attribute, so nulls are left out at both levels (an unset
  # keySecret, impersonate or autoPauseAfter is absent, not null).
  export_definitions = {
    for id, e in var.exports : id => {
      for field, value in {
        id             = id
        model          = e.model
        teamId         = e.teamId
        interval       = e.interval
        destination    = { for k, v in e.destination : k => v if v != null }
        useJsonType    = e.useJsonType
        includeEvents  = e.includeEvents
        excludeEvents  = e.excludeEvents
        deduplicate    = e.deduplicate
        autoPauseAfter = e.autoPauseAfter
      } : field => value if value != null
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
  # Only exportRun plans backfills and pauses Scheduler jobs.
  export_run_env = {
    # Full queue name, projects/P/locations/L/queues/Q (backfill.tf).
    BQX_BACKFILL_QUEUE = local.backfill_queue_name
    # The account whose OIDC token Cloud Tasks sends with each backfill chunk.
    BQX_TASKS_SERVICE_ACCOUNT = google_service_account.tasks.email
    # Each chunk task's dispatchDeadline, in seconds (backfill.tf).
    BQX_TASKS_DISPATCH_DEADLINE_SECONDS = tostring(local.tasks_dispatch_deadline_seconds)
    # A job's full name is this prefix + the export ID (scheduler.tf).
    BQX_SCHEDULER_JOB_PREFIX = local.scheduler_job_prefix
  }

  apis = toset([
    "artifactregistry.googleapis.com",
    "bigquery.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudfunctions.googleapis.com",
    "cloudscheduler.googleapis.com",
    "cloudtasks.googleapis.com",
    "eventarc.googleapis.com",
    "iam.googleapis.com",
    # generateAccessToken, for destinations with impersonate.
    "iamcredentials.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
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
