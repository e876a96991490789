// End to end, when things go wrong: setup mistakes fail the run with a message
// that names the fix; crashes and lost completion events are recovered by the
// next call or the sweep, without duplicates.
import { runManifest } from "../fixtures/run-manifest.js";
import { parseExportDefinition } from "../../functions/src/core/definition.js";
import { generateKeyPairSync } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { manifestMetadata, type RunManifest } from "../../functions/src/core/manifest.js";
import { PATH_PERMISSIONS } from "../../functions/src/core/write-path.js";
import { manifestObject, runId } from "../../functions/src/core/names.js";
import type { Period } from "../../functions/src/core/periods.js";
import { DISTINCT_ID_ROWS, EVENT_ROWS, PERIOD, PERSON_ROWS, TEAM } from "../fixtures/posthog-fixtures.js";
import { describePermissionMatrix } from "../helpers/permission-matrix.js";
import {
  runExport,
  insertRows,
  interval,
  query,
  readManifest,
  waitForRun,
  destinationOf,
} from "../helpers/stack-helpers.js";
import { PERMISSIONS, SEED_CUSTOM_ROLE, SEED_EVENTS_ROLE, withoutPermission } from "../local/iam/roles.js";
import { startLocalStack, type Destination, type LocalStack } from "../local/stack.js";

let stack: LocalStack;
let clock = new Date();

function definition(
  id: string,
  dest: { datasetId: string; credentials?: { keySecret?: string; impersonate?: string } },
  model: "events" | "persons" = "events",
  tableId: string = model,
) {
  return {
    id,
    model,
    teamId: TEAM,
    interval: "hour",
    destination: destinationOf(stack, dest, tableId),
  };
}

async function count(datasetId: string, tableId: string): Promise<{ n: number; distinct: number }> {
  const [row] = await query(
    stack,
    `SELECT COUNT(*) AS n, COUNT(DISTINCT uuid) AS d FROM \`${stack.projectId}.${datasetId}.${tableId}\``,
  );
  return { n: Number(row!.n), distinct: Number(row!.d) };
}

beforeAll(async () => {
  stack = await startLocalStack({ now: () => clock });
  await insertRows(stack, "events", EVENT_ROWS);
  await insertRows(stack, "person", PERSON_ROWS);
  await insertRows(stack, "person_distinct_id2", DISTINCT_ID_ROWS);
});

afterAll(async () => {
  await stack?.stop();
});

describe("setup mistakes fail the run with a message naming the fix", () => {
  it("a missing dataset", async () => {
    const dest = await stack.createDestination({ datasetId: "NoSuchDataset", createDataset: false });
    const res = await runExport(stack, definition("missing-ds", dest), { dataInterval: interval(PERIOD) });
    expect(res.status).toBe(422);
    const run = res.body.runs[0];
    expect(run.state).toBe("FAILED");
    expect(run.error.message).toContain("NoSuchDataset");
    expect(run.error.message).toMatch(/Create the dataset|not found|datasets\.get/);
    const manifest = await readManifest(stack, "missing-ds", PERIOD);
    expect(manifest?.state).toBe("FAILED");
    expect(manifest?.error?.message).toBe(run.error.message);
  });

  it("a key secret that does not hold a service-account key", async () => {
    const dest = await stack.createDestination({ datasetId: "BadKeyText" });
    const client = stack.secretClient();
    const [version] = await client.addSecretVersion({
      parent: dest.keySecret.replace(/\/versions\/.*$/, ""),
      payload: { data: Buffer.from("this is not a key") },
    });
    await client.close();
    const res = await runExport(
      stack,
      definition("bad-key-text", { datasetId: dest.datasetId, credentials: { keySecret: version.name! } }),
      { dataInterval: interval(PERIOD) },
    );
    expect(res.status).toBe(422);
    expect(res.body.runs[0].error.code).toBe("BAD_CREDENTIALS");
    expect(res.body.runs[0].error.message).toMatch(/JSON key/);
  });

  it("a key BigQuery does not accept (deleted or never registered)", async () => {
    const dest = await stack.createDestination({ datasetId: "BadKey" });
    const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const forged = {
      ...dest.key,
      private_key_id: "0123456789abcdef0123456789abcdef01234567",
      private_key: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    };
    const client = stack.secretClient();
    const [version] = await client.addSecretVersion({
      parent: dest.keySecret.replace(/\/versions\/.*$/, ""),
      payload: { data: Buffer.from(JSON.stringify(forged)) },
    });
    await client.close();
    const res = await runExport(
      stack,
      definition("bad-key", { datasetId: dest.datasetId, credentials: { keySecret: version.name! } }),
      { dataInterval: interval(PERIOD) },
    );
    expect(res.status).toBe(422);
    const err = res.body.runs[0].error;
    expect(err.code).toBe("BAD_CREDENTIALS");
    expect(err.retryable).toBe(false);
  });

  it("a missing key secret", async () => {
    const res = await runExport(
      stack,
      definition("no-secret", {
        datasetId: "Whatever",
        credentials: { keySecret: `projects/${stack.projectId}/secrets/never-created/versions/latest` },
      }),
      { dataInterval: interval(PERIOD) },
    );
    expect(res.status).toBe(422);
    expect(res.body.runs[0].error.code).toBe("SECRET_NOT_FOUND");
    expect(res.body.runs[0].error.message).toContain("never-created");
  });
});

