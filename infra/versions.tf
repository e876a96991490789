# Terraform and provider versions, pinned. Terraform 1.9 is the floor because
# variable validations below refer to other variables.
#
# google >= 6.39: before 6.39.0 (June 2025), google_bigquery_dataset_iam_member
# rewrote the dataset's access list without its authorized views and routines,
# silently removing them from the customer's dataset on every grant (provider
# CHANGELOG 6.39.0: "modified google_bigquery_dataset_iam_member to no longer
# remove authorized views and routines", hashicorp/terraform-provider-google
# #23177). "~> 6.39" admits 6.39.0 up to, not including, 7.0.0.
terraform {
  required_version = ">= 1.9.0, < 2.0.0"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 6.39"
    }
    archive = {
      source  = "hashicorp/archive"
      version = "~> 2.7"
    }
  }

  # State lives in a GCS bucket you create once (versioning on); pass it at init:
  #   terraform init -backend-config="bucket=<state bucket>" -backend-config="prefix=bigquery-batch-exports"
  backend "gcs" {}
}

provider "google" {
  project = var.project_id
  region  = var.region
}
