output "export_run_url" {
  description = "HTTPS URL of exportRun: POST {\"exportId\": \"<id>\"} (plus dataInterval, force) with an identity token to run or rerun; GET lists the exports, GET ?export=<id> an export's runs."
  value       = google_cloudfunctions2_function.export_run.service_config[0].uri
}

output "finalize_run_function" {
  description = "Full resource name of finalizeRun."
  value       = google_cloudfunctions2_function.finalize_run.id
}

output "staging_bucket" {
  description = "Staging bucket: run manifests under runs/<export>/, staged data under staging/."
  value       = google_storage_bucket.staging.name
}

output "source_object" {
  description = "gs:// URI of the deployed source archive (named by content hash)."
  value       = "gs://${google_storage_bucket.source.name}/${google_storage_bucket_object.source.name}"
}

output "export_definitions" {
  description = "gs:// URI of each export's stored definition (exports/<id>.json), which exportRun reads."
  value       = { for id, o in google_storage_bucket_object.export_definition : id => "gs://${o.bucket}/${o.name}" }
}

output "pubsub_topic" {
  description = "Topic the log sinks publish BigQuery job completions to."
  value       = google_pubsub_topic.bigquery_jobs.id
}

output "service_accounts" {
  description = "Emails of the dedicated service accounts by role."
  value = {
    export_run   = google_service_account.export_run.email
    finalize_run = google_service_account.finalize_run.email
    scheduler    = google_service_account.scheduler.email
    tasks        = google_service_account.tasks.email
    trigger      = google_service_account.trigger.email
    build        = google_service_account.build.email
  }
}

output "secrets" {
  description = "Secret Manager secrets created empty; add their values with gcloud secrets versions add."
  value = merge(
    { clickhouse_password = google_secret_manager_secret.clickhouse_password.id },
    { for name, s in google_secret_manager_secret.destination_key : name => s.id },
  )
}

output "scheduler_jobs" {
  description = "Cloud Scheduler job name per export ID."
  value       = { for id, job in google_cloud_scheduler_job.export : id => job.id }
}

output "custom_roles" {
  description = "Custom role name per destination project (empty when create_custom_role is false)."
  value       = { for p, r in google_project_iam_custom_role.batch_exports : p => r.name }
}

output "log_sink_writer_identities" {
  description = "Writer identity of the log sink in each destination project (granted Pub/Sub Publisher on the topic)."
  value       = { for p, s in google_logging_project_sink.bigquery_jobs : p => s.writer_identity }
}

output "audit_sink_filter" {
  description = "The Cloud Logging filter of the sinks (our BigQuery jobs reaching DONE)."
  value       = local.audit_sink_filter
}

output "backfill_queue" {
  description = "Full name of the Cloud Tasks queue of backfill chunks (projects/<project>/locations/<region>/queues/<name>), as exportRun gets it in BQX_BACKFILL_QUEUE."
  value       = local.backfill_queue_name
}

output "scheduler_job_prefix" {
  description = "Prefix of the Scheduler jobs' full names (job = prefix + export ID), as exportRun gets it in BQX_SCHEDULER_JOB_PREFIX."
  value       = local.scheduler_job_prefix
}

output "alert_policies" {
  description = "Cloud Monitoring alert policy names by alert (empty when alerting is off): run_failed, export_paused, and export_stale per export."
  value = {
    run_failed    = [for p in google_monitoring_alert_policy.run_failed : p.name]
    export_paused = [for p in google_monitoring_alert_policy.export_paused : p.name]
    export_stale  = { for id, p in google_monitoring_alert_policy.export_stale : id => p.name }
  }
}
