// Local Cloud Tasks: the v2 CloudTasks gRPC service the official client
// (@google-cloud/tasks) speaks, for queues and HTTP tasks, with the dispatch of
// those tasks to their targets (queue-runtime.ts). Errors carry the real service's
// codes and texts where they are known (recorded from the real service: "Queue
// already exists", "Requested entity already exists", "Queue does not exist. …").
// Every other method (App Engine tasks, IAM policies, Locations) answers
// UNIMPLEMENTED naming it.
import { startCloudService, RpcError, GrpcStatus, type UnaryHandler } from "../grpc/server.js";
import { paginate } from "../grpc/paging.js";
import { localClientOptions, type LocalClientOptions, type RequestHeadersSource } from "../grpc/tls.js";
import { fromTimestamp, toTimestamp, type Timestamp } from "../grpc/wellknown.js";
import type { Iam } from "../iam/iam.js";
import { unsignedIdToken, type OidcTokenMinter } from "../iam/id-token.js";
import { scaledClock, type TasksClock } from "./clock.js";
import type { BearerTokens } from "./delivery.js";
import {
  applyUpdate,
  checkParent,
  parseQueueName,
  queueView,
  userFields,
  validateQueue,
  type QueueMessage,
} from "./queues.js";
import { QueueRuntime, type AttemptRecord, type QueueStats, type StoredTask } from "./queue-runtime.js";
import {
  dispatchDeadlineMs,
  effectiveScheduleTime,
  generatedTaskId,
  parseTaskName,
  storedHttpRequest,
  viewOf,
  type TaskMessage,
  type TaskView,
} from "./task-messages.js";

export type { AttemptRecord, QueueStats } from "./queue-runtime.js";

const SERVICE = "google.cloud.tasks.v2.CloudTasks";
/** Quotas: "Task de-duplication window: ~1 hour" after a named task was deleted or executed. */
const TASK_DEDUP_WINDOW_MS = 3600_000;
/** Quotas: a deleted queue's name cannot be used again for 7 days. */
const QUEUE_REUSE_WINDOW_MS = 7 * 24 * 3600_000;
/** ListQueues: "The maximum page size is 9800"; ListTasks: "The maximum page size is 1000." */
const MAX_QUEUE_PAGE = 9800;
const MAX_TASK_PAGE = 1000;

const QUEUE_MISSING =
  "Queue does not exist. If you just created the queue, wait at least a minute for the queue to initialize.";
const ENTITY_MISSING = "Requested entity was not found.";
const TASK_GONE =
  "The task no longer exists, though a task with this name existed recently. The task either successfully completed or was deleted.";

export interface TasksServerOptions {
  port?: number;
  /** Serve TLS with the loopback test certificate (see grpc/tls.ts) so clients can send credentials. */
  tls?: boolean;
  /** How many times faster than real time the service's clock runs (default 1); see clock.ts. */
  timeScale?: number;
  /** The clock's time at start (default: now). */
  start?: Date;
  /** ID token sent as "Authorization: Bearer …" to OIDC targets (default: an unsigned JWT, as the local Scheduler sends). */
  oidcTokenFor?: OidcTokenMinter;
  /** Mints the access tokens sent to OAuth targets (Google APIs); without it they get a placeholder token. */
  iam?: Iam;
}

export interface RunningTasks {
  /** "grpc://127.0.0.1:PORT" */
  url: string;
  host: string;
  port: number;
  /** Options for `new CloudTasksClient(...)` that reach this server offline (see grpc/README.md). */
  clientOptions(authClient?: RequestHeadersSource): LocalClientOptions;
  /** Methods implemented, as "CloudTasks.Method"; every other method answers UNIMPLEMENTED. */
  implemented: string[];
  /** The service's clock. */
  now(): Date;
  /** Moves the clock forward (backoffs, schedule times and de-duplication windows pass) and dispatches what is due. */
  advance(ms: number): void;
  /** Counters of a queue (full name): attempts, outcomes, and the peak number in flight. */
  stats(queueName: string): QueueStats;
  /** Every finished attempt, oldest first. */
  attempts(): AttemptRecord[];
  /** Resolves once the queue (full name) holds no task: all executed, dropped or deleted. */
  drained(queueName: string): Promise<void>;
  stop(): Promise<void>;
}

interface ListRequest {
  parent?: string;
  filter?: string;
  pageSize?: number;
  pageToken?: string;
  responseView?: TaskView;
}

/** ListQueues' filter, as far as supported here: the sample form "state: PAUSED" (or "state = PAUSED"). */
function stateFilter(filter: string | undefined): string | undefined {
  if (!filter?.trim()) return undefined;
  const m = /^\s*state\s*(?::|=)\s*([A-Z_]+)\s*$/.exec(filter);
  if (!m?.[1]) {
    throw new RpcError(
      GrpcStatus.INVALID_ARGUMENT,
      `filter "${filter}" is not supported by the local emulator; use "state: RUNNING" or "state: PAUSED".`,
    );
  }
  return m[1];
}