describe("permissions", () => {
  it("the events model works with the seed's role without the optional bigquery.tables.delete", async () => {
    const dest = await stack.createDestination({ datasetId: "EventsRoleOnly", role: SEED_EVENTS_ROLE });
    const res = await runExport(stack, definition("events-role", dest), { dataInterval: interval(PERIOD) });
    expect(res.status).toBe(202);
    expect((await waitForRun(stack, "events-role", PERIOD)).state).toBe("COMPLETED");
  });

  it("persons without bigquery.tables.delete complete, warning that the stage table is left to expire", async () => {
    const dest = await stack.createDestination({
      datasetId: "PersonsNoDelete",
      role: withoutPermission(SEED_CUSTOM_ROLE, PERMISSIONS.tablesDelete),
    });
    await runExport(stack, definition("persons-nodelete", dest, "persons"), {
      dataInterval: interval(PERIOD),
    });
    const run = await waitForRun(stack, "persons-nodelete", PERIOD);
    expect(run.state).toBe("COMPLETED");
    expect(run.warnings).toEqual([expect.stringMatching(/bigquery\.tables\.delete denied.*expires 7 days/)]);
    const [rows] = await query(
      stack,
      `SELECT COUNT(*) AS n FROM \`${stack.projectId}.PersonsNoDelete.persons\``,
    );
    expect(Number(rows!.n)).toBeGreaterThan(0);
  });

  it("a forced rerun of a plain events export with only the append permissions names the two it needs", async () => {
    const appendOnly = {
      name: "projects/-/roles/appendOnly",
      title: "The README's permissions for scheduled events runs",
      permissions: [...PATH_PERMISSIONS.append].filter((p) => p !== PERMISSIONS.jobsCreate),
    };
    const dest = await stack.createDestination({ datasetId: "EventsRoleRerun", role: appendOnly });
    const def = definition("events-role-rerun", dest);
    await runExport(stack, def, { dataInterval: interval(PERIOD) });
    expect((await waitForRun(stack, def.id, PERIOD)).state).toBe("COMPLETED");
    await runExport(stack, def, { dataInterval: interval(PERIOD), force: true });
    const rerun = await waitForRun(stack, def.id, PERIOD);
    expect(rerun.state).toBe("FAILED");
    expect(rerun.error?.code).toBe("PERMISSION_DENIED");
    expect(rerun.error?.message).toContain(PERMISSIONS.tablesGetData);
    expect(rerun.error?.message).toContain(PERMISSIONS.tablesDelete);
    // Nothing was written twice.
    const c = await count(dest.datasetId, "events");
    expect(c.n).toBe(c.distinct);
  });
});

describePermissionMatrix(
  () => stack,
  "key",
  (id, dest, model) => definition(id, dest, model),
);

