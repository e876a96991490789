// The audit leg of the local stack on Google's Pub/Sub emulator, as production
// wires it: the log sink publishes each job's LogEntry to a topic, an
// Eventarc-style push subscription delivers it to finalizeRun as a CloudEvent.
// Redelivery after a failed push, ack deadlines and duplicates are then the
// emulator's. Without the emulator (no Google Cloud SDK, or no Java) the stack
// keeps the direct delivery of test/local/bigquery/audit/delivery.ts.
//
// Two steps, so the emulator's ~5 s start overlaps the other servers': the
// stack prepares the transport first (the emulator starts), and connects the
// audit sink once finalizeRun is up.
import path from "node:path";
import type { AuditSink, TopicPublisher } from "../bigquery/audit/delivery.js";
import { findGoogleCloudSdk } from "../google-cloud-sdk.js";
import { startPubSubEmulator, type PubSubEmulator } from "./emulator.js";
import { startEventarcTrigger, type EventarcTrigger } from "./eventarc.js";
import { PubSubRest } from "./rest.js";

export type AuditTransportMode = "auto" | "emulator" | "direct";

export interface PrepareOptions {
  projectId: string;
  /** State directory (the emulator's data goes under pubsub/). */
  dir: string;
  /** "auto": the emulator when it can run here, else direct pushes; "emulator": required; "direct". */
  mode?: AuditTransportMode;
}

export interface ConnectOptions {
  /** The log sink's filter (Cloud Logging query language). */
  filter: string;
  /** Topic ID (the production topic's, e.g. bqx-job-done). */
  topicId: string;
  /** finalizeRun's URL. */
  destination: string;
  /**
   * Seconds the emulator waits for a push to be answered before it redelivers
   * (Pub/Sub allows 10-600). Default 60: a finalize takes seconds, and a hung
   * one is redelivered within a test's time.
   */
  ackDeadlineSeconds?: number;
}

export interface AuditTransport {
  kind: "pubsub-emulator" | "direct";
  /** One line for people: how audit entries reach finalizeRun, and why. */
  description: string;
  /** The emulator leg, when audit entries go over it. */
  leg?: AuditLeg;
  stop(): Promise<void>;
}

export interface AuditLeg {
  emulator: PubSubEmulator;
  trigger: EventarcTrigger;
  /** projects/P/topics/T */
  topic: string;
  /** projects/P/subscriptions/S */
  subscription: string;
}

export interface PreparedAuditTransport {
  /** Adds the audit sink, over the emulator or direct. */
  connect(audit: { addSink(sink: AuditSink): void }, opts: ConnectOptions): Promise<AuditTransport>;
  /** Stops whatever was started (also when connect was never called). */
  stop(): Promise<void>;
}

/** Why the emulator cannot run here, or undefined when it can. */
export function pubsubEmulatorUnavailable(): string | undefined {
  const sdk = findGoogleCloudSdk();
  if (!sdk) return "the Google Cloud SDK (gcloud) is not installed";
  return sdk.pubsubEmulator.available ? undefined : sdk.pubsubEmulator.reason;
}

let fallbackNoted = false;

/** Starts the emulator now if it will be used; see connect for the rest. */
export function prepareAuditTransport(opts: PrepareOptions): PreparedAuditTransport {
  const mode = opts.mode ?? "auto";
  const unavailable = mode === "direct" ? "direct delivery was asked for" : pubsubEmulatorUnavailable();
  const sdk = findGoogleCloudSdk();
  if (mode === "emulator" && (unavailable !== undefined || !sdk)) {
    throw new Error(`the Pub/Sub emulator cannot run here: ${unavailable}`);
  }
  if (unavailable !== undefined || !sdk) {
    const description = `audit entries are pushed to finalizeRun directly, not over the Pub/Sub emulator (${unavailable})`;
    if (mode === "auto" && !fallbackNoted) {
      fallbackNoted = true;
      process.stderr.write(`local stack: ${description}\n`);
    }
    const done = () => Promise.resolve();
    const direct: AuditTransport = { kind: "direct", description, stop: done };
    return {
      connect: (audit, c) => {
        audit.addSink({ filter: c.filter, url: c.destination, topic: topicName(opts.projectId, c.topicId) });
        return Promise.resolve(direct);
      },
      stop: done,
    };
  }

  const emulatorStarting = startPubSubEmulator({
    sdk,
    projectId: opts.projectId,
    dataDir: path.join(opts.dir, "pubsub"),
  });
  // A failed start is reported by connect; stop must not throw for it.
  emulatorStarting.catch(() => undefined);
  let trigger: EventarcTrigger | undefined;
  const stop = async () => {
    await trigger?.stop();
    const emulator = await emulatorStarting.catch(() => undefined);
    await emulator?.stop();
  };
  return {
    stop,
    async connect(audit, c) {
      const emulator = await emulatorStarting;
      const topic = topicName(opts.projectId, c.topicId);
      // Eventarc names its subscriptions eventarc-REGION-TRIGGER-sub-NNN.
      const subscription = `projects/${opts.projectId}/subscriptions/eventarc-local-finalize-run-sub-000`;
      const running = await startEventarcTrigger({ destination: c.destination, topic });
      trigger = running;
      const rest = new PubSubRest(emulator.url);
      await rest.createTopic(topic);
      await rest.createPushSubscription({
        name: subscription,
        topic,
        pushEndpoint: running.pushEndpoint,
        ackDeadlineSeconds: c.ackDeadlineSeconds ?? 60,
      });
      const publish: TopicPublisher = async (message) => {
        if (message.topic !== topic) {
          throw new Error(`the local Pub/Sub leg serves ${topic}, not ${message.topic}`);
        }
        const messageId = await rest.publish(topic, { data: message.data, attributes: message.attributes });
        const outcome = await running.track(messageId, {
          lostAcks: message.redeliveries,
          maxAttempts: message.maxAttempts,
        });
        return {
          messageId,
          attempts: outcome.attempts,
          status: outcome.status,
          delivered: outcome.acknowledged,
        };
      };
      audit.addSink({ filter: c.filter, url: c.destination, topic, publish });
      return {
        kind: "pubsub-emulator",
        description:
          `audit entries go over Google's Pub/Sub emulator (${emulator.url}, ${topic}) ` +
          `and an Eventarc-style push subscription to finalizeRun`,
        leg: { emulator, trigger: running, topic, subscription },
        stop,
      };
    },
  };
}

function topicName(projectId: string, topicId: string): string {
  return `projects/${projectId}/topics/${topicId}`;
}
