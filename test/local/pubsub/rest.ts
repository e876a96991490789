// The few Pub/Sub v1 REST calls the local stack makes on the emulator:
// topics.create, subscriptions.create with a push endpoint, topics.publish.
// https://cloud.google.com/pubsub/docs/reference/rest (resource names:
// projects/P/topics/T and projects/P/subscriptions/S; IDs start with a letter,
// 3-255 characters).

export interface PushSubscription {
  /** projects/P/subscriptions/S */
  name: string;
  /** projects/P/topics/T */
  topic: string;
  pushEndpoint: string;
  /** Seconds Pub/Sub waits for the push to be answered before it redelivers (10-600). */
  ackDeadlineSeconds: number;
}

export interface OutgoingMessage {
  /** base64 of the payload. */
  data: string;
  attributes?: Record<string, string>;
}

async function call(method: string, url: string, body?: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(url, {
    method,
    headers: { "content-type": "application/json" },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`Pub/Sub ${method} ${new URL(url).pathname}: HTTP ${res.status} ${text}`);
  return text ? (JSON.parse(text) as Record<string, unknown>) : {};
}

export class PubSubRest {
  constructor(private readonly baseUrl: string) {}

  async createTopic(topic: string): Promise<void> {
    await call("PUT", `${this.baseUrl}/v1/${topic}`);
  }

  async createPushSubscription(sub: PushSubscription): Promise<void> {
    await call("PUT", `${this.baseUrl}/v1/${sub.name}`, {
      topic: sub.topic,
      pushConfig: { pushEndpoint: sub.pushEndpoint },
      ackDeadlineSeconds: sub.ackDeadlineSeconds,
    });
  }

  /** Publishes one message; resolves to the message ID the server assigned. */
  async publish(topic: string, message: OutgoingMessage): Promise<string> {
    const res = await call("POST", `${this.baseUrl}/v1/${topic}:publish`, { messages: [message] });
    const ids = res["messageIds"];
    if (!Array.isArray(ids) || typeof ids[0] !== "string") {
      throw new Error(`Pub/Sub publish to ${topic}: no message ID in ${JSON.stringify(res)}`);
    }
    return ids[0];
  }
}
