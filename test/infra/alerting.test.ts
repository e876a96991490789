// Optional alerting: the Logging filters of failed runs, completed runs and
// auto-paused exports, evaluated by the project's one Logging-filter evaluator
// on log lines the functions wrote in an end-to-end run on the local stack
// (test/fixtures/function-log-lines.json, captured and kept current by
// test/e2e/auto-pause.test.ts), each wrapped as Cloud Logging wraps a Cloud
// Run container's stdout line; the metrics and policies built on them;
// freshness windows within Cloud Monitoring's limits; alert documentation
// pointing at the README's Troubleshooting entries.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { INTERVALS, intervalMs } from "../../functions/src/core/periods.js";
import {
  LOG_LINES_FIXTURE,
  parseLogLinesFixture,
  type CapturedLine,
  type LogLinesFixture,
} from "../fixtures/function-log-lines.js";
import { containerLogEntry, type ContainerLogEntry } from "../local/logging/container-log.js";
import { parseLogFilter } from "../local/logging/filter.js";
import {
  ALERT_FILTERS,
  DEPLOYMENT_PREFIX as PREFIX,
  alertLogFilter,
  interpolations,
  serviceNames as moduleServiceNames,
  type AlertFilterName,
} from "./alert-filters.js";
import { INFRA_DIR, block, loadModule, resource, type Module } from "./hcl.js";

let mod: Module;
let captured: LogLinesFixture;
beforeAll(async () => {
  mod = await loadModule();
  captured = parseLogLinesFixture(readFileSync(LOG_LINES_FIXTURE, "utf8"));
});

/** A local Logging filter, with the deployment's prefix (its only interpolation) filled in. */
function logFilter(name: AlertFilterName): string {
  expect(new Set(interpolations(mod.locals[name] as string)), name).toEqual(new Set(["local.prefix"]));
  return alertLogFilter(mod, name, PREFIX);
}

/** The Cloud Run service (= gen2 function) names, from the function resources. */
const serviceNames = () => moduleServiceNames(mod, PREFIX);

/** The `event` each filter selects; "other": a line no filter may select. */
type Kind = (typeof ALERT_FILTERS)[AlertFilterName] | "export_resumed" | "other";

function kindOf(line: CapturedLine): Kind {
  const event = (JSON.parse(line.line) as { event?: unknown }).event;
  return typeof event === "string" ? (event as Kind) : "other";
}

/** The captured line of a kind in the contract (failed, completedAfterLoad, completedEmpty, paused, resumed). */
function contractLine(name: string): CapturedLine {
  const line = captured.contract[name];
  if (!line)
    throw new Error(
      `${LOG_LINES_FIXTURE} has no ${name} line: rerun test/e2e/auto-pause.test.ts with BQX_CAPTURE_LOG_LINES=1`,
    );
  return line;
}

/** The LogEntry Cloud Logging makes of a captured line, written by `service` (default: the function that wrote it). */
function logEntry(
  line: CapturedLine,
  service = serviceNames()[line.fn],
  resourceType = "cloud_run_revision",
) {
  const entry = containerLogEntry(line.line, {
    projectId: "my-exports-project",
    serviceName: service,
    location: "us-central1",
    revisionName: `${service}-00007-xiq`,
  });
  return { ...entry, resource: { ...entry.resource, type: resourceType } };
}

function samples(): { kind: Kind; ours: boolean; entry: ContainerLogEntry; line: CapturedLine }[] {
  const { exportRun, finalizeRun } = serviceNames();
  const out: { kind: Kind; ours: boolean; entry: ContainerLogEntry; line: CapturedLine }[] = [];
  for (const line of [...Object.values(captured.contract), ...captured.others]) {
    const kind = kindOf(line);
    // As written, and as if the other function had written it: both are this deployment's.
    for (const service of [exportRun, finalizeRun])
      out.push({ kind, ours: true, entry: logEntry(line, service), line });
    // Another deployment in the same project, another service, another resource type.
    out.push({ kind, ours: false, entry: logEntry(line, "acme-export-run"), line });
    out.push({ kind, ours: false, entry: logEntry(line, "some-other-service"), line });
    out.push({ kind, ours: false, entry: logEntry(line, exportRun, "cloud_scheduler_job"), line });
  }
  return out;
}

