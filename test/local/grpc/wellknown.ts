// Conversions between protobuf well-known types (as decoded with longs: String) and JS values.

/** google.protobuf.Timestamp as decoded/encoded by proto-loader. */
export interface Timestamp {
  seconds?: string | number;
  nanos?: number;
}

/** google.protobuf.Duration as decoded/encoded by proto-loader. */
export interface Duration {
  seconds?: string | number;
  nanos?: number;
}

export function toTimestamp(date: Date): Timestamp {
  const ms = date.getTime();
  const seconds = Math.floor(ms / 1000);
  return { seconds: String(seconds), nanos: (ms - seconds * 1000) * 1_000_000 };
}

export function fromTimestamp(ts: Timestamp): Date {
  return new Date(Number(ts.seconds ?? 0) * 1000 + Math.floor((ts.nanos ?? 0) / 1_000_000));
}

/** Milliseconds in a Duration; undefined when the field was not set. */
export function durationMs(d: Duration | undefined | null): number | undefined {
  if (!d) return undefined;
  return Number(d.seconds ?? 0) * 1000 + Math.floor((d.nanos ?? 0) / 1_000_000);
}

export function toDuration(ms: number): Duration {
  const seconds = Math.floor(ms / 1000);
  return { seconds: String(seconds), nanos: (ms - seconds * 1000) * 1_000_000 };
}
