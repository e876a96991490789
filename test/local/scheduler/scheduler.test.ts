// The local Cloud Scheduler through the official client (@google-cloud/scheduler),
// and its firing of HTTP jobs at a local target with Cloud Scheduler's headers and retries.
import { rejection } from "../grpc/testing.js";
import { describe, it, expect, beforeAll, afterAll, beforeEach } from "vitest";
import { CloudSchedulerClient } from "@google-cloud/scheduler";
import { status } from "@grpc/grpc-js";
import type { IncomingHttpHeaders } from "node:http";
import { startSchedulerServer, type RunningScheduler } from "./server.js";
import { startHttpServer, readBody, type RunningHttpServer } from "../common/net.js";
import { backoffMs } from "./dispatch.js";

const PARENT = "projects/demo/locations/us-central1";

function seconds(ts: { seconds?: unknown } | null | undefined): number {
  return Number(ts?.seconds ?? NaN);
}

interface Received {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

describe("local Cloud Scheduler via @google-cloud/scheduler", () => {
  let clock = new Date("2026-11-25T10:00:00Z");
  let scheduler: RunningScheduler;
  let client: CloudSchedulerClient;
  let target: RunningHttpServer;
  const received: Received[] = [];
  /** Status codes the target answers with, in order; 200 once exhausted. */
  let replies: number[] = [];

  beforeAll(async () => {
    target = await startHttpServer(async (req, res) => {
      const body = (await readBody(req)).toString("utf8");
      received.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, body });
      res.writeHead(replies.shift() ?? 200).end();
    });
    scheduler = await startSchedulerServer({
      now: () => clock,
      oidcTokenFor: (audience, email) => `id-token(${audience},${email})`,
    });
    client = new CloudSchedulerClient(scheduler.clientOptions());
  });
  afterAll(async () => {
    await client?.close();
    await scheduler?.stop();
    await target?.close();
  });
  beforeEach(() => {
    received.length = 0;
    replies = [];
  });

  const httpJob = (id: string, extra: Record<string, unknown> = {}) => ({
    name: `${PARENT}/jobs/${id}`,
    schedule: "0 * * * *",
    timeZone: "UTC",
    httpTarget: {
      uri: `${target.url}/run`,
      httpMethod: "POST" as const,
      headers: { "Content-Type": "application/json" },
      body: Buffer.from(JSON.stringify({ export: { id } })),
    },
    ...extra,
  });

  it("creates, gets, lists with page tokens, updates, pauses, resumes and deletes jobs", async () => {
    clock = new Date("2026-11-25T10:00:00Z");
    const [created] = await client.createJob({ parent: PARENT, job: httpJob("crud-a") });
    expect(created.name).toBe(`${PARENT}/jobs/crud-a`);
    expect(created.state).toBe("ENABLED");
    expect(seconds(created.scheduleTime)).toBe(Date.parse("2026-11-25T11:00:00Z") / 1000);
    expect(created.retryConfig?.maxDoublings).toBe(5); // documented default
    expect(seconds(created.attemptDeadline)).toBe(180);

    await client.createJob({ parent: PARENT, job: httpJob("crud-b") });
    await client.createJob({ parent: PARENT, job: httpJob("crud-c") });

    const [got] = await client.getJob({ name: created.name });
    expect(got.httpTarget?.uri).toBe(`${target.url}/run`);

    const [firstPage, , firstResponse] = await client.listJobs(
      { parent: PARENT, pageSize: 2 },
      { autoPaginate: false },
    );
    expect(firstPage).toHaveLength(2);
    expect(firstResponse?.nextPageToken).toBeTruthy();
    const [secondPage] = await client.listJobs(
      { parent: PARENT, pageSize: 2, pageToken: firstResponse?.nextPageToken ?? "" },
      { autoPaginate: false },
    );
    const names = [...firstPage, ...secondPage].map((j) => j.name);
    expect(names).toEqual(
      expect.arrayContaining([`${PARENT}/jobs/crud-a`, `${PARENT}/jobs/crud-b`, `${PARENT}/jobs/crud-c`]),
    );
    expect(new Set(names).size).toBe(names.length);

    const [updated] = await client.updateJob({
      job: { name: created.name, schedule: "*/15 * * * *", description: "ignored: not in the mask" },
      updateMask: { paths: ["schedule"] },
    });
    expect(updated.schedule).toBe("*/15 * * * *");
    expect(updated.description).toBe("");
    expect(updated.httpTarget?.uri).toBe(`${target.url}/run`);
    expect(seconds(updated.scheduleTime)).toBe(Date.parse("2026-11-25T10:15:00Z") / 1000);

    const [paused] = await client.pauseJob({ name: created.name });
    expect(paused.state).toBe("PAUSED");
    const again = await rejection(client.pauseJob({ name: created.name }));
    expect(again.code).toBe(status.FAILED_PRECONDITION);
    const [resumed] = await client.resumeJob({ name: created.name });
    expect(resumed.state).toBe("ENABLED");
    const notPaused = await rejection(client.resumeJob({ name: created.name }));
    expect(notPaused.code).toBe(status.FAILED_PRECONDITION);

    for (const id of ["crud-a", "crud-b", "crud-c"]) await client.deleteJob({ name: `${PARENT}/jobs/${id}` });
    const gone = await rejection(client.getJob({ name: created.name }));
    expect(gone.code).toBe(status.NOT_FOUND);
  });

