// What `npm run stack` sets up and prints for bqx, the command line: the
// stored exports' Cloud Scheduler jobs (as terraform apply creates them), and
// the environment that points bqx at this stack. The exportRun URL is
// loopback, so bqx sends no ID token (functions/src/cli/auth.ts).
import type { Interval } from "../../functions/src/core/periods.js";
import { createExportJob } from "./export-jobs.js";
import { SCHEDULER_JOB_PREFIX, type LocalStack } from "./stack.js";

const GRPC_ALREADY_EXISTS = 6;

/** Creates the stored exports' jobs; returns the lines to print. */
export async function prepareBqx(
  stack: LocalStack,
  exports: { id: string; interval: Interval }[],
  example: { exportId: string; period: { start: string; end: string } },
): Promise<string[]> {
  for (const def of exports) {
    await createExportJob(stack, def).catch((err: unknown) => {
      // Another part of the stack's set-up may have created it already.
      if ((err as { code?: unknown }).code !== GRPC_ALREADY_EXISTS) throw err;
    });
  }
  const { exportId, period } = example;
  return [
    `bqx, the command line (npm run build once; loopback URL, so no ID token is sent):`,
    `export BQX_URL=${stack.functions.exportRunUrl}`,
    `export BQX_SCHEDULER_ENDPOINT=${stack.scheduler.host}:${stack.scheduler.port}`,
    `export BQX_SCHEDULER_JOB_PREFIX=${SCHEDULER_JOB_PREFIX}`,
    `  npx bqx exports`,
    `  npx bqx run ${exportId} --start ${period.start} --end ${period.end}`,
    `  npx bqx runs ${exportId}`,
    `  npx bqx check ${exportId}`,
    `  npx bqx pause ${exportId}; npx bqx resume ${exportId}`,
  ];
}
