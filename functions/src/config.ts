// Runtime configuration, parsed once from the environment at the edge.
import { z } from "zod";
import { SCHEDULER_JOB_PREFIX_PATTERN } from "./adapters/scheduler.js";
import { ExportError } from "./core/errors.js";
import { DEFAULT_SETTLE_MS, INTERVALS, type Interval } from "./core/periods.js";
import { DEFAULT_LOOKBACK_DAYS, MAX_LOOKBACK_DAYS } from "./core/source-sql.js";
import { DEFAULT_ROWS_PER_CHUNK } from "./core/backfill-plan.js";

const MiB = 1024 * 1024;

const envSchema = z.object({
  BQX_STAGING_BUCKET: z
    .string({ error: "BQX_STAGING_BUCKET is required: the GCS bucket for run manifests and staged data" })
    .regex(
      /^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$/,
      "BQX_STAGING_BUCKET must be a bucket name, not a gs:// URL",
    ),
  BQX_CLICKHOUSE_URL: z.url({ error: "BQX_CLICKHOUSE_URL is required: the ClickHouse HTTP(S) endpoint" }),
  BQX_CLICKHOUSE_USER: z.string().default("default"),
  BQX_CLICKHOUSE_PASSWORD: z.string().default(""),
  BQX_CLICKHOUSE_DATABASE: z
    .string()
    .regex(/^[A-Za-z0-9_]+$/)
    .default("posthog"),
  BQX_LOG_LEVEL: z.enum(["DEBUG", "INFO", "WARNING", "ERROR"]).default("INFO"),
  /** Uncompressed NDJSON bytes per staged part before a new part starts. */
  BQX_PART_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .default(256 * MiB),
  /** How far before the period start an event's `timestamp` may be and still be exported. */
  BQX_LOOKBACK_DAYS: z.coerce.number().int().min(0).max(MAX_LOOKBACK_DAYS).default(DEFAULT_LOOKBACK_DAYS),
  /**
   * Seconds after a period's end before its rows are read (all intervals);
   * unset: PostHog's delays, 30 s after 5-minute periods and 60 s otherwise.
   */
  BQX_SETTLE_SECONDS: z.coerce.number().int().min(0).max(3600).optional(),
  /** A STAGING run untouched for this long is considered crashed and is retried. */
  BQX_STALE_AFTER_SECONDS: z.coerce.number().int().min(60).default(3600),
  /** Backfills: the Cloud Tasks queue chunks are dispatched on (projects/<p>/locations/<l>/queues/<q>). */
  BQX_BACKFILL_QUEUE: z
    .string()
    .regex(
      /^projects\/[^/]+\/locations\/[^/]+\/queues\/[A-Za-z0-9-]{1,100}$/,
      "BQX_BACKFILL_QUEUE must be a queue name, projects/<project>/locations/<region>/queues/<queue>",
    )
    .optional(),
  /** The service account whose OIDC token backfill tasks carry. */
  BQX_TASKS_SERVICE_ACCOUNT: z.string().optional(),
  /** How long Cloud Tasks waits for a chunk's call (Cloud Tasks allows 15 s to 30 min). */
  BQX_TASKS_DISPATCH_DEADLINE_SECONDS: z.coerce.number().int().min(15).max(1800).default(1800),
  /** Rows a backfill chunk aims at. */
  BQX_BACKFILL_ROWS_PER_CHUNK: z.coerce.number().int().min(1).default(DEFAULT_ROWS_PER_CHUNK),
  /** exportRun's own URL, for the tasks it creates; unset: taken from each request's Host. */
  BQX_EXPORT_RUN_URL: z.url().optional(),
  /**
   * exportRun only: "projects/<project>/locations/<region>/jobs/<prefix>-";
   * an export's Scheduler job is this plus its id. Unset: auto-pause cannot
   * pause jobs and only logs that it would.
   */
  BQX_SCHEDULER_JOB_PREFIX: z
    .string()
    .regex(
      SCHEDULER_JOB_PREFIX_PATTERN,
      'BQX_SCHEDULER_JOB_PREFIX must be "projects/<project>/locations/<region>/jobs/<job name prefix>"',
    )
    .optional(),
  // Endpoints of the local stack; unset in production.
  /** Local stack only: the Cloud Tasks gRPC endpoint (host:port). */
  BQX_TASKS_ENDPOINT: z.string().optional(),
  STORAGE_EMULATOR_HOST: z.string().optional(),
  BQX_BIGQUERY_ENDPOINT: z.string().optional(),
  BQX_SECRET_MANAGER_ENDPOINT: z.string().optional(),
  /** Local stack only: the access token standing for the function's own identity. */
  BQX_BIGQUERY_ACCESS_TOKEN: z.string().optional(),
  /** Local stack only: the IAM Credentials API base URL (impersonation). */
  BQX_IAM_CREDENTIALS_ENDPOINT: z.string().optional(),
  /** Local stack only: the Cloud Scheduler gRPC endpoint, host:port (plain gRPC). */
  BQX_SCHEDULER_ENDPOINT: z.string().optional(),
});

