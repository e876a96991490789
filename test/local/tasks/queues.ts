// Cloud Tasks v2 Queue resources: the decoded message shape, names, the documented
// defaults and limits of rate limits and retry config, and UpdateQueue field masks.
// Reference: the google.cloud.tasks.v2 protos shipped in @google-cloud/tasks
// (queue.proto, cloudtasks.proto) and https://cloud.google.com/tasks/docs/reference/rest/v2/projects.locations.queues
import { RpcError, GrpcStatus } from "../grpc/server.js";
import { durationMs, toDuration, type Duration, type Timestamp } from "../grpc/wellknown.js";
import type { RetryBackoff } from "../common/backoff.js";

export type QueueState = "STATE_UNSPECIFIED" | "RUNNING" | "PAUSED" | "DISABLED";

export interface RateLimitsMessage {
  maxDispatchesPerSecond?: number;
  maxBurstSize?: number;
  maxConcurrentDispatches?: number;
}

export interface RetryConfigMessage {
  maxAttempts?: number;
  maxRetryDuration?: Duration;
  minBackoff?: Duration;
  maxBackoff?: Duration;
  maxDoublings?: number;
}

/** google.cloud.tasks.v2.Queue as decoded by proto-loader (camelCase, enums as names). */
export interface QueueMessage {
  name?: string;
  appEngineRoutingOverride?: Record<string, unknown>;
  rateLimits?: RateLimitsMessage;
  retryConfig?: RetryConfigMessage;
  state?: QueueState;
  purgeTime?: Timestamp;
  stackdriverLoggingConfig?: { samplingRatio?: number };
}

/** A queue's dispatch settings in plain numbers, documented defaults applied. */
export interface QueueSettings extends RetryBackoff {
  maxDispatchesPerSecond: number;
  maxBurstSize: number;
  maxConcurrentDispatches: number;
  /** -1 = unlimited. */
  maxAttempts: number;
  /** 0 = unlimited. */
  maxRetryDurationMs: number;
}

// What a queue created without rate limits or retry config reports (what `gcloud tasks
// queues describe` shows for a new queue): 500/s with bursts of 100, 1,000 concurrent
// dispatches, 100 attempts, backoff 0.1s doubling 16 times up to 1 hour, no age limit.
const DEFAULTS = {
  maxDispatchesPerSecond: 500,
  maxConcurrentDispatches: 1000,
  maxAttempts: 100,
  maxRetryDurationMs: 0,
  minBackoffMs: 100,
  maxBackoffMs: 3_600_000,
  maxDoublings: 16,
} as const;
/** RateLimits: "The maximum allowed value is 500." */
const MAX_DISPATCHES_PER_SECOND = 500;
/** RateLimits: "The maximum allowed value is 5,000." */
const MAX_CONCURRENT_DISPATCHES = 5000;

const PARENT = /^projects\/([A-Za-z0-9\-:.]+)\/locations\/([A-Za-z0-9-]+)$/;
const QUEUE_NAME = /^(projects\/[A-Za-z0-9\-:.]+\/locations\/[A-Za-z0-9-]+)\/queues\/([A-Za-z0-9-]{1,100})$/;

function invalid(message: string): RpcError {
  return new RpcError(GrpcStatus.INVALID_ARGUMENT, message);
}

/** The real service's text for a malformed queue name. */
export function queueNameFormatError(): RpcError {
  return invalid(
    'Queue name must be formatted: "projects/<PROJECT_ID>/locations/<LOCATION_ID>/queues/<QUEUE_ID>".',
  );
}

export function checkParent(parent: string | undefined): string {
  if (!parent || !PARENT.test(parent)) {
    throw invalid(
      `parent: "${parent ?? ""}" is not a location name; it must be formatted "projects/<PROJECT_ID>/locations/<LOCATION_ID>".`,
    );
  }
  return parent;
}

/** Splits "projects/p/locations/l/queues/q"; INVALID_ARGUMENT with the real message when malformed. */
export function parseQueueName(name: string | undefined): { parent: string; queueId: string } {
  const m = QUEUE_NAME.exec(name ?? "");
  if (!m?.[1] || !m[2]) throw queueNameFormatError();
  return { parent: m[1], queueId: m[2] };
}