describe("recovery", () => {
  let dest: Destination;
  beforeAll(async () => {
    dest = await stack.createDestination({ datasetId: "Recovery" });
  });

  it("a failure to start the load is retryable (503), the run stays LOADING, and the next call starts that same job once", async () => {
    // More failures than the client library's own retries (it retries 5xx itself).
    stack.bigquery.faults.failNext("jobs.insert", 10, { reason: "backendError", message: "Backend error" });
    const def = definition("load-fails", dest, "events", "load_fails");
    const first = await runExport(stack, def, { dataInterval: interval(PERIOD) });
    expect(first.status).toBe(503);
    expect(first.body.runs[0].error.retryable).toBe(true);
    stack.bigquery.faults.clear();
    // It is unknown whether BigQuery created the job: no new attempt may start.
    expect(first.body.runs[0].state).toBe("LOADING");
    const second = await runExport(stack, def, { dataInterval: interval(PERIOD) });
    // The job recorded ahead is started under its id, and is now in flight (or already done).
    expect([200, 409], JSON.stringify(second.body)).toContain(second.status);
    const run = await waitForRun(stack, "load-fails", PERIOD);
    expect(run.state).toBe("COMPLETED");
    expect(run.attempt).toBe(1);
    expect(run.job?.jobId).toBe(first.body.runs[0].job.jobId);
    const c = await count(dest.datasetId, "load_fails");
    expect(c.n).toBe(run.rows);
    expect(c.n).toBe(c.distinct);
  });

  /** A manifest as a worker leaves it when it dies while staging. */
  async function crashedWhileStaging(id: string, tableId: string, period: Period): Promise<void> {
    const at = new Date(clock.getTime() - 2 * 3600_000).toISOString();
    const m = runManifest(
      parseExportDefinition(definition(id, dest, "events", tableId), "the test's definition"),
      period,
      "STAGING",
      at,
    );
    await stack.deps.store.writeIfGeneration(
      manifestObject(id, period),
      JSON.stringify(m),
      "0",
      manifestMetadata(m),
    );
  }

  it("a crash while staging is taken over by the next call for the period once it is stale", async () => {
    await crashedWhileStaging("crashed", "crashed", PERIOD);
    const def = definition("crashed", dest, "events", "crashed");
    const res = await runExport(stack, def, { dataInterval: interval(PERIOD) });
    expect(res.status).toBe(202);
    const run = await waitForRun(stack, "crashed", PERIOD);
    expect(run.state).toBe("COMPLETED");
    expect(run.attempt).toBe(2);
    expect(run.history.some((h) => /stalled/.test(h.note ?? ""))).toBe(true);
  });

  it("a recent STAGING run is in flight: 409, nothing started", async () => {
    const def = definition("busy", dest, "events", "busy");
    await crashedWhileStaging("busy", "busy", PERIOD);
    // Make it recent: 1 minute old.
    const object = manifestObject("busy", PERIOD);
    const found = (await stack.deps.store.read(object))!;
    const m = JSON.parse(found.text) as RunManifest;
    m.updatedAt = new Date(clock.getTime() - 60_000).toISOString();
    await stack.deps.store.writeIfGeneration(
      object,
      JSON.stringify(m),
      found.generation,
      manifestMetadata(m),
    );
    const res = await runExport(stack, def, { dataInterval: interval(PERIOD) });
    expect(res.status).toBe(409);
    expect(res.body.runs[0].state).toBe("STAGING");
  });

  it("the sweep retries a stale STAGING run of another period", async () => {
    // A fixed clock: the crashed run is 2 hours idle whatever the real time is.
    clock = new Date(PERIOD.end.getTime() + 2 * 3600_000);
    const earlier: Period = { start: new Date(PERIOD.start.getTime() - 3600_000), end: PERIOD.start };
    await crashedWhileStaging("swept", "swept", earlier);
    const def = definition("swept", dest, "events", "swept");
    clock = new Date(clock.getTime() + 2 * 3600_000);
    const res = await runExport(stack, def, { dataInterval: interval(PERIOD) });
    expect(res.body.sweep.retried).toContain(runId("swept", earlier));
    expect((await waitForRun(stack, "swept", earlier)).state).toBe("COMPLETED");
    expect((await waitForRun(stack, "swept", PERIOD)).state).toBe("COMPLETED");
    clock = new Date();
  });

  /** dropNext drops the next delivery of any job: let earlier deliveries finish first. */
  async function dropNextCompletionEvent(): Promise<void> {
    await stack.bigquery.audit.drain();
    stack.bigquery.audit.dropNext(1);
  }

  /** Waits until BigQuery says the run's load job is DONE (its completion event is the one dropped). */
  async function loadJobDone(id: string, period: Period): Promise<void> {
    const m = await readManifest(stack, id, period);
    const job = stack.adminBigQuery().job(m!.job!.jobId, { location: m!.job!.location });
    for (;;) {
      const [meta] = await job.getMetadata();
      if ((meta as { status?: { state?: string } }).status?.state === "DONE") break;
      await new Promise((r) => setTimeout(r, 50));
    }
    await stack.bigquery.audit.drain();
  }

  it("a lost completion event is recovered by the next call for the period", async () => {
    const def = definition("lost-event", dest, "events", "lost_event");
    await dropNextCompletionEvent();
    const first = await runExport(stack, def, { dataInterval: interval(PERIOD) });
    expect(first.status).toBe(202);
    await loadJobDone("lost-event", PERIOD);
    expect((await readManifest(stack, "lost-event", PERIOD))?.state).toBe("LOADING");
    const again = await runExport(stack, def, { dataInterval: interval(PERIOD) });
    expect(again.status).toBe(200);
    expect(again.body.runs[0].state).toBe("COMPLETED");
    const c = await count(dest.datasetId, "lost_event");
    expect(c.n).toBe(again.body.runs[0].rows);
  });

  it("a lost completion event is recovered by the sweep of a later period's call", async () => {
    const def = definition("lost-swept", dest, "events", "lost_swept");
    const earlier: Period = { start: new Date(PERIOD.start.getTime() - 3600_000), end: PERIOD.start };
    // The sweep looks back 8 days from the functions' clock: keep it near the fixtures.
    clock = new Date(PERIOD.end.getTime() + 3600_000);
    await dropNextCompletionEvent();
    await runExport(stack, def, { dataInterval: interval(PERIOD) });
    await loadJobDone("lost-swept", PERIOD);
    expect((await readManifest(stack, "lost-swept", PERIOD))?.state).toBe("LOADING");
    const later = await runExport(stack, def, { dataInterval: interval(earlier) });
    expect(later.body.sweep.finalized).toContain(runId("lost-swept", PERIOD));
    expect((await readManifest(stack, "lost-swept", PERIOD))?.state).toBe("COMPLETED");
    clock = new Date();
  });
});
