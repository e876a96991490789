# The staging bucket (run manifests and staged data) and the bucket that holds
# the functions' source archives.

locals {
  # BigQuery loads from Cloud Storage only when the bucket is in the dataset's
  # location; a dataset in the US multi-region may load from any location. We
  # require the exact location otherwise (stricter than BigQuery for EU datasets,
  # which also accept buckets in regions inside the EU multi-region).
  exports_incompatible_with_staging = [
    for id, e in var.exports : "${id} (${e.destination.location})"
    if upper(e.destination.location) != "US" && upper(e.destination.location) != upper(var.staging_bucket_location)
  ]
}

resource "google_storage_bucket" "staging" {
  name                        = local.staging_bucket_name
  project                     = var.project_id
  location                    = upper(var.staging_bucket_location)
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false

  # Staged NDJSON of abandoned attempts expires; manifests under runs/ are the
  # run history and are kept.
  lifecycle_rule {
    condition {
      age            = var.staging_retention_days
      matches_prefix = ["staging/"]
    }
    action {
      type = "Delete"
    }
  }

  lifecycle {
    precondition {
      condition     = length(local.exports_incompatible_with_staging) == 0
      error_message = "The staging bucket location ${upper(var.staging_bucket_location)} does not match the dataset location of: ${join(", ", local.exports_incompatible_with_staging)}. BigQuery loads only from a bucket in the dataset's location; deploy one stack per location."
    }
  }

  depends_on = [google_project_service.apis]
}

resource "google_storage_bucket" "source" {
  name                        = local.source_bucket_name
  project                     = var.project_id
  location                    = upper(var.region)
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false

  depends_on = [google_project_service.apis]
}

# The deployed source: the compiled functions plus package.json and
# package-lock.json, nothing else (no TypeScript, tests or devDependencies).
# The object is named by a hash of the files' contents, so a code change is a
# new object and a new function revision, and an unchanged tree is a no-op.
locals {
  source_files = sort(concat(
    ["package.json", "package-lock.json"],
    tolist(fileset(local.repo_root, "functions/dist/**/*.js")),
  ))
  source_hash = sha256(join("\n", [for f in local.source_files : "${f} ${filesha256("${local.repo_root}/${f}")}"]))
}

data "archive_file" "source" {
  type        = "zip"
  output_path = "${path.module}/.terraform/bqx-source-${local.source_hash}.zip"

  dynamic "source" {
    for_each = local.source_files
    content {
      filename = source.value
      content  = file("${local.repo_root}/${source.value}")
    }
  }

  lifecycle {
    precondition {
      condition     = fileexists("${local.repo_root}/functions/dist/index.js")
      error_message = "functions/dist/index.js is missing: run `npm ci && npm run build` in the repository root before terraform plan/apply."
    }
  }
}

resource "google_storage_bucket_object" "source" {
  name         = "sources/${local.source_hash}.zip"
  bucket       = google_storage_bucket.source.name
  source       = data.archive_file.source.output_path
  content_type = "application/zip"
}
