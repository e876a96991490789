# The export definitions, stored where the product reads them: one JSON
# document per export, exports/<id>.json in the staging bucket, validated by
# exportDefinitionSchema (functions/src/core/definition.ts) when exportRun loads
# it. `terraform apply` is the one place production exports are defined; the
# Scheduler job and the backfill tasks only name the export.
#
# Removing an export from var.exports deletes its object and its Scheduler job;
# its run manifests (runs/<id>/) stay, as the run history.

resource "google_storage_bucket_object" "export_definition" {
  for_each     = var.exports
  bucket       = google_storage_bucket.staging.name
  name         = "exports/${each.key}.json"
  content      = jsonencode(local.export_definitions[each.key])
  content_type = "application/json"
}