export interface Config {
  stagingBucket: string;
  clickhouse: { url: string; user: string; password: string; database: string };
  logLevel: "DEBUG" | "INFO" | "WARNING" | "ERROR";
  partBytes: number;
  lookbackDays: number;
  /** Per interval: how long after a period's end its rows may be read. */
  settleMs: Record<Interval, number>;
  staleAfterMs: number;
  backfill: {
    queue: string | undefined;
    tasksServiceAccount: string | undefined;
    dispatchDeadlineSeconds: number;
    rowsPerChunk: number;
    exportRunUrl: string | undefined;
  };
  /** Prefix of the exports' Cloud Scheduler job names (auto-pause); undefined: cannot pause. */
  schedulerJobPrefix?: string;
  endpoints: {
    storage?: string;
    bigquery?: string;
    bigqueryAccessToken?: string;
    secretManager?: string;
    iamCredentials?: string;
    tasks?: string;
    scheduler?: string;
  };
}

export function loadConfig(env: Record<string, string | undefined>): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
    throw new ExportError("INVALID_REQUEST", `Invalid configuration: ${problems.join("; ")}`, {
      details: { issues: problems },
    });
  }
  const e = parsed.data;
  return {
    stagingBucket: e.BQX_STAGING_BUCKET,
    clickhouse: {
      url: e.BQX_CLICKHOUSE_URL,
      user: e.BQX_CLICKHOUSE_USER,
      password: e.BQX_CLICKHOUSE_PASSWORD,
      database: e.BQX_CLICKHOUSE_DATABASE,
    },
    logLevel: e.BQX_LOG_LEVEL,
    partBytes: e.BQX_PART_BYTES,
    lookbackDays: e.BQX_LOOKBACK_DAYS,
    settleMs: Object.fromEntries(
      INTERVALS.map((i) => [
        i,
        e.BQX_SETTLE_SECONDS === undefined ? DEFAULT_SETTLE_MS[i] : e.BQX_SETTLE_SECONDS * 1000,
      ]),
    ) as Record<Interval, number>,
    staleAfterMs: e.BQX_STALE_AFTER_SECONDS * 1000,
    backfill: {
      queue: e.BQX_BACKFILL_QUEUE,
      tasksServiceAccount: e.BQX_TASKS_SERVICE_ACCOUNT,
      dispatchDeadlineSeconds: e.BQX_TASKS_DISPATCH_DEADLINE_SECONDS,
      rowsPerChunk: e.BQX_BACKFILL_ROWS_PER_CHUNK,
      exportRunUrl: e.BQX_EXPORT_RUN_URL,
    },
    ...(e.BQX_SCHEDULER_JOB_PREFIX ? { schedulerJobPrefix: e.BQX_SCHEDULER_JOB_PREFIX } : {}),
    endpoints: {
      ...(e.STORAGE_EMULATOR_HOST ? { storage: e.STORAGE_EMULATOR_HOST } : {}),
      ...(e.BQX_BIGQUERY_ENDPOINT ? { bigquery: e.BQX_BIGQUERY_ENDPOINT } : {}),
      ...(e.BQX_BIGQUERY_ACCESS_TOKEN ? { bigqueryAccessToken: e.BQX_BIGQUERY_ACCESS_TOKEN } : {}),
      ...(e.BQX_SECRET_MANAGER_ENDPOINT ? { secretManager: e.BQX_SECRET_MANAGER_ENDPOINT } : {}),
      ...(e.BQX_IAM_CREDENTIALS_ENDPOINT ? { iamCredentials: e.BQX_IAM_CREDENTIALS_ENDPOINT } : {}),
      ...(e.BQX_TASKS_ENDPOINT ? { tasks: e.BQX_TASKS_ENDPOINT } : {}),
      ...(e.BQX_SCHEDULER_ENDPOINT ? { scheduler: e.BQX_SCHEDULER_ENDPOINT } : {}),
    },
  };
}
