// The local Cloud Tasks' clock. Cloud Tasks waits in seconds to hours (backoffs up to
// an hour, a 10-minute default dispatch deadline, a 1-hour de-duplication window),
// so tests run its clock faster than real time (`timeScale`) and may jump it
// forward (`advance`); every time the service shows (schedule, dispatch and response
// times, X-CloudTasks-TaskETA) is on this clock, and every wait is one of its spans
// converted to real milliseconds.

export interface TasksClock {
  now(): Date;
  /** Real milliseconds that `clockMs` of this clock take. */
  realMs(clockMs: number): number;
  /** Moves the clock forward by `clockMs` at once. */
  advance(clockMs: number): void;
}

export interface ClockOptions {
  /** How many times faster than real time the clock runs (default 1). */
  timeScale?: number;
  /** The clock's time when the server starts (default: the real time). */
  start?: Date;
}

export function scaledClock(opts: ClockOptions = {}): TasksClock {
  const scale = opts.timeScale ?? 1;
  if (!(scale > 0) || !Number.isFinite(scale))
    throw new Error(`timeScale must be a positive number, got ${scale}`);
  const realStart = performance.now();
  let offset = (opts.start ?? new Date()).getTime();
  return {
    now: () => new Date(offset + (performance.now() - realStart) * scale),
    realMs: (clockMs) => Math.max(0, clockMs / scale),
    advance: (clockMs) => {
      if (clockMs < 0) throw new Error("the clock only moves forward");
      offset += clockMs;
    },
  };
}
