// The backfill queue through @google-cloud/tasks: HTTP tasks to exportRun
// with an OIDC token of the tasks service account, named deterministically
// (Cloud Tasks refuses a name that is queued or ran within about an hour:
// ALREADY_EXISTS), and the queue's concurrency cap.
import type { CloudTasksClient } from "@google-cloud/tasks";
import { ExportError } from "../core/errors.js";
import type { QueuedTask, TaskQueue } from "../app/ports.js";

const GRPC_ALREADY_EXISTS = 6;
const GRPC_NOT_FOUND = 5;
const GRPC_PERMISSION_DENIED = 7;

export interface CloudTasksQueueOptions {
  /** projects/<p>/locations/<l>/queues/<q> */
  queue: string;
  /** The account whose OIDC token the tasks carry (it may invoke exportRun). */
  serviceAccount: string | undefined;
  /** How long Cloud Tasks waits for a chunk's call (15 s to 30 min). */
  dispatchDeadlineSeconds: number;
}

export class CloudTasksQueue implements TaskQueue {
  constructor(
    private readonly client: CloudTasksClient,
    private readonly opts: CloudTasksQueueOptions,
  ) {}

  async enqueue(task: QueuedTask): Promise<"created" | "exists"> {
    try {
      await this.client.createTask({
        parent: this.opts.queue,
        task: {
          name: `${this.opts.queue}/tasks/${task.id}`,
          dispatchDeadline: { seconds: this.opts.dispatchDeadlineSeconds },
          httpRequest: {
            url: task.url,
            httpMethod: "POST",
            headers: { "Content-Type": "application/json" },
            body: Buffer.from(JSON.stringify(task.body)),
            ...(this.opts.serviceAccount
              ? { oidcToken: { serviceAccountEmail: this.opts.serviceAccount, audience: task.url } }
              : {}),
          },
        },
      });
      return "created";
    } catch (err) {
      if (grpcCode(err) === GRPC_ALREADY_EXISTS) return "exists";
      throw tasksError(err, `creating task ${task.id}`, this.opts.queue);
    }
  }

  async remove(taskId: string): Promise<void> {
    try {
      await this.client.deleteTask({ name: `${this.opts.queue}/tasks/${taskId}` });
    } catch (err) {
      if (grpcCode(err) === GRPC_NOT_FOUND) return;
      throw tasksError(err, `deleting task ${taskId}`, this.opts.queue);
    }
  }

  async concurrency(): Promise<number> {
    try {
      const [queue] = await this.client.getQueue({ name: this.opts.queue });
      return Number(queue.rateLimits?.maxConcurrentDispatches ?? 0);
    } catch (err) {
      throw tasksError(err, "reading the queue", this.opts.queue);
    }
  }

  async setConcurrency(n: number): Promise<void> {
    try {
      await this.client.updateQueue({
        queue: { name: this.opts.queue, rateLimits: { maxConcurrentDispatches: n } },
        updateMask: { paths: ["rate_limits.max_concurrent_dispatches"] },
      });
    } catch (err) {
      throw tasksError(err, `setting the queue's concurrency to ${n}`, this.opts.queue);
    }
  }
}

function grpcCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown }).code;
  return typeof code === "number" ? code : undefined;
}

function tasksError(err: unknown, what: string, queue: string): ExportError {
  const code = grpcCode(err);
  const message = err instanceof Error ? err.message : String(err);
  if (code === GRPC_PERMISSION_DENIED) {
    return new ExportError(
      "PERMISSION_DENIED",
      `Cloud Tasks refused ${what} on ${queue}: the function's service account needs roles/cloudtasks.enqueuer on the queue (and to act as the tasks service account). ${message}`,
      { cause: err },
    );
  }
  if (code === GRPC_NOT_FOUND) {
    return new ExportError(
      "INVALID_REQUEST",
      `Cloud Tasks queue ${queue} does not exist (BQX_BACKFILL_QUEUE): ${message}`,
      {
        cause: err,
      },
    );
  }
  return new ExportError("UNAVAILABLE", `Cloud Tasks: ${what} failed: ${message}`, {
    retryable: true,
    cause: err,
  });
}
