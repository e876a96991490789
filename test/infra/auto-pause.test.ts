// Auto-pause, the product held to infra/: the permissions the Scheduler
// adapter uses are the ones Terraform grants, the job prefix Terraform passes
// is one the adapter accepts and completes into the job's name, only
// exportRun gets it (the local stack deploys finalizeRun the same way), and
// the staging bucket's expiry never reaches the export state objects.
import { beforeAll, describe, expect, it } from "vitest";
import {
  SCHEDULER_JOB_PREFIX_PATTERN,
  SCHEDULER_PERMISSIONS,
} from "../../functions/src/adapters/scheduler.js";
import { exportStateObject } from "../../functions/src/core/names.js";
import { SCHEDULER_JOB_PREFIX } from "../local/stack.js";
import { loadModule, resource, type Module } from "./hcl.js";

let mod: Module;
beforeAll(async () => {
  mod = await loadModule();
});

/** A Terraform expression with sample values for the variables and locals it uses. */
function evaluate(expr: string): string {
  const values: Record<string, string> = {
    "var.project_id": "my-exports-project",
    "var.region": "europe-west1",
    "local.prefix": "bqx",
  };
  return expr.replace(/\$\{([^}]+)\}/g, (_, name: string) => {
    const value = values[name.trim()];
    if (value === undefined) throw new Error(`no sample value for ${name}`);
    return value;
  });
}

describe("auto-pause and infra/", () => {
  it("uses exactly the permissions Terraform grants exportRun", () => {
    expect([...Object.values(SCHEDULER_PERMISSIONS)].sort()).toEqual(
      [...(mod.locals.scheduler_pause_permissions as string[])].sort(),
    );
  });

  it("accepts the job prefix Terraform passes, and completes it into the job's name", () => {
    const prefix = evaluate(mod.locals.scheduler_job_prefix as string);
    expect(prefix).toMatch(SCHEDULER_JOB_PREFIX_PATTERN);
    const job = resource(mod, "google_cloud_scheduler_job", "export");
    const name = `projects/${evaluate(job.project as string)}/locations/${evaluate(job.region as string)}/jobs/${evaluate((job.name as string).replace("${each.key}", "events-hourly"))}`;
    expect(prefix + "events-hourly").toBe(name);
    // The local stack names its jobs the same way.
    expect(SCHEDULER_JOB_PREFIX).toMatch(SCHEDULER_JOB_PREFIX_PATTERN);
    expect(SCHEDULER_JOB_PREFIX.endsWith(`/jobs/${evaluate("${local.prefix}")}-`)).toBe(true);
  });

  it("gives the prefix to exportRun only (finalizeRun cannot pause; exportRun's next scheduled call does)", () => {
    expect(Object.keys(mod.locals.export_run_env as object)).toContain("BQX_SCHEDULER_JOB_PREFIX");
    expect(Object.keys(mod.locals.function_env as object)).not.toContain("BQX_SCHEDULER_JOB_PREFIX");
  });

  it("keeps export state objects out of the staging bucket's expiry", () => {
    const rules = resource(mod, "google_storage_bucket", "staging").lifecycle_rule as {
      condition: { matches_prefix?: string[] }[];
    }[];
    for (const rule of rules) {
      const prefixes = rule.condition[0]?.matches_prefix;
      expect(prefixes, "a rule without a prefix would reach every object").toBeDefined();
      for (const p of prefixes!) expect(exportStateObject("events-hourly").startsWith(p), p).toBe(false);
    }
  });
});
