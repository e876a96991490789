# Terraform and provider versions, pinned. Terraform 1.9 is the floor because
# variable validations below refer to other variables.
terraform {
  required_version = ">= 1.9.0, < 2.0.0"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 6.14"
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
