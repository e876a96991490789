// The local Cloud Tasks dispatching HTTP tasks to a loopback receiver: the
// request and headers Cloud Tasks sends, OIDC tokens, the concurrency cap and
// rate limit, retries with the documented backoff after error answers and missed
// deadlines, max_attempts / max_retry_duration, pause/resume and RunTask.
// The service clock runs 100 times faster than real time, so backoffs of seconds
// take milliseconds; every time compared is on that clock.
import { describe, it, expect, beforeAll, afterAll, vi } from "vitest";
import { CloudTasksClient } from "@google-cloud/tasks";
import { status } from "@grpc/grpc-js";
import type { IncomingHttpHeaders } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import { startTasksServer, type AttemptRecord, type RunningTasks } from "./server.js";
import { startHttpServer, readBody, type RunningHttpServer } from "../common/net.js";
import { backoffMs } from "../common/backoff.js";
import { Iam } from "../iam/iam.js";

const LOCATION = "projects/demo/locations/us-central1";

interface Received {
  path: string;
  method: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** How the receiver answers one request on a path: a status, after an optional real-time delay. */
type Reply = { status: number; delayMs?: number };

function decodeJwtClaims(token: string): Record<string, unknown> {
  const payload = token.split(".")[1] ?? "";
  return JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as Record<string, unknown>;
}

describe("local Cloud Tasks dispatch", () => {
  let tasks: RunningTasks;
  let client: CloudTasksClient;
  let receiver: RunningHttpServer;
  const received = new Map<string, Received[]>();
  /** Replies per path, in order; the last one repeats. */
  const replies = new Map<string, Reply[]>();
  const inFlight = new Map<string, { now: number; peak: number }>();
  let queues = 0;

  beforeAll(async () => {
    receiver = await startHttpServer(async (req, res) => {
      const path = new URL(req.url ?? "/", "http://x").pathname;
      const counter = inFlight.get(path) ?? { now: 0, peak: 0 };
      inFlight.set(path, counter);
      counter.now += 1;
      counter.peak = Math.max(counter.peak, counter.now);
      try {
        const body = (await readBody(req)).toString("utf8");
        const list = received.get(path) ?? [];
        list.push({ path, method: req.method ?? "", headers: req.headers, body });
        received.set(path, list);
        const queue = replies.get(path) ?? [];
        const reply = (queue.length > 1 ? queue.shift() : queue[0]) ?? { status: 200 };
        if (reply.delayMs) await sleep(reply.delayMs);
        counter.now -= 1;
        res.writeHead(reply.status).end();
      } catch (err) {
        counter.now -= 1;
        throw err;
      }
    });
    tasks = await startTasksServer({ timeScale: 100 });
    client = new CloudTasksClient(tasks.clientOptions());
  });
  afterAll(async () => {
    await client?.close();
    await tasks?.stop();
    await receiver?.close();
  });

  async function queue(settings: Record<string, unknown> = {}): Promise<string> {
    const name = `${LOCATION}/queues/dispatch-${++queues}`;
    await client.createQueue({ parent: LOCATION, queue: { name, ...settings } });
    return name;
  }

  const attemptsOf = (taskName: string): AttemptRecord[] =>
    tasks.attempts().filter((a) => a.task === taskName);

  it("sends the task's request with Cloud Tasks' headers and an OIDC ID token", async () => {
    const q = await queue();
    const [task] = await client.createTask({
      parent: q,
      task: {
        name: `${q}/tasks/chunk-2026-11-25`,
        httpRequest: {
          url: `${receiver.url}/headers?chunk=1`,
          httpMethod: "PUT",
          headers: {
            "Content-Type": "application/json",
            "X-Custom": "yes",
            Authorization: "Bearer replaced-by-oidc",
            "X-CloudTasks-TaskName": "forged",
          },
          body: Buffer.from('{"exportId":"events-hourly"}'),
          oidcToken: { serviceAccountEmail: `invoker@demo.iam.gserviceaccount.com` },
        },
      },
    });
    await tasks.drained(q);
    const [got] = received.get("/headers") ?? [];
    expect(got?.method).toBe("PUT");
    expect(got?.body).toBe('{"exportId":"events-hourly"}');
    const eta = Number(task.scheduleTime?.seconds) + Number(task.scheduleTime?.nanos ?? 0) / 1e9;
    expect(got?.headers).toMatchObject({
      "content-type": "application/json",
      "x-custom": "yes",
      "user-agent": "Google-Cloud-Tasks",
      "x-cloudtasks-queuename": q.split("/").pop(),
      "x-cloudtasks-taskname": "chunk-2026-11-25",
      "x-cloudtasks-taskretrycount": "0",
      "x-cloudtasks-taskexecutioncount": "0",
      "x-cloudtasks-tasketa": eta.toFixed(6),
    });
    expect(got?.headers["x-cloudtasks-taskpreviousresponse"]).toBeUndefined();
    const bearer = /^Bearer (.+)$/.exec(got?.headers.authorization ?? "")?.[1] ?? "";
    // Audience defaults to the task's URL.
    expect(decodeJwtClaims(bearer)).toMatchObject({
      iss: "https://accounts.google.com",
      aud: `${receiver.url}/headers?chunk=1`,
      email: "invoker@demo.iam.gserviceaccount.com",
    });

    // An explicit audience is used as given.
    await client.createTask({
      parent: q,
      task: {
        httpRequest: {
          url: `${receiver.url}/audience`,
          oidcToken: {
            serviceAccountEmail: "invoker@demo.iam.gserviceaccount.com",
            audience: "https://export-run.example",
          },
        },
      },
    });
    await tasks.drained(q);
    const token = (received.get("/audience")?.[0]?.headers.authorization ?? "").replace(/^Bearer /, "");
    expect(decodeJwtClaims(token).aud).toBe("https://export-run.example");
  });

  it("sends an OAuth access token of the task's service account, minted by the local IAM", async () => {
    const iam = new Iam();
    const withIam = await startTasksServer({ timeScale: 100, iam });
    const iamClient = new CloudTasksClient(withIam.clientOptions());
    try {
      const q = `${LOCATION}/queues/oauth`;
      await iamClient.createQueue({ parent: LOCATION, queue: { name: q } });
      await iamClient.createTask({
        parent: q,
        task: {
          httpRequest: {
            url: `${receiver.url}/oauth`,
            oauthToken: { serviceAccountEmail: "caller@demo.iam.gserviceaccount.com" },
          },
        },
      });
      await withIam.drained(q);
      const authorization = received.get("/oauth")?.[0]?.headers.authorization;
      // OAuthToken.scope: "If not specified, 'https://www.googleapis.com/auth/cloud-platform' will be used."
      expect(iam.principalFor(authorization)).toEqual({
        email: "caller@demo.iam.gserviceaccount.com",
        scopes: ["https://www.googleapis.com/auth/cloud-platform"],
      });
    } finally {
      await iamClient.close();
      await withIam.stop();
    }
  });

  it("never has more than max_concurrent_dispatches attempts in flight", async () => {
    const q = await queue({ rateLimits: { maxConcurrentDispatches: 3 } });
    replies.set("/slow", [{ status: 200, delayMs: 40 }]);
    // Queued while paused, so that resuming finds twelve tasks due at once.
    await client.pauseQueue({ name: q });
    for (let i = 0; i < 12; i++) {
      await client.createTask({
        parent: q,
        task: { name: `${q}/tasks/slow-${i}`, httpRequest: { url: `${receiver.url}/slow` } },
      });
    }
    await client.resumeQueue({ name: q });
    await tasks.drained(q);
    expect(received.get("/slow")).toHaveLength(12);
    expect(inFlight.get("/slow")?.peak).toBeLessThanOrEqual(3);
    expect(tasks.stats(q)).toMatchObject({ dispatched: 12, succeeded: 12, inFlight: 0, peakInFlight: 3 });
  });

  it("spaces dispatches by max_dispatches_per_second", async () => {
    const q = await queue({ rateLimits: { maxDispatchesPerSecond: 2 } }); // bursts of 1
    for (let i = 0; i < 4; i++) {
      await client.createTask({ parent: q, task: { httpRequest: { url: `${receiver.url}/rate` } } });
    }
    await tasks.drained(q);
    const times = tasks
      .attempts()
      .filter((a) => a.queue === q)
      .map((a) => a.dispatchTime.getTime())
      .sort((a, b) => a - b);
    expect(times).toHaveLength(4);
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(499);
  });

  it("retries error answers after the documented backoff, with the retry headers", async () => {
    const retry = {
      minBackoff: { seconds: 1 },
      maxBackoff: { seconds: 6 },
      maxDoublings: 2,
      maxAttempts: 10,
    };
    const q = await queue({ retryConfig: retry });
    replies.set("/flaky", [
      { status: 500 },
      { status: 500 },
      { status: 404 },
      { status: 503 },
      { status: 200 },
    ]);
    const [task] = await client.createTask({
      parent: q,
      task: { name: `${q}/tasks/flaky`, httpRequest: { url: `${receiver.url}/flaky` } },
    });
    await tasks.drained(q);

    const attempts = attemptsOf(task.name ?? "");
    expect(attempts.map((a) => a.result)).toEqual(["retry", "retry", "retry", "retry", "done"]);
    const policy = { minBackoffMs: 1000, maxBackoffMs: 6000, maxDoublings: 2 };
    // 1s, 2s, 4s, then linear growth capped at 6s.
    expect([1, 2, 3, 4].map((n) => backoffMs(policy, n))).toEqual([1000, 2000, 4000, 6000]);
    for (const [i, a] of attempts.slice(0, -1).entries()) {
      expect(a.nextScheduleTime!.getTime() - a.responseTime.getTime()).toBe(backoffMs(policy, i + 1));
      const next = attempts[i + 1]!;
      expect(next.scheduleTime).toEqual(a.nextScheduleTime);
      expect(next.dispatchTime.getTime()).toBeGreaterThanOrEqual(next.scheduleTime.getTime());
    }

    const headers = (received.get("/flaky") ?? []).map((r) => r.headers);
    expect(headers.map((h) => h["x-cloudtasks-taskretrycount"])).toEqual(["0", "1", "2", "3", "4"]);
    // 5XX answers do not count as executions; the 404 does.
    expect(headers.map((h) => h["x-cloudtasks-taskexecutioncount"])).toEqual(["0", "0", "0", "1", "1"]);
    expect(headers.map((h) => h["x-cloudtasks-taskpreviousresponse"])).toEqual([
      undefined,
      "500",
      "500",
      "404",
      "503",
    ]);
    expect(headers.map((h) => h["x-cloudtasks-taskretryreason"])).toEqual([undefined, "", "", "", ""]);
    expect(headers.map((h) => h["x-cloudtasks-tasketa"])).toEqual(
      attempts.map((a) => (a.scheduleTime.getTime() / 1000).toFixed(6)),
    );
  });

  it("shows dispatch and response counts and the last attempt on a task waiting to be retried", async () => {
    const q = await queue({ retryConfig: { minBackoff: { seconds: 3600 }, maxBackoff: { seconds: 3600 } } });
    replies.set("/missing", [{ status: 404 }]);
    const [created] = await client.createTask({
      parent: q,
      task: { httpRequest: { url: `${receiver.url}/missing` } },
    });
    await vi.waitFor(() => expect(attemptsOf(created.name ?? "")).toHaveLength(1));
    const [task] = await client.getTask({ name: created.name });
    expect(task).toMatchObject({ dispatchCount: 1, responseCount: 1 });
    expect(task.firstAttempt?.dispatchTime).toBeTruthy();
    expect(task.lastAttempt?.responseStatus).toMatchObject({ code: status.NOT_FOUND });
    const record = attemptsOf(created.name ?? "")[0]!;
    expect(Number(task.scheduleTime?.seconds)).toBe(Math.floor(record.nextScheduleTime!.getTime() / 1000));

    // An unreachable target: no response, so no response count.
    const closed = await startHttpServer(() => undefined);
    const deadUrl = `${closed.url}/gone`;
    await closed.close();
    const [dead] = await client.createTask({ parent: q, task: { httpRequest: { url: deadUrl } } });
    await vi.waitFor(() => expect(attemptsOf(dead.name ?? "")).toHaveLength(1));
    const [deadTask] = await client.getTask({ name: dead.name });
    expect(deadTask).toMatchObject({ dispatchCount: 1, responseCount: 0 });
    expect(deadTask.lastAttempt?.responseStatus?.code).toBe(status.UNAVAILABLE);
  });

  it("retries an attempt that misses its dispatch deadline", async () => {
    // A slower clock here, so that the 15s minimum deadline (1 s of real time) leaves a
    // loaded machine ample time for the prompt second answer; the first one takes 3 s.
    const slower = await startTasksServer({ timeScale: 15 });
    const slowerClient = new CloudTasksClient(slower.clientOptions());
    try {
      const q = `${LOCATION}/queues/deadline`;
      await slowerClient.createQueue({
        parent: LOCATION,
        queue: { name: q, retryConfig: { minBackoff: { seconds: 1 } } },
      });
      replies.set("/stuck", [{ status: 200, delayMs: 3000 }, { status: 200 }]);
      const [task] = await slowerClient.createTask({
        parent: q,
        task: { dispatchDeadline: { seconds: 15 }, httpRequest: { url: `${receiver.url}/stuck` } },
      });
      await slower.drained(q);
      const attempts = slower.attempts().filter((a) => a.task === task.name);
      expect(attempts.map((a) => [a.outcome.kind, a.result])).toEqual([
        ["deadline", "retry"],
        ["response", "done"],
      ]);
      const second = received.get("/stuck")?.[1]?.headers;
      expect(second?.["x-cloudtasks-taskretrycount"]).toBe("1");
      expect(second?.["x-cloudtasks-taskexecutioncount"]).toBe("0");
      expect(second?.["x-cloudtasks-taskpreviousresponse"]).toBeUndefined(); // no answer to report
    } finally {
      await slowerClient.close();
      await slower.stop();
    }
  });

  it("drops a task after max_attempts and keeps its name taken", async () => {
    const q = await queue({ retryConfig: { maxAttempts: 3, minBackoff: { seconds: 1 } } });
    replies.set("/down", [{ status: 500 }]);
    const name = `${q}/tasks/doomed`;
    await client.createTask({ parent: q, task: { name, httpRequest: { url: `${receiver.url}/down` } } });
    await tasks.drained(q);
    expect(received.get("/down")).toHaveLength(3);
    expect(tasks.stats(q)).toMatchObject({ dispatched: 3, failedAttempts: 3, dropped: 1, succeeded: 0 });
    expect(attemptsOf(name).map((a) => a.result)).toEqual(["retry", "retry", "dropped"]);
    await expect(client.getTask({ name })).rejects.toMatchObject({ code: status.NOT_FOUND });
    await expect(
      client.createTask({ parent: q, task: { name, httpRequest: { url: `${receiver.url}/down` } } }),
    ).rejects.toMatchObject({ code: status.ALREADY_EXISTS });
  });

  it("with max_retry_duration, retries until both limits are reached", async () => {
    const q = await queue({
      retryConfig: {
        maxAttempts: 2,
        maxRetryDuration: { seconds: 10 },
        minBackoff: { seconds: 2 },
        maxBackoff: { seconds: 2 },
      },
    });
    replies.set("/aging", [{ status: 500 }]);
    const [task] = await client.createTask({
      parent: q,
      task: { httpRequest: { url: `${receiver.url}/aging` } },
    });
    await tasks.drained(q);
    const attempts = attemptsOf(task.name ?? "");
    const first = attempts[0]!.dispatchTime.getTime();
    expect(attempts.length).toBeGreaterThan(2); // past max_attempts, since the duration had not passed
    expect(attempts.at(-1)?.result).toBe("dropped");
    expect(attempts.at(-1)!.responseTime.getTime() - first).toBeGreaterThanOrEqual(10_000);
    for (const a of attempts.slice(0, -1)) expect(a.responseTime.getTime() - first).toBeLessThan(10_000);
  });

  it("holds tasks while paused, dispatches them on resume, and RunTask forces a dispatch", async () => {
    const q = await queue();
    await client.pauseQueue({ name: q });
    const names = [1, 2, 3].map((i) => `${q}/tasks/held-${i}`);
    for (const name of names)
      await client.createTask({ parent: q, task: { name, httpRequest: { url: `${receiver.url}/held` } } });
    // Dispatch decisions are taken as tasks arrive: nothing went out.
    expect(tasks.stats(q).dispatched).toBe(0);
    const [held] = await client.getTask({ name: names[0] });
    expect(held.dispatchCount).toBe(0);

    const [ran] = await client.runTask({ name: names[0] });
    expect(ran.dispatchCount).toBe(1);
    await vi.waitFor(() => expect(received.get("/held")).toHaveLength(1));

    await client.resumeQueue({ name: q });
    await tasks.drained(q);
    expect(received.get("/held")).toHaveLength(3);
    expect(new Set(received.get("/held")?.map((r) => r.headers["x-cloudtasks-taskname"]))).toEqual(
      new Set(["held-1", "held-2", "held-3"]),
    );
  });

  it("dispatches at the schedule time, also when the clock is moved forward", async () => {
    const q = await queue();
    const inMinutes = (m: number) => ({ seconds: Math.floor(tasks.now().getTime() / 1000) + m * 60 });
    const [soon] = await client.createTask({
      parent: q,
      task: { scheduleTime: inMinutes(1), httpRequest: { url: `${receiver.url}/later` } },
    });
    const [tomorrow] = await client.createTask({
      parent: q,
      task: { scheduleTime: inMinutes(24 * 60), httpRequest: { url: `${receiver.url}/later` } },
    });
    await vi.waitFor(() => expect(attemptsOf(soon.name ?? "")).toHaveLength(1), { timeout: 10_000 });
    const first = attemptsOf(soon.name ?? "")[0]!;
    expect(first.dispatchTime.getTime()).toBeGreaterThanOrEqual(Number(soon.scheduleTime?.seconds) * 1000);
    expect(attemptsOf(tomorrow.name ?? "")).toHaveLength(0);
    tasks.advance(24 * 3600_000);
    await tasks.drained(q);
    expect(attemptsOf(tomorrow.name ?? "")).toHaveLength(1);
  });
});
