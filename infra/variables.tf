# Inputs. Every variable is typed, described and, where a wrong value would only
# fail later inside Google Cloud, validated here.

variable "project_id" {
  type        = string
  description = "Project that runs the functions, the staging bucket, the Pub/Sub topic, the secrets and the Scheduler jobs."
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a Google Cloud project ID (6-30 lowercase letters, digits or hyphens, starting with a letter)."
  }
}

variable "region" {
  type        = string
  description = "Region of both functions, their Eventarc trigger and the Cloud Scheduler jobs, e.g. us-central1."
  default     = "us-central1"
  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]{1,2}$", var.region))
    error_message = "region must be a Google Cloud region such as us-central1 or europe-west1 (not a multi-region)."
  }
}

variable "name_prefix" {
  type        = string
  description = "Prefix of every resource name (functions, service accounts, topic, sink, Scheduler jobs), so several deployments can share a project."
  default     = "bqx"
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,10}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 2-12 lowercase letters, digits or hyphens, start with a letter and not end with a hyphen (service account IDs are limited to 30 characters)."
  }
}

variable "staging_bucket_name" {
  type        = string
  description = "Name of the staging bucket (run manifests under runs/, staged NDJSON under staging/). Null means \"<project_id>-bqx-staging\"."
  default     = null
  validation {
    condition     = var.staging_bucket_name == null || can(regex("^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$", var.staging_bucket_name))
    error_message = "staging_bucket_name must be a valid bucket name: 3-63 lowercase letters, digits, dots, underscores or hyphens."
  }
}

variable "staging_bucket_location" {
  type        = string
  description = "Location of the staging bucket. BigQuery loads only from a bucket in the dataset's location (any location for US datasets): use the datasets' region or multi-region, e.g. US, EU or europe-west1."
  validation {
    condition     = can(regex("^(?i:us|eu|[a-z]+-[a-z]+[0-9]{1,2})$", var.staging_bucket_location))
    error_message = "staging_bucket_location must be US, EU or a region such as europe-west1."
  }
}

variable "staging_retention_days" {
  type        = number
  description = "Days after which objects under staging/ are deleted by the bucket lifecycle (runs/ manifests are kept). finalizeRun deletes staged data of completed runs itself; this catches abandoned attempts."
  default     = 7
  validation {
    condition     = var.staging_retention_days >= 1 && floor(var.staging_retention_days) == var.staging_retention_days
    error_message = "staging_retention_days must be a whole number of days, at least 1."
  }
}

variable "clickhouse_url" {
  type        = string
  description = "ClickHouse HTTP(S) endpoint the exports read from, e.g. https://clickhouse.example.com:8443 (BQX_CLICKHOUSE_URL)."
  validation {
    condition     = can(regex("^https?://[^/\\s]+", var.clickhouse_url))
    error_message = "clickhouse_url must be an http:// or https:// URL."
  }
}

variable "clickhouse_user" {
  type        = string
  description = "ClickHouse user (BQX_CLICKHOUSE_USER). Its password goes into the Secret Manager secret named by clickhouse_password_secret_id, never into Terraform."
  default     = "default"
  validation {
    condition     = length(var.clickhouse_user) > 0
    error_message = "clickhouse_user must not be empty."
  }
}

variable "clickhouse_database" {
  type        = string
  description = "ClickHouse database holding PostHog's events, person and person_distinct_id2 tables (BQX_CLICKHOUSE_DATABASE)."
  default     = "posthog"
  validation {
    condition     = can(regex("^[A-Za-z0-9_]+$", var.clickhouse_database))
    error_message = "clickhouse_database must contain only letters, digits and underscores."
  }
}

variable "clickhouse_password_secret_id" {
  type        = string
  description = "ID of the Secret Manager secret (created empty here) whose latest version is the ClickHouse password, exposed to both functions as BQX_CLICKHOUSE_PASSWORD."
  default     = "bqx-clickhouse-password"
  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,255}$", var.clickhouse_password_secret_id))
    error_message = "clickhouse_password_secret_id must be 1-255 letters, digits, underscores or hyphens."
  }
}

