// The local Cloud Tasks' API through the official client (@google-cloud/tasks):
// queues (CRUD, update masks, pause/resume/purge, limits), tasks (named and
// generated, views, validation) and de-duplication by name, with the real
// service's status codes and texts.
import { rejection } from "../grpc/testing.js";
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { CloudTasksClient } from "@google-cloud/tasks";
import { status } from "@grpc/grpc-js";
import { startTasksServer, type RunningTasks } from "./server.js";
import { startHttpServer, readBody, type RunningHttpServer } from "../common/net.js";

const LOCATION = "projects/demo/locations/us-central1";
const QUEUE_MISSING =
  "Queue does not exist. If you just created the queue, wait at least a minute for the queue to initialize.";

function seconds(d: { seconds?: unknown; nanos?: unknown } | null | undefined): number {
  return Number(d?.seconds ?? NaN) + Number(d?.nanos ?? 0) / 1e9;
}

describe("local Cloud Tasks API via @google-cloud/tasks", () => {
  let tasks: RunningTasks;
  let client: CloudTasksClient;
  let target: RunningHttpServer;
  let queueCount = 0;

  beforeAll(async () => {
    target = await startHttpServer(async (req, res) => {
      await readBody(req);
      res.writeHead(200).end();
    });
    tasks = await startTasksServer({ timeScale: 100 });
    client = new CloudTasksClient(tasks.clientOptions());
  });
  afterAll(async () => {
    await client?.close();
    await tasks?.stop();
    await target?.close();
  });

  const newQueueName = (prefix = "q") => `${LOCATION}/queues/${prefix}-${++queueCount}`;

  it("creates a queue with the documented defaults and gets, lists and deletes it", async () => {
    const name = newQueueName("crud");
    const [created] = await client.createQueue({ parent: LOCATION, queue: { name } });
    expect(created).toMatchObject({
      name,
      state: "RUNNING",
      rateLimits: { maxDispatchesPerSecond: 500, maxBurstSize: 100, maxConcurrentDispatches: 1000 },
      retryConfig: { maxAttempts: 100, maxDoublings: 16 },
    });
    expect(seconds(created.retryConfig?.minBackoff)).toBe(0.1);
    expect(seconds(created.retryConfig?.maxBackoff)).toBe(3600);
    expect(seconds(created.retryConfig?.maxRetryDuration)).toBe(0);

    const [got] = await client.getQueue({ name });
    expect(got).toEqual(created);

    const again = await rejection(client.createQueue({ parent: LOCATION, queue: { name } }));
    expect(again).toEqual({ code: status.ALREADY_EXISTS, details: "Queue already exists" });

    await client.deleteQueue({ name });
    expect(await rejection(client.getQueue({ name }))).toEqual({
      code: status.NOT_FOUND,
      details: QUEUE_MISSING,
    });
    expect(await rejection(client.deleteQueue({ name }))).toEqual({
      code: status.NOT_FOUND,
      details: "Requested entity was not found.",
    });
    // A deleted queue's name cannot be used again for 7 days.
    expect(await rejection(client.createQueue({ parent: LOCATION, queue: { name } }))).toEqual({
      code: status.FAILED_PRECONDITION,
      details: "The queue cannot be created because a queue with this name existed too recently.",
    });
  });

  it("lists queues page by page and by state", async () => {
    const parent = "projects/demo/locations/europe-west1";
    for (const id of ["list-a", "list-b", "list-c"]) {
      await client.createQueue({ parent, queue: { name: `${parent}/queues/${id}` } });
    }
    await client.pauseQueue({ name: `${parent}/queues/list-b` });
    const [first, , response] = await client.listQueues({ parent, pageSize: 2 }, { autoPaginate: false });
    expect(first.map((q) => q.name)).toEqual([`${parent}/queues/list-a`, `${parent}/queues/list-b`]);
    const [second] = await client.listQueues(
      { parent, pageSize: 2, pageToken: response?.nextPageToken ?? "" },
      { autoPaginate: false },
    );
    expect(second.map((q) => q.name)).toEqual([`${parent}/queues/list-c`]);
    const [paused] = await client.listQueues({ parent, filter: "state: PAUSED" });
    expect(paused.map((q) => q.name)).toEqual([`${parent}/queues/list-b`]);
  });

  it("validates queue names and limits, naming the field", async () => {
    expect(
      await rejection(client.createQueue({ parent: LOCATION, queue: { name: `${LOCATION}/queues/bad_id` } })),
    ).toEqual({
      code: status.INVALID_ARGUMENT,
      details:
        'Queue name must be formatted: "projects/<PROJECT_ID>/locations/<LOCATION_ID>/queues/<QUEUE_ID>".',
    });
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ rateLimits: { maxDispatchesPerSecond: 501 } }, "rate_limits.max_dispatches_per_second"],
      [{ rateLimits: { maxConcurrentDispatches: 5001 } }, "rate_limits.max_concurrent_dispatches"],
      [{ retryConfig: { maxAttempts: -2 } }, "retry_config.max_attempts"],
      [
        { retryConfig: { minBackoff: { seconds: 20 }, maxBackoff: { seconds: 10 } } },
        "retry_config.min_backoff",
      ],
    ];
    for (const [fields, field] of cases) {
      const err = await rejection(
        client.createQueue({ parent: LOCATION, queue: { name: newQueueName("limits"), ...fields } }),
      );
      expect(err.code).toBe(status.INVALID_ARGUMENT);
      expect(err.details).toContain(field);
    }
  });

  it("updates only the masked fields, recomputes the burst size and creates a missing queue", async () => {
    const name = newQueueName("update");
    await client.createQueue({
      parent: LOCATION,
      queue: { name, rateLimits: { maxConcurrentDispatches: 4 }, retryConfig: { maxAttempts: 7 } },
    });
    const [updated] = await client.updateQueue({
      queue: {
        name,
        rateLimits: { maxDispatchesPerSecond: 50, maxConcurrentDispatches: 99 },
        retryConfig: { maxAttempts: 3 },
      },
      updateMask: { paths: ["rate_limits.max_dispatches_per_second", "retry_config"] },
    });
    expect(updated.rateLimits).toEqual({
      maxDispatchesPerSecond: 50,
      maxBurstSize: 10,
      maxConcurrentDispatches: 4,
    });
    expect(updated.retryConfig?.maxAttempts).toBe(3);
    const badMask = await rejection(
      client.updateQueue({ queue: { name }, updateMask: { paths: ["rate_limits.max_speed"] } }),
    );
    expect(badMask.code).toBe(status.INVALID_ARGUMENT);
    expect(badMask.details).toContain("rate_limits.max_speed");

    const upserted = newQueueName("upsert");
    const [made] = await client.updateQueue({
      queue: { name: upserted, rateLimits: { maxConcurrentDispatches: 2 } },
    });
    expect(made.rateLimits?.maxConcurrentDispatches).toBe(2);
    expect((await client.getQueue({ name: upserted }))[0].state).toBe("RUNNING");
  });

  it("pauses, resumes and purges a queue", async () => {
    const name = newQueueName("state");
    await client.createQueue({ parent: LOCATION, queue: { name } });
    const [paused] = await client.pauseQueue({ name });
    expect(paused.state).toBe("PAUSED");
    for (const id of ["a", "b"]) {
      await client.createTask({
        parent: name,
        task: { name: `${name}/tasks/${id}`, httpRequest: { url: `${target.url}/t` } },
      });
    }
    const [purged] = await client.purgeQueue({ name });
    expect(purged.purgeTime).toBeTruthy();
    const [left] = await client.listTasks({ parent: name });
    expect(left).toEqual([]);
    // Purged tasks were deleted: their names stay taken for the de-duplication window.
    const dup = await rejection(
      client.createTask({
        parent: name,
        task: { name: `${name}/tasks/a`, httpRequest: { url: `${target.url}/t` } },
      }),
    );
    expect(dup.code).toBe(status.ALREADY_EXISTS);
    const [resumed] = await client.resumeQueue({ name });
    expect(resumed.state).toBe("RUNNING");
    expect(tasks.stats(name).dispatched).toBe(0);
    expect(await rejection(client.pauseQueue({ name: `${LOCATION}/queues/nope` }))).toEqual({
      code: status.NOT_FOUND,
      details: QUEUE_MISSING,
    });
  });

  it("creates named and unnamed tasks, shows them in BASIC and FULL views, and deletes them", async () => {
    const name = newQueueName("tasks");
    await client.createQueue({ parent: name.replace(/\/queues\/.*$/, ""), queue: { name } });
    await client.pauseQueue({ name }); // keep the tasks in the queue
    const scheduleTime = { seconds: Math.floor(tasks.now().getTime() / 1000) + 600 };
    const [named] = await client.createTask({
      parent: name,
      task: {
        name: `${name}/tasks/chunk-0001`,
        scheduleTime,
        dispatchDeadline: { seconds: 900 },
        httpRequest: {
          url: `${target.url}/run`,
          headers: { "Content-Type": "application/json", "X-Mixed-Case": "kept", Host: "dropped.example" },
          body: Buffer.from('{"exportId":"e"}'),
          oidcToken: {
            serviceAccountEmail: "invoker@demo.iam.gserviceaccount.com",
            audience: "https://run.example",
          },
        },
      },
    });
    expect(named.name).toBe(`${name}/tasks/chunk-0001`);
    expect(named.view).toBe("BASIC");
    expect(named.httpRequest?.body?.length ?? 0).toBe(0); // BASIC omits the body
    expect(named.httpRequest?.httpMethod).toBe("POST");
    expect(named.httpRequest?.headers).toEqual({
      "Content-Type": "application/json",
      "X-Mixed-Case": "kept",
      "User-Agent": "Google-Cloud-Tasks",
    });
    expect(Number(named.scheduleTime?.seconds)).toBe(scheduleTime.seconds);
    expect(seconds(named.dispatchDeadline)).toBe(900);
    expect(named.dispatchCount).toBe(0);

    const [full] = await client.getTask({ name: named.name, responseView: "FULL" });
    expect(full.view).toBe("FULL");
    expect(Buffer.from(full.httpRequest?.body ?? []).toString()).toBe('{"exportId":"e"}');

    const [unnamed] = await client.createTask({
      parent: name,
      task: { httpRequest: { url: `${target.url}/run` } },
    });
    expect(unnamed.name).toMatch(new RegExp(`^${name}/tasks/\\d+$`));
    expect(seconds(unnamed.dispatchDeadline)).toBe(600); // 10 minutes by default

    const [listed] = await client.listTasks({ parent: name });
    expect(listed.map((t) => t.name).sort()).toEqual([named.name, unnamed.name].sort());

    await client.deleteTask({ name: named.name });
    expect(await rejection(client.deleteTask({ name: named.name }))).toEqual({
      code: status.NOT_FOUND,
      details: "Requested entity was not found.",
    });
    expect(await rejection(client.getTask({ name: named.name }))).toEqual({
      code: status.NOT_FOUND,
      details:
        "The task no longer exists, though a task with this name existed recently. The task either successfully completed or was deleted.",
    });
  });

  it("de-duplicates by task name for about an hour after deletion or execution", async () => {
    const name = newQueueName("dedup");
    await client.createQueue({ parent: LOCATION, queue: { name } });
    const task = (id: string) => ({
      parent: name,
      task: { name: `${name}/tasks/${id}`, httpRequest: { url: `${target.url}/d` } },
    });
    await client.pauseQueue({ name });
    await client.createTask(task("existing"));
    expect(await rejection(client.createTask(task("existing")))).toEqual({
      code: status.ALREADY_EXISTS,
      details: "Requested entity already exists",
    });
    await client.resumeQueue({ name });
    await tasks.drained(name);
    expect(tasks.stats(name).succeeded).toBe(1);
    // Executed: still taken.
    expect((await rejection(client.createTask(task("existing")))).code).toBe(status.ALREADY_EXISTS);
    tasks.advance(59 * 60_000);
    expect((await rejection(client.createTask(task("existing")))).code).toBe(status.ALREADY_EXISTS);
    tasks.advance(2 * 60_000);
    const [again] = await client.createTask(task("existing"));
    expect(again.name).toBe(`${name}/tasks/existing`);
  });

  it("validates tasks with the real service's texts, naming the field", async () => {
    const name = newQueueName("invalid");
    await client.createQueue({ parent: LOCATION, queue: { name } });
    const create = (task: Record<string, unknown>, parent = name) =>
      rejection(client.createTask({ parent, task }));
    const http = { url: `${target.url}/x` };
    expect(await create({ name: `${name}/tasks/not a valid id`, httpRequest: http })).toEqual({
      code: status.INVALID_ARGUMENT,
      details:
        'Task ID "not a valid id" can contain only letters ([A-Za-z]), numbers ([0-9]), hyphens (-), or underscores (_). Task ID must between 1 and 500 characters.',
    });
    expect(await create({ name: `${name}-other/tasks/t`, httpRequest: http })).toEqual({
      code: status.INVALID_ARGUMENT,
      details: `The queue name from request ('${name}') must be the same as the queue name in the named task ('${name}-other').`,
    });
    expect(await create({ httpRequest: http }, `${LOCATION}/queues/missing`)).toEqual({
      code: status.NOT_FOUND,
      details: QUEUE_MISSING,
    });
    const fieldCases: Array<[Record<string, unknown>, string]> = [
      [{ httpRequest: { url: "ftp://x" } }, "HttpRequest.url"],
      [
        { httpRequest: { url: `${target.url}/x`, httpMethod: "GET", body: Buffer.from("x") } },
        "HttpRequest.body",
      ],
      [{ httpRequest: http, dispatchDeadline: { seconds: 10 } }, "dispatch_deadline"],
      [{ httpRequest: http, dispatchDeadline: { seconds: 1801 } }, "dispatch_deadline"],
      [
        {
          httpRequest: http,
          scheduleTime: { seconds: Math.floor(tasks.now().getTime() / 1000) + 31 * 86400 },
        },
        "schedule_time",
      ],
      [{ httpRequest: { ...http, oidcToken: { audience: "x" } } }, "service_account_email"],
      [{ httpRequest: { ...http, body: Buffer.alloc(101 * 1024) } }, "100KB"],
      [{}, "http_request"],
    ];
    for (const [task, field] of fieldCases) {
      const err = await create(task);
      expect(err.code, field).toBe(status.INVALID_ARGUMENT);
      expect(err.details).toContain(field);
    }
    const appEngine = await create({ appEngineHttpRequest: { relativeUri: "/x" } });
    expect(appEngine.code).toBe(status.UNIMPLEMENTED);
  });

  it("answers UNIMPLEMENTED naming the method for what it does not implement", async () => {
    const err = await rejection(client.getIamPolicy({ resource: `${LOCATION}/queues/any` }));
    expect(err).toEqual({
      code: status.UNIMPLEMENTED,
      details: "CloudTasks.GetIamPolicy is not implemented by the local emulator",
    });
    expect(tasks.implemented).toContain("CloudTasks.RunTask");
  });
});