describe("the captured log lines", () => {
  it("hold each kind of line the alerts count, from the function that writes it, and others", () => {
    const kinds = Object.fromEntries(
      Object.entries(captured.contract).map(([k, l]) => [k, `${kindOf(l)}@${l.fn}`]),
    );
    expect(kinds).toEqual({
      failed: "run_failed@exportRun",
      failedAfterLoad: "run_failed@finalizeRun",
      completedAfterLoad: "run_completed@finalizeRun",
      completedEmpty: "run_completed@exportRun",
      paused: "export_paused@exportRun",
      resumed: "export_resumed@exportRun",
    });
    expect(captured.others.length).toBeGreaterThan(0);
    expect(captured.others.map(kindOf)).toEqual(captured.others.map(() => "other"));
  });

  it("become entries as Cloud Logging makes them: severity and time lifted out, the rest as jsonPayload", () => {
    const failed = contractLine("failed");
    const written = JSON.parse(failed.line) as Record<string, unknown>;
    const entry = logEntry(failed);
    expect(entry.severity).toBe("ERROR");
    expect(entry.timestamp).toBe(new Date(written.time as string).toISOString());
    expect(entry.jsonPayload).not.toHaveProperty("severity");
    expect(entry.jsonPayload).not.toHaveProperty("time");
    expect(entry.jsonPayload?.message).toBe("run failed");
    expect(entry.resource.labels.service_name).toBe(serviceNames().exportRun);
    expect(entry.logName).toBe("projects/my-exports-project/logs/run.googleapis.com%2Fstdout");
  });
});

describe("the log filters", () => {
  it("select exactly their kind of line, from this deployment's two functions", () => {
    for (const [name, kind] of Object.entries(ALERT_FILTERS) as [AlertFilterName, Kind][]) {
      const filter = parseLogFilter(logFilter(name));
      for (const s of samples()) {
        const want = s.ours && s.kind === kind;
        expect(
          filter.matches(s.entry),
          `${name} on ${s.line.line} from ${JSON.stringify(s.entry.resource)}`,
        ).toBe(want);
      }
    }
  });

  it("name the functions by their resources' names", () => {
    const { exportRun, finalizeRun } = serviceNames();
    expect([exportRun, finalizeRun]).toEqual([`${PREFIX}-export-run`, `${PREFIX}-finalize-run`]);
    for (const name of Object.keys(ALERT_FILTERS) as AlertFilterName[]) {
      const values = parseLogFilter(logFilter(name))
        .comparisons()
        .filter((c) => c.path.join(".") === "resource.labels.service_name")
        .map((c) => c.value);
      expect(values.sort(), name).toEqual([exportRun, finalizeRun].sort());
    }
  });
});

describe("log-based metrics", () => {
  const METRICS = {
    run_failed: { filter: "run_failed_log_filter", lines: ["failed", "failedAfterLoad"] },
    run_completed: { filter: "run_completed_log_filter", lines: ["completedAfterLoad", "completedEmpty"] },
  };

  it("count their filter's lines, labelled by fields those lines carry", () => {
    for (const [name, { filter, lines }] of Object.entries(METRICS)) {
      const metric = resource(mod, "google_logging_metric", name);
      expect(metric.filter, name).toBe(`\${local.${filter}}`);
      expect(metric.count, name).toBe("${local.alerting_enabled ? 1 : 0}");
      const descriptor = block(metric, "metric_descriptor");
      expect([descriptor.metric_kind, descriptor.value_type], name).toEqual(["DELTA", "INT64"]);
      const labels = (descriptor.labels as { key: string }[]).map((l) => l.key);
      const extractors = metric.label_extractors as Record<string, string>;
      expect(Object.keys(extractors).sort(), name).toEqual([...labels].sort());
      for (const line of lines) {
        const entry = logEntry(contractLine(line));
        for (const [label, extractor] of Object.entries(extractors)) {
          const path = /^EXTRACT\(([\w.]+)\)$/.exec(extractor)?.[1];
          expect(path, `${name}.${label}`).toBeDefined();
          let value: unknown = entry;
          for (const seg of path!.split(".")) value = (value as Record<string, unknown> | undefined)?.[seg];
          expect(["string", "number", "boolean"], `${name}.${label} = ${path} on ${line}`).toContain(
            typeof value,
          );
        }
      }
    }
    expect(
      Object.keys(resource(mod, "google_logging_metric", "run_failed").label_extractors as object),
    ).toEqual(expect.arrayContaining(["export", "error_code"]));
  });
});