  it("rejects bad requests with the statuses the real service gives", async () => {
    const badSchedule = await rejection(
      client.createJob({ parent: PARENT, job: httpJob("bad-cron", { schedule: "61 * * * *" }) }),
    );
    expect(badSchedule.code).toBe(status.INVALID_ARGUMENT);
    expect(badSchedule.details).toContain("Schedule or time zone is invalid");
    expect(badSchedule.details).toContain("minute");

    const badZone = await rejection(
      client.createJob({ parent: PARENT, job: httpJob("bad-tz", { timeZone: "Mars/Olympus_Mons" }) }),
    );
    expect(badZone.code).toBe(status.INVALID_ARGUMENT);

    const badName = await rejection(client.createJob({ parent: PARENT, job: httpJob("no spaces allowed") }));
    expect(badName.code).toBe(status.INVALID_ARGUMENT);

    const tooManyRetries = await rejection(
      client.createJob({ parent: PARENT, job: httpJob("retries", { retryConfig: { retryCount: 6 } }) }),
    );
    expect(tooManyRetries.code).toBe(status.INVALID_ARGUMENT);

    await client.createJob({ parent: PARENT, job: httpJob("twice") });
    const dup = await rejection(client.createJob({ parent: PARENT, job: httpJob("twice") }));
    expect(dup.code).toBe(status.ALREADY_EXISTS);

    const camelMask = await rejection(
      client.updateJob({
        job: { name: `${PARENT}/jobs/twice`, timeZone: "Europe/Berlin" },
        updateMask: { paths: ["timeZone"] },
      }),
    );
    expect(camelMask.code).toBe(status.INVALID_ARGUMENT);
    expect(camelMask.details).toContain("Invalid mask for Job: timeZone");

    const missing = await rejection(client.runJob({ name: `${PARENT}/jobs/never-created` }));
    expect(missing.code).toBe(status.NOT_FOUND);
    await client.deleteJob({ name: `${PARENT}/jobs/twice` });
  });

