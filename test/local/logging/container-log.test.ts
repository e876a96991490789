// Cloud Run stdout lines as Cloud Logging stores them: the documented example
// of structured-logging's special fields, our own line shape, and lines that
// are not JSON objects.
import { describe, expect, it } from "vitest";
import { containerLogEntry } from "./container-log.js";

const revision = { projectId: "p", serviceName: "bqx-export-run", location: "us-central1" };

describe("containerLogEntry", () => {
  it("moves the documented special fields out of the payload (structured-logging's example)", () => {
    const line = JSON.stringify({
      severity: "ERROR",
      message: "There was an error in the application.",
      httpRequest: { requestMethod: "GET" },
      time: "2020-10-12T07:20:50.52Z",
      "logging.googleapis.com/insertId": "42",
      "logging.googleapis.com/labels": { user_label_1: "value_1" },
      "logging.googleapis.com/spanId": "000000000000004a",
      "logging.googleapis.com/trace": "projects/my-projectid/traces/0679686673a",
      "logging.googleapis.com/trace_sampled": false,
      detail: 1,
    });
    expect(containerLogEntry(line, revision)).toEqual({
      logName: "projects/p/logs/run.googleapis.com%2Fstdout",
      resource: {
        type: "cloud_run_revision",
        labels: {
          project_id: "p",
          service_name: "bqx-export-run",
          revision_name: "bqx-export-run-00001-abc",
          location: "us-central1",
          configuration_name: "bqx-export-run",
        },
      },
      severity: "ERROR",
      timestamp: "2020-10-12T07:20:50.520Z",
      httpRequest: { requestMethod: "GET" },
      insertId: "42",
      labels: { user_label_1: "value_1" },
      spanId: "000000000000004a",
      trace: "projects/my-projectid/traces/0679686673a",
      traceSampled: false,
      jsonPayload: { message: "There was an error in the application.", detail: 1 },
    });
  });

  it("keeps message in jsonPayload beside other fields, and as textPayload when it is all that is left", () => {
    const ours = containerLogEntry(
      '{"severity":"INFO","message":"run completed","time":"2026-11-25T11:01:01.000Z","event":"run_completed","rows":3}',
      revision,
    );
    expect(ours.jsonPayload).toEqual({ message: "run completed", event: "run_completed", rows: 3 });
    const bare = containerLogEntry(
      '{"severity":"WARNING","message":"hello","time":"2026-11-25T11:01:01.000Z"}',
      revision,
    );
    expect(bare).toMatchObject({ severity: "WARNING", textPayload: "hello" });
    expect(bare.jsonPayload).toBeUndefined();
  });

  it("reads the other time forms, and leaves unknown severities as DEFAULT", () => {
    const a = containerLogEntry('{"timestamp":{"seconds":1764068461,"nanos":500000000},"x":1}', revision);
    expect(a.timestamp).toBe("2025-11-25T11:01:01.500Z");
    expect(a.jsonPayload).toEqual({ x: 1 });
    const b = containerLogEntry(
      '{"timestampSeconds":1764068461,"timestampNanos":0,"severity":"LOUD","x":1}',
      revision,
    );
    expect(b).toMatchObject({
      timestamp: "2025-11-25T11:01:01.000Z",
      severity: "DEFAULT",
      jsonPayload: { x: 1 },
    });
  });

  it("stores other lines as text", () => {
    for (const line of ["plain text", "[1,2]", "null", '"s"']) {
      expect(containerLogEntry(line, revision, "stderr")).toMatchObject({
        textPayload: line,
        severity: "DEFAULT",
        logName: "projects/p/logs/run.googleapis.com%2Fstderr",
      });
    }
  });
});
