// One line of "what is happening now" on stderr: a spinner redrawn in place on
// a terminal (ora), or, when stderr is not a terminal, a plain line each time
// the text changes, so logs of scripted calls show the progress too.
import type { Ora } from "ora";
import { isInteractive, type CliIo } from "./io.js";

export interface StatusLine {
  /**
   * Shows `text`. Piped, a line is printed only when `key` (default: the text)
   * changes, so a ticking clock in the text does not print a line per poll.
   */
  set(text: string, key?: string): void;
  /** Removes the spinner (the caller prints the outcome). */
  stop(): void;
}

/** ora is loaded only for a terminal (it is a good part of bqx's start-up time). */
export async function statusLine(io: CliIo): Promise<StatusLine> {
  if (isInteractive(io.stderr, io.env)) {
    const { default: ora } = await import("ora");
    let spinner: Ora | undefined;
    return {
      set(text) {
        spinner ??= ora({
          stream: io.stderr as NodeJS.WritableStream,
          // Keep Ctrl-C a signal: ora would otherwise read stdin raw.
          discardStdin: false,
          isEnabled: true,
        }).start(text);
        spinner.text = text;
      },
      stop() {
        spinner?.stop();
        spinner = undefined;
      },
    };
  }
  let last = "";
  return {
    set(text, key = text) {
      if (key === last) return;
      last = key;
      io.stderr.write(text + "\n");
    },
    stop() {
      last = "";
    },
  };
}