/**
 * The burst size Cloud Tasks picks for a rate (max_burst_size is output only). Documented
 * for App Engine queues (v2beta2 RateLimits): 10 for a rate of 1, otherwise rate / 5;
 * which gives the 100 a default queue (500/s) reports. At least 1, at most 500.
 */
export function burstSizeFor(maxDispatchesPerSecond: number): number {
  if (maxDispatchesPerSecond === 1) return 10;
  return Math.min(500, Math.max(1, Math.ceil(maxDispatchesPerSecond / 5)));
}

/** Settings with defaults for what is unset (proto3: 0 and absent read the same, as "unspecified"). */
export function settingsOf(queue: QueueMessage): QueueSettings {
  const rate = queue.rateLimits?.maxDispatchesPerSecond || DEFAULTS.maxDispatchesPerSecond;
  const retry = queue.retryConfig ?? {};
  return {
    maxDispatchesPerSecond: rate,
    maxBurstSize: burstSizeFor(rate),
    maxConcurrentDispatches: queue.rateLimits?.maxConcurrentDispatches || DEFAULTS.maxConcurrentDispatches,
    maxAttempts: retry.maxAttempts || DEFAULTS.maxAttempts,
    // RetryConfig: "max_retry_duration will be truncated to the nearest second."
    maxRetryDurationMs: Math.floor((durationMs(retry.maxRetryDuration) ?? 0) / 1000) * 1000,
    minBackoffMs: durationMs(retry.minBackoff) || DEFAULTS.minBackoffMs,
    maxBackoffMs: durationMs(retry.maxBackoff) || DEFAULTS.maxBackoffMs,
    maxDoublings: retry.maxDoublings || DEFAULTS.maxDoublings,
  };
}

/** Checks the user-settable values against the documented limits; INVALID_ARGUMENT naming the field. */
export function validateQueue(queue: QueueMessage): QueueSettings {
  parseQueueName(queue.name);
  const limits = queue.rateLimits ?? {};
  const rate = limits.maxDispatchesPerSecond ?? 0;
  if (!Number.isFinite(rate) || rate < 0 || rate > MAX_DISPATCHES_PER_SECOND) {
    throw invalid(
      `rate_limits.max_dispatches_per_second must be between 0 and ${MAX_DISPATCHES_PER_SECOND}, got ${rate}.`,
    );
  }
  const concurrent = limits.maxConcurrentDispatches ?? 0;
  if (concurrent < 0 || concurrent > MAX_CONCURRENT_DISPATCHES) {
    throw invalid(
      `rate_limits.max_concurrent_dispatches must be between 0 and ${MAX_CONCURRENT_DISPATCHES}, got ${concurrent}.`,
    );
  }
  const retry = queue.retryConfig ?? {};
  if ((retry.maxAttempts ?? 0) < -1) {
    throw invalid(`retry_config.max_attempts must be >= -1 (-1 means unlimited), got ${retry.maxAttempts}.`);
  }
  if ((retry.maxDoublings ?? 0) < 0) {
    throw invalid(`retry_config.max_doublings must not be negative, got ${retry.maxDoublings}.`);
  }
  for (const [field, value] of [
    ["max_retry_duration", retry.maxRetryDuration],
    ["min_backoff", retry.minBackoff],
    ["max_backoff", retry.maxBackoff],
  ] as const) {
    if ((durationMs(value) ?? 0) < 0) throw invalid(`retry_config.${field} must not be negative.`);
  }
  const sampling = queue.stackdriverLoggingConfig?.samplingRatio ?? 0;
  if (sampling < 0 || sampling > 1) {
    throw invalid(`stackdriver_logging_config.sampling_ratio must be between 0.0 and 1.0, got ${sampling}.`);
  }
  const settings = settingsOf(queue);
  if (settings.minBackoffMs > settings.maxBackoffMs) {
    throw invalid("retry_config.min_backoff must not be greater than retry_config.max_backoff.");
  }
  return settings;
}

