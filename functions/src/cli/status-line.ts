// One line of "what is happening now" on stderr: a spinner redrawn in place on
// a terminal (ora), or, when stderr is not a terminal, a plain line each time
// the text changes, so logs of scripted calls show the progress too.
import ora, { type Ora } from "ora";
import { isInteractive, type CliIo } from "./io.js";

export interface StatusLine {
  set(text: string): void;
  /** Removes the spinner (the caller prints the outcome). */
  stop(): void;
}

export function statusLine(io: CliIo): StatusLine {
  if (isInteractive(io.stderr, io.env)) {
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
    set(text) {
      if (text === last) return;
      last = text;
      io.stderr.write(text + "\n");
    },
    stop() {
      last = "";
    },
  };
}