export async function startTasksServer(opts: TasksServerOptions = {}): Promise<RunningTasks> {
  const clock: TasksClock = scaledClock({
    ...(opts.timeScale !== undefined ? { timeScale: opts.timeScale } : {}),
    ...(opts.start ? { start: opts.start } : {}),
  });
  const oidc =
    opts.oidcTokenFor ?? ((aud: string, email: string) => unsignedIdToken(aud, email, clock.now()));
  const tokens: BearerTokens = {
    oidc,
    oauth: (email, scope) =>
      opts.iam ? opts.iam.mintAccessToken(email, 3600, [scope]).token : "ya29.local-cloud-tasks-placeholder",
  };
  const queues = new Map<string, QueueRuntime>();
  /** Names recently gone, with when: queues (reuse blocked 7 days) and tasks (de-duplication, ~1 hour). */
  const goneQueues = new Map<string, Date>();
  const goneTasks = new Map<string, Date>();
  const history: AttemptRecord[] = [];

  const recently = (gone: Map<string, Date>, name: string, windowMs: number): boolean => {
    const at = gone.get(name);
    if (!at) return false;
    if (clock.now().getTime() - at.getTime() < windowMs) return true;
    gone.delete(name);
    return false;
  };

  const findQueue = (name: string | undefined, missing = QUEUE_MISSING): QueueRuntime => {
    parseQueueName(name);
    const q = queues.get(name ?? "");
    if (!q) throw new RpcError(GrpcStatus.NOT_FOUND, missing);
    return q;
  };

  const findTask = (
    name: string | undefined,
    explainGone = false,
  ): { queue: QueueRuntime; task: StoredTask } => {
    const { queue: queueName, taskId } = parseTaskName(name);
    const queue = queues.get(queueName);
    const task = queue?.tasks.get(taskId);
    if (queue && task) return { queue, task };
    const gone = explainGone && recently(goneTasks, name ?? "", TASK_DEDUP_WINDOW_MS);
    throw new RpcError(GrpcStatus.NOT_FOUND, gone ? TASK_GONE : ENTITY_MISSING);
  };

  const view = (q: QueueRuntime): QueueMessage =>
    queueView(q.queue, q.state, q.purgeTime ? toTimestamp(q.purgeTime) : undefined);

  const createQueue = (queue: QueueMessage): QueueRuntime => {
    const name = queue.name ?? "";
    if (recently(goneQueues, name, QUEUE_REUSE_WINDOW_MS)) {
      throw new RpcError(
        GrpcStatus.FAILED_PRECONDITION,
        "The queue cannot be created because a queue with this name existed too recently.",
      );
    }
    validateQueue(queue);
    const runtime = new QueueRuntime(userFields(queue), parseQueueName(name).queueId, {
      clock,
      tokens,
      onTaskGone: (task) => goneTasks.set(task.name, clock.now()),
      onAttempt: (record) => history.push(record),
    });
    queues.set(name, runtime);
    return runtime;
  };

  const handlers: Record<string, UnaryHandler> = {
    ListQueues: (req: ListRequest) => {
      const parent = checkParent(req.parent);
      const state = stateFilter(req.filter);
      const all = [...queues.entries()]
        .filter(([name, q]) => parseQueueName(name).parent === parent && (!state || q.state === state))
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([, q]) => q);
      const { page, nextPageToken } = paginate(all, req.pageSize, req.pageToken, MAX_QUEUE_PAGE);
      return { queues: page.map(view), nextPageToken };
    },
    GetQueue: (req: { name?: string }) => view(findQueue(req.name)),
    CreateQueue: (req: { parent?: string; queue?: QueueMessage }) => {
      const parent = checkParent(req.parent);
      if (!req.queue) throw new RpcError(GrpcStatus.INVALID_ARGUMENT, "queue is required.");
      const { parent: queueParent } = parseQueueName(req.queue.name);
      if (queueParent !== parent) {
        throw new RpcError(
          GrpcStatus.INVALID_ARGUMENT,
          `The queue name ('${req.queue.name ?? ""}') must be in the location of the request ('${parent}').`,
        );
      }
      if (queues.has(req.queue.name ?? ""))
        throw new RpcError(GrpcStatus.ALREADY_EXISTS, "Queue already exists");
      return view(createQueue(req.queue));
    },
    UpdateQueue: (req: { queue?: QueueMessage; updateMask?: { paths?: string[] } }) => {
      if (!req.queue) throw new RpcError(GrpcStatus.INVALID_ARGUMENT, "queue is required.");
      parseQueueName(req.queue.name);
      const existing = queues.get(req.queue.name ?? "");
      // "This method creates the queue if it does not exist and updates the queue if it does exist."
      if (!existing)
        return view(createQueue(applyUpdate({ name: req.queue.name }, req.queue, req.updateMask?.paths)));
      const updated = applyUpdate(existing.queue, req.queue, req.updateMask?.paths);
      validateQueue(updated);
      existing.queue = updated;
      return view(existing);
    },
    DeleteQueue: (req: { name?: string }) => {
      const q = findQueue(req.name, ENTITY_MISSING);
      q.close();
      queues.delete(req.name ?? "");
      goneQueues.set(req.name ?? "", clock.now());
      return {};
    },
    PurgeQueue: (req: { name?: string }) => {
      const q = findQueue(req.name);
      // "All tasks created before this method is called are permanently deleted."
      const now = clock.now();
      q.purgeTime = now;
      for (const task of [...q.tasks.values()]) {
        if (task.createTime.getTime() <= now.getTime() && q.remove(task.taskId))
          goneTasks.set(task.name, now);
      }
      return view(q);
    },
    PauseQueue: (req: { name?: string }) => {
      const q = findQueue(req.name);
      q.pause();
      return view(q);
    },
    ResumeQueue: (req: { name?: string }) => {
      const q = findQueue(req.name);
      q.resume();
      return view(q);
    },
    ListTasks: (req: ListRequest) => {
      const q = findQueue(req.parent);
      const all = [...q.tasks.values()].sort((a, b) => a.name.localeCompare(b.name));
      const { page, nextPageToken } = paginate(all, req.pageSize, req.pageToken, MAX_TASK_PAGE);
      const v = viewOf(req.responseView);
      return { tasks: page.map((t) => q.view(t, v)), nextPageToken };
    },
    GetTask: (req: { name?: string; responseView?: TaskView }) => {
      const { queue, task } = findTask(req.name, true);
      return queue.view(task, viewOf(req.responseView));
    },
    CreateTask: (req: { parent?: string; task?: TaskMessage; responseView?: TaskView }) => {
      const q = findQueue(req.parent);
      const parent = req.parent ?? "";
      if (!req.task) throw new RpcError(GrpcStatus.INVALID_ARGUMENT, "task is required.");
      if (req.task.appEngineHttpRequest) {
        throw new RpcError(
          GrpcStatus.UNIMPLEMENTED,
          "App Engine tasks are not implemented by the local emulator; use an HTTP task (http_request).",
        );
      }
      let taskId: string;
      if (req.task.name) {
        const named = parseTaskName(req.task.name);
        if (named.queue !== parent) {
          throw new RpcError(
            GrpcStatus.INVALID_ARGUMENT,
            `The queue name from request ('${parent}') must be the same as the queue name in the named task ('${named.queue}').`,
          );
        }
        // De-duplication: "If a task's ID is identical to that of an existing task or a task
        // that was deleted or executed recently then the call will fail with ALREADY_EXISTS."
        if (q.tasks.has(named.taskId) || recently(goneTasks, req.task.name, TASK_DEDUP_WINDOW_MS)) {
          throw new RpcError(GrpcStatus.ALREADY_EXISTS, "Requested entity already exists");
        }
        taskId = named.taskId;
      } else {
        do taskId = generatedTaskId();
        while (q.tasks.has(taskId));
      }
      const now = clock.now();
      const requested: Timestamp | undefined = req.task.scheduleTime;
      const task: StoredTask = {
        name: `${parent}/tasks/${taskId}`,
        taskId,
        request: storedHttpRequest(req.task.httpRequest),
        scheduleTime: effectiveScheduleTime(requested ? fromTimestamp(requested) : undefined, now),
        createTime: now,
        dispatchDeadlineMs: dispatchDeadlineMs(req.task.dispatchDeadline),
        dispatchCount: 0,
        responseCount: 0,
        executionCount: 0,
        inFlight: 0,
      };
      // The answer shows the task as created, before any dispatch of it.
      const created = q.view(task, viewOf(req.responseView));
      q.add(task);
      return created;
    },
    DeleteTask: (req: { name?: string }) => {
      // "A task can be deleted if it is scheduled or dispatched."
      const { queue, task } = findTask(req.name);
      queue.remove(task.taskId);
      goneTasks.set(task.name, clock.now());
      return {};
    },
    RunTask: (req: { name?: string; responseView?: TaskView }) => {
      const { queue, task } = findTask(req.name);
      queue.runNow(task);
      // "The dispatched task is returned … after the task is dispatched but before the task is received."
      return queue.view(task, viewOf(req.responseView));
    },
  };

  const server = await startCloudService({
    clientPackage: "@google-cloud/tasks",
    protoFile: "google/cloud/tasks/v2/cloudtasks.proto",
    service: SERVICE,
    handlers,
    port: opts.port,
    tls: opts.tls,
  });

  const runtime = (queueName: string): QueueRuntime => {
    const q = queues.get(queueName);
    if (!q) throw new Error(`no queue ${queueName} on this local Cloud Tasks`);
    return q;
  };

  return {
    url: `grpc://${server.address}`,
    host: server.host,
    port: server.port,
    clientOptions: (authClient) => localClientOptions(server, opts.tls ?? false, authClient),
    implemented: server.implemented,
    now: () => clock.now(),
    advance: (ms) => {
      clock.advance(ms);
      for (const q of queues.values()) q.pump();
    },
    stats: (queueName) => runtime(queueName).stats(),
    attempts: () => [...history],
    drained: (queueName) => runtime(queueName).whenEmpty(),
    stop: async () => {
      for (const q of queues.values()) q.close();
      await server.stop();
    },
  };
}
