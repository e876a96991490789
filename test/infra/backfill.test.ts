// Backfills on Cloud Tasks: a dedicated queue whose concurrency cap protects
// ClickHouse, retries with backoff, and the least privilege around it
// (exportRun enqueues on this queue only and acts as the tasks account only;
// the tasks account invokes exportRun only).
import { CloudTasksClient } from "@google-cloud/tasks";
import { beforeAll, describe, expect, it } from "vitest";
import { backoffMs } from "../local/common/backoff.js";
import { startTasksServer } from "../local/tasks/server.js";
import { block, loadModule, reference, resource, type Module } from "./hcl.js";

let mod: Module;
beforeAll(async () => {
  mod = await loadModule();
});

const queue = () => resource(mod, "google_cloud_tasks_queue", "backfill");
const seconds = (d: string): number => {
  const m = /^(\d+)s$/.exec(d);
  if (!m) throw new Error(`not a duration in seconds: ${d}`);
  return Number(m[1]);
};

describe("the backfill queue", () => {
  it("is one dedicated queue in the functions' region, named after the deployment", () => {
    expect(queue().name).toBe("${local.prefix}-backfill");
    expect(queue().location).toBe("${var.region}");
    expect(queue().project).toBe("${var.project_id}");
    expect(Object.keys(mod.resources.google_cloud_tasks_queue ?? {})).toEqual(["backfill"]);
  });

  it("caps concurrent chunks with backfill_concurrency (default 2) and starts them at a modest rate", () => {
    const limits = block(queue(), "rate_limits");
    expect(limits.max_concurrent_dispatches).toBe("${var.backfill_concurrency}");
    expect(mod.variables.backfill_concurrency!.default).toBe(2);
    expect(typeof limits.max_dispatches_per_second).toBe("number");
    expect(limits.max_dispatches_per_second).toBeGreaterThan(0);
    expect(limits.max_dispatches_per_second).toBeLessThanOrEqual(5);
  });

  it("retries a failed chunk with growing waits for about 40 minutes, then gives up", () => {
    const retry = block(queue(), "retry_config");
    expect(retry.max_retry_duration).toBe("0s"); // max_attempts alone decides
    const policy = {
      minBackoffMs: seconds(retry.min_backoff as string) * 1000,
      maxBackoffMs: seconds(retry.max_backoff as string) * 1000,
      maxDoublings: retry.max_doublings as number,
    };
    // The waits before retries 1 … max_attempts - 1, as Cloud Tasks spaces them.
    const waits = Array.from(
      { length: (retry.max_attempts as number) - 1 },
      (_, i) => backoffMs(policy, i + 1) / 1000,
    );
    expect(waits).toEqual([10, 20, 40, 80, 160, 320, 480, 600, 600]);
    const total = waits.reduce((a, b) => a + b, 0);
    expect(total / 60).toBeGreaterThan(30);
    expect(total / 60).toBeLessThan(45);
  });

  it("is a queue Cloud Tasks accepts, at the default and the extreme concurrencies", async () => {
    const limits = block(queue(), "rate_limits");
    const retry = block(queue(), "retry_config");
    const duration = (d: unknown) => ({ seconds: seconds(d as string) });
    const server = await startTasksServer();
    const client = new CloudTasksClient(server.clientOptions());
    try {
      const parent = "projects/my-exports-project/locations/us-central1";
      for (const concurrency of [1, mod.variables.backfill_concurrency!.default as number, 50]) {
        const name = `${parent}/queues/bqx-backfill-${concurrency}`;
        const [created] = await client.createQueue({
          parent,
          queue: {
            name,
            rateLimits: {
              maxConcurrentDispatches: concurrency,
              maxDispatchesPerSecond: limits.max_dispatches_per_second as number,
            },
            retryConfig: {
              maxAttempts: retry.max_attempts as number,
              minBackoff: duration(retry.min_backoff),
              maxBackoff: duration(retry.max_backoff),
              maxDoublings: retry.max_doublings as number,
              maxRetryDuration: duration(retry.max_retry_duration),
            },
          },
        });
        expect(created.rateLimits?.maxConcurrentDispatches).toBe(concurrency);
        expect(created.retryConfig?.maxAttempts).toBe(retry.max_attempts);
      }
    } finally {
      await client.close();
      await server.stop();
    }
    // The variable's own bounds are the ones tried here.
    const rule = (mod.variables.backfill_concurrency!.validation as { condition: string }[])[0]!.condition;
    expect(rule).toContain("var.backfill_concurrency >= 1 && var.backfill_concurrency <= 50");
  });

  it("is what exportRun is told to use, by its full name", () => {
    const env = mod.locals.export_run_env as Record<string, string>;
    expect(env.BQX_BACKFILL_QUEUE).toBe("${local.backfill_queue_name}");
    expect(mod.locals.backfill_queue_name).toBe(
      "projects/${var.project_id}/locations/${var.region}/queues/${google_cloud_tasks_queue.backfill.name}",
    );
    expect(mod.outputs.backfill_queue!.value).toBe("${local.backfill_queue_name}");
    expect(env.BQX_TASKS_SERVICE_ACCOUNT).toBe("${google_service_account.tasks.email}");
  });

  it("sets the tasks' dispatch deadline from exportRun's timeout, within Cloud Tasks' 30 minutes", () => {
    const env = mod.locals.export_run_env as Record<string, string>;
    expect(env.BQX_TASKS_DISPATCH_DEADLINE_SECONDS).toBe(
      "${tostring(local.tasks_dispatch_deadline_seconds)}",
    );
    expect(mod.locals.tasks_dispatch_deadline_seconds).toBe(
      "${min(var.export_run_timeout_seconds + 30, 1800)}",
    );
    const check = (mod.checks.export_run_fits_dispatch_deadlines!.assert as { condition: string }[])[0]!;
    expect(check.condition).toContain("var.export_run_timeout_seconds + 30 <= 1800");
  });
});

