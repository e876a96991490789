import { describe, expect, it } from "vitest";
import { decodeAuditEvent } from "../../functions/src/core/audit-event.js";
import { JOB_LABELS } from "../../functions/src/core/names.js";

function push(entry: unknown): unknown {
  return {
    message: { data: Buffer.from(JSON.stringify(entry)).toString("base64"), messageId: "m1" },
    subscription: "projects/p/subscriptions/s",
  };
}

function entry(
  over: { after?: string; labels?: Record<string, string>; errorResult?: unknown; jobName?: string } = {},
) {
  return {
    resource: { type: "bigquery_project", labels: { project_id: "p", location: "EU" } },
    protoPayload: {
      metadata: {
        "@type": "type.googleapis.com/google.cloud.audit.BigQueryAuditMetadata",
        jobChange: {
          before: "RUNNING",
          after: over.after ?? "DONE",
          job: {
            jobName: over.jobName ?? "projects/p/jobs/bqx_run_a1_load",
            jobConfig: {
              type: "IMPORT",
              labels: over.labels ?? {
                [JOB_LABELS.export]: "events-hourly",
                [JOB_LABELS.run]: "events-hourly-20261125t100000z-20261125t110000z",
                [JOB_LABELS.model]: "events",
              },
            },
            jobStatus: { jobState: "DONE", ...(over.errorResult ? { errorResult: over.errorResult } : {}) },
          },
        },
      },
    },
  };
}

describe("decodeAuditEvent", () => {
  it("decodes our DONE job", () => {
    expect(decodeAuditEvent(push(entry()))).toEqual({
      kind: "ours",
      job: {
        exportId: "events-hourly",
        runId: "events-hourly-20261125t100000z-20261125t110000z",
        model: "events",
        projectId: "p",
        jobId: "bqx_run_a1_load",
        location: "EU",
        error: undefined,
        messageId: "m1",
      },
    });
  });

  it("carries BigQuery's error text for a failed job", () => {
    const d = decodeAuditEvent(
      push(entry({ errorResult: { code: 3, message: "Error while reading data" } })),
    );
    expect(d.kind === "ours" && d.job.error).toEqual({ code: 3, message: "Error while reading data" });
  });

  it.each([
    ["not an object", "hello"],
    ["no data", { message: {} }],
    ["data not base64 JSON", { message: { data: "!!!" } }],
    ["not a jobChange", push({ protoPayload: { metadata: { tableCreation: {} } } })],
    ["a RUNNING job", push(entry({ after: "RUNNING" }))],
    ["someone else's job", push(entry({ labels: { team: "data" } }))],
    [
      "an unknown model label",
      push(entry({ labels: { bqx_export: "e", bqx_run: "r", bqx_model: "groups" } })),
    ],
    ["an odd job name", push(entry({ jobName: "jobs/x" }))],
  ])("ignores %s (acked, never retried)", (_n, data) => {
    expect(decodeAuditEvent(data).kind).toBe("ignore");
  });
});
