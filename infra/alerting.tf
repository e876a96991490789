# Optional alerting on the functions' own log lines: failed runs, stale
# exports and auto-paused exports. Created only when var.alert_emails or
# var.alert_notification_channels names someone to tell.
#
# The log lines (one JSON object per line on stdout; Cloud Functions gen2 run
# on Cloud Run, so each becomes a LogEntry with resource.type
# "cloud_run_revision", resource.labels.service_name = the function's name,
# the object as jsonPayload and its `severity` as the entry's severity):
#   {"severity":"ERROR","message":"run failed","event":"run_failed","export":"<id>",
#    "run":"<run id>","trigger":"scheduled|manual|backfill",
#    "error":{"code":"<CODE>","message":"…","retryable":false}}
#   {"severity":"INFO","message":"run completed","event":"run_completed","export":"<id>",
#    "run":"<run id>","trigger":"…","rows":123}
#   {"severity":"ERROR","message":"export paused after 6 failed runs; resume with: bqx resume <id>",
#    "event":"export_paused","export":"<id>","failures":6}
# The filters below select them; test/infra/alerting.test.ts evaluates them on
# lines of each kind. Their only interpolation is ${local.prefix} (the
# functions' names).

locals {
  alerting_enabled = length(var.alert_notification_channels) + length(var.alert_emails) > 0
  alert_channels = concat(
    var.alert_notification_channels,
    [for c in google_monitoring_notification_channel.email : c.name],
  )

  run_failed_log_filter = <<-EOT
    resource.type="cloud_run_revision"
    AND (resource.labels.service_name="${local.prefix}-export-run" OR resource.labels.service_name="${local.prefix}-finalize-run")
    AND jsonPayload.event="run_failed"
  EOT

  run_completed_log_filter = <<-EOT
    resource.type="cloud_run_revision"
    AND (resource.labels.service_name="${local.prefix}-export-run" OR resource.labels.service_name="${local.prefix}-finalize-run")
    AND jsonPayload.event="run_completed"
  EOT

  export_paused_log_filter = <<-EOT
    resource.type="cloud_run_revision"
    AND (resource.labels.service_name="${local.prefix}-export-run" OR resource.labels.service_name="${local.prefix}-finalize-run")
    AND jsonPayload.event="export_paused"
  EOT

  # Freshness: an export is stale when no run of it completed for 3 of its
  # intervals. That is a metric-absence condition, whose duration Cloud
  # Monitoring accepts from 120 s ("The minimum value of this field is 120
  # seconds", MetricAbsence.duration) to 23.5 hours ("up to a maximum of 23.5
  # hours", cloud.google.com/monitoring/alerts/metric-absence), in whole
  # minutes. 3 intervals of 5m, 15m and hour exports fit (15 min, 45 min, 3 h).
  # Day and week exports get no freshness alert: 3 days or 3 weeks exceed the
  # absence limit, clamping to 23.5 h would fire every day between two daily
  # runs (24 h apart), and a metric-threshold condition cannot look back more
  # than 25 hours either (alignment_period at most 90,000 s for alerting
  # policies, monitoring v3 Aggregation). Their failures and pauses still alert.
  interval_seconds = {
    "5m"   = 300
    "15m"  = 900
    "hour" = 3600
    "day"  = 86400
    "week" = 604800
  }
  metric_absence_max_seconds = 84600
  stale_after_seconds = {
    for id, e in var.exports : id => 3 * local.interval_seconds[e.interval]
    if 3 * local.interval_seconds[e.interval] <= local.metric_absence_max_seconds
  }

  # Where each alert sends people: a Troubleshooting entry of the README. The
  # anchors are GitHub's slugs of these headings.
  alert_docs = {
    run_failed    = { heading = "A run failed", anchor = "a-run-failed" }
    export_stale  = { heading = "An export is stale", anchor = "an-export-is-stale" }
    export_paused = { heading = "An export was paused", anchor = "an-export-was-paused" }
  }
  alert_doc_links = {
    for k, d in local.alert_docs : k => var.alert_docs_base_url == null ? null : "${var.alert_docs_base_url}#${d.anchor}"
  }
  alert_doc_pointer = {
    for k, d in local.alert_docs : k => (
      var.alert_docs_base_url == null
      ? "README, Troubleshooting, \"${d.heading}\"."
      : "README, Troubleshooting: [${d.heading}](${var.alert_docs_base_url}#${d.anchor})."
    )
  }
}