  it("fires a due job at its target with Cloud Scheduler's headers, body and OIDC token", async () => {
    clock = new Date("2026-11-25T10:00:00Z");
    const job = httpJob("hourly", {
      httpTarget: {
        ...httpJob("hourly").httpTarget,
        oidcToken: { serviceAccountEmail: "invoker@demo.iam.gserviceaccount.com" },
      },
    });
    await client.createJob({ parent: PARENT, job });

    expect(await scheduler.fireDue(new Date("2026-11-25T10:59:59Z"))).toEqual([]);
    const results = await scheduler.fireDue(new Date("2026-11-25T11:00:00Z"));
    expect(results.map((r) => r.succeeded)).toEqual([true]);
    expect(received).toHaveLength(1);
    const [req] = received;
    expect(req?.method).toBe("POST");
    expect(req?.url).toBe("/run");
    expect(JSON.parse(req?.body ?? "")).toEqual({ export: { id: "hourly" } });
    expect(req?.headers["content-type"]).toBe("application/json");
    expect(req?.headers["x-cloudscheduler"]).toBe("true");
    expect(req?.headers["x-cloudscheduler-jobname"]).toBe("hourly");
    expect(req?.headers["x-cloudscheduler-scheduletime"]).toBe("2026-11-25T11:00:00Z");
    expect(req?.headers["user-agent"]).toBe("Google-Cloud-Scheduler");
    // The audience defaults to the target URI.
    expect(req?.headers["authorization"]).toBe(
      `Bearer id-token(${target.url}/run,invoker@demo.iam.gserviceaccount.com)`,
    );

    const [after] = await client.getJob({ name: `${PARENT}/jobs/hourly` });
    expect(seconds(after.lastAttemptTime)).toBe(Date.parse("2026-11-25T11:00:00Z") / 1000);
    expect(seconds(after.scheduleTime)).toBe(Date.parse("2026-11-25T12:00:00Z") / 1000);
    expect(after.status?.code ?? 0).toBe(0);

    // A clock that jumps ahead is owed every hour it skipped, in order.
    received.length = 0;
    const caughtUp = await scheduler.fireDue(new Date("2026-11-25T14:30:00Z"));
    expect(caughtUp.map((r) => r.scheduleTime.toISOString())).toEqual([
      "2026-11-25T12:00:00.000Z",
      "2026-11-25T13:00:00.000Z",
      "2026-11-25T14:00:00.000Z",
    ]);
    expect(received.map((r) => r.headers["x-cloudscheduler-scheduletime"])).toEqual([
      "2026-11-25T12:00:00Z",
      "2026-11-25T13:00:00Z",
      "2026-11-25T14:00:00Z",
    ]);

    // Paused jobs do not fire.
    await client.pauseJob({ name: `${PARENT}/jobs/hourly` });
    expect(await scheduler.fireDue(new Date("2026-11-25T20:00:00Z"))).toEqual([]);
    await client.deleteJob({ name: `${PARENT}/jobs/hourly` });
  });

  it("reads schedules in the job's time zone and sends the schedule time with that zone's offset", async () => {
    clock = new Date("2026-11-25T10:00:00Z");
    await client.createJob({
      parent: PARENT,
      job: httpJob("ny-daily", { schedule: "0 9 * * *", timeZone: "America/New_York" }),
    });
    const results = await scheduler.fireDue(new Date("2026-11-25T14:00:00Z"));
    expect(results.map((r) => r.scheduleTime.toISOString())).toEqual(["2026-11-25T14:00:00.000Z"]);
    expect(received[0]?.headers["x-cloudscheduler-scheduletime"]).toBe("2026-11-25T09:00:00-05:00");
    await client.deleteJob({ name: `${PARENT}/jobs/ny-daily` });
  });

  it("retries a failing target per the retry config and records the failure on the job", async () => {
    clock = new Date("2026-11-25T10:00:00Z");
    const retryConfig = {
      retryCount: 3,
      minBackoffDuration: { nanos: 20_000_000 }, // 20 ms
      maxBackoffDuration: { seconds: 1 },
      maxDoublings: 1,
    };
    await client.createJob({ parent: PARENT, job: httpJob("flaky", { retryConfig }) });
    replies = [500, 500, 500, 500, 500];
    const [result] = await scheduler.fireDue(new Date("2026-11-25T11:00:00Z"));
    expect(result?.succeeded).toBe(false);
    // One try plus retry_count retries; backoff 20 ms, doubled once, then growing linearly by 2^1 × 20 ms.
    expect(result?.attempts.map((a) => a.delayMs)).toEqual([0, 20, 40, 80]);
    expect(result?.attempts.map((a) => a.httpStatus)).toEqual([500, 500, 500, 500]);
    expect(received).toHaveLength(4);
    expect(new Set(received.map((r) => r.headers["x-cloudscheduler-scheduletime"]))).toEqual(
      new Set(["2026-11-25T11:00:00Z"]),
    );
    const [failed] = await client.getJob({ name: `${PARENT}/jobs/flaky` });
    expect(failed.status?.code).toBe(status.INTERNAL);
    expect(seconds(failed.lastAttemptTime)).toBe(Date.parse("2026-11-25T11:00:00Z") / 1000);

    // Two failures, then success: three requests, and the job ends up OK.
    received.length = 0;
    replies = [503, 500];
    const [recovered] = await scheduler.fireDue(new Date("2026-11-25T12:00:00Z"));
    expect(recovered?.succeeded).toBe(true);
    expect(received).toHaveLength(3);
    const [ok] = await client.getJob({ name: `${PARENT}/jobs/flaky` });
    expect(ok.status?.code ?? 0).toBe(0);
    await client.deleteJob({ name: `${PARENT}/jobs/flaky` });
  });