variable "log_level" {
  type        = string
  description = "Log level of both functions (BQX_LOG_LEVEL)."
  default     = "INFO"
  validation {
    condition     = contains(["DEBUG", "INFO", "WARNING", "ERROR"], var.log_level)
    error_message = "log_level must be one of DEBUG, INFO, WARNING, ERROR."
  }
}

variable "exports" {
  description = <<-EOT
    The batch exports, keyed by export ID (lowercase letters, digits and hyphens,
    at most 29, starting with a letter). Each entry is an export definition; Terraform
    stores it, with the key as its id, as exports/<id>.json in the staging bucket,
    where exportRun reads it (the Scheduler job only names the export). How the
    export acts in BigQuery, at most one of:
    destination.impersonate = a service account email that the functions impersonate
    (keyless: they get roles/iam.serviceAccountTokenCreator on it);
    destination.keySecret = the Secret Manager version holding that account's JSON key
    ("projects/<project_id>/secrets/<name>/versions/latest"; the secret is created here,
    empty; map <name> to the account in key_service_accounts);
    neither = the functions' own service accounts (see grant_keyless_access).
    autoPauseAfter: exportRun pauses the export's Scheduler job after this many
    failed runs that a retry cannot fix (unset: the product's default); a person
    resumes it.
  EOT
  type = map(object({
    model    = string
    teamId   = number
    interval = string
    destination = object({
      projectId   = string
      datasetId   = string
      tableId     = string
      location    = string
      keySecret   = optional(string)
      impersonate = optional(string)
    })
    useJsonType    = optional(bool, false)
    includeEvents  = optional(list(string), [])
    excludeEvents  = optional(list(string), [])
    deduplicate    = optional(bool, false)
    autoPauseAfter = optional(number)
  }))
  default = {}

  validation {
    condition     = alltrue([for id in keys(var.exports) : can(regex("^[a-z](?:[a-z0-9-]{0,27}[a-z0-9])?$", id))])
    error_message = "Every export ID (map key) must have 1 to 29 lowercase letters, digits or hyphens, start with a letter and not end with a hyphen."
  }
  validation {
    condition     = alltrue([for e in values(var.exports) : contains(["events", "persons"], e.model)])
    error_message = "model must be \"events\" or \"persons\"."
  }
  validation {
    condition     = alltrue([for e in values(var.exports) : contains(["5m", "15m", "hour", "day", "week"], e.interval)])
    error_message = "interval must be one of \"5m\", \"15m\", \"hour\", \"day\", \"week\"."
  }
  validation {
    condition     = alltrue([for e in values(var.exports) : e.teamId >= 1 && floor(e.teamId) == e.teamId])
    error_message = "teamId must be a positive whole number."
  }
  validation {
    condition     = alltrue([for e in values(var.exports) : !(e.deduplicate && e.model != "events")])
    error_message = "deduplicate applies only to the events model (persons are always merged)."
  }
  validation {
    condition     = alltrue([for e in values(var.exports) : e.model == "events" || (length(e.includeEvents) == 0 && length(e.excludeEvents) == 0)])
    error_message = "includeEvents and excludeEvents apply only to the events model."
  }
  validation {
    condition     = alltrue([for e in values(var.exports) : length(setintersection(toset(e.includeEvents), toset(e.excludeEvents))) == 0])
    error_message = "An event must not be both included and excluded."
  }
  validation {
    condition = alltrue([for e in values(var.exports) : (
      can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", e.destination.projectId)) &&
      can(regex("^[A-Za-z0-9_]{1,1024}$", e.destination.datasetId)) &&
      length(e.destination.tableId) > 0 && !can(regex("[:.]", e.destination.tableId))
    )])
    error_message = "destination: projectId must be a project ID, datasetId only letters, digits and underscores, and tableId the bare table ID (no project or dataset part)."
  }
  validation {
    condition     = alltrue([for e in values(var.exports) : can(regex("^(?:[Uu][Ss]|[Ee][Uu]|[a-z]+-[a-z]+[0-9]{1,2})$", e.destination.location))])
    error_message = "destination.location must be \"US\", \"EU\" or a region such as \"europe-west2\"."
  }
  validation {
    condition = alltrue([for e in values(var.exports) : e.destination.keySecret == null || can(regex(
      "^projects/[^/]+/secrets/[A-Za-z0-9_-]{1,255}/versions/(?:latest|[1-9][0-9]*)$", e.destination.keySecret
    ))])
    error_message = "destination.keySecret must be a Secret Manager version name: projects/<project>/secrets/<name>/versions/<version or latest>."
  }
  validation {
    condition     = alltrue([for e in values(var.exports) : e.destination.keySecret == null || e.destination.impersonate == null])
    error_message = "destination: set keySecret or impersonate, not both. A destination acts in BigQuery one way: impersonate (keyless, recommended), the key in keySecret, or neither (the functions' own accounts)."
  }
  validation {
    # The product's own pattern for a service account email (core/definition.ts).
    condition = alltrue([for e in values(var.exports) : e.destination.impersonate == null || can(regex(
      "^[a-z0-9][a-z0-9._-]{0,99}@[a-z0-9][a-z0-9.-]{0,99}\\.gserviceaccount\\.com$", e.destination.impersonate
    ))])
    error_message = "destination.impersonate must be a service account email, e.g. bq-exporter@my-analytics-project.iam.gserviceaccount.com."
  }
  validation {
    condition     = alltrue([for e in values(var.exports) : e.autoPauseAfter == null || try(e.autoPauseAfter >= 1 && floor(e.autoPauseAfter) == e.autoPauseAfter, false)])
    error_message = "autoPauseAfter must be a whole number of failed runs, at least 1 (or left unset for the product's default)."
  }
}

variable "key_service_accounts" {
  type        = map(string)
  description = "Destination service account email per key secret name (the <name> in keySecret): the account whose JSON key you store in that secret. It receives the dataset-level grant (custom role or BigQuery Data Editor) on each dataset its exports write to, and BigQuery Job User on the destination project."
  default     = {}
  validation {
    condition     = alltrue([for email in values(var.key_service_accounts) : can(regex("^[a-z0-9-]+@[a-z0-9.-]+\\.iam\\.gserviceaccount\\.com$", email))])
    error_message = "key_service_accounts values must be service account emails (...@<project>.iam.gserviceaccount.com)."
  }
}

variable "create_custom_role" {
  type        = bool
  description = "Create the product's custom role (exactly the permissions of the product's setup guide, the same in every destination project) in each destination project and grant it on the datasets. False grants the built-in BigQuery Data Editor on the datasets instead."
  default     = true
}

variable "custom_role_id" {
  type        = string
  description = "Role ID of the custom role in each destination project (projects/<project>/roles/<custom_role_id>). IAM keeps a deleted custom role's ID reserved for up to 37 days: after a destroy, re-apply with another ID (see README, Deploy)."
  default     = "bqxBatchExports"
  validation {
    condition     = can(regex("^[a-zA-Z0-9_.]{3,64}$", var.custom_role_id))
    error_message = "custom_role_id must be 3-64 letters, digits, underscores or dots."
  }
}

variable "grant_keyless_access" {
  type        = bool
  description = "For exports with neither keySecret nor impersonate, the functions run BigQuery as their own service accounts: true grants exportRun's and finalizeRun's accounts the dataset-level role and BigQuery Job User on those destinations; false leaves those grants to you."
  default     = false
}

variable "export_run_timeout_seconds" {
  type        = number
  description = "exportRun's request timeout (an HTTP gen2 function allows up to 3600). The Scheduler attempt deadline follows it."
  default     = 900
  validation {
    condition     = var.export_run_timeout_seconds >= 60 && var.export_run_timeout_seconds <= 3600
    error_message = "export_run_timeout_seconds must be between 60 and 3600."
  }
}

variable "finalize_run_timeout_seconds" {
  type        = number
  description = "finalizeRun's timeout (event-driven gen2 functions allow up to 540)."
  default     = 540
  validation {
    condition     = var.finalize_run_timeout_seconds >= 60 && var.finalize_run_timeout_seconds <= 540
    error_message = "finalize_run_timeout_seconds must be between 60 and 540."
  }
}

variable "export_run_memory" {
  type        = string
  description = "Memory of one exportRun instance (rows stream through; 1Gi is ample for default part sizes)."
  default     = "1Gi"
  validation {
    condition     = can(regex("^[0-9]+(?:Mi|Gi|M|G)$", var.export_run_memory))
    error_message = "export_run_memory must look like 512Mi, 1Gi or 2Gi."
  }
}

variable "max_instances" {
  type        = number
  description = "Upper bound of concurrent instances of each function."
  default     = 10
  validation {
    condition     = var.max_instances >= 1 && floor(var.max_instances) == var.max_instances
    error_message = "max_instances must be a positive whole number."
  }
}

variable "scheduler_retry" {
  type = object({
    retry_count          = optional(number, 3)
    min_backoff_duration = optional(string, "30s")
    max_backoff_duration = optional(string, "600s")
    max_doublings        = optional(number, 3)
    max_retry_duration   = optional(string, "0s")
  })
  description = "Retry policy of every Scheduler job when exportRun answers with an error or times out (a retry of the same scheduled time exports the same period; completed runs are a no-op)."
  default     = {}
  validation {
    condition     = var.scheduler_retry.retry_count >= 0 && var.scheduler_retry.retry_count <= 5
    error_message = "scheduler_retry.retry_count must be between 0 and 5."
  }
  validation {
    condition = alltrue([for d in [var.scheduler_retry.min_backoff_duration, var.scheduler_retry.max_backoff_duration, var.scheduler_retry.max_retry_duration] :
    can(regex("^[0-9]+s$", d))])
    error_message = "scheduler_retry durations must be whole seconds such as \"30s\"."
  }
}

variable "backfill_concurrency" {
  type        = number
  description = "Backfill chunks running at once (the Cloud Tasks queue's max_concurrent_dispatches). This is the cap that protects ClickHouse from a large backfill; BigQuery runs at most 2 mutating DML statements per table at once, so more than 2 chunks of one export mostly queue in BigQuery."
  default     = 2
  validation {
    condition     = var.backfill_concurrency >= 1 && var.backfill_concurrency <= 50 && floor(var.backfill_concurrency) == var.backfill_concurrency
    error_message = "backfill_concurrency must be a whole number between 1 and 50."
  }
}

variable "scheduler_pause_role_id" {
  type        = string
  description = "Role ID of the custom role (in project_id) that lets exportRun pause Cloud Scheduler jobs. Null means \"<name_prefix with hyphens as underscores>_scheduler_pause\", e.g. bqx_scheduler_pause. IAM keeps a deleted custom role's ID reserved for up to 37 days: after a destroy, re-apply with another ID."
  default     = null
  validation {
    condition     = var.scheduler_pause_role_id == null || can(regex("^[a-zA-Z0-9_.]{3,64}$", var.scheduler_pause_role_id))
    error_message = "scheduler_pause_role_id must be 3-64 letters, digits, underscores or dots."
  }
}

variable "alert_notification_channels" {
  type        = list(string)
  description = "Existing Cloud Monitoring notification channels (projects/<project>/notificationChannels/<id>) to alert. Alerting (failed runs, stale exports, auto-paused exports) is created when this or alert_emails is non-empty."
  default     = []
  validation {
    condition     = alltrue([for c in var.alert_notification_channels : can(regex("^projects/[^/]+/notificationChannels/[0-9]+$", c))])
    error_message = "alert_notification_channels entries must be channel names: projects/<project>/notificationChannels/<numeric id>."
  }
}

variable "alert_emails" {
  type        = list(string)
  description = "Email addresses to alert; one Cloud Monitoring email channel is created for each. Alerting is created when this or alert_notification_channels is non-empty."
  default     = []
  validation {
    condition     = alltrue([for a in var.alert_emails : can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", a))])
    error_message = "alert_emails entries must be email addresses."
  }
}

variable "alert_docs_base_url" {
  type        = string
  description = "URL of this project's README as people read it (e.g. https://github.com/<org>/<repo>/blob/main/README.md). Alert documentation links to its Troubleshooting entries (<url>#<entry anchor>). Null: the alerts name the README section instead of linking."
  default     = null
  validation {
    condition     = var.alert_docs_base_url == null || can(regex("^https://[^\\s#]+$", var.alert_docs_base_url))
    error_message = "alert_docs_base_url must be an https:// URL without a #fragment (the entries' anchors are added)."
  }
}
