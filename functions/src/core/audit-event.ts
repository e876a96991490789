// Decoding the BigQuery audit LogEntry that reaches finalizeRun: a log sink
// publishes it to Pub/Sub and Eventarc delivers the message as a CloudEvent
// (google.cloud.pubsub.topic.v1.messagePublished). Anything that is not a
// DONE job carrying our labels is acknowledged and ignored.
import { z } from "zod";
import { MODELS, type ModelName } from "./models.js";
import { JOB_LABELS } from "./names.js";

const pubsubDataSchema = z.object({
  message: z.object({
    data: z.string().optional(),
    messageId: z.string().optional(),
    publishTime: z.string().optional(),
    attributes: z.record(z.string(), z.string()).optional(),
  }),
  subscription: z.string().optional(),
});

const rpcStatusSchema = z.object({ code: z.number().optional(), message: z.string().optional() }).loose();

const logEntrySchema = z
  .object({
    insertId: z.string().optional(),
    resource: z
      .object({ type: z.string().optional(), labels: z.record(z.string(), z.string()).optional() })
      .optional(),
    protoPayload: z
      .object({
        metadata: z
          .object({
            jobChange: z
              .object({
                before: z.string().optional(),
                after: z.string().optional(),
                job: z
                  .object({
                    jobName: z.string(),
                    jobConfig: z
                      .object({
                        type: z.string().optional(),
                        labels: z.record(z.string(), z.string()).optional(),
                      })
                      .loose()
                      .optional(),
                    jobStatus: z
                      .object({
                        jobState: z.string().optional(),
                        errorResult: rpcStatusSchema.optional(),
                        errors: z.array(rpcStatusSchema).optional(),
                      })
                      .loose()
                      .optional(),
                  })
                  .loose(),
              })
              .loose()
              .optional(),
          })
          .loose()
          .optional(),
      })
      .loose()
      .optional(),
  })
  .loose();

export interface CompletedJob {
  exportId: string;
  runId: string;
  model: ModelName;
  projectId: string;
  jobId: string;
  location: string | undefined;
  /** BigQuery's own error text when the job failed. */
  error: { message: string; code: number | undefined } | undefined;
  messageId: string | undefined;
}

export type AuditDecision = { kind: "ours"; job: CompletedJob } | { kind: "ignore"; reason: string };

/**
 * Decodes the CloudEvent data (the Pub/Sub push body). Never throws: a
 * malformed message is a poison message, acknowledged with its reason so
 * Pub/Sub does not redeliver it forever.
 */
export function decodeAuditEvent(data: unknown): AuditDecision {
  const envelope = pubsubDataSchema.safeParse(data);
  if (!envelope.success) return { kind: "ignore", reason: "not a Pub/Sub message" };
  const raw = envelope.data.message.data;
  if (!raw) return { kind: "ignore", reason: "Pub/Sub message without data" };
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(raw, "base64").toString("utf8"));
  } catch {
    return { kind: "ignore", reason: "message data is not base64 JSON" };
  }
  const entry = logEntrySchema.safeParse(json);
  if (!entry.success) return { kind: "ignore", reason: "message data is not a LogEntry" };
  const change = entry.data.protoPayload?.metadata?.jobChange;
  if (!change) return { kind: "ignore", reason: "not a BigQuery jobChange entry" };
  if (change.after !== "DONE")
    return { kind: "ignore", reason: `job state ${change.after ?? "unknown"}, not DONE` };
  const labels = change.job.jobConfig?.labels ?? {};
  const exportId = labels[JOB_LABELS.export];
  const runId = labels[JOB_LABELS.run];
  const model = labels[JOB_LABELS.model];
  if (!exportId || !runId || !model) return { kind: "ignore", reason: "job without our labels" };
  if (!(MODELS as readonly string[]).includes(model))
    return { kind: "ignore", reason: `unknown model label ${model}` };
  const name = /^projects\/([^/]+)\/jobs\/([^/]+)$/.exec(change.job.jobName);
  if (!name) return { kind: "ignore", reason: `unexpected jobName ${change.job.jobName}` };
  const errorResult = change.job.jobStatus?.errorResult;
  const failed = errorResult && (errorResult.code ?? 0) !== 0;
  return {
    kind: "ours",
    job: {
      exportId,
      runId,
      model: model as ModelName,
      projectId: name[1]!,
      jobId: name[2]!,
      location: entry.data.resource?.labels?.location,
      error: failed
        ? { message: errorResult.message ?? "the job failed", code: errorResult.code }
        : undefined,
      messageId: envelope.data.message.messageId,
    },
  };
}
