// Everything the use cases need, passed in by the composition root.
import type { Interval } from "../core/periods.js";
import type { Logger } from "../log.js";
import type { ObjectStore, SchedulerControl, SourceDatabase, TaskQueue, WarehouseFactory } from "./ports.js";

export interface AppSettings {
  /** Uncompressed NDJSON bytes per staged part. */
  partBytes: number;
  lookbackDays: number;
  /** Per interval: how long after a period's end its rows may be read. */
  settleMs: Record<Interval, number>;
  /** A STAGING run untouched this long is taken over by a new attempt. */
  staleAfterMs: number;
  /** ClickHouse database holding PostHog's tables. */
  database: string;
  /** Rows a backfill chunk aims at. */
  backfillRowsPerChunk: number;
  /** exportRun's own URL for backfill tasks; undefined: from each request. */
  exportRunUrl: string | undefined;
}

export interface AppDeps {
  store: ObjectStore;
  source: SourceDatabase;
  warehouses: WarehouseFactory;
  /** The backfill queue; undefined when BQX_BACKFILL_QUEUE is not set. */
  tasks: TaskQueue | undefined;
  settings: AppSettings;
  now: () => Date;
  /** Waits (a scheduled call that came before its period settled); tests pass a fake. */
  sleep: (ms: number) => Promise<void>;
  log: Logger;
  /**
   * The exports' Cloud Scheduler jobs, for auto-pause; undefined where the
   * function may not pause them (no BQX_SCHEDULER_JOB_PREFIX): auto-pause
   * then only says that it would.
   */
  scheduler?: SchedulerControl;
}
