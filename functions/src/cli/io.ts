// Where the command line writes, and how: colours and redraws only on a
// terminal (never when piped, nor with NO_COLOR or TERM=dumb), people's
// output on stdout, progress on stderr. Tests pass their own streams.
import pc from "picocolors";

export type Colors = ReturnType<typeof pc.createColors>;

export interface OutStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface CliIo {
  stdout: OutStream;
  stderr: OutStream;
  env: Record<string, string | undefined>;
  now(): Date;
  /** Waits `ms`, or less when interrupted (the signal aborts). */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /** Calls `handler` on Ctrl-C (SIGINT) until the returned function is called. */
  onInterrupt(handler: () => void): () => void;
}

export function processIo(): CliIo {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    now: () => new Date(),
    sleep: (ms, signal) =>
      new Promise<void>((resolve) => {
        if (signal?.aborted) return resolve();
        const timer = setTimeout(done, ms);
        function done() {
          clearTimeout(timer);
          signal?.removeEventListener("abort", done);
          resolve();
        }
        signal?.addEventListener("abort", done, { once: true });
      }),
    onInterrupt: (handler) => {
      process.on("SIGINT", handler);
      return () => process.off("SIGINT", handler);
    },
  };
}

/** True when `stream` is a terminal people look at and colour is wanted. */
export function colourWanted(stream: OutStream, env: CliIo["env"], flag: boolean): boolean {
  if (!flag) return false;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== "") return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== "0") return true;
  return stream.isTTY === true && env.TERM !== "dumb";
}

/**
 * A terminal that can be redrawn in place (spinners, progress bars, --watch):
 * redrawing needs its width, which a terminal without one (a bare pty) lacks.
 */
export function isInteractive(stream: OutStream, env: CliIo["env"]): boolean {
  return stream.isTTY === true && env.TERM !== "dumb" && (stream.columns ?? 0) > 0;
}

/** The width to fit table lines to: a terminal's, never a pipe's. */
export function lineWidth(stream: OutStream): number | undefined {
  return stream.isTTY && stream.columns !== undefined && stream.columns >= 40 ? stream.columns : undefined;
}

export interface Output {
  io: CliIo;
  /** Colours for stdout. */
  c: Colors;
  /** Colours for stderr. */
  ce: Colors;
  json: boolean;
  /** Writes one line to stdout. */
  line(text?: string): void;
  /** Writes one line to stderr (progress, notes). */
  note(text: string): void;
  /** Writes a value as JSON to stdout (--json). */
  emitJson(value: unknown): void;
}

export function output(io: CliIo, opts: { json: boolean; color: boolean }): Output {
  return {
    io,
    c: pc.createColors(colourWanted(io.stdout, io.env, opts.color)),
    ce: pc.createColors(colourWanted(io.stderr, io.env, opts.color)),
    json: opts.json,
    line: (text = "") => void io.stdout.write(text + "\n"),
    note: (text) => void io.stderr.write(text + "\n"),
    emitJson: (value) => void io.stdout.write(JSON.stringify(value, null, 2) + "\n"),
  };
}

/** How often to ask the server while following something (BQX_POLL_MS overrides, e.g. for tests). */
export function pollMs(env: CliIo["env"], fallback: number): number {
  const n = Number(env.BQX_POLL_MS);
  return Number.isFinite(n) && n >= 10 ? n : fallback;
}
