// AppDeps on the in-memory fakes, for app-layer tests: one export's worth of
// GCS, BigQuery and ClickHouse, a movable clock, and the log lines kept.
import type { AppDeps } from "../../../functions/src/app/deps.js";
import { registerExport } from "../../../functions/src/app/export-store.js";
import type { ExportDefinitionInput } from "../../../functions/src/core/definition.js";
import { DEFAULT_SETTLE_MS } from "../../../functions/src/core/periods.js";
import { createLogger } from "../../../functions/src/log.js";
import { MemorySource } from "./memory-source.js";
import { MemoryStore } from "./memory-store.js";
import { MemoryWarehouse } from "./memory-warehouse.js";

export interface FakeWorld {
  deps: AppDeps;
  store: MemoryStore;
  warehouse: MemoryWarehouse;
  source: MemorySource;
  /** The functions' clock (ms since the epoch); move it forward in tests. */
  clock: { now: number };
  logs: string[];
}

export function fakeWorld(opts: {
  now: Date;
  yieldPoint?: () => Promise<void>;
  staleAfterMs?: number;
}): FakeWorld {
  const yieldPoint = opts.yieldPoint ?? (() => Promise.resolve());
  const store = new MemoryStore("fake-bucket", yieldPoint);
  const warehouse = new MemoryWarehouse(store, "US", yieldPoint);
  const source = new MemorySource(yieldPoint);
  const clock = { now: opts.now.getTime() };
  const logs: string[] = [];
  const deps: AppDeps = {
    store,
    source,
    warehouses: { forDestination: () => Promise.resolve(warehouse) },
    tasks: undefined,
    settings: {
      partBytes: 1024,
      lookbackDays: 7,
      settleMs: DEFAULT_SETTLE_MS,
      staleAfterMs: opts.staleAfterMs ?? 5 * 60_000,
      database: "posthog",
      backfillRowsPerChunk: 1000,
      exportRunUrl: undefined,
    },
    now: () => new Date(clock.now),
    sleep: () => Promise.resolve(),
    log: createLogger("DEBUG", (line) => logs.push(line)),
  };
  return { deps, store, warehouse, source, clock, logs };
}

/** An hourly export of team 7 into fake-project.ds.<model>, stored as Terraform would. */
export async function fakeExport(
  world: FakeWorld,
  id: string,
  extra: Partial<ExportDefinitionInput> = {},
): Promise<ExportDefinitionInput> {
  const def: ExportDefinitionInput = {
    id,
    model: "events",
    teamId: 7,
    interval: "hour",
    destination: {
      projectId: "fake-project",
      datasetId: "ds",
      tableId: extra.model ?? "events",
      location: "US",
    },
    ...extra,
  };
  await registerExport(def, world.store);
  return def;
}
