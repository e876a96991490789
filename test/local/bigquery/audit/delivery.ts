// Audit LogEntries routed by log sinks to Pub/Sub and pushed, the way Eventarc
// delivers a Pub/Sub message to a Cloud Functions (gen2) CloudEvent function:
// binary-mode CloudEvent, data = {message: {data: base64(LogEntry), ...}, subscription}.
// Tests can duplicate, delay or drop deliveries to exercise at-least-once handling.
// A sink with `publish` hands its messages to a real Pub/Sub topic instead (the
// local stack's Pub/Sub emulator leg, test/local/pubsub), which pushes them on.
import { randomUUID } from "node:crypto";
import { parseLogFilter, type LogFilter } from "../../logging/filter.js";

export interface AuditSink {
  /** Cloud Logging query language (subset): which entries the sink routes. */
  filter: string;
  /** Where the push goes (the CloudEvent function's URL). */
  url: string;
  /** Pub/Sub topic, "projects/P/topics/T" (defaults to projects/<entry project>/topics/bigquery-audit). */
  topic?: string;
  /** Publishes to the topic on a real Pub/Sub (then `url` is not POSTed to). */
  publish?: TopicPublisher;
}

/** A LogEntry as a sink publishes it to its topic. */
export interface TopicMessage {
  topic: string;
  /** base64 of the LogEntry's JSON. */
  data: string;
  attributes: Record<string, string>;
  /** Extra deliveries asked for by duplicateNext (the transport redelivers the same message). */
  redeliveries: number;
  /** Failed pushes after which the returned promise settles (the transport may keep retrying). */
  maxAttempts: number;
}

export interface TopicDelivery {
  messageId: string;
  attempts: number;
  status: number;
  delivered: boolean;
}

/** Publishes a message and resolves when it was acknowledged, given up on, or the transport stopped. */
export type TopicPublisher = (message: TopicMessage) => Promise<TopicDelivery>;

export interface DeliveryRecord {
  url: string;
  messageId: string;
  attempts: number;
  /** Last HTTP status, or 0 when the request failed. */
  status: number;
  delivered: boolean;
  dropped: boolean;
  duplicate: boolean;
  entry: unknown;
}

export interface DeliveryOptions {
  /** Retries after a non-2xx answer or network error (default 5), with doubling backoff from retryBaseMs. */
  maxAttempts?: number;
  retryBaseMs?: number;
}

interface CompiledSink extends AuditSink {
  compiled: LogFilter;
}

export class AuditDelivery {
  private sinks: CompiledSink[] = [];
  private duplicates = 0;
  private drops = 0;
  private delayMs = 0;
  private readonly inFlight = new Set<Promise<void>>();
  readonly records: DeliveryRecord[] = [];
  private readonly maxAttempts: number;
  private readonly retryBaseMs: number;

  constructor(sinks: AuditSink[] = [], options: DeliveryOptions = {}) {
    for (const s of sinks) this.addSink(s);
    this.maxAttempts = options.maxAttempts ?? 5;
    this.retryBaseMs = options.retryBaseMs ?? 100;
  }

  addSink(sink: AuditSink): void {
    this.sinks.push({ ...sink, compiled: parseLogFilter(sink.filter) });
  }
  clearSinks(): void {
    this.sinks = [];
  }

  /** The next n deliveries are sent twice (same messageId, as Pub/Sub redelivers). */
  duplicateNext(n = 1): void {
    this.duplicates += n;
  }
  /** The next n deliveries are lost. */
  dropNext(n = 1): void {
    this.drops += n;
  }
  /** Every delivery waits this long before it is sent. */
  setDelay(ms: number): void {
    this.delayMs = ms;
  }

  /** Routes an entry to every sink whose filter matches. */
  publish(entry: Record<string, unknown>, projectId: string): void {
    for (const sink of this.sinks) {
      if (!sink.compiled.matches(entry)) continue;
      const messageId = String(Date.now()) + String(Math.floor(Math.random() * 1e6)).padStart(6, "0");
      const dropped = this.drops > 0;
      if (dropped) this.drops--;
      const copies = !dropped && this.duplicates > 0 ? 2 : 1;
      if (copies === 2) this.duplicates--;
      // A topic publisher gets one message; its transport makes the duplicate.
      const sends = sink.publish ? 1 : copies;
      for (let i = 0; i < sends; i++) {
        const record: DeliveryRecord = {
          url: sink.url,
          messageId,
          attempts: 0,
          status: 0,
          delivered: false,
          dropped,
          duplicate: i > 0,
          entry,
        };
        this.records.push(record);
        if (dropped) continue;
        const p = (
          sink.publish
            ? this.publishToTopic(sink.publish, sink, record, projectId, copies - 1)
            : this.send(sink, record, projectId)
        ).finally(() => this.inFlight.delete(p));
        this.inFlight.add(p);
      }
    }
  }

  /** Resolves when every delivery started so far has finished (delivered or given up). */
  async drain(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  private async publishToTopic(
    publish: TopicPublisher,
    sink: CompiledSink,
    record: DeliveryRecord,
    projectId: string,
    redeliveries: number,
  ): Promise<void> {
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
    const { topic, data, attributes } = this.message(sink, record, projectId, new Date().toISOString());
    try {
      const result = await publish({ topic, data, attributes, redeliveries, maxAttempts: this.maxAttempts });
      Object.assign(record, result);
    } catch {
      record.status = 0; // the topic could not be reached: the entry is lost, as a failed sink export would be
    }
  }

  /** The topic, payload and attributes of a Logging sink's Pub/Sub message. */
  private message(sink: CompiledSink, record: DeliveryRecord, projectId: string, publishTime: string) {
    const topic = sink.topic ?? `projects/${projectId}/topics/bigquery-audit`;
    const data = Buffer.from(JSON.stringify(record.entry)).toString("base64");
    const timestamp = (record.entry as { timestamp?: string }).timestamp ?? publishTime;
    return { topic, data, attributes: { "logging.googleapis.com/timestamp": timestamp } };
  }

  private async send(sink: CompiledSink, record: DeliveryRecord, projectId: string): Promise<void> {
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
    const publishTime = new Date().toISOString();
    const { topic, data, attributes } = this.message(sink, record, projectId, publishTime);
    const topicProject = /^projects\/([^/]+)\//.exec(topic)?.[1] ?? projectId;
    const body = {
      message: {
        attributes,
        data,
        messageId: record.messageId,
        message_id: record.messageId,
        publishTime,
        publish_time: publishTime,
      },
      subscription: `projects/${topicProject}/subscriptions/eventarc-bigquery-audit-sub`,
    };
    const headers = {
      "content-type": "application/json",
      "ce-id": record.messageId,
      "ce-source": `//pubsub.googleapis.com/${topic}`,
      "ce-specversion": "1.0",
      "ce-type": "google.cloud.pubsub.topic.v1.messagePublished",
      "ce-time": publishTime,
    };
    for (let attempt = 1; attempt <= this.maxAttempts; attempt++) {
      record.attempts = attempt;
      try {
        const res = await fetch(sink.url, { method: "POST", headers, body: JSON.stringify(body) });
        record.status = res.status;
        await res.arrayBuffer();
        if (res.ok) {
          record.delivered = true;
          return;
        }
      } catch {
        record.status = 0;
      }
      if (attempt < this.maxAttempts)
        await new Promise((r) => setTimeout(r, this.retryBaseMs * 2 ** (attempt - 1)));
    }
  }
}

/** Unique ids for log entries. */
export function insertId(): string {
  return randomUUID().replace(/-/g, "").slice(0, 12);
}
