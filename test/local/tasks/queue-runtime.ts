// One queue at work: its tasks, and their dispatch as Cloud Tasks does it.
// - A task is dispatched once its schedule time has come, while the queue is RUNNING.
// - At most max_concurrent_dispatches attempts are in flight ("After this threshold has
//   been reached, Cloud Tasks stops dispatching tasks until the number of concurrent
//   requests decreases"), and dispatches follow a token bucket of max_burst_size tokens
//   refilled at max_dispatches_per_second (RateLimits), first attempts and retries alike.
// - A 2XX answer completes the task, which is deleted. Any other answer, no answer within
//   the dispatch deadline, or an unreachable target is a failed attempt: the task is
//   scheduled again after the RetryConfig backoff (common/backoff.ts), until it has been
//   attempted max_attempts times and max_retry_duration has passed since its first attempt
//   (each limit applying when set), when it is deleted.
// - RunTask dispatches at once, "even if the task is already running, the queue has
//   reached its RateLimits or is PAUSED".
// Not modelled: the system throttling Cloud Tasks adds on 429/503 answers and Retry-After,
// and the slow ramp-up of new or idle queues.
import { GrpcStatus } from "../grpc/server.js";
import { rpcCodeForHttp } from "../grpc/http-status.js";
import { toDuration, toTimestamp } from "../grpc/wellknown.js";
import { backoffMs } from "../common/backoff.js";
import type { TasksClock } from "./clock.js";
import { requestHeaders, send, type AttemptOutcome, type BearerTokens } from "./delivery.js";
import { settingsOf, type QueueMessage, type QueueSettings } from "./queues.js";
import { httpRequestView, type StoredHttpRequest, type TaskMessage } from "./task-messages.js";

/** setTimeout's longest delay (a 32-bit signed millisecond count). */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface StoredTask {
  /** Full name, projects/…/queues/Q/tasks/T. */
  name: string;
  taskId: string;
  request: StoredHttpRequest;
  scheduleTime: Date;
  createTime: Date;
  dispatchDeadlineMs: number;
  dispatchCount: number;
  responseCount: number;
  /** Responses other than 5XX (X-CloudTasks-TaskExecutionCount). */
  executionCount: number;
  previousResponse?: number;
  firstDispatchTime?: Date;
  lastAttempt?: {
    scheduleTime: Date;
    dispatchTime: Date;
    responseTime?: Date;
    responseStatus?: { code: number; message: string };
  };
  /** Attempts of this task in flight (RunTask may add one to a running task). */
  inFlight: number;
}

/** One finished attempt, for tests and demos (times on the server's clock). */
export interface AttemptRecord {
  queue: string;
  task: string;
  /** 1 for the first attempt. */
  attempt: number;
  scheduleTime: Date;
  dispatchTime: Date;
  responseTime: Date;
  outcome: AttemptOutcome;
  /** What became of the task: done (2XX), retry at `nextScheduleTime`, or dropped after its last attempt. */
  result: "done" | "retry" | "dropped" | "deleted-meanwhile";
  nextScheduleTime?: Date;
}

/** Counters a test can read. */
export interface QueueStats {
  dispatched: number;
  succeeded: number;
  failedAttempts: number;
  dropped: number;
  inFlight: number;
  /** The most attempts ever in flight at once. */
  peakInFlight: number;
}

export interface QueueRuntimeDeps {
  clock: TasksClock;
  tokens: BearerTokens;
  /** A task left the queue after its execution or last attempt (the name stays taken a while). */
  onTaskGone(task: StoredTask): void;
  onAttempt(record: AttemptRecord): void;
}

export class QueueRuntime {
  readonly tasks = new Map<string, StoredTask>();
  state: "RUNNING" | "PAUSED" = "RUNNING";
  purgeTime: Date | undefined;
  private settings: QueueSettings;
  private bucket: number;
  private bucketAt: number;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly pending = new Set<{ abort(): void }>();
  private readonly emptyWaiters: (() => void)[] = [];
  private readonly counters: QueueStats = {
    dispatched: 0,
    succeeded: 0,
    failedAttempts: 0,
    dropped: 0,
    inFlight: 0,
    peakInFlight: 0,
  };

  constructor(
    private config: QueueMessage,
    readonly queueId: string,
    private readonly deps: QueueRuntimeDeps,
  ) {
    this.settings = settingsOf(config);
    this.bucket = this.settings.maxBurstSize;
    this.bucketAt = deps.clock.now().getTime();
  }

  get queue(): QueueMessage {
    return this.config;
  }

