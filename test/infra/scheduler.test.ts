// The Cloud Scheduler jobs: when they fire (after each period has settled), what
// they send (only the export's id), and the one thing exportRun may do to them
// (pause a failing export's job).
import { beforeAll, describe, expect, it } from "vitest";
import { parseExportRequest } from "../../functions/src/core/request.js";
import {
  DEFAULT_SETTLE_MS,
  INTERVALS,
  intervalMs,
  periodBefore,
  settledAt,
} from "../../functions/src/core/periods.js";
import { fireTimesBetween, parseCron } from "../local/scheduler/cron.js";
import { block, loadModule, reference, resource, type Module } from "./hcl.js";

let mod: Module;
beforeAll(async () => {
  mod = await loadModule();
});

const job = () => resource(mod, "google_cloud_scheduler_job", "export");

describe("Cloud Scheduler jobs", () => {
  it("has one job per export, posting only the export's id to exportRun with an OIDC token", () => {
    expect(job().for_each).toBe("${var.exports}");
    expect(job().name).toBe("${local.prefix}-${each.key}");
    const target = block(job(), "http_target");
    expect(target.http_method).toBe("POST");
    expect(target.uri).toBe("${google_cloudfunctions2_function.export_run.service_config[0].uri}");
    expect(target).not.toHaveProperty("oauth_token");
    const oidc = block(target, "oidc_token");
    expect(oidc.audience).toBe(target.uri);
    expect(target.headers).toEqual({ "Content-Type": "application/json" });
    const retry = block(job(), "retry_config");
    expect(Object.keys(retry)).toEqual(expect.arrayContaining(["retry_count", "min_backoff_duration"]));
  });

  it("sends a body exportRun parses as a run of the scheduled period", () => {
    const body = /^\$\{base64encode\(jsonencode\(\{ (\w+) = each\.key \}\)\)\}$/.exec(
      block(job(), "http_target").body as string,
    );
    expect(body, "the body is jsonencode of one field, the export id").not.toBeNull();
    const request = parseExportRequest({ [body![1]!]: "events-hourly" });
    expect(request).toEqual({ kind: "run", exportId: "events-hourly", range: undefined, force: false });
  });

  it("fires only once the export's definition is stored", () => {
    expect(job().depends_on).toContain("${google_storage_bucket_object.export_definition}");
  });

  it("leaves the paused state alone, so an apply neither resumes an auto-paused export nor pauses a resumed one", () => {
    // The provider's `paused` is Optional+Computed: unset, an apply keeps the job's state.
    expect(job()).not.toHaveProperty("paused");
  });

  it("fires each interval after its periods have settled, in UTC, exporting consecutive periods", () => {
    expect(job().schedule).toBe("${local.schedules[each.value.interval]}");
    expect(job().time_zone).toBe("${local.schedule_time_zone}");
    expect(mod.locals.schedule_time_zone).toBe("Etc/UTC");
    const schedules = mod.locals.schedules as Record<string, string>;
    expect(Object.keys(schedules).sort()).toEqual([...INTERVALS].sort());
    // Three weeks from a Monday 00:00 UTC, a boundary of every interval.
    const from = new Date("2026-11-23T00:00:00Z");
    const to = new Date(from.getTime() + 21 * 86_400_000);
    for (const interval of INTERVALS) {
      const step = intervalMs(interval);
      const fires = fireTimesBetween(parseCron(schedules[interval]!), from, to);
      expect(fires.length, interval).toBe((to.getTime() - from.getTime()) / step);
      const periods = fires.map((t) => periodBefore(t, interval));
      fires.forEach((t, i) => {
        const period = periods[i]!;
        const at = `${interval} ${t.toISOString()}`;
        // Never before the period has settled (the product would refuse to
        // read it), and before the next period ends.
        expect(t.getTime(), at).toBeGreaterThanOrEqual(
          settledAt(period, DEFAULT_SETTLE_MS[interval]).getTime(),
        );
        expect(t.getTime() - period.end.getTime(), at).toBeLessThan(step);
      });
      // Consecutive periods, none skipped or repeated, covering [from - step, to - step).
      expect(periods[0]!.end.getTime(), interval).toBe(from.getTime());
      for (let i = 1; i < periods.length; i++) {
        expect(periods[i]!.start.getTime(), interval).toBe(periods[i - 1]!.end.getTime());
      }
      expect(periods.at(-1)!.end.getTime(), interval).toBe(to.getTime() - step);
    }
  });
});

describe("auto-pause", () => {
  it("tells exportRun how to name an export's job: the prefix plus the export id", () => {
    const env = mod.locals.export_run_env as Record<string, string>;
    expect(env.BQX_SCHEDULER_JOB_PREFIX).toBe("${local.scheduler_job_prefix}");
    const prefix = mod.locals.scheduler_job_prefix as string;
    // The job's full name is projects/<project>/locations/<region>/jobs/<name>.
    expect(job().project).toBe("${var.project_id}");
    expect(job().region).toBe("${var.region}");
    expect(job().name).toBe("${local.prefix}-${each.key}");
    expect(prefix + "${each.key}").toBe(
      "projects/${var.project_id}/locations/${var.region}/jobs/${local.prefix}-${each.key}",
    );
  });

  it("lets exportRun read and pause Scheduler jobs, and nothing else, through a two-permission role", () => {
    const role = resource(mod, "google_project_iam_custom_role", "scheduler_pause");
    expect(role.project).toBe("${var.project_id}");
    expect(role.permissions).toBe("${local.scheduler_pause_permissions}");
    expect(mod.locals.scheduler_pause_permissions).toEqual([
      "cloudscheduler.jobs.get",
      "cloudscheduler.jobs.pause",
    ]);
    const grants = Object.values(mod.resources.google_project_iam_member ?? {}).filter(
      (g) => g.role === "${google_project_iam_custom_role.scheduler_pause.name}",
    );
    expect(grants.map((g) => reference(g.member)?.[1])).toEqual(["export_run"]);
    // Resuming is a person's action; no predefined Scheduler role is granted to anyone.
    const roles = Object.values(mod.resources)
      .flatMap((byName) => Object.values(byName))
      .map((r) => r.role as unknown)
      .filter((r): r is string => typeof r === "string");
    expect(roles.filter((r) => r.startsWith("roles/cloudscheduler."))).toEqual([]);
  });
});
