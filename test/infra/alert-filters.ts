// The Logging filters of infra/alerting.tf (failed runs, completed runs,
// paused exports) and the functions' Cloud Run service names, read from the
// parsed Terraform, with the deployment's name prefix (their only
// interpolation) filled in: what the alerting tests evaluate on the
// functions' real log lines.
import type { FunctionName } from "../local/stack.js";
import { resource, type Module } from "./hcl.js";

/** The filter locals, by the `event` of the lines each one must select. */
export const ALERT_FILTERS = {
  run_failed_log_filter: "run_failed",
  run_completed_log_filter: "run_completed",
  export_paused_log_filter: "export_paused",
} as const;
export type AlertFilterName = keyof typeof ALERT_FILTERS;

/** Terraform's `${local.prefix}` in a deployment whose name_prefix is "bqx" (the default). */
export const DEPLOYMENT_PREFIX = "bqx";

/** The interpolations a filter text holds, e.g. ["local.prefix"]. */
export function interpolations(text: string): string[] {
  return [...text.matchAll(/\$\{([^}]*)\}/g)].map((m) => m[1]!);
}

export function alertLogFilter(mod: Module, name: AlertFilterName, prefix = DEPLOYMENT_PREFIX): string {
  const text: unknown = mod.locals[name];
  if (typeof text !== "string") throw new Error(`local.${name} must be a string`);
  const unknown = interpolations(text).filter((i) => i !== "local.prefix");
  if (unknown.length > 0) throw new Error(`local.${name} interpolates ${unknown.join(", ")}`);
  return text.replaceAll("${local.prefix}", prefix);
}

/** The Cloud Run service (= gen2 function) name of each function, from its Terraform resource. */
export function serviceNames(mod: Module, prefix = DEPLOYMENT_PREFIX): Record<FunctionName, string> {
  const name = (f: string) =>
    (resource(mod, "google_cloudfunctions2_function", f).name as string).replaceAll(
      "${local.prefix}",
      prefix,
    );
  return { exportRun: name("export_run"), finalizeRun: name("finalize_run") };
}
