// Typed errors: every failure carries a stable code, whether a retry can help,
// and the underlying cause. Handlers map `retryable` to 5xx (Cloud Scheduler
// and Pub/Sub retry) and everything else to a recorded, permanent failure.

export type ErrorCode =
  // The request or export definition is wrong: fix the input.
  | "INVALID_REQUEST"
  | "INVALID_INTERVAL"
  // No export of that id is configured (exports/<id>.json is absent).
  | "EXPORT_NOT_FOUND"
  // A stored export definition fails the schema (a hand-edited object): fix the definition.
  | "INVALID_DEFINITION"
  // The destination is not set up as the seed describes: fix the setup.
  | "DATASET_NOT_FOUND"
  | "PERMISSION_DENIED"
  | "BAD_CREDENTIALS"
  | "SECRET_NOT_FOUND"
  | "SCHEMA_MISMATCH"
  // BigQuery rejected the work itself.
  | "LOAD_FAILED"
  | "QUERY_FAILED"
  // The source could not be read.
  | "SOURCE_FAILED"
  // Transient: try again later.
  | "RATE_LIMITED"
  | "UNAVAILABLE"
  // Another call owns this run.
  | "CONFLICT"
  | "INTERNAL";

export interface ExportErrorOptions {
  retryable?: boolean;
  cause?: unknown;
  /** Machine-readable context (field paths, permission names, ...); never secrets. */
  details?: Record<string, unknown>;
}

const RETRYABLE_BY_DEFAULT: ReadonlySet<ErrorCode> = new Set(["RATE_LIMITED", "UNAVAILABLE"]);

export class ExportError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options: ExportErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "ExportError";
    this.code = code;
    this.retryable = options.retryable ?? RETRYABLE_BY_DEFAULT.has(code);
    this.details = options.details;
  }

  /** The shape returned in HTTP bodies and stored in run manifests. */
  toJSON(): { code: ErrorCode; message: string; retryable: boolean; details?: Record<string, unknown> } {
    return {
      code: this.code,
      message: this.message,
      retryable: this.retryable,
      ...(this.details ? { details: this.details } : {}),
    };
  }
}

export function isExportError(err: unknown): err is ExportError {
  return err instanceof ExportError;
}

/** Wraps anything thrown into an ExportError, keeping typed errors as they are. */
export function toExportError(err: unknown, fallback: ErrorCode = "INTERNAL"): ExportError {
  if (err instanceof ExportError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new ExportError(fallback, message, { cause: err });
}
