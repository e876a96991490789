// The run's load job, started from what the manifest recorded ahead of it
// (job id and configuration), so the call that wrote LOADING and any later
// call that finds the job missing start the same job: BigQuery accepts one
// job per id, and every other insert re-attaches to it.
import type { RunManifest } from "../core/manifest.js";
import type { FieldSpec } from "../core/models.js";
import { jobLabels } from "../core/names.js";
import type { JobInfo, ObjectStore, Warehouse } from "./ports.js";

export async function startRecordedLoad(
  m: RunManifest,
  warehouse: Warehouse,
  store: ObjectStore,
): Promise<JobInfo> {
  if (!m.job || !m.load) throw new Error(`run ${m.runId} has no recorded load job`);
  return warehouse.startLoad({
    job: m.job,
    sourceUris: m.files.map((f) => store.uri(f)),
    destination: m.load.destination,
    schema: { fields: m.load.fields as FieldSpec[] },
    writeDisposition: m.load.writeDisposition,
    allowFieldAddition: m.load.allowFieldAddition,
    labels: jobLabels(m.exportId, m.runId, m.definition.model),
  });
}
