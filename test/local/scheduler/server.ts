// Local Cloud Scheduler: the v1 CloudScheduler gRPC service the official client
// (@google-cloud/scheduler) and a command line use, plus the part that fires jobs:
// on demand for tests (fireDue), on a timer (autoFire), and for RunJob.
import { startCloudService, RpcError, GrpcStatus, type UnaryHandler } from "../grpc/server.js";
import { paginate } from "../grpc/paging.js";
import { localClientOptions, type LocalClientOptions, type RequestHeadersSource } from "../grpc/tls.js";
import { toTimestamp } from "../grpc/wellknown.js";
import { nextFireTime, utcOffsetMinutes } from "./cron.js";
import {
  applyUpdate,
  checkParent,
  newJobName,
  parseJobName,
  userFields,
  validateJob,
  withDefaults,
  type JobMessage,
} from "./jobs.js";
import { execute, rfc3339InZone, type FireResult } from "./dispatch.js";
import { unsignedIdToken } from "../iam/id-token.js";

export type { FireResult, AttemptResult } from "./dispatch.js";

const SERVICE = "google.cloud.scheduler.v1.CloudScheduler";

export interface SchedulerServerOptions {
  port?: number;
  /** Serve TLS with the loopback test certificate (see grpc/tls.ts) so clients can send credentials. */
  tls?: boolean;
  /** The scheduler's clock (default: real time). */
  now?: () => Date;
  /** Fire due jobs on a timer against `now()` (default false: tests call fireDue). */
  autoFire?: boolean;
  /** Timer period for autoFire, ms (default 1000). */
  tickMs?: number;
  /** ID token sent as "Authorization: Bearer …" for jobs with an oidcToken (default: an unsigned JWT). */
  oidcTokenFor?: (audience: string, serviceAccountEmail: string) => string;
  /** Waits out retry backoffs (default: real timers). */
  sleep?: (ms: number) => Promise<void>;
}

export interface RunningScheduler {
  /** "grpc://127.0.0.1:PORT" */
  url: string;
  host: string;
  port: number;
  /**
   * Options for `new CloudSchedulerClient(...)` that reach this server offline. Insecure gRPC carries no
   * credentials; with `tls` on, a given auth client's Authorization header goes on every call.
   */
  clientOptions(authClient?: RequestHeadersSource): LocalClientOptions;
  /**
   * Fires every ENABLED job whose schedule time is at or before `at`, once per schedule time
   * it owes (catching up if `at` jumps ahead), each execution with its retries, in time order.
   */
  fireDue(at: Date): Promise<FireResult[]>;
  /** Resolves when no execution (RunJob, timer) is in flight. */
  idle(): Promise<void>;
  /** Every finished execution, oldest first. */
  history(): FireResult[];
  /** Methods implemented, as "CloudScheduler.Method"; every other method answers UNIMPLEMENTED. */
  implemented: string[];
  stop(): Promise<void>;
}

interface StoredJob {
  job: JobMessage;
  /** Output-only state. */
  state: "ENABLED" | "PAUSED";
  userUpdateTime: Date;
  scheduleTime?: Date;
  lastAttemptTime?: Date;
  status?: { code: number; message: string };
  /** Executions of one job never overlap: each waits for the previous. */
  chain: Promise<unknown>;
}

