// The retry backoff Cloud Scheduler and Cloud Tasks share (their RetryConfig messages
// document the same progression): min backoff, doubled max_doublings times, then
// growing linearly by that last doubled interval, capped at max backoff.
// E.g. min 10s, max 300s, 3 doublings: 10s, 20s, 40s, 80s, 160s, 240s, 300s, 300s, …
// https://cloud.google.com/tasks/docs/reference/rest/v2/projects.locations.queues#RetryConfig
// https://cloud.google.com/scheduler/docs/reference/rest/v1/projects.locations.jobs#RetryConfig

export interface RetryBackoff {
  minBackoffMs: number;
  maxBackoffMs: number;
  maxDoublings: number;
}

/** Backoff before retry number `retry` (1 = the first retry, after the first attempt failed). */
export function backoffMs(policy: RetryBackoff, retry: number): number {
  const doublings = retry - 1;
  const raw =
    doublings <= policy.maxDoublings
      ? policy.minBackoffMs * 2 ** doublings
      : policy.minBackoffMs * 2 ** policy.maxDoublings * (doublings - policy.maxDoublings + 1);
  return Math.min(raw, policy.maxBackoffMs);
}
