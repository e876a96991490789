// Everything the use cases need, passed in by the composition root.
import type { Logger } from "../log.js";
import type { ObjectStore, SourceDatabase, WarehouseFactory } from "./ports.js";

export interface AppSettings {
  /** Uncompressed NDJSON bytes per staged part. */
  partBytes: number;
  lookbackDays: number | undefined;
  /** A STAGING run untouched this long is taken over by a new attempt. */
  staleAfterMs: number;
  /** ClickHouse database holding PostHog's tables. */
  database: string;
}

export interface AppDeps {
  store: ObjectStore;
  source: SourceDatabase;
  warehouses: WarehouseFactory;
  settings: AppSettings;
  now: () => Date;
  log: Logger;
}
