// Structured JSON logs, one object per line, in the shape Cloud Logging reads
// from a function's stdout: `severity` and `message` plus run fields.

export type Severity = "DEBUG" | "INFO" | "WARNING" | "ERROR";
const RANK: Record<Severity, number> = { DEBUG: 0, INFO: 1, WARNING: 2, ERROR: 3 };

// Field names whose values must never reach a log line.
const SECRET_FIELD = /pass(word)?|secret_?value|private_?key|token|authorization|credential/i;

export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  /** A logger that adds these fields (e.g. export, run) to every line. */
  child(fields: Record<string, unknown>): Logger;
}

export type LogSink = (line: string) => void;

function redact(value: unknown, depth = 0): unknown {
  if (depth > 6 || value === null || typeof value !== "object") return value;
  if (value instanceof Error) {
    const e = value as Error & { code?: unknown; retryable?: unknown };
    return { name: e.name, message: e.message, code: e.code, retryable: e.retryable };
  }
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = SECRET_FIELD.test(k) ? "[redacted]" : redact(v, depth + 1);
  }
  return out;
}

export function createLogger(
  level: Severity = "INFO",
  sink: LogSink = (line) => process.stdout.write(line + "\n"),
  base: Record<string, unknown> = {},
): Logger {
  const emit = (severity: Severity, message: string, fields: Record<string, unknown> = {}) => {
    if (RANK[severity] < RANK[level]) return;
    const entry = redact({ ...base, ...fields }) as Record<string, unknown>;
    sink(JSON.stringify({ severity, message, time: new Date().toISOString(), ...entry }));
  };
  return {
    debug: (m, f) => emit("DEBUG", m, f),
    info: (m, f) => emit("INFO", m, f),
    warn: (m, f) => emit("WARNING", m, f),
    error: (m, f) => emit("ERROR", m, f),
    child: (fields) => createLogger(level, sink, { ...base, ...fields }),
  };
}
