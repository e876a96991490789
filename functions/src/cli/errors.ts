// The command line's failures: one line that names the fix, and an exit code
// scripts can branch on.

/** Documented exit codes (README, "Command line"). */
export const EXIT = {
  /** Done: the run completed, the check passed, the job was paused. */
  ok: 0,
  /** What was asked ran and failed: a FAILED run, a failed check, a failed backfill, a server error. */
  failed: 1,
  /** It could not be asked: bad usage, unknown export, unreachable URL, refused credentials. */
  usage: 2,
  /** Ctrl-C while following a run or a backfill: it goes on without us. */
  interrupted: 130,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode,
    /** What to do about it, shown after the message. */
    readonly fix?: string,
  ) {
    super(message);
    this.name = "CliError";
  }
}

/** A usage or connection problem: exit code 2. */
export function usageError(message: string, fix?: string): CliError {
  return new CliError(message, EXIT.usage, fix);
}