  set queue(config: QueueMessage) {
    this.refill();
    this.config = config;
    this.settings = settingsOf(config);
    this.bucket = Math.min(this.bucket, this.settings.maxBurstSize);
    this.pump();
  }

  stats(): QueueStats {
    return { ...this.counters };
  }

  add(task: StoredTask): void {
    this.tasks.set(task.taskId, task);
    this.pump();
  }

  /** Removes a task (DeleteTask, PurgeQueue); an attempt in flight finishes unheard. */
  remove(taskId: string): StoredTask | undefined {
    const task = this.tasks.get(taskId);
    if (!task) return undefined;
    this.tasks.delete(taskId);
    this.notifyIfEmpty();
    return task;
  }

  pause(): void {
    this.state = "PAUSED";
    this.pump();
  }

  resume(): void {
    this.state = "RUNNING";
    this.pump();
  }

  /** RunTask: dispatches now, whatever the limits and state. */
  runNow(task: StoredTask): void {
    this.dispatch(task);
  }

  /** Resolves once the queue holds no task. */
  whenEmpty(): Promise<void> {
    if (this.tasks.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.emptyWaiters.push(resolve));
  }

  /** Stops dispatching and abandons the attempts in flight. */
  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    for (const attempt of [...this.pending]) attempt.abort();
  }

  /** The task as the API shows it. */
  view(task: StoredTask, view: "BASIC" | "FULL"): TaskMessage {
    const last = task.lastAttempt;
    return {
      name: task.name,
      httpRequest: httpRequestView(task.request, view),
      scheduleTime: toTimestamp(task.scheduleTime),
      // "create_time will be truncated to the nearest second."
      createTime: toTimestamp(new Date(Math.floor(task.createTime.getTime() / 1000) * 1000)),
      dispatchDeadline: toDuration(task.dispatchDeadlineMs),
      dispatchCount: task.dispatchCount,
      responseCount: task.responseCount,
      // "Only dispatch_time will be set. The other Attempt information is not retained."
      ...(task.firstDispatchTime
        ? { firstAttempt: { dispatchTime: toTimestamp(task.firstDispatchTime) } }
        : {}),
      ...(last
        ? {
            lastAttempt: {
              scheduleTime: toTimestamp(last.scheduleTime),
              dispatchTime: toTimestamp(last.dispatchTime),
              ...(last.responseTime ? { responseTime: toTimestamp(last.responseTime) } : {}),
              ...(last.responseStatus ? { responseStatus: last.responseStatus } : {}),
            },
          }
        : {}),
      view,
    };
  }

  /** Dispatches what may go now, and sets a timer for when more may. */
  pump(): void {
    if (this.closed) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.state !== "RUNNING") return;
    const now = this.deps.clock.now().getTime();
    let wakeAt = Infinity;
    for (;;) {
      if (this.counters.inFlight >= this.settings.maxConcurrentDispatches) return; // a finishing attempt pumps again
      const next = this.nextWaiting();
      if (!next) break;
      if (next.scheduleTime.getTime() > now) {
        wakeAt = next.scheduleTime.getTime();
        break;
      }
      this.refill();
      if (this.bucket < 1) {
        wakeAt = now + ((1 - this.bucket) / this.settings.maxDispatchesPerSecond) * 1000;
        break;
      }
      this.bucket -= 1;
      this.dispatch(next);
    }
    if (wakeAt !== Infinity) {
      // A longer wait than a timer can hold just wakes up early and waits again.
      const delay = Math.min(Math.ceil(this.deps.clock.realMs(wakeAt - now)), MAX_TIMER_MS);
      this.timer = setTimeout(() => this.pump(), delay);
      this.timer.unref();
    }
  }

  /** The waiting task due first (ties by name). */
  private nextWaiting(): StoredTask | undefined {
    let best: StoredTask | undefined;
    for (const task of this.tasks.values()) {
      if (task.inFlight > 0) continue;
      if (
        !best ||
        task.scheduleTime.getTime() < best.scheduleTime.getTime() ||
        (task.scheduleTime.getTime() === best.scheduleTime.getTime() && task.name < best.name)
      ) {
        best = task;
      }
    }
    return best;
  }

  private refill(): void {
    const now = this.deps.clock.now().getTime();
    const earned = ((now - this.bucketAt) / 1000) * this.settings.maxDispatchesPerSecond;
    this.bucket = Math.min(this.settings.maxBurstSize, this.bucket + earned);
    this.bucketAt = now;
  }

  private dispatch(task: StoredTask): void {
    const dispatchTime = this.deps.clock.now();
    const context = {
      queueId: this.queueId,
      taskId: task.taskId,
      request: task.request,
      scheduleTime: task.scheduleTime,
      retryCount: task.dispatchCount,
      executionCount: task.executionCount,
      ...(task.previousResponse !== undefined ? { previousResponse: task.previousResponse } : {}),
    };
    task.dispatchCount += 1;
    task.firstDispatchTime ??= dispatchTime;
    task.lastAttempt = { scheduleTime: task.scheduleTime, dispatchTime };
    task.inFlight += 1;
    this.counters.dispatched += 1;
    this.counters.inFlight += 1;
    this.counters.peakInFlight = Math.max(this.counters.peakInFlight, this.counters.inFlight);
    const attempt = task.dispatchCount;
    const scheduleTime = task.scheduleTime;
    const sent = send(
      task.request,
      requestHeaders(context, this.deps.tokens),
      this.deps.clock.realMs(task.dispatchDeadlineMs),
      `${task.dispatchDeadlineMs / 1000}s`,
    );
    this.pending.add(sent);
    void sent.outcome.then((outcome) => {
      this.pending.delete(sent);
      task.inFlight -= 1;
      this.counters.inFlight -= 1;
      if (this.closed) return;
      this.finish(task, attempt, scheduleTime, dispatchTime, outcome);
      this.pump();
    });
  }

  private finish(
    task: StoredTask,
    attempt: number,
    scheduleTime: Date,
    dispatchTime: Date,
    outcome: AttemptOutcome,
  ): void {
    const now = this.deps.clock.now();
    const ok = outcome.kind === "response" && outcome.status >= 200 && outcome.status < 300;
    const record = {
      queue: this.config.name ?? "",
      task: task.name,
      attempt,
      scheduleTime,
      dispatchTime,
      responseTime: now,
      outcome,
    };
    if (this.tasks.get(task.taskId) !== task) {
      // Deleted or purged while in flight: its answer changes nothing.
      this.deps.onAttempt({ ...record, result: "deleted-meanwhile" });
      return;
    }
    if (outcome.kind === "response") {
      task.responseCount += 1;
      if (outcome.status < 500 || outcome.status > 599) task.executionCount += 1;
      task.previousResponse = outcome.status;
    } else {
      delete task.previousResponse;
    }
    if (task.lastAttempt?.dispatchTime === dispatchTime) {
      task.lastAttempt.responseTime = now;
      task.lastAttempt.responseStatus = statusOf(outcome);
    }
    if (ok) {
      this.counters.succeeded += 1;
      this.drop(task);
      this.deps.onAttempt({ ...record, result: "done" });
      return;
    }
    this.counters.failedAttempts += 1;
    if (this.exhausted(task, now)) {
      this.counters.dropped += 1;
      this.drop(task);
      this.deps.onAttempt({ ...record, result: "dropped" });
      return;
    }
    task.scheduleTime = new Date(now.getTime() + backoffMs(this.settings, task.dispatchCount));
    this.deps.onAttempt({ ...record, result: "retry", nextScheduleTime: task.scheduleTime });
  }

  /**
   * RetryConfig: "Once max_retry_duration time has passed *and* the task has been attempted
   * max_attempts times, no further attempts will be made"; -1 attempts and a zero duration
   * are unlimited, so only the limits that are set count.
   */
  private exhausted(task: StoredTask, now: Date): boolean {
    const { maxAttempts, maxRetryDurationMs } = this.settings;
    const attemptsLimited = maxAttempts !== -1;
    const durationLimited = maxRetryDurationMs > 0;
    if (!attemptsLimited && !durationLimited) return false;
    const attemptsDone = !attemptsLimited || task.dispatchCount >= maxAttempts;
    const first = task.firstDispatchTime?.getTime() ?? now.getTime();
    const durationDone = !durationLimited || now.getTime() - first >= maxRetryDurationMs;
    return attemptsDone && durationDone;
  }

  private drop(task: StoredTask): void {
    this.tasks.delete(task.taskId);
    this.deps.onTaskGone(task);
    this.notifyIfEmpty();
  }

  private notifyIfEmpty(): void {
    if (this.tasks.size > 0) return;
    for (const resolve of this.emptyWaiters.splice(0)) resolve();
  }
}

/** The attempt's google.rpc.Status, as Task.last_attempt.response_status shows it. */
function statusOf(outcome: AttemptOutcome): { code: number; message: string } {
  switch (outcome.kind) {
    case "response":
      return { code: rpcCodeForHttp(outcome.status), message: `HTTP status code ${outcome.status}` };
    case "deadline":
      return { code: GrpcStatus.DEADLINE_EXCEEDED, message: outcome.message };
    case "unreachable":
      return { code: GrpcStatus.UNAVAILABLE, message: outcome.message };
  }
}
