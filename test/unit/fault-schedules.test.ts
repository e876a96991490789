// Randomized fault schedules for the run state machine (issue: "exactly once
// across failed attempts"). Each schedule, from a seed, runs one export over a
// few periods on in-memory fakes of GCS, BigQuery and ClickHouse, through the
// real handlers, while it mixes: completion events duplicated, dropped,
// delayed and reordered; 2-4 concurrent calls for one period; 5xx answers on
// jobs.insert (before and after the job exists), jobs.get and the MERGE;
// MERGEs hitting a concurrent update; ClickHouse down or cut mid-stream;
// crashes (a call abandoned at a random point between two port calls);
// forced reruns; and later calls whose sweep finds leftovers. Then it drives
// the system to quiescence as Cloud Scheduler and Pub/Sub would (retries,
// redeliveries, the sweep) and checks what a user checks: every source event
// exactly once (events), the latest state of every key (persons), every run
// COMPLETED, no stage table and no staged object left behind.
//
// CI runs BQX_FAULT_SCHEDULES (default 100) schedules; BQX_FAULT_SEED=<n>
// replays one. A failure prints its seed and what the schedule did.
import { describe, expect, it } from "vitest";
import { registerExport } from "../../functions/src/app/export-store.js";
import type { AppDeps } from "../../functions/src/app/deps.js";
import type {
  ObjectStore,
  SourceDatabase,
  Warehouse,
  WarehouseFactory,
} from "../../functions/src/app/ports.js";
import { parseManifest, type RunManifest } from "../../functions/src/core/manifest.js";
import type { Period } from "../../functions/src/core/periods.js";
import { handleExportRun } from "../../functions/src/handlers/export-run.js";
import { handleFinalizeEvent } from "../../functions/src/handlers/finalize-run.js";
import { createLogger } from "../../functions/src/log.js";
import { fakeWorld } from "../helpers/fakes/fake-deps.js";
import type { PersonChange, SourceEvent } from "../helpers/fakes/memory-source.js";
import type { AuditMessage, MemoryWarehouse } from "../helpers/fakes/memory-warehouse.js";

const HOUR = 3_600_000;
const MINUTE = 60_000;
const COUNT = Number(process.env["BQX_FAULT_SCHEDULES"] ?? 100);
const ONLY = process.env["BQX_FAULT_SEED"];

/** mulberry32: a small seeded generator, so a schedule replays from its seed. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Knobs {
  model: "events" | "persons";
  deduplicate: boolean;
  periods: number;
  rounds: number;
  crash: number;
  concurrent: number;
  force: number;
  startLoadFault: number;
  getJobFault: number;
  queryFault: number;
  startQueryFault: number;
  sourceDown: number;
  sourceBreak: number;
  dropEvent: number;
  duplicateEvent: number;
  delayEvent: number;
  loadLater: number;
  /** A load job that runs very long: it finishes only once everything else has settled. */
  slowLoad: number;
}

function knobs(r: () => number): Knobs {
  const p = (max: number) => Math.round(r() * max * 100) / 100;
  const model = r() < 0.6 ? "events" : "persons";
  return {
    model,
    deduplicate: model === "events" && r() < 0.25,
    periods: 1 + Math.floor(r() * 3),
    rounds: 3 + Math.floor(r() * 6),
    crash: p(0.25),
    concurrent: p(0.5),
    force: p(0.3),
    startLoadFault: p(0.3),
    getJobFault: p(0.2),
    queryFault: p(0.3),
    startQueryFault: p(0.15),
    sourceDown: p(0.15),
    sourceBreak: p(0.15),
    dropEvent: p(0.4),
    duplicateEvent: p(0.4),
    delayEvent: p(0.4),
    loadLater: p(0.8),
    slowLoad: p(0.3),
  };
}

/** What the schedule did, for the failure message. */
type Trace = string[];

class Crash {
  /** Resolves when the call has been abandoned. */
  readonly abandoned: Promise<"crashed">;
  private fire!: () => void;
  private ops = 0;
  private crashed = false;
  constructor(private readonly at: number | undefined) {
    this.abandoned = new Promise((resolve) => (this.fire = () => resolve("crashed")));
  }
  /** Awaited before each port call of the call: hangs for ever once the crash point is reached. */
  async step(): Promise<void> {
    this.ops++;
    if (!this.crashed && this.at !== undefined && this.ops >= this.at) {
      this.crashed = true;
      this.fire();
    }
    if (this.crashed) await new Promise<never>(() => undefined);
  }
}

