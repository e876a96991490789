// End to end: the three ways a destination acts in BigQuery. Impersonation
// (no key anywhere: the function's identity gets short-lived tokens for the
// destination's service account through IAM Credentials generateAccessToken)
// and the function's own identity pass the seed's permission matrix as the
// JSON key does (test/e2e/failures.test.ts); impersonation without the
// token-creator grant fails naming the permission and the account.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DISTINCT_ID_ROWS, EVENT_ROWS, PERIOD, PERSON_ROWS, TEAM } from "../fixtures/posthog-fixtures.js";
import { describePermissionMatrix } from "../helpers/permission-matrix.js";
import {
  insertRows,
  interval,
  query,
  runExport,
  waitForRun,
  destinationOf,
} from "../helpers/stack-helpers.js";
import { startLocalStack, type Destination, type LocalStack } from "../local/stack.js";

let stack: LocalStack;

function definition(id: string, dest: Destination, model: "events" | "persons" = "events") {
  return {
    id,
    model,
    teamId: TEAM,
    interval: "hour",
    destination: destinationOf(stack, dest, model),
  };
}

beforeAll(async () => {
  stack = await startLocalStack();
  await insertRows(stack, "events", EVENT_ROWS);
  await insertRows(stack, "person", PERSON_ROWS);
  await insertRows(stack, "person_distinct_id2", DISTINCT_ID_ROWS);
});

afterAll(async () => {
  await stack?.stop();
});

describe("impersonation", () => {
  it("exports with no key anywhere: the rows land as the impersonated account", async () => {
    const dest = await stack.createDestination({ datasetId: "Impersonated", credentials: "impersonate" });
    expect(dest.credentials).toEqual({ impersonate: dest.serviceAccount });
    const def = definition("imp-ok", dest);
    const res = await runExport(stack, def, { dataInterval: interval(PERIOD) });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    expect((await waitForRun(stack, def.id, PERIOD)).state).toBe("COMPLETED");
    const [jobs] = await stack.adminBigQuery().getJobs({ allUsers: true });
    const load = jobs.find((j) => j.id?.startsWith("bqx_imp-ok-"));
    expect(load?.metadata.user_email).toBe(dest.serviceAccount);
    const [row] = await query(stack, `SELECT COUNT(*) AS n FROM \`${stack.projectId}.Impersonated.events\``);
    expect(Number(row!.n)).toBeGreaterThan(0);
  });

  it("without roles/iam.serviceAccountTokenCreator fails, naming iam.serviceAccounts.getAccessToken and the account", async () => {
    const dest = await stack.createDestination({
      datasetId: "NoTokenCreator",
      credentials: "impersonate",
      tokenCreator: false,
    });
    const res = await runExport(stack, definition("imp-denied", dest), { dataInterval: interval(PERIOD) });
    expect(res.status).toBe(422);
    const run = await waitForRun(stack, "imp-denied", PERIOD);
    expect(run.state).toBe("FAILED");
    expect(run.error?.code).toBe("PERMISSION_DENIED");
    expect(run.error?.message).toContain("iam.serviceAccounts.getAccessToken");
    expect(run.error?.message).toContain(dest.serviceAccount);
    expect(run.error?.message).toContain("roles/iam.serviceAccountTokenCreator");
  });
});

describePermissionMatrix(
  () => stack,
  "impersonate",
  (id, dest, model) => definition(id, dest, model),
);
describePermissionMatrix(
  () => stack,
  "function",
  (id, dest, model) => definition(id, dest, model),
);
