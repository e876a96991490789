// The local stack's Pub/Sub leg on its own: Google's emulator started and
// always stopped, and the Eventarc-style trigger delivering what is published
// to a CloudEvent function served by the Functions Framework, with the
// emulator's own redelivery when the function fails or an acknowledgement is
// lost. Skipped, in one line, where the emulator cannot run.
import { mkdtemp, rm } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import * as framework from "@google-cloud/functions-framework";
import type { CloudEvent } from "@google-cloud/functions-framework";
import { getTestServer } from "@google-cloud/functions-framework/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findGoogleCloudSdk } from "../google-cloud-sdk.js";
import { pubsubEmulatorUnavailable } from "./audit-leg.js";
import { startPubSubEmulator, type PubSubEmulator } from "./emulator.js";
import { startEventarcTrigger, type EventarcTrigger } from "./eventarc.js";
import { PubSubRest } from "./rest.js";

const unavailable = pubsubEmulatorUnavailable();
if (unavailable)
  console.warn(`pubsub.test.ts: the Pub/Sub emulator cannot run here (${unavailable}); skipped`);

const PROJECT = "pubsub-test";
const TOPIC = `projects/${PROJECT}/topics/bqx-job-done`;

describe.skipIf(unavailable !== undefined)("the Pub/Sub leg on Google's emulator", () => {
  let dir: string;
  let emulator: PubSubEmulator;
  let rest: PubSubRest;
  let trigger: EventarcTrigger;
  let functionUrl: string;
  let closeFunction: () => void;
  /** What the CloudEvent function saw, and how many of the next calls it fails. */
  const seen: CloudEvent<any>[] = [];
  let failNext = 0;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "bqx-pubsub-"));
    emulator = await startPubSubEmulator({ sdk: findGoogleCloudSdk()!, projectId: PROJECT, dataDir: dir });
    rest = new PubSubRest(emulator.url);
    framework.cloudEvent("pubsubTestSink", (event: CloudEvent<any>) => {
      seen.push(event);
      if (failNext > 0) {
        failNext--;
        throw new Error("failing on purpose");
      }
    });
    const server = getTestServer("pubsubTestSink");
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    functionUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    closeFunction = () => {
      server.closeAllConnections();
      server.close();
    };
    trigger = await startEventarcTrigger({ destination: functionUrl, topic: TOPIC });
    await rest.createTopic(TOPIC);
    await rest.createPushSubscription({
      name: `projects/${PROJECT}/subscriptions/eventarc-test-sub`,
      topic: TOPIC,
      pushEndpoint: trigger.pushEndpoint,
      ackDeadlineSeconds: 10,
    });
  }, 90_000);

  afterAll(async () => {
    await trigger?.stop();
    closeFunction?.();
    await emulator?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function publish(payload: object, lostAcks = 0) {
    const data = Buffer.from(JSON.stringify(payload)).toString("base64");
    const messageId = await rest.publish(TOPIC, {
      data,
      attributes: { "logging.googleapis.com/timestamp": "t" },
    });
    const outcome = await trigger.track(messageId, { lostAcks, maxAttempts: 10 });
    return { messageId, outcome, calls: seen.filter((e) => e.id === messageId) };
  }

  it("delivers a message as Eventarc's binary-mode messagePublished CloudEvent", async () => {
    const { messageId, outcome, calls } = await publish({ hello: "world" });
    expect(outcome).toEqual({ messageId, attempts: 1, status: 204, acknowledged: true });
    expect(calls).toHaveLength(1);
    const event = calls[0]!;
    expect(event.type).toBe("google.cloud.pubsub.topic.v1.messagePublished");
    expect(event.source).toBe(`//pubsub.googleapis.com/${TOPIC}`);
    expect(event.specversion).toBe("1.0");
    expect(event.data.subscription).toBe(`projects/${PROJECT}/subscriptions/eventarc-test-sub`);
    expect(event.data.message.messageId).toBe(messageId);
    expect(event.data.message.attributes).toEqual({ "logging.googleapis.com/timestamp": "t" });
    expect(JSON.parse(Buffer.from(event.data.message.data, "base64").toString())).toEqual({ hello: "world" });
    expect(event.time).toBe(event.data.message.publishTime);
  });

  it("a function that fails is called again by the emulator until it succeeds", async () => {
    failNext = 2;
    const { outcome, calls } = await publish({ n: 2 });
    expect(outcome.acknowledged).toBe(true);
    expect(outcome.attempts).toBe(3);
    expect(calls).toHaveLength(3);
  }, 60_000);

  it("a lost acknowledgement makes the emulator deliver the same message again", async () => {
    const { messageId, outcome, calls } = await publish({ n: 3 }, 1);
    expect(outcome.acknowledged).toBe(true);
    expect(calls.map((e) => e.id)).toEqual([messageId, messageId]);
  }, 60_000);

  it("stop ends the emulator's processes and frees its port", async () => {
    const other = await startPubSubEmulator({
      sdk: findGoogleCloudSdk()!,
      projectId: PROJECT,
      dataDir: path.join(dir, "other"),
    });
    expect((await fetch(`${other.url}/`)).ok).toBe(true);
    await other.stop();
    await expect(fetch(`${other.url}/`)).rejects.toThrow();
  }, 90_000);
});
