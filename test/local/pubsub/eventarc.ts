// What Eventarc does between a Pub/Sub topic and a CloudEvent function: the
// subscription pushes each message here, and it is POSTed on to the function
// as a binary-mode CloudEvent, as Eventarc documents for
// google.cloud.pubsub.topic.v1.messagePublished
// (https://cloud.google.com/eventarc/docs/cloudevents):
//   ce-id: MESSAGE_ID, ce-source: //pubsub.googleapis.com/TOPIC,
//   ce-specversion: 1.0, ce-type: google.cloud.pubsub.topic.v1.messagePublished,
//   ce-time: PUBLISH_TIME, Content-Type: application/json; charset=utf-8
//   body: {"message": {data, attributes, messageId, publishTime, ...}, "subscription": "projects/P/subscriptions/S"}
// (google-cloudevents MessagePublishedData). The function's status is the
// push's answer: 2xx acknowledges, anything else makes Pub/Sub redeliver, so
// retries, ack deadlines and duplicates are the emulator's own.
//
// For tests it can lose the acknowledgement of a successful delivery (Pub/Sub
// then delivers the same message again), and it reports when each message was
// acknowledged, so a test can wait for deliveries to settle.
import type { IncomingMessage, ServerResponse } from "node:http";
import { readBody, sendJson, startHttpServer } from "../common/net.js";

export interface DeliveryOutcome {
  messageId: string;
  /** Pushes of this message that reached the adapter. */
  attempts: number;
  /** The function's last HTTP status (0: it could not be reached). */
  status: number;
  acknowledged: boolean;
}

export interface TrackOptions {
  /** Successful deliveries whose acknowledgement is lost (answered 503): Pub/Sub redelivers. */
  lostAcks?: number;
  /** The returned promise settles after this many failed pushes (Pub/Sub keeps redelivering). */
  maxAttempts: number;
}

export interface EventarcTrigger {
  /** Where the Pub/Sub subscription pushes. */
  pushEndpoint: string;
  /**
   * Registers a just-published message (its pushes wait for this, so options
   * apply from the first one). Resolves when the function acknowledged it,
   * after `maxAttempts` failed pushes, or when the trigger stops.
   */
  track(messageId: string, options: TrackOptions): Promise<DeliveryOutcome>;
  /** Pushes received from Pub/Sub so far. */
  pushes(): number;
  stop(): Promise<void>;
}

export interface TriggerOptions {
  /** The CloudEvent function's URL. */
  destination: string;
  /** projects/P/topics/T, for ce-source. */
  topic: string;
}

interface PushedMessage {
  messageId: string;
  publishTime?: string;
  [field: string]: unknown;
}

interface Tracked {
  outcome: DeliveryOutcome;
  lostAcks: number;
  maxAttempts: number;
  failures: number;
  settle: (outcome: DeliveryOutcome) => void;
  settled: Promise<DeliveryOutcome>;
}

/** How long a push waits for its message to be tracked before it is delivered untracked. */
const TRACK_WAIT_MS = 5000;

function pushedMessage(body: unknown): { message: PushedMessage; subscription: string } | undefined {
  if (!body || typeof body !== "object") return undefined;
  const { message, subscription } = body as { message?: unknown; subscription?: unknown };
  if (!message || typeof message !== "object" || typeof subscription !== "string") return undefined;
  const id = (message as { messageId?: unknown }).messageId;
  return typeof id === "string" ? { message: message as PushedMessage, subscription } : undefined;
}

export async function startEventarcTrigger(opts: TriggerOptions): Promise<EventarcTrigger> {
  const tracked = new Map<string, Tracked>();
  const waiting = new Map<string, () => void>();
  let pushes = 0;
  let stopped = false;

  function entry(messageId: string, options: TrackOptions): Tracked {
    let settle!: (o: DeliveryOutcome) => void;
    const settled = new Promise<DeliveryOutcome>((resolve) => (settle = resolve));
    return {
      outcome: { messageId, attempts: 0, status: 0, acknowledged: false },
      lostAcks: options.lostAcks ?? 0,
      maxAttempts: options.maxAttempts,
      failures: 0,
      settle,
      settled,
    };
  }

  async function trackedFor(messageId: string): Promise<Tracked> {
    const known = tracked.get(messageId);
    if (known) return known;
    // Published a moment ago; the publisher registers the ID when its publish call returns.
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, TRACK_WAIT_MS);
      waiting.set(messageId, () => {
        clearTimeout(timer);
        resolve();
      });
    });
    waiting.delete(messageId);
    const now = tracked.get(messageId);
    if (now) return now;
    const untracked = entry(messageId, { maxAttempts: Number.MAX_SAFE_INTEGER });
    tracked.set(messageId, untracked);
    return untracked;
  }

  async function deliver(message: PushedMessage, subscription: string): Promise<number> {
    try {
      const res = await fetch(opts.destination, {
        method: "POST",
        headers: {
          "content-type": "application/json; charset=utf-8",
          "ce-id": message.messageId,
          "ce-source": `//pubsub.googleapis.com/${opts.topic}`,
          "ce-specversion": "1.0",
          "ce-type": "google.cloud.pubsub.topic.v1.messagePublished",
          ...(message.publishTime !== undefined && { "ce-time": message.publishTime }),
        },
        body: JSON.stringify({ message, subscription }),
      });
      await res.arrayBuffer();
      return res.status;
    } catch {
      return 0;
    }
  }

  async function onPush(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let parsed: ReturnType<typeof pushedMessage>;
    try {
      parsed = pushedMessage(JSON.parse((await readBody(req)).toString("utf8")));
    } catch {
      parsed = undefined;
    }
    if (!parsed) {
      sendJson(res, 400, { error: "not a Pub/Sub push: {message: {messageId, ...}, subscription}" });
      return;
    }
    pushes++;
    const t = await trackedFor(parsed.message.messageId);
    t.outcome.attempts++;
    const status = await deliver(parsed.message, parsed.subscription);
    t.outcome.status = status;
    const ok = status >= 200 && status < 300;
    if (ok && t.lostAcks > 0) {
      t.lostAcks--;
      sendJson(res, 503, { error: "acknowledgement lost on purpose (test)" });
      return;
    }
    if (ok) {
      t.outcome.acknowledged = true;
      t.settle({ ...t.outcome });
      res.writeHead(204).end();
      return;
    }
    t.failures++;
    if (t.failures >= t.maxAttempts) t.settle({ ...t.outcome });
    sendJson(res, status === 0 ? 502 : status, { error: `the function answered ${status}` });
  }

  const server = await startHttpServer(onPush);
  return {
    pushEndpoint: `${server.url}/`,
    track(messageId, options) {
      const t = tracked.get(messageId) ?? entry(messageId, options);
      t.lostAcks = options.lostAcks ?? t.lostAcks;
      t.maxAttempts = options.maxAttempts;
      tracked.set(messageId, t);
      waiting.get(messageId)?.();
      if (stopped) t.settle({ ...t.outcome });
      return t.settled;
    },
    pushes: () => pushes,
    async stop() {
      stopped = true;
      for (const release of waiting.values()) release();
      for (const t of tracked.values()) t.settle({ ...t.outcome });
      await server.close();
    },
  };
}