export async function startSchedulerServer(opts: SchedulerServerOptions = {}): Promise<RunningScheduler> {
  const now = opts.now ?? (() => new Date());
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const oidcTokenFor =
    opts.oidcTokenFor ?? ((aud: string, email: string) => unsignedIdToken(aud, email, now()));
  const jobs = new Map<string, StoredJob>();
  const finished: FireResult[] = [];
  const inflight = new Set<Promise<unknown>>();

  const view = (s: StoredJob): JobMessage => ({
    ...withDefaults(s.job),
    state: s.state,
    userUpdateTime: toTimestamp(s.userUpdateTime),
    ...(s.scheduleTime ? { scheduleTime: toTimestamp(s.scheduleTime) } : {}),
    ...(s.lastAttemptTime ? { lastAttemptTime: toTimestamp(s.lastAttemptTime) } : {}),
    ...(s.status ? { status: s.status } : {}),
  });

  const nextAfter = (s: StoredJob, after: Date): Date | undefined =>
    nextFireTime(validateJob(s.job), after, s.job.timeZone || "UTC");

  const find = (name: string | undefined): StoredJob => {
    parseJobName(name);
    const s = jobs.get(name ?? "");
    if (!s) throw new RpcError(GrpcStatus.NOT_FOUND, "Job not found.");
    return s;
  };

  /**
   * Starts one execution. Scheduled ones queue behind the job's previous execution (never two
   * outstanding); RunJob passes `queue: false` since it dispatches "even if the job is already running".
   */
  const run = (
    s: StoredJob,
    scheduleTime: Date,
    start: Date,
    nextScheduled: Date | undefined,
    queue = true,
  ): Promise<FireResult> => {
    const job = structuredClone(s.job);
    const header = rfc3339InZone(
      scheduleTime,
      utcOffsetMinutes(scheduleTime.getTime(), job.timeZone || "UTC"),
    );
    const p = (queue ? s.chain : Promise.resolve()).then(() =>
      execute(job, scheduleTime, header, start, nextScheduled, {
        oidcTokenFor,
        sleep,
        onAttempt: (at) => (s.lastAttemptTime = at),
      }).then((result) => {
        s.status = result.status;
        finished.push(result);
        return result;
      }),
    );
    if (queue) s.chain = p.catch(() => undefined);
    inflight.add(p);
    void p.finally(() => inflight.delete(p)).catch(() => undefined);
    return p;
  };

  const fireDue = async (at: Date): Promise<FireResult[]> => {
    const results: FireResult[] = [];
    // Each (job, schedule time) owed, in time order, so results read like a timeline.
    for (;;) {
      const due = [...jobs.values()]
        .filter((s) => s.state === "ENABLED" && s.scheduleTime && s.scheduleTime.getTime() <= at.getTime())
        .sort(
          (a, b) =>
            (a.scheduleTime?.getTime() ?? 0) - (b.scheduleTime?.getTime() ?? 0) ||
            (a.job.name ?? "").localeCompare(b.job.name ?? ""),
        );
      const s = due[0];
      if (!s?.scheduleTime) return results;
      const scheduled = s.scheduleTime;
      const following = nextAfter(s, scheduled);
      s.scheduleTime = following;
      results.push(await run(s, scheduled, scheduled, following));
    }
  };

  let ticking = false;
  const timer = opts.autoFire
    ? setInterval(() => {
        if (ticking) return;
        ticking = true;
        fireDue(now())
          .catch((err: unknown) => console.error("local scheduler: firing failed:", err))
          .finally(() => (ticking = false));
      }, opts.tickMs ?? 1000)
    : undefined;
  timer?.unref();

  const handlers: Record<string, UnaryHandler> = {
    CreateJob: (req: { parent?: string; job?: JobMessage }) => {
      const parent = checkParent(req.parent);
      if (!req.job) throw new RpcError(GrpcStatus.INVALID_ARGUMENT, "job is required.");
      const job = userFields(req.job);
      job.name ||= newJobName(parent);
      if (parseJobName(job.name).parent !== parent) {
        throw new RpcError(
          GrpcStatus.INVALID_ARGUMENT,
          `Job name ${job.name} is not under parent ${parent}.`,
        );
      }
      const schedule = validateJob(job);
      if (jobs.has(job.name))
        throw new RpcError(GrpcStatus.ALREADY_EXISTS, `Job ${job.name} already exists.`);
      const s: StoredJob = {
        job,
        state: "ENABLED",
        userUpdateTime: now(),
        scheduleTime: nextFireTime(schedule, now(), job.timeZone || "UTC"),
        chain: Promise.resolve(),
      };
      jobs.set(job.name, s);
      return view(s);
    },
    GetJob: (req: { name?: string }) => view(find(req.name)),
    ListJobs: (req: { parent?: string; pageSize?: number; pageToken?: string }) => {
      const parent = checkParent(req.parent);
      const all = [...jobs.values()]
        .filter((s) => parseJobName(s.job.name).parent === parent)
        .sort((a, b) => (a.job.name ?? "").localeCompare(b.job.name ?? ""));
      const { page, nextPageToken } = paginate(all, req.pageSize, req.pageToken, 500);
      return { jobs: page.map(view), nextPageToken };
    },
    UpdateJob: (req: { job?: JobMessage; updateMask?: { paths?: string[] } }) => {
      if (!req.job) throw new RpcError(GrpcStatus.INVALID_ARGUMENT, "job is required.");
      const s = find(req.job.name);
      const updated = applyUpdate(s.job, req.job, req.updateMask?.paths);
      const schedule = validateJob(updated);
      s.job = updated;
      s.userUpdateTime = now();
      if (s.state === "ENABLED") s.scheduleTime = nextFireTime(schedule, now(), updated.timeZone || "UTC");
      return view(s);
    },
    DeleteJob: (req: { name?: string }) => {
      find(req.name);
      jobs.delete(req.name ?? "");
      return {};
    },
    PauseJob: (req: { name?: string }) => {
      const s = find(req.name);
      if (s.state !== "ENABLED") {
        throw new RpcError(
          GrpcStatus.FAILED_PRECONDITION,
          `Job ${req.name} must be ENABLED to be paused; it is ${s.state}.`,
        );
      }
      s.state = "PAUSED";
      delete s.scheduleTime;
      return view(s);
    },
    ResumeJob: (req: { name?: string }) => {
      const s = find(req.name);
      if (s.state !== "PAUSED") {
        throw new RpcError(
          GrpcStatus.FAILED_PRECONDITION,
          `Job ${req.name} must be PAUSED to be resumed; it is ${s.state}.`,
        );
      }
      s.state = "ENABLED";
      // No catch-up for the paused period: the next run is the next schedule time from now.
      s.scheduleTime = nextAfter(s, now());
      return view(s);
    },
    RunJob: (req: { name?: string }) => {
      const s = find(req.name);
      const at = now();
      // Dispatched now, even if an execution is running; the response does not wait for it.
      void run(s, at, at, s.scheduleTime, false).catch(() => undefined);
      return view(s);
    },
  };

  const server = await startCloudService({
    clientPackage: "@google-cloud/scheduler",
    protoFile: "google/cloud/scheduler/v1/cloudscheduler.proto",
    service: SERVICE,
    handlers,
    port: opts.port,
    tls: opts.tls,
  });

  const idle = async (): Promise<void> => {
    while (inflight.size > 0) await Promise.allSettled([...inflight]);
  };

  return {
    url: `grpc://${server.address}`,
    host: server.host,
    port: server.port,
    clientOptions: (authClient) => localClientOptions(server, opts.tls ?? false, authClient),
    fireDue,
    idle,
    history: () => [...finished],
    implemented: server.implemented,
    stop: async () => {
      if (timer) clearInterval(timer);
      await server.stop();
      await idle();
    },
  };
}
