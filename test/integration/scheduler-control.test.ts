// The Cloud Scheduler adapter (auto-pause) against the local Cloud Scheduler
// through @google-cloud/scheduler: the job named by prefix + export id, its
// state, pausing (twice is fine, as when two calls race), a missing job; and
// the wiring that builds it from the functions' environment.
import { CloudSchedulerClient } from "@google-cloud/scheduler";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CloudSchedulerControl } from "../../functions/src/adapters/scheduler.js";
import { loadConfig } from "../../functions/src/config.js";
import { ExportError } from "../../functions/src/core/errors.js";
import { createLogger } from "../../functions/src/log.js";
import { createDeps } from "../../functions/src/wiring.js";
import { startSchedulerServer, type RunningScheduler } from "../local/scheduler/server.js";

const PARENT = "projects/local-project/locations/us-central1";
const PREFIX = `${PARENT}/jobs/bqx-`;

let server: RunningScheduler;
let client: CloudSchedulerClient;

beforeAll(async () => {
  server = await startSchedulerServer({ now: () => new Date("2026-11-25T10:00:00Z") });
  client = new CloudSchedulerClient(server.clientOptions());
  for (const id of ["events-hourly", "persons-daily"]) {
    await client.createJob({
      parent: PARENT,
      job: {
        name: `${PREFIX}${id}`,
        schedule: "1 * * * *",
        timeZone: "Etc/UTC",
        httpTarget: { uri: "http://127.0.0.1:9/exportRun", httpMethod: "POST", body: Buffer.from("{}") },
      },
    });
  }
});

afterAll(async () => {
  await client?.close();
  await server?.stop();
});

describe("CloudSchedulerControl", () => {
  it("reads and pauses an export's job; pausing a paused job is fine", async () => {
    const control = new CloudSchedulerControl(new CloudSchedulerClient(server.clientOptions()), PREFIX);
    expect(control.jobName("events-hourly")).toBe(`${PREFIX}events-hourly`);
    expect(await control.state("events-hourly")).toBe("ENABLED");
    await control.pause("events-hourly");
    expect(await control.state("events-hourly")).toBe("PAUSED");
    // Another call paused it first: the service answers FAILED_PRECONDITION, which is no failure here.
    await expect(control.pause("events-hourly")).resolves.toBeUndefined();
    const [job] = await client.getJob({ name: `${PREFIX}events-hourly` });
    expect(job.state).toBe("PAUSED");
    expect(await control.state("persons-daily")).toBe("ENABLED");
  });

  it("reports a missing job as absent, and fails to pause it with a typed error", async () => {
    const control = new CloudSchedulerControl(new CloudSchedulerClient(server.clientOptions()), PREFIX);
    expect(await control.state("no-such-export")).toBeUndefined();
    const err: unknown = await control.pause("no-such-export").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExportError);
    expect((err as ExportError).message).toContain(`${PREFIX}no-such-export`);
  });

  it("refuses a prefix that is not a job name's beginning", () => {
    expect(() => new CloudSchedulerControl(client, "bqx-")).toThrow(/projects\/<project>/);
  });
});

describe("wiring", () => {
  const env = {
    BQX_STAGING_BUCKET: "bqx-staging",
    BQX_CLICKHOUSE_URL: "http://127.0.0.1:9",
  };

  it("builds the Scheduler control from BQX_SCHEDULER_JOB_PREFIX (and the local endpoint)", async () => {
    const deps = createDeps(
      loadConfig({
        ...env,
        BQX_SCHEDULER_JOB_PREFIX: PREFIX,
        BQX_SCHEDULER_ENDPOINT: `${server.host}:${server.port}`,
      }),
      createLogger("ERROR"),
    );
    expect(deps.scheduler?.jobName("persons-daily")).toBe(`${PREFIX}persons-daily`);
    expect(await deps.scheduler?.state("persons-daily")).toBe("ENABLED");
  });

  it("leaves it out without a prefix (finalizeRun), and rejects a malformed one", () => {
    expect(createDeps(loadConfig(env), createLogger("ERROR")).scheduler).toBeUndefined();
    expect(() => loadConfig({ ...env, BQX_SCHEDULER_JOB_PREFIX: "bqx-" })).toThrow(
      /BQX_SCHEDULER_JOB_PREFIX/,
    );
  });
});