resource "google_monitoring_notification_channel" "email" {
  for_each     = toset(var.alert_emails)
  project      = var.project_id
  display_name = "BigQuery batch exports (${local.prefix}): ${each.value}"
  type         = "email"
  labels       = { email_address = each.value }
  user_labels  = { app = "bigquery-batch-exports" }

  depends_on = [google_project_service.apis]
}

# Failed runs, counted by export, error code and whether a retry can help.
resource "google_logging_metric" "run_failed" {
  count       = local.alerting_enabled ? 1 : 0
  project     = var.project_id
  name        = "${local.prefix}-run-failed"
  description = "BigQuery batch exports: runs that failed (event run_failed), by export, error code and retryable."
  filter      = local.run_failed_log_filter

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "BigQuery batch exports: failed runs"
    labels {
      key         = "export"
      value_type  = "STRING"
      description = "Export ID"
    }
    labels {
      key         = "error_code"
      value_type  = "STRING"
      description = "The run's error.code, e.g. PERMISSION_DENIED"
    }
    labels {
      key         = "retryable"
      value_type  = "STRING"
      description = "\"true\" when a retry can help (the caller retries), \"false\" when it needs a fix"
    }
  }
  label_extractors = {
    export     = "EXTRACT(jsonPayload.export)"
    error_code = "EXTRACT(jsonPayload.error.code)"
    retryable  = "EXTRACT(jsonPayload.error.retryable)"
  }

  depends_on = [google_project_service.apis]
}

# Completed runs (including empty periods), by export: the freshness signal.
resource "google_logging_metric" "run_completed" {
  count       = local.alerting_enabled ? 1 : 0
  project     = var.project_id
  name        = "${local.prefix}-run-completed"
  description = "BigQuery batch exports: runs that completed (event run_completed), by export."
  filter      = local.run_completed_log_filter

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "BigQuery batch exports: completed runs"
    labels {
      key         = "export"
      value_type  = "STRING"
      description = "Export ID"
    }
  }
  label_extractors = {
    export = "EXTRACT(jsonPayload.export)"
  }

  depends_on = [google_project_service.apis]
}

resource "google_monitoring_alert_policy" "run_failed" {
  count                 = local.alerting_enabled ? 1 : 0
  project               = var.project_id
  display_name          = "BigQuery batch exports (${local.prefix}): a run failed"
  combiner              = "OR"
  severity              = "ERROR"
  notification_channels = local.alert_channels
  user_labels           = { app = "bigquery-batch-exports" }

  # A failure that needs a fix: alert on the first one.
  conditions {
    display_name = "A run failed with a non-retryable error"
    condition_threshold {
      filter          = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.run_failed[0].name}\" AND resource.type=\"cloud_run_revision\" AND metric.label.retryable=\"false\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["metric.label.export", "metric.label.error_code"]
      }
      trigger {
        count = 1
      }
    }
  }

  # Transient failures are retried by the caller; alert when they keep coming
  # (more than 2 in an hour: a period whose Scheduler retries ran out, or a
  # struggling ClickHouse or BigQuery).
  conditions {
    display_name = "Runs keep failing with retryable errors"
    condition_threshold {
      filter          = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.run_failed[0].name}\" AND resource.type=\"cloud_run_revision\" AND metric.label.retryable=\"true\""
      comparison      = "COMPARISON_GT"
      threshold_value = 2
      duration        = "0s"
      aggregations {
        alignment_period     = "3600s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["metric.label.export", "metric.label.error_code"]
      }
      trigger {
        count = 1
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    subject   = "BigQuery batch export $${metric.label.export}: a run failed ($${metric.label.error_code})"
    content   = <<-EOT
      A run of export **$${metric.label.export}** failed with error code **$${metric.label.error_code}**.

      The run's record holds BigQuery's or ClickHouse's own message and whether a retry can help:
      GET the exportRun URL with `?export=$${metric.label.export}`, or read its manifest under
      `runs/$${metric.label.export}/` in the staging bucket. A non-retryable failure needs a fix (the
      message names it); after repeated ones exportRun pauses the export's Scheduler job.

      What to do: ${local.alert_doc_pointer.run_failed}
    EOT
    dynamic "links" {
      for_each = local.alert_doc_links.run_failed == null ? [] : [local.alert_doc_links.run_failed]
      content {
        display_name = "Troubleshooting"
        url          = links.value
      }
    }
  }
}

