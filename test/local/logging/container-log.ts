// How Cloud Logging turns a line that a Cloud Run container (a gen2 Cloud
// Function) writes to stdout into a LogEntry, so that Logging filters (the
// log-based metrics and alerts in infra/alerting.tf) can be evaluated on the
// lines the functions really write.
//
// The rules, from Google's documentation:
// - cloud.google.com/run/docs/logging, "Writing structured logs": a line that
//   is one JSON object becomes the entry's jsonPayload; "some special fields
//   are stripped from the jsonPayload and are written to the corresponding
//   field in the generated LogEntry ... if your JSON includes a severity
//   property, it is removed from the jsonPayload and appears instead as the
//   log entry's severity. The message property is used as the main display
//   text of the log entry if present." Any other line is a textPayload.
// - cloud.google.com/logging/docs/structured-logging, "special JSON fields":
//   `message` "is saved as textPayload if it is the only field remaining
//   after the Logging agent moves the other special-purpose fields ...;
//   otherwise message remains in jsonPayload"; `httpRequest` and the
//   logging.googleapis.com/{insertId, labels, operation, sourceLocation,
//   spanId, trace, trace_sampled} fields move to their LogEntry fields.
// - Time-related fields (a {seconds, nanos} `timestamp`, `timestampSeconds`
//   with `timestampNanos`, or an RFC 3339 `time`, searched in that order) set
//   LogEntry.timestamp, and the agent "doesn't copy that information from the
//   structured record into the LogEntry.jsonPayload object"
//   (cloud.google.com/logging/docs/agent/logging/configuration).
// Container logs go to the log run.googleapis.com/stdout (or /stderr) of the
// revision's cloud_run_revision resource.

/** LogSeverity names (google.logging.type.LogSeverity). */
const SEVERITIES = [
  "DEFAULT",
  "DEBUG",
  "INFO",
  "NOTICE",
  "WARNING",
  "ERROR",
  "CRITICAL",
  "ALERT",
  "EMERGENCY",
];

const SPECIAL_FIELDS: Record<string, string> = {
  httpRequest: "httpRequest",
  "logging.googleapis.com/insertId": "insertId",
  "logging.googleapis.com/labels": "labels",
  "logging.googleapis.com/operation": "operation",
  "logging.googleapis.com/sourceLocation": "sourceLocation",
  "logging.googleapis.com/spanId": "spanId",
  "logging.googleapis.com/trace": "trace",
  "logging.googleapis.com/trace_sampled": "traceSampled",
};

/** The Cloud Run revision a gen2 function's container runs in. */
export interface CloudRunRevision {
  projectId: string;
  /** The Cloud Run service: a gen2 function's name. */
  serviceName: string;
  location: string;
  revisionName?: string;
}

export interface ContainerLogEntry {
  logName: string;
  resource: { type: string; labels: Record<string, string> };
  severity: string;
  timestamp?: string;
  textPayload?: string;
  jsonPayload?: Record<string, unknown>;
  [special: string]: unknown;
}

function severityOf(value: unknown): string {
  // The agent also recognises other spellings; these are the ones the API knows.
  const name = typeof value === "string" ? value.toUpperCase() : "";
  return SEVERITIES.includes(name) ? name : "DEFAULT";
}

/** Moves the first time-related field found to `timestamp`; returns it, or undefined. */
function takeTimestamp(payload: Record<string, unknown>): string | undefined {
  const ts = payload.timestamp as { seconds?: unknown; nanos?: unknown } | undefined;
  if (ts && typeof ts === "object" && typeof ts.seconds === "number") {
    delete payload.timestamp;
    return new Date(ts.seconds * 1000 + Math.floor(Number(ts.nanos ?? 0) / 1e6)).toISOString();
  }
  if (typeof payload.timestampSeconds === "number") {
    const ms = payload.timestampSeconds * 1000 + Math.floor(Number(payload.timestampNanos ?? 0) / 1e6);
    delete payload.timestampSeconds;
    delete payload.timestampNanos;
    return new Date(ms).toISOString();
  }
  if (typeof payload.time === "string" && !Number.isNaN(Date.parse(payload.time))) {
    const time = payload.time;
    delete payload.time;
    return new Date(time).toISOString();
  }
  return undefined;
}

export function containerLogEntry(
  line: string,
  revision: CloudRunRevision,
  stream: "stdout" | "stderr" = "stdout",
): ContainerLogEntry {
  const entry: ContainerLogEntry = {
    logName: `projects/${revision.projectId}/logs/run.googleapis.com%2F${stream}`,
    resource: {
      type: "cloud_run_revision",
      labels: {
        project_id: revision.projectId,
        service_name: revision.serviceName,
        revision_name: revision.revisionName ?? `${revision.serviceName}-00001-abc`,
        location: revision.location,
        configuration_name: revision.serviceName,
      },
    },
    severity: "DEFAULT",
  };
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    parsed = undefined;
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    entry.textPayload = line;
    return entry;
  }
  const payload = { ...(parsed as Record<string, unknown>) };
  if ("severity" in payload) {
    entry.severity = severityOf(payload.severity);
    delete payload.severity;
  }
  const timestamp = takeTimestamp(payload);
  if (timestamp !== undefined) entry.timestamp = timestamp;
  for (const [field, target] of Object.entries(SPECIAL_FIELDS)) {
    if (field in payload) {
      entry[target] = payload[field];
      delete payload[field];
    }
  }
  const keys = Object.keys(payload);
  if (keys.length === 1 && keys[0] === "message" && typeof payload.message === "string") {
    entry.textPayload = payload.message;
  } else {
    entry.jsonPayload = payload;
  }
  return entry;
}
