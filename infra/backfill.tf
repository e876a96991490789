# Backfills on Cloud Tasks. exportRun plans a backfill into chunks and enqueues
# one HTTP task per chunk on this queue; Cloud Tasks POSTs each chunk back to
# exportRun with an OIDC token of the tasks account, at most
# var.backfill_concurrency at a time.
#
# Identities (least privilege):
#   export_run  enqueues (roles/cloudtasks.enqueuer on THIS queue only) and may
#               act as the tasks account (roles/iam.serviceAccountUser on THAT
#               account only): a task's oidcToken.serviceAccountEmail "must be
#               within the same project as the queue. The caller must have
#               iam.serviceAccounts.actAs permission for the service account"
#               (Cloud Tasks v2 OidcToken reference).
#   tasks       the identity Cloud Tasks presents to exportRun; it may invoke
#               exportRun and nothing else (identities.tf).

locals {
  backfill_queue_name = "projects/${var.project_id}/locations/${var.region}/queues/${google_cloud_tasks_queue.backfill.name}"
}

resource "google_cloud_tasks_queue" "backfill" {
  project  = var.project_id
  location = var.region
  # A deleted queue's name cannot be reused for a tombstone window of up to
  # 3 days (Cloud Tasks v2 queues.delete): a destroy followed by an apply may
  # need that long, or another name_prefix.
  name = "${local.prefix}-backfill"

  rate_limits {
    # The cap that protects the customer's ClickHouse: each chunk is one
    # ClickHouse query streaming a whole range.
    max_concurrent_dispatches = var.backfill_concurrency
    # Chunks take minutes each; one start per second is plenty and spreads the
    # first wave of a large backfill.
    max_dispatches_per_second = 1
  }

  # A chunk that fails is retried with backoff: 10, 20, 40, 80, 160 s
  # (4 doublings), then growing linearly by 160 s up to 600 s: 10 attempts over
  # about 40 minutes. That outlasts the transient causes (ClickHouse busy or
  # restarting, BigQuery's 2 running mutating DML per table with the rest
  # pending, a scheduled run of the same table still finalizing, function
  # instances at max_instances), while a chunk that keeps failing for 40
  # minutes is a real error: Cloud Tasks drops it and the backfill's own record
  # shows the chunk failed, for a person to rerun. max_retry_duration "0s" lets
  # max_attempts alone decide.
  retry_config {
    max_attempts       = 10
    min_backoff        = "10s"
    max_backoff        = "600s"
    max_doublings      = 4
    max_retry_duration = "0s"
  }

  # A backfill posted with "concurrency" sets the queue's cap (exportRun
  # updates it); apply does not set it back. backfill_concurrency is the cap
  # the queue starts with.
  lifecycle {
    ignore_changes = [rate_limits[0].max_concurrent_dispatches]
  }

  depends_on = [google_project_service.apis]
}

# exportRun may read and set this queue's concurrency cap (a backfill's
# "concurrency"), and nothing else of it: a custom role with the two
# permissions, granted on this queue only.
resource "google_project_iam_custom_role" "backfill_concurrency" {
  project     = var.project_id
  role_id     = "${replace(local.prefix, "-", "_")}_backfill_concurrency"
  title       = "BigQuery batch exports: backfill concurrency"
  description = "Read and set the backfill queue's concurrency cap (a backfill's concurrency); granted on that queue only."
  permissions = ["cloudtasks.queues.get", "cloudtasks.queues.update"]
}

resource "google_cloud_tasks_queue_iam_member" "export_run_concurrency" {
  project  = google_cloud_tasks_queue.backfill.project
  location = google_cloud_tasks_queue.backfill.location
  name     = google_cloud_tasks_queue.backfill.name
  role     = google_project_iam_custom_role.backfill_concurrency.id
  member   = google_service_account.export_run.member
}

# exportRun may add tasks to this queue (and no other).
resource "google_cloud_tasks_queue_iam_member" "export_run_enqueuer" {
  project  = google_cloud_tasks_queue.backfill.project
  location = google_cloud_tasks_queue.backfill.location
  name     = google_cloud_tasks_queue.backfill.name
  role     = "roles/cloudtasks.enqueuer"
  member   = google_service_account.export_run.member
}

# exportRun may name the tasks account as the tasks' OIDC identity (actAs on
# that one account).
resource "google_service_account_iam_member" "export_run_acts_as_tasks" {
  service_account_id = google_service_account.tasks.name
  role               = "roles/iam.serviceAccountUser"
  member             = google_service_account.export_run.member
}

# An HTTP task's dispatch deadline is 10 minutes by default and at most 30
# (Cloud Tasks v2 Task.dispatchDeadline, "[15 seconds, 30 minutes]"); a chunk
# runs as long as exportRun allows, so exportRun sets each task's deadline to
# BQX_TASKS_DISPATCH_DEADLINE_SECONDS (functions.tf, main.tf).
locals {
  tasks_dispatch_deadline_seconds = min(var.export_run_timeout_seconds + 30, 1800)
}

check "export_run_fits_dispatch_deadlines" {
  assert {
    condition     = var.export_run_timeout_seconds + 30 <= 1800
    error_message = "export_run_timeout_seconds is ${var.export_run_timeout_seconds}: Cloud Scheduler attempts and Cloud Tasks dispatches end after at most 30 minutes, so a run longer than 1770 s is abandoned by its caller and retried while it is still running. Keep export_run_timeout_seconds at 1770 or less."
  }
}