# One freshness policy per export whose 3 intervals fit a metric-absence
# condition (see local.stale_after_seconds). Runs complete in exportRun (empty
# periods) or finalizeRun (after the load), on revisions that change with
# every deploy: the series are summed per export, so neither a quiet function
# nor a retired revision reads as an absence. As for every metric-absence
# condition, it arms once the export has completed a run after the policy was
# created or changed.
resource "google_monitoring_alert_policy" "export_stale" {
  for_each              = local.alerting_enabled ? local.stale_after_seconds : {}
  project               = var.project_id
  display_name          = "BigQuery batch exports (${local.prefix}): ${each.key} is stale"
  combiner              = "OR"
  severity              = "WARNING"
  notification_channels = local.alert_channels
  user_labels           = { app = "bigquery-batch-exports" }

  conditions {
    display_name = "No completed run of ${each.key} for ${each.value / 60} minutes (3 intervals)"
    condition_absent {
      filter   = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.run_completed[0].name}\" AND resource.type=\"cloud_run_revision\" AND metric.label.export=\"${each.key}\""
      duration = "${each.value}s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["metric.label.export"]
      }
      trigger {
        count = 1
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    subject   = "BigQuery batch export ${each.key} is stale: no completed run for ${each.value / 60} minutes"
    content   = <<-EOT
      No run of export **${each.key}** (every ${var.exports[each.key].interval}) has completed for
      ${each.value / 60} minutes, 3 of its intervals: its BigQuery table is falling behind.

      Look for failed runs (the "a run failed" alert), a paused Scheduler job
      (`${local.prefix}-${each.key}` in Cloud Scheduler), and exportRun's and finalizeRun's logs.

      What to do: ${local.alert_doc_pointer.export_stale}
    EOT
    dynamic "links" {
      for_each = local.alert_doc_links.export_stale == null ? [] : [local.alert_doc_links.export_stale]
      content {
        display_name = "Troubleshooting"
        url          = links.value
      }
    }
  }
}

# exportRun paused an export's Scheduler job after repeated non-retryable
# failures: alert on that log line itself.
resource "google_monitoring_alert_policy" "export_paused" {
  count                 = local.alerting_enabled ? 1 : 0
  project               = var.project_id
  display_name          = "BigQuery batch exports (${local.prefix}): an export was paused"
  combiner              = "OR"
  severity              = "ERROR"
  notification_channels = local.alert_channels
  user_labels           = { app = "bigquery-batch-exports" }

  conditions {
    display_name = "exportRun paused an export's Scheduler job"
    condition_matched_log {
      filter = local.export_paused_log_filter
      label_extractors = {
        export   = "EXTRACT(jsonPayload.export)"
        failures = "EXTRACT(jsonPayload.failures)"
      }
    }
  }

  # Required for log-match conditions: at most one notification per 5 minutes.
  alert_strategy {
    notification_rate_limit {
      period = "300s"
    }
  }

  documentation {
    mime_type = "text/markdown"
    subject   = "BigQuery batch export $${log.extracted_label.export} was paused"
    content   = <<-EOT
      exportRun paused the Cloud Scheduler job of export **$${log.extracted_label.export}** after
      $${log.extracted_label.failures} failed runs with errors a retry cannot fix. Its schedule
      exports nothing until a person resumes it: fix the cause named by the runs' errors, then run
      `bqx resume $${log.extracted_label.export}`.

      What to do: ${local.alert_doc_pointer.export_paused}
    EOT
    dynamic "links" {
      for_each = local.alert_doc_links.export_paused == null ? [] : [local.alert_doc_links.export_paused]
      content {
        display_name = "Troubleshooting"
        url          = links.value
      }
    }
  }
}