/** The ports of one call, each call stepping the call's crash point first. */
function crashable(deps: AppDeps, crash: Crash): AppDeps {
  const wrap = <T extends object>(target: T): T =>
    new Proxy(target, {
      get(obj, prop, receiver) {
        const value = Reflect.get(obj, prop, receiver) as unknown;
        if (typeof value !== "function" || prop === "uri" || prop === "rows") return value;
        return async (...args: unknown[]) => {
          await crash.step();
          return (value as (...a: unknown[]) => unknown).apply(obj, args);
        };
      },
    });
  const source: SourceDatabase = {
    rows: async function* (q) {
      await crash.step();
      yield* deps.source.rows(q);
    },
    bytes: async function* (q) {
      await crash.step();
      yield* deps.source.bytes(q);
    },
  };
  const warehouses: WarehouseFactory = {
    forDestination: async (d) => {
      await crash.step();
      return wrap<Warehouse>(await deps.warehouses.forDestination(d));
    },
  };
  return { ...deps, store: wrap<ObjectStore>(deps.store), source, warehouses };
}

interface Outcome {
  trace: Trace;
  problems: string[];
  stats: { calls: number; crashes: number; deliveries: number; rows: number };
}

async function runSchedule(seed: number): Promise<Outcome> {
  const r = seeded(seed);
  const k = knobs(r);
  const trace: Trace = [`seed ${seed}: ${JSON.stringify(k)}`];
  const chance = (x: number) => r() < x;
  // Every port call yields a little, so concurrent calls interleave, and
  // BigQuery's jobs progress on their own meanwhile: a running job may
  // finish between any two steps of any call.
  const jobs: { warehouse?: MemoryWarehouse } = {};
  const slow = new Set<string>();
  const yieldPoint = async () => {
    for (let i = Math.floor(r() * 3); i > 0; i--) await new Promise((resolve) => setImmediate(resolve));
    if (jobs.warehouse && r() < 0.1) {
      const running = jobs.warehouse.running().filter((id) => !slow.has(id));
      const pick = running[Math.floor(r() * running.length)];
      if (pick) jobs.warehouse.completeJobs((id) => id === pick);
    }
  };
  const world = fakeWorld({ now: new Date(0), yieldPoint });
  const { store, warehouse, source, deps, logs: lines } = world;
  jobs.warehouse = warehouse;

  // Periods well in the past (settled); the clock moves on from there.
  const first = Date.UTC(2026, 10, 25, 8);
  const periods: Period[] = Array.from({ length: k.periods }, (_, i) => ({
    start: new Date(first + i * HOUR),
    end: new Date(first + (i + 1) * HOUR),
  }));
  world.clock.now = first + k.periods * HOUR + 2 * HOUR;

  // Source data.
  let uuid = 0;
  const team = 7;
  for (const period of periods) {
    for (let n = Math.floor(r() * 25); n > 0; n--) {
      const ingestedAt = new Date(period.start.getTime() + Math.floor(r() * HOUR));
      const event: SourceEvent = {
        uuid: `00000000-0000-4000-8000-${String(++uuid).padStart(12, "0")}`,
        teamId: team,
        event: chance(0.5) ? "$pageview" : "signed_up",
        distinctId: `d${Math.floor(r() * 5)}`,
        properties: JSON.stringify({ n: uuid, $ip: "203.0.113.7" }),
        timestamp: new Date(ingestedAt.getTime() - Math.floor(r() * 3 * HOUR)),
        ingestedAt,
      };
      source.events.push(event);
      // PostHog sometimes ingests an event twice within a period.
      if (chance(0.1)) source.events.push({ ...event, ingestedAt: new Date(ingestedAt.getTime() + 1000) });
    }
    for (let key = 0; key < 8; key++) {
      if (!chance(0.5)) continue;
      const prev = [...source.persons].reverse().find((c) => c.distinctId === `k${key}`);
      const change: PersonChange = {
        teamId: team,
        distinctId: `k${key}`,
        personId: `p${key}-${Math.floor(r() * 3)}`,
        personVersion: (prev?.personVersion ?? 0n) + (chance(0.5) ? 1n : 0n),
        mappingVersion: (prev?.mappingVersion ?? -1n) + 1n,
        properties: JSON.stringify({ key, at: period.start.toISOString() }),
        deleted: prev !== undefined && chance(0.2),
        at: new Date(period.start.getTime() + Math.floor(r() * HOUR)),
      };
      source.persons.push(change);
    }
  }

  // The fault test's own log threshold: warnings and errors only.
  deps.log = createLogger("WARNING", (line) => lines.push(line));
  const definition = {
    id: `fs-${k.model}`,
    model: k.model,
    teamId: team,
    interval: "hour",
    deduplicate: k.deduplicate,
    destination: { projectId: "fake-project", datasetId: "ds", tableId: k.model, location: "US" },
  };
  await registerExport(definition, store);

  // Faults, drawn as calls happen.
  const faultsOn = () => {
    warehouse.faults = {
      startLoad: () => {
        const f = chance(k.startLoadFault) ? (chance(0.5) ? "before" : "after") : undefined;
        if (f) trace.push(`startLoad fault ${f}`);
        return f;
      },
      getJob: () => chance(k.getJobFault),
      queryError: () =>
        chance(k.queryFault)
          ? chance(0.5)
            ? {
                reason: "backendError",
                message: "Error encountered during execution. Retrying may solve the problem.",
              }
            : {
                reason: "invalidQuery",
                message: "Could not serialize access to table fake-project:ds.t due to concurrent update",
              }
          : undefined,
      startQuery: () => chance(k.startQueryFault),
      loadDoneAtOnce: (jobId) => {
        if (chance(k.slowLoad)) {
          slow.add(jobId);
          trace.push(`slow load ${jobId.slice(-20)}`);
          return false;
        }
        return !chance(k.loadLater);
      },
    };
    source.faults = {
      unavailable: () => chance(k.sourceDown),
      breakAfter: () => (chance(k.sourceBreak) ? Math.floor(r() * 10) : undefined),
    };
  };
  const faultsOff = () => {
    warehouse.faults = {};
    source.faults = {};
  };

  const stats = { calls: 0, crashes: 0, deliveries: 0, rows: 0 };
  const call = async (period: Period, force: boolean, mayCrash: boolean): Promise<void> => {
    stats.calls++;
    const crash = new Crash(mayCrash && chance(k.crash) ? 1 + Math.floor(r() * 30) : undefined);
    const answer = handleExportRun(
      {
        method: "POST",
        headers: {},
        query: {},
        body: {
          exportId: definition.id,
          dataInterval: { start: period.start.toISOString(), end: period.end.toISOString() },
          force,
        },
      },
      crashable(deps, crash),
    );
    const result = await Promise.race([answer, crash.abandoned]);
    if (result === "crashed") {
      stats.crashes++;
      trace.push(`call ${period.start.toISOString().slice(11, 16)}${force ? " force" : ""}: crashed`);
    } else {
      const runs = (result.body as { runs?: { state: string; attempt: number }[] }).runs ?? [];
      trace.push(
        `call ${period.start.toISOString().slice(11, 16)}${force ? " force" : ""}: ${result.status} ${runs.map((x) => `${x.state}#${x.attempt}`).join(",")}`,
      );
    }
  };

  const pending: AuditMessage[] = [];
  const deliver = async (faulty: boolean): Promise<void> => {
    pending.push(...warehouse.audit.splice(0));
    const batch = pending.splice(0);
    // Pub/Sub gives no order.
    for (let i = batch.length - 1; i > 0; i--) {
      const j = Math.floor(r() * (i + 1));
      [batch[i], batch[j]] = [batch[j]!, batch[i]!];
    }
    await Promise.all(
      batch.map(async (message) => {
        if (faulty && chance(k.delayEvent)) {
          pending.push(message);
          return;
        }
        if (faulty && chance(k.dropEvent)) return; // lost for good: the sweep must recover
        const copies = faulty && chance(k.duplicateEvent) ? 2 : 1;
        for (let c = 0; c < copies; c++) {
          stats.deliveries++;
          try {
            await handleFinalizeEvent(message, deps);
          } catch {
            pending.push(message); // a retryable failure: Pub/Sub redelivers
          }
        }
      }),
    );
  };

  const manifests = async (): Promise<RunManifest[]> =>
    Promise.all(
      periods.map(async (p) => {
        const found = await store.read(
          `runs/${definition.id}/${p.start
            .toISOString()
            .replace(/[-:]/g, "")
            .replace(/\.\d{3}Z$/, "Z")}--${p.end
            .toISOString()
            .replace(/[-:]/g, "")
            .replace(/\.\d{3}Z$/, "Z")}.json`,
        );
        return found ? parseManifest(found.text, "manifest") : undefined;
      }),
    ).then((ms) => ms.filter((m): m is RunManifest => m !== undefined));

  // The faulty phase.
  faultsOn();
  for (let round = 0; round < k.rounds; round++) {
    const work: Promise<void>[] = [];
    for (const period of periods) {
      if (!chance(0.7)) continue;
      const copies = chance(k.concurrent) ? 2 + Math.floor(r() * 3) : 1;
      const force = chance(k.force);
      for (let c = 0; c < copies; c++) work.push(call(period, force && c === 0, true));
    }
    work.push(deliver(true));
    warehouse.completeJobs((id) => !slow.has(id) && chance(0.6));
    await Promise.all(work);
    world.clock.now += (1 + Math.floor(r() * 20)) * MINUTE;
  }

  // Quiescence: the faults stop; Cloud Scheduler keeps calling, Pub/Sub keeps delivering.
  faultsOff();
  trace.push("-- faults off --");
  let settled = false;
  for (let i = 0; i < 40 && !settled; i++) {
    world.clock.now += 10 * MINUTE;
    // Slow jobs finish last, after the rest has had a round to move on.
    warehouse.completeJobs((id) => i > 0 || !slow.has(id));
    await deliver(false);
    const ms = await manifests();
    const done = ms.length === periods.length && ms.every((m) => m.state === "COMPLETED");
    if (done && warehouse.running().length === 0 && pending.length === 0 && warehouse.audit.length === 0) {
      settled = true;
      break;
    }
    for (const period of periods) await call(period, false, false);
  }

  // What a user checks.
  const problems: string[] = [];
  if (!settled) {
    const ms = await manifests();
    problems.push(
      `did not settle: ${ms.map((m) => `${m.runId.slice(-33, -17)} ${m.state}#${m.attempt} ${m.error?.message ?? ""}`).join("; ")}`,
    );
  }
  const finalRows = warehouse.table({ projectId: "fake-project", datasetId: "ds", tableId: k.model });
  stats.rows = finalRows.length;
  if (k.model === "events") {
    const expected = new Set(source.events.map((e) => e.uuid));
    const seen = new Map<string, number>();
    for (const row of finalRows) seen.set(String(row["uuid"]), (seen.get(String(row["uuid"])) ?? 0) + 1);
    const duplicated = [...seen.entries()].filter(([, n]) => n > 1).map(([u]) => u);
    const lost = [...expected].filter((u) => !seen.has(u));
    const extra = [...seen.keys()].filter((u) => !expected.has(u));
    if (duplicated.length > 0)
      problems.push(`duplicated: ${duplicated.length} (${duplicated.slice(0, 3).join(", ")})`);
    if (lost.length > 0) problems.push(`lost: ${lost.length} (${lost.slice(0, 3).join(", ")})`);
    if (extra.length > 0) problems.push(`unexpected: ${extra.length}`);
  } else {
    const latest = [...source.latestPersons(team).values()].filter((c) => !c.deleted);
    const want = latest
      .map((c) => `${c.distinctId}:${c.personId}:${c.personVersion}:${c.mappingVersion}`)
      .sort();
    const got = finalRows
      .map(
        (x) =>
          `${String(x["distinct_id"])}:${String(x["person_id"])}:${String(x["person_version"])}:${String(x["person_distinct_id_version"])}`,
      )
      .sort();
    if (JSON.stringify(want) !== JSON.stringify(got))
      problems.push(`persons differ: want ${want.join(" ")} got ${got.join(" ")}`);
  }
  const stages = [...warehouse.tables.keys()].filter((t) => t.includes("_bqx_stage_"));
  if (stages.length > 0) problems.push(`stage tables left: ${stages.join(", ")}`);
  const staged = [...store.objects.keys()].filter((n) => n.startsWith("staging/"));
  if (staged.length > 0) problems.push(`staged objects left: ${staged.length}`);
  if (problems.length > 0) trace.push(...lines.slice(-20));
  return { trace, problems, stats };
}