describe("backfill identities", () => {
  it("lets exportRun enqueue on this queue only, and set its concurrency with exactly the two permissions that needs", () => {
    const grants = Object.values(mod.resources.google_cloud_tasks_queue_iam_member ?? {});
    expect(grants).toHaveLength(2);
    const enqueuers = grants.filter((g) => g.role === "roles/cloudtasks.enqueuer");
    expect(enqueuers).toHaveLength(1);
    const tuner = resource(mod, "google_cloud_tasks_queue_iam_member", "export_run_concurrency");
    expect(tuner).toMatchObject({
      name: "${google_cloud_tasks_queue.backfill.name}",
      role: "${google_project_iam_custom_role.backfill_concurrency.id}",
      member: "${google_service_account.export_run.member}",
    });
    expect(resource(mod, "google_project_iam_custom_role", "backfill_concurrency").permissions).toEqual([
      "cloudtasks.queues.get",
      "cloudtasks.queues.update",
    ]);
    // The cap a backfill sets is not set back by the next apply.
    expect(block(queue(), "lifecycle").ignore_changes).toEqual([
      "${rate_limits[0].max_concurrent_dispatches}",
    ]);
    expect(enqueuers[0]).toMatchObject({
      name: "${google_cloud_tasks_queue.backfill.name}",
      location: "${google_cloud_tasks_queue.backfill.location}",
      role: "roles/cloudtasks.enqueuer",
      member: "${google_service_account.export_run.member}",
    });
    const projectRoles = Object.values(mod.resources.google_project_iam_member ?? {}).map(
      (g) => g.role as string,
    );
    expect(projectRoles.filter((r) => r.startsWith("roles/cloudtasks."))).toEqual([]);
  });

  it("lets exportRun act as the tasks account only, so its tasks carry that account's OIDC token", () => {
    const actAs = resource(mod, "google_service_account_iam_member", "export_run_acts_as_tasks");
    expect(actAs).toMatchObject({
      service_account_id: "${google_service_account.tasks.name}",
      role: "roles/iam.serviceAccountUser",
      member: "${google_service_account.export_run.member}",
    });
    const users = Object.values(mod.resources)
      .flatMap((byName) => Object.values(byName))
      .filter((r) => r.role === "roles/iam.serviceAccountUser");
    expect(users).toHaveLength(1);
  });

  it("lets the tasks account invoke exportRun and nothing else", () => {
    const grants = Object.values(mod.resources)
      .flatMap((byName) => Object.values(byName))
      .filter((r) => r.member === "${google_service_account.tasks.member}");
    expect(grants).toHaveLength(1);
    expect(grants[0]).toMatchObject({ role: "roles/run.invoker" });
    expect(reference(grants[0]!.name)?.slice(0, 2)).toEqual([
      "google_cloudfunctions2_function",
      "export_run",
    ]);
  });
});