/** The stored, user-settable part of a decoded Queue (output-only fields and oneof markers dropped). */
export function userFields(queue: QueueMessage): QueueMessage {
  const out: QueueMessage = {};
  if (queue.name) out.name = queue.name;
  if (queue.appEngineRoutingOverride)
    out.appEngineRoutingOverride = structuredClone(queue.appEngineRoutingOverride);
  if (queue.rateLimits) {
    // max_burst_size is output only: "Cloud Tasks will pick the value".
    const { maxDispatchesPerSecond, maxConcurrentDispatches } = queue.rateLimits;
    out.rateLimits = {
      ...(maxDispatchesPerSecond !== undefined ? { maxDispatchesPerSecond } : {}),
      ...(maxConcurrentDispatches !== undefined ? { maxConcurrentDispatches } : {}),
    };
  }
  if (queue.retryConfig) out.retryConfig = structuredClone(queue.retryConfig);
  if (queue.stackdriverLoggingConfig) out.stackdriverLoggingConfig = { ...queue.stackdriverLoggingConfig };
  return out;
}

/** The queue as the API returns it: every setting with its effective value. */
export function queueView(
  queue: QueueMessage,
  state: "RUNNING" | "PAUSED",
  purgeTime: Timestamp | undefined,
): QueueMessage {
  const s = settingsOf(queue);
  return {
    name: queue.name,
    ...(queue.appEngineRoutingOverride ? { appEngineRoutingOverride: queue.appEngineRoutingOverride } : {}),
    rateLimits: {
      maxDispatchesPerSecond: s.maxDispatchesPerSecond,
      maxBurstSize: s.maxBurstSize,
      maxConcurrentDispatches: s.maxConcurrentDispatches,
    },
    retryConfig: {
      maxAttempts: s.maxAttempts,
      maxRetryDuration: toDuration(s.maxRetryDurationMs),
      minBackoff: toDuration(s.minBackoffMs),
      maxBackoff: toDuration(s.maxBackoffMs),
      maxDoublings: s.maxDoublings,
    },
    state,
    ...(purgeTime ? { purgeTime } : {}),
    ...(queue.stackdriverLoggingConfig ? { stackdriverLoggingConfig: queue.stackdriverLoggingConfig } : {}),
  };
}

// UpdateQueue masks name proto fields (snake_case), whole messages or their fields.
const UPDATABLE: Record<string, readonly string[]> = {
  app_engine_routing_override: ["host", "service", "version", "instance"],
  rate_limits: ["max_dispatches_per_second", "max_concurrent_dispatches"],
  retry_config: ["max_attempts", "max_retry_duration", "min_backoff", "max_backoff", "max_doublings"],
  stackdriver_logging_config: ["sampling_ratio"],
};
// "Output only fields cannot be modified using UpdateQueue. Any value specified for an
// output only field will be ignored. The queue's name cannot be changed."
const IGNORED = new Set(["name", "state", "purge_time", "rate_limits.max_burst_size"]);

function camel(segment: string): string {
  return segment.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
}

/**
 * Applies UpdateQueue's `queue` to the stored queue. Without a mask every user field is
 * replaced ("If empty, then all fields will be updated"); a path that is no field of
 * Queue is INVALID_ARGUMENT naming it.
 */
export function applyUpdate(
  stored: QueueMessage,
  patch: QueueMessage,
  paths: readonly string[] | undefined,
): QueueMessage {
  const update = userFields(patch);
  if (!paths || paths.length === 0) return { ...update, name: stored.name };
  const next = structuredClone(userFields(stored)) as Record<string, unknown>;
  for (const path of paths) {
    if (IGNORED.has(path)) continue;
    const [head = "", field, ...rest] = path.split(".");
    const fields = UPDATABLE[head];
    if (!fields || rest.length > 0 || (field !== undefined && !fields.includes(field))) {
      throw invalid(`update_mask: "${path}" is not an updatable field of Queue.`);
    }
    const source = (update as Record<string, unknown>)[camel(head)] as Record<string, unknown> | undefined;
    if (field === undefined) {
      if (source === undefined) delete next[camel(head)];
      else next[camel(head)] = structuredClone(source);
      continue;
    }
    const target = (next[camel(head)] ?? {}) as Record<string, unknown>;
    const value = source?.[camel(field)];
    if (value === undefined) delete target[camel(field)];
    else target[camel(field)] = structuredClone(value);
    next[camel(head)] = target;
  }
  return next;
}