describe("randomized fault schedules", () => {
  const seeds = ONLY !== undefined ? [Number(ONLY)] : Array.from({ length: COUNT }, (_, i) => 1000 + i);
  it(`${seeds.length} schedules end with every row exactly once, every run COMPLETED, nothing left behind`, async () => {
    const totals = { schedules: 0, calls: 0, crashes: 0, deliveries: 0, rows: 0 };
    for (const seed of seeds) {
      const outcome = await runSchedule(seed);
      if (process.env["BQX_FAULT_TRACE"]) console.log(outcome.trace.join("\n"));
      totals.schedules++;
      totals.calls += outcome.stats.calls;
      totals.crashes += outcome.stats.crashes;
      totals.deliveries += outcome.stats.deliveries;
      totals.rows += outcome.stats.rows;
      if (outcome.problems.length > 0) {
        throw new Error(
          `schedule ${seed} failed (replay: BQX_FAULT_SEED=${seed} npx vitest run test/unit/fault-schedules.test.ts):\n` +
            `${outcome.problems.join("\n")}\n${outcome.trace.join("\n")}`,
        );
      }
    }
    console.log(`fault schedules: ${JSON.stringify({ ...totals, lost: 0, duplicated: 0 })}`);
    expect(totals.schedules).toBe(seeds.length);
  }, 600_000);
});
