// The Cloud Scheduler job of an export on the local stack, as Terraform
// creates it in production (infra/scheduler.tf): named <prefix><export id>
// under the prefix Terraform outputs as scheduler_job_prefix (the stack's
// SCHEDULER_JOB_PREFIX, which exportRun also gets), firing on the
// production schedule of the export's interval (read from infra/), POSTing
// {"exportId"} to exportRun with an OIDC token of the scheduler account.
import { CloudSchedulerClient } from "@google-cloud/scheduler";
import type { Interval } from "../../functions/src/core/periods.js";
import { loadModule } from "../infra/hcl.js";
import { SCHEDULER_JOB_PREFIX, type LocalStack } from "./stack.js";

let schedules: Promise<Record<string, string>> | undefined;
function productionSchedules(): Promise<Record<string, string>> {
  schedules ??= loadModule().then((mod) => mod.locals.schedules as Record<string, string>);
  return schedules;
}

/** Creates the export's job (ENABLED) and returns its full name. */
export async function createExportJob(
  stack: LocalStack,
  def: { id: string; interval: Interval },
): Promise<string> {
  const schedule = (await productionSchedules())[def.interval];
  if (!schedule) throw new Error(`infra/ has no schedule for interval ${def.interval}`);
  const name = SCHEDULER_JOB_PREFIX + def.id;
  const client = new CloudSchedulerClient(stack.scheduler.clientOptions());
  try {
    await client.createJob({
      parent: SCHEDULER_JOB_PREFIX.replace(/\/jobs\/.*$/, ""),
      job: {
        name,
        description: `BigQuery batch export ${def.id}`,
        schedule,
        timeZone: "Etc/UTC",
        httpTarget: {
          uri: stack.functions.exportRunUrl,
          httpMethod: "POST",
          headers: { "Content-Type": "application/json" },
          body: Buffer.from(JSON.stringify({ exportId: def.id })),
          oidcToken: {
            serviceAccountEmail: `bqx-scheduler@${stack.projectId}.iam.gserviceaccount.com`,
            audience: stack.functions.exportRunUrl,
          },
        },
      },
    });
  } finally {
    await client.close();
  }
  return name;
}
