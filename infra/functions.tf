# The two functions, gen2 on nodejs22, built from the same source object.
#
# Build: the archive holds functions/dist (already compiled) plus package.json
# and package-lock.json. GOOGLE_NODE_RUN_SCRIPTS="" tells the Node.js buildpack
# not to run the package's "build" script; with no build script to run it
# installs with NODE_ENV=production, i.e. `npm ci` without devDependencies
# (chdb, ZetaSQL, DuckDB, TypeScript never reach the image).

resource "google_cloudfunctions2_function" "export_run" {
  project     = var.project_id
  name        = "${local.prefix}-export-run"
  location    = var.region
  description = "BigQuery batch exports: stage one period from ClickHouse into GCS and start the BigQuery load job."

  build_config {
    runtime         = "nodejs22"
    entry_point     = "exportRun"
    service_account = google_service_account.build.id
    environment_variables = {
      GOOGLE_NODE_RUN_SCRIPTS = ""
    }
    source {
      storage_source {
        bucket = google_storage_bucket.source.name
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    service_account_email            = google_service_account.export_run.email
    timeout_seconds                  = var.export_run_timeout_seconds
    available_memory                 = var.export_run_memory
    available_cpu                    = "1"
    max_instance_count               = var.max_instances
    max_instance_request_concurrency = 1
    # Reached by Cloud Scheduler, Cloud Tasks (backfill chunks) and manual
    # reruns; every call needs an identity token of an account holding
    # roles/run.invoker.
    ingress_settings               = "ALLOW_ALL"
    all_traffic_on_latest_revision = true
    environment_variables          = merge(local.function_env, local.export_run_env)

    secret_environment_variables {
      key        = "BQX_CLICKHOUSE_PASSWORD"
      project_id = var.project_id
      secret     = google_secret_manager_secret.clickhouse_password.secret_id
      version    = "latest"
    }
  }

  labels = { app = "bigquery-batch-exports" }

  depends_on = [
    google_project_service.apis,
    google_project_iam_member.build_builder,
    google_storage_bucket_iam_member.source_build_reader,
    google_secret_manager_secret_iam_member.clickhouse_password_export_run,
  ]
}

resource "google_cloudfunctions2_function" "finalize_run" {
  project     = var.project_id
  name        = "${local.prefix}-finalize-run"
  location    = var.region
  description = "BigQuery batch exports: on a DONE job of ours, merge persons / de-duplicate events, drop stage tables, complete the run."

  build_config {
    runtime         = "nodejs22"
    entry_point     = "finalizeRun"
    service_account = google_service_account.build.id
    environment_variables = {
      GOOGLE_NODE_RUN_SCRIPTS = ""
    }
    source {
      storage_source {
        bucket = google_storage_bucket.source.name
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    service_account_email            = google_service_account.finalize_run.email
    timeout_seconds                  = var.finalize_run_timeout_seconds
    available_memory                 = "512Mi"
    available_cpu                    = "1"
    max_instance_count               = var.max_instances
    max_instance_request_concurrency = 1
    # Only Eventarc (Pub/Sub push) calls it.
    ingress_settings               = "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision = true
    # Same configuration as exportRun except the ClickHouse password and the
    # backfill queue and Scheduler names, which finalizeRun does not need.
    environment_variables = local.function_env
  }

  event_trigger {
    trigger_region        = var.region
    event_type            = "google.cloud.pubsub.topic.v1.messagePublished"
    pubsub_topic          = google_pubsub_topic.bigquery_jobs.id
    service_account_email = google_service_account.trigger.email
    # Redelivered until it succeeds (finalizeRun is idempotent); it acks what
    # is not ours or is permanently failed, so retries only cover transient errors.
    retry_policy = "RETRY_POLICY_RETRY"
  }

  labels = { app = "bigquery-batch-exports" }

  depends_on = [
    google_project_service.apis,
    google_project_iam_member.build_builder,
    google_storage_bucket_iam_member.source_build_reader,
    google_service_account_iam_member.trigger_token_creator,
    google_project_iam_member.trigger_event_receiver,
  ]
}