describe("alert policies", () => {
  const policies = () => mod.resources.google_monitoring_alert_policy ?? {};

  it("exist only when someone is to be told, and tell the configured channels", () => {
    expect(mod.locals.alerting_enabled).toBe(
      "${length(var.alert_notification_channels) + length(var.alert_emails) > 0}",
    );
    expect(mod.locals.alert_channels).toContain("var.alert_notification_channels");
    expect(mod.locals.alert_channels).toContain("google_monitoring_notification_channel.email");
    const email = resource(mod, "google_monitoring_notification_channel", "email");
    expect(email).toMatchObject({
      for_each: "${toset(var.alert_emails)}",
      type: "email",
      labels: { email_address: "${each.value}" },
    });
    expect(Object.keys(policies()).sort()).toEqual(["export_paused", "export_stale", "run_failed"]);
    for (const [name, p] of Object.entries(policies())) {
      expect(String(p.count ?? p.for_each), name).toMatch(/^\$\{local\.alerting_enabled \?/);
      expect(p.notification_channels, name).toBe("${local.alert_channels}");
    }
  });

  it("alert on a failed run: the first non-retryable one, and retryable ones that keep coming", () => {
    const conditions = policies().run_failed!.conditions as {
      condition_threshold: Record<string, unknown>[];
    }[];
    const metricType =
      'metric.type=\\"logging.googleapis.com/user/${google_logging_metric.run_failed[0].name}\\"';
    const byRetryable: Record<string, Record<string, unknown>> = Object.fromEntries(
      conditions.map((c) => {
        const t = c.condition_threshold[0]!;
        const retryable = /metric\.label\.retryable="(true|false)"/.exec(t.filter as string)?.[1];
        expect(JSON.stringify(t.filter)).toContain(metricType);
        return [retryable, t];
      }),
    );
    expect(Object.keys(byRetryable).sort()).toEqual(["false", "true"]);
    // The label holds what EXTRACT makes of the line's boolean.
    const failed = logEntry(contractLine("failed")).jsonPayload as { error: { retryable: boolean } };
    expect(String(failed.error.retryable)).toBe("false");
    expect(byRetryable.false).toMatchObject({ comparison: "COMPARISON_GT", threshold_value: 0 });
    expect(byRetryable.true!.comparison).toBe("COMPARISON_GT");
    expect(byRetryable.true!.threshold_value).toBeGreaterThan(0);
    for (const t of Object.values(byRetryable)) {
      const aggregation = (t.aggregations as Record<string, unknown>[])[0]!;
      expect(aggregation.group_by_fields).toEqual(["metric.label.export", "metric.label.error_code"]);
    }
  });

  it("alert when exportRun pauses an export, on that log line", () => {
    const paused = policies().export_paused!;
    const condition = (paused.conditions as { condition_matched_log: Record<string, unknown>[] }[])[0]!
      .condition_matched_log[0]!;
    expect(condition.filter).toBe("${local.export_paused_log_filter}");
    expect(condition.label_extractors).toMatchObject({ export: "EXTRACT(jsonPayload.export)" });
    // Log-match conditions require a notification rate limit.
    const limit = block(block(paused, "alert_strategy"), "notification_rate_limit");
    expect(limit.period).toMatch(/^\d+s$/);
  });
});

describe("freshness", () => {
  const MIN_ABSENCE_S = 120; // MetricAbsence.duration minimum
  const MAX_ABSENCE_S = 23.5 * 3600; // "up to a maximum of 23.5 hours"

  it("knows each interval's length as the product does", () => {
    const seconds = mod.locals.interval_seconds as Record<string, number>;
    expect(Object.keys(seconds).sort()).toEqual([...INTERVALS].sort());
    for (const i of INTERVALS) expect(seconds[i]! * 1000, i).toBe(intervalMs(i));
    expect(mod.locals.metric_absence_max_seconds).toBe(MAX_ABSENCE_S);
  });

  it("alerts after 3 intervals without a completed run, where Cloud Monitoring can express it", () => {
    expect(mod.locals.stale_after_seconds).toMatch(/id => 3 \* local\.interval_seconds\[e\.interval\]/);
    expect(mod.locals.stale_after_seconds).toMatch(
      /if 3 \* local\.interval_seconds\[e\.interval\] <= local\.metric_absence_max_seconds/,
    );
    const watched = INTERVALS.filter((i) => (3 * intervalMs(i)) / 1000 <= MAX_ABSENCE_S);
    expect(watched).toEqual(["5m", "15m", "hour"]);
    for (const i of watched) {
      const d = (3 * intervalMs(i)) / 1000;
      expect(d, i).toBeGreaterThanOrEqual(MIN_ABSENCE_S);
      expect(d % 60, i).toBe(0);
    }
    const stale = mod.resources.google_monitoring_alert_policy!.export_stale!;
    expect(stale.for_each).toBe("${local.alerting_enabled ? local.stale_after_seconds : {}}");
    const absent = (stale.conditions as { condition_absent: Record<string, unknown>[] }[])[0]!
      .condition_absent[0]!;
    expect(absent.duration).toBe("${each.value}s");
    expect(absent.filter).toContain("google_logging_metric.run_completed[0].name");
    expect(absent.filter).toContain('metric.label.export="${each.key}"');
    // Completions from both functions and every revision count as one series per export.
    const aggregation = (absent.aggregations as Record<string, unknown>[])[0]!;
    expect(aggregation).toMatchObject({
      cross_series_reducer: "REDUCE_SUM",
      group_by_fields: ["metric.label.export"],
    });
    expect(seconds(aggregation.alignment_period as string)).toBeLessThanOrEqual(
      (3 * intervalMs("5m")) / 1000,
    );
  });
});

describe("alert documentation", () => {
  /** GitHub's heading anchor: lowercase, punctuation dropped, spaces as hyphens. */
  const slug = (heading: string) =>
    heading
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, "")
      .replace(/\s/g, "-");

  it("points each alert at its README Troubleshooting entry", () => {
    const docs = mod.locals.alert_docs as Record<string, { heading: string; anchor: string }>;
    expect(Object.keys(docs).sort()).toEqual(["export_paused", "export_stale", "run_failed"]);
    for (const [name, d] of Object.entries(docs)) expect(d.anchor, name).toBe(slug(d.heading));
    for (const [name, p] of Object.entries(mod.resources.google_monitoring_alert_policy!)) {
      const doc = block(p, "documentation");
      expect(doc.mime_type, name).toBe("text/markdown");
      expect(doc.content, name).toContain(`\${local.alert_doc_pointer.${name}}`);
      expect(typeof doc.subject, name).toBe("string");
      const links = (doc.dynamic as { links: { for_each: string }[] }).links[0]!;
      expect(links.for_each, name).toContain(`local.alert_doc_links.${name}`);
    }
    expect(mod.locals.alert_doc_links).toContain('"${var.alert_docs_base_url}#${d.anchor}"');
  });

  it("finds each entry in the README's Troubleshooting section, under a heading of its own", () => {
    const readme = readFileSync(join(INFRA_DIR, "..", "README.md"), "utf8");
    const section = readme.slice(readme.indexOf("\n## Troubleshooting\n"));
    const end = section.indexOf("\n## ", 1);
    const headings = [...(end < 0 ? section : section.slice(0, end)).matchAll(/^#{3,4} (.+)$/gm)].map(
      (m) => m[1],
    );
    const docs = mod.locals.alert_docs as Record<string, { heading: string }>;
    for (const [name, d] of Object.entries(docs)) expect(headings, name).toContain(d.heading);
    // Each tells how to resume or rerun: the alert's own advice must be there.
    expect(section).toContain("bqx resume <id>");
    expect(section).toContain("gcloud scheduler jobs resume <prefix>-<id> --location <region>");
  });
});

function seconds(d: string): number {
  const m = /^(\d+)s$/.exec(d);
  if (!m) throw new Error(`not a duration in seconds: ${d}`);
  return Number(m[1]);
}