  it("keeps retrying past retry_count until max_retry_duration is also reached", async () => {
    clock = new Date("2026-11-25T10:00:00Z");
    const retryConfig = {
      retryCount: 1,
      maxRetryDuration: { nanos: 100_000_000 }, // 100 ms
      minBackoffDuration: { nanos: 20_000_000 },
      maxDoublings: 5,
    };
    await client.createJob({ parent: PARENT, job: httpJob("both-limits", { retryConfig }) });
    replies = [500, 500, 500, 500, 500, 500];
    const [result] = await scheduler.fireDue(new Date("2026-11-25T11:00:00Z"));
    // 20 ms (retry_count reached), then 40 ms (60 ms elapsed); the next, 80 ms, would pass 100 ms.
    expect(result?.attempts.map((a) => a.delayMs)).toEqual([0, 20, 40]);
    await client.deleteJob({ name: `${PARENT}/jobs/both-limits` });
  });

  it("does not retry when retry_count is 0", async () => {
    clock = new Date("2026-11-25T10:00:00Z");
    await client.createJob({ parent: PARENT, job: httpJob("once") });
    replies = [500, 500];
    const [result] = await scheduler.fireDue(new Date("2026-11-25T11:00:00Z"));
    expect(result?.attempts).toHaveLength(1);
    expect(received).toHaveLength(1);
    await client.deleteJob({ name: `${PARENT}/jobs/once` });
  });

  it("runs a job now on RunJob", async () => {
    clock = new Date("2026-11-25T10:20:00Z");
    await client.createJob({ parent: PARENT, job: httpJob("manual") });
    const [job] = await client.runJob({ name: `${PARENT}/jobs/manual` });
    expect(job.name).toBe(`${PARENT}/jobs/manual`);
    await scheduler.idle();
    expect(received).toHaveLength(1);
    expect(received[0]?.headers["x-cloudscheduler-scheduletime"]).toBe("2026-11-25T10:20:00Z");
    expect(scheduler.history().at(-1)?.job).toBe(`${PARENT}/jobs/manual`);
    await client.deleteJob({ name: `${PARENT}/jobs/manual` });
  });

  it("answers UNIMPLEMENTED naming a method it does not implement", async () => {
    const err = await rejection(client.getLocation({ name: "projects/demo/locations/us-central1" }));
    expect(err.code).toBe(status.UNIMPLEMENTED);
    expect(err.details).toBe("Locations.GetLocation is not implemented by the local emulator");
  });
});

describe("retry backoff", () => {
  it("follows RetryConfig's documented example: 10s, 20s, 40s, 80s, 160s, 240s, 300s, 300s", () => {
    const policy = {
      retryCount: 5,
      maxRetryDurationMs: 0,
      minBackoffMs: 10_000,
      maxBackoffMs: 300_000,
      maxDoublings: 3,
    };
    const delays = [1, 2, 3, 4, 5, 6, 7, 8].map((retry) => backoffMs(policy, retry) / 1000);
    expect(delays).toEqual([10, 20, 40, 80, 160, 240, 300, 300]);
  });
});

describe("local Cloud Scheduler firing on its own clock (autoFire)", () => {
  it("fires a job once its schedule time comes round", async () => {
    let clock = new Date("2026-11-25T10:02:00Z");
    const seen: string[] = [];
    const target = await startHttpServer((req, res) => {
      seen.push(String(req.headers["x-cloudscheduler-scheduletime"]));
      res.writeHead(204).end();
    });
    const scheduler = await startSchedulerServer({ now: () => clock, autoFire: true, tickMs: 20 });
    const client = new CloudSchedulerClient(scheduler.clientOptions());
    try {
      await client.createJob({
        parent: PARENT,
        job: {
          name: `${PARENT}/jobs/every-5`,
          schedule: "*/5 * * * *",
          httpTarget: { uri: `${target.url}/tick` },
        },
      });
      // Nothing is due yet; then the clock reaches 10:05.
      await new Promise((r) => setTimeout(r, 100));
      expect(seen).toEqual([]);
      clock = new Date("2026-11-25T10:05:00Z");
      for (let i = 0; i < 500 && seen.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
      await scheduler.idle();
      expect(seen).toEqual(["2026-11-25T10:05:00Z"]);
      const [job] = await client.getJob({ name: `${PARENT}/jobs/every-5` });
      expect(seconds(job.scheduleTime)).toBe(Date.parse("2026-11-25T10:10:00Z") / 1000);
    } finally {
      await client.close();
      await scheduler.stop();
      await target.close();
    }
  });
});
