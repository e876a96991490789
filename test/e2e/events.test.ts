// End to end on the local stack, events model: exportRun → GCS → BigQuery
// load → audit event → finalizeRun. Every source row lands exactly once with
// the source's values, whatever the retries, redeliveries and concurrency.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventsQuery, DEFAULT_LOOKBACK_DAYS } from "../../functions/src/core/source-sql.js";
import type { Period } from "../../functions/src/core/periods.js";
import { EVENT_ROWS, PERIOD, TEAM, OTHER_TEAM, EV } from "../fixtures/posthog-fixtures.js";
import { HOSTILE_PROPERTIES } from "../fixtures/hostile-properties.js";
import {
  runExport,
  insertRows,
  interval,
  query,
  readManifest,
  waitForRun,
  destinationOf,
} from "../helpers/stack-helpers.js";
import { startLocalStack, type Destination, type LocalStack } from "../local/stack.js";

let stack: LocalStack;
let dest: Destination;

function definition(id: string, tableId: string, extra: Record<string, unknown> = {}) {
  return {
    id,
    model: "events",
    teamId: TEAM,
    interval: "hour",
    destination: destinationOf(stack, dest, tableId),
    ...extra,
  };
}

/** What the source query selects for the period, as JSON objects. */
async function sourceRows(period: Period, team = TEAM): Promise<Record<string, any>[]> {
  const q = eventsQuery({
    teamId: team,
    period,
    exportedAt: new Date(),
    includeEvents: [],
    excludeEvents: [],
    selection: "ingested",
    lookbackDays: DEFAULT_LOOKBACK_DAYS,
  });
  const out: Record<string, any>[] = [];
  for await (const line of stack.deps.source.rows(q)) {
    const row = JSON.parse(line);
    // set, set_once and ip are properties' top-level $set, $set_once and $ip (the fixtures'
    // documents are plain JSON, so JSON.parse reads them as BigQuery does).
    const props = row.properties ? JSON.parse(row.properties) : null;
    const member = (key: string) =>
      props && typeof props === "object" && props[key] !== null && props[key] !== undefined
        ? JSON.stringify(props[key])
        : null;
    out.push({
      ...row,
      set: member("$set"),
      set_once: member("$set_once"),
      ip: typeof props?.$ip === "string" && props.$ip !== "" ? props.$ip : null,
    });
  }
  return out;
}

function micros(iso: string): bigint {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d{1,6}))?Z$/.exec(iso)!;
  return BigInt(Date.parse(`${m[1]}Z`)) * 1000n + BigInt((m[2] ?? "").padEnd(6, "0"));
}

async function landed(tableId: string): Promise<Record<string, any>[]> {
  return query(
    stack,
    `SELECT uuid, event, properties, elements, \`set\`, set_once, distinct_id, team_id, ip, site_url,
            UNIX_MICROS(timestamp) AS ts_us, UNIX_MICROS(bq_ingested_timestamp) AS ingested_us
     FROM \`${stack.projectId}.${dest.datasetId}.${tableId}\` ORDER BY uuid`,
  );
}

async function countRows(tableId: string): Promise<{ n: number; distinct: number }> {
  const [row] = await query(
    stack,
    `SELECT COUNT(*) AS n, COUNT(DISTINCT uuid) AS d FROM \`${stack.projectId}.${dest.datasetId}.${tableId}\``,
  );
  return { n: Number(row!.n), distinct: Number(row!.d) };
}

/** JSON column values come back as JSON text: compare documents, not spelling. */
function sameJson(actual: string | null | undefined, expected: string | null | undefined): void {
  if (expected === null || expected === undefined) {
    expect(actual ?? null).toBeNull();
    return;
  }
  expect(JSON.parse(actual ?? "null")).toEqual(JSON.parse(expected));
}

beforeAll(async () => {
  stack = await startLocalStack();
  await insertRows(stack, "events", EVENT_ROWS);
  dest = await stack.createDestination({ datasetId: "BatchExports" });
});

afterAll(async () => {
  await stack?.stop();
});

describe.each([
  { variant: "JSON", useJsonType: true },
  { variant: "STRING", useJsonType: false },
])("events with $variant columns", ({ useJsonType }) => {
  const table = `events_${useJsonType ? "json" : "string"}`;
  const id = `ev-${useJsonType ? "json" : "string"}`;

  it("lands every source row of the period exactly once, with the source's values", async () => {
    const expected = await sourceRows(PERIOD);
    expect(expected.length).toBeGreaterThan(0);
    const started = Date.now() * 1000;
    const res = await runExport(stack, definition(id, table, { useJsonType }), {
      dataInterval: interval(PERIOD),
    });
    expect(res.status).toBe(202);
    expect(res.body.runs[0].rows).toBe(expected.length);
    const run = await waitForRun(stack, id, PERIOD);
    expect(run.state).toBe("COMPLETED");
    expect(run.loadedRows).toBe(expected.length);

    const rows = await landed(table);
    expect(rows.map((r) => r.uuid)).toEqual(expected.map((r) => r.uuid).sort());
    const byUuid = new Map(expected.map((r) => [r.uuid, r]));
    for (const row of rows) {
      const src = byUuid.get(row.uuid)!;
      expect(row.event).toBe(src.event);
      expect(row.distinct_id).toBe(src.distinct_id);
      expect(Number(row.team_id)).toBe(TEAM);
      expect(row.ip ?? null).toBe(src.ip ?? null);
      expect(row.site_url).toBe(src.site_url);
      expect(row.elements).toBe(src.elements);
      sameJson(row.properties, src.properties);
      sameJson(row.set, src.set);
      sameJson(row.set_once, src.set_once);
      // Microsecond precision survives the trip.
      expect(BigInt(row.ts_us)).toBe(micros(src.timestamp));
      expect(Number(row.ingested_us)).toBeGreaterThanOrEqual(started - 5_000_000);
    }
  });

  it("creates the table with the seed's columns, partitioned by day on timestamp", async () => {
    const [meta] = await stack.adminBigQuery().dataset(dest.datasetId).table(table).getMetadata();
    const fields = meta.schema.fields.map((f: any) => `${f.name}:${f.type}`);
    const j = useJsonType ? "JSON" : "STRING";
    expect(fields).toEqual([
      "uuid:STRING",
      "event:STRING",
      `properties:${j}`,
      "elements:STRING",
      `set:${j}`,
      `set_once:${j}`,
      "distinct_id:STRING",
      "team_id:INTEGER",
      "ip:STRING",
      "site_url:STRING",
      "timestamp:TIMESTAMP",
      "bq_ingested_timestamp:TIMESTAMP",
    ]);
    expect(meta.timePartitioning).toMatchObject({ type: "DAY", field: "timestamp" });
  });
});

describe("exactly once under repeats", () => {
  it("a period called twice in a row is exported once; the second call answers 200", async () => {
    const table = "events_twice";
    const def = definition("ev-twice", table);
    const first = await runExport(stack, def, { dataInterval: interval(PERIOD) });
    expect(first.status).toBe(202);
    await waitForRun(stack, "ev-twice", PERIOD);
    const second = await runExport(stack, def, { dataInterval: interval(PERIOD) });
    expect(second.status).toBe(200);
    expect(second.body.runs[0].note).toMatch(/already completed/);
    const c = await countRows(table);
    expect(c.n).toBe((await sourceRows(PERIOD)).length);
    expect(c.n).toBe(c.distinct);
  });

  it("concurrent calls for one period export it once", async () => {
    const table = "events_concurrent";
    const def = definition("ev-concurrent", table);
    const calls = await Promise.all(
      [1, 2, 3].map(() => runExport(stack, def, { dataInterval: interval(PERIOD) })),
    );
    const statuses = calls.map((c) => c.status).sort();
    // One call owns the run; the others see it in flight (or already done).
    expect(statuses.filter((s) => s === 202 || s === 200).length).toBeGreaterThanOrEqual(1);
    expect(statuses.every((s) => [200, 202, 409].includes(s))).toBe(true);
    const run = await waitForRun(stack, "ev-concurrent", PERIOD);
    expect(run.attempt).toBe(1);
    const c = await countRows(table);
    expect(c.n).toBe((await sourceRows(PERIOD)).length);
    expect(c.n).toBe(c.distinct);
  });

  it("completion events delivered twice finalize once", async () => {
    const table = "events_dup_event";
    const before = stack.functions.finalizeCalls();
    stack.bigquery.audit.duplicateNext(1);
    const res = await runExport(stack, definition("ev-dup-event", table), { dataInterval: interval(PERIOD) });
    expect(res.status).toBe(202);
    const run = await waitForRun(stack, "ev-dup-event", PERIOD);
    expect(run.state).toBe("COMPLETED");
    await stack.bigquery.audit.drain();
    expect(stack.functions.finalizeCalls() - before).toBeGreaterThanOrEqual(2);
    const c = await countRows(table);
    expect(c.n).toBe(c.distinct);
    expect(c.n).toBe((await sourceRows(PERIOD)).length);
    expect(run.history.filter((h) => h.state === "COMPLETED")).toHaveLength(1);
  });

  it("a forced rerun of a completed period adds nothing twice", async () => {
    const table = "events_forced";
    const def = definition("ev-forced", table);
    await runExport(stack, def, { dataInterval: interval(PERIOD) });
    await waitForRun(stack, "ev-forced", PERIOD);
    const rerun = await runExport(stack, def, { dataInterval: interval(PERIOD), force: true });
    expect(rerun.status).toBe(202);
    const run = await waitForRun(stack, "ev-forced", PERIOD);
    expect(run.state).toBe("COMPLETED");
    expect(run.attempt).toBe(2);
    expect(run.writePath).toBe("insert-new");
    expect(run.mergedRows).toBe(0);
    const c = await countRows(table);
    expect(c.n).toBe(c.distinct);
    expect(c.n).toBe((await sourceRows(PERIOD)).length);
    // The stage table is gone.
    const [tables] = await stack.adminBigQuery().dataset(dest.datasetId).getTables();
    expect(tables.map((t) => t.id).filter((t) => t?.startsWith(`${table}_bqx_stage`))).toEqual([]);
  });
});

describe("selection", () => {
  it("include and exclude filters", async () => {
    const all = await sourceRows(PERIOD);
    const names = [...new Set(all.map((r) => r.event as string))];
    expect(names.length).toBeGreaterThan(1);
    const [kept] = names;
    await runExport(stack, definition("ev-include", "events_include", { includeEvents: [kept] }), {
      dataInterval: interval(PERIOD),
    });
    await runExport(stack, definition("ev-exclude", "events_exclude", { excludeEvents: [kept] }), {
      dataInterval: interval(PERIOD),
    });
    await waitForRun(stack, "ev-include", PERIOD);
    await waitForRun(stack, "ev-exclude", PERIOD);
    const inc = await landed("events_include");
    const exc = await landed("events_exclude");
    expect(inc.length).toBe(all.filter((r) => r.event === kept).length);
    expect(inc.every((r) => r.event === kept)).toBe(true);
    expect(exc.length).toBe(all.length - inc.length);
    expect(exc.some((r) => r.event === kept)).toBe(false);
  });

  it("an empty period completes with 0 rows and starts no job", async () => {
    const empty: Period = { start: new Date("2020-01-01T00:00:00Z"), end: new Date("2020-01-01T01:00:00Z") };
    const res = await runExport(stack, definition("ev-empty", "events_empty"), {
      dataInterval: interval(empty),
    });
    expect(res.status).toBe(200);
    expect(res.body.runs[0]).toMatchObject({ state: "COMPLETED", rows: 0, files: 0 });
    expect(res.body.runs[0].job).toBeUndefined();
  });

  it("a late-arriving event lands in the period in which it was ingested, not the one of its timestamp", async () => {
    const late = EVENT_ROWS.find((r) => r.uuid === EV.late)!;
    expect(late).toBeDefined();
    const rows = await landed("events_json");
    expect(rows.map((r) => r.uuid)).toContain(EV.late);
    // Its timestamp lies before the period.
    expect(Date.parse(late.timestamp.replace(" ", "T") + "Z")).toBeLessThan(PERIOD.start.getTime());
  });

  it("the scheduler's headers pick the period before the schedule time", async () => {
    const res = await runExport(stack, definition("ev-scheduled", "events_scheduled"), {}, PERIOD.end);
    expect(res.status).toBe(202);
    expect(res.body.runs[0].period).toEqual({
      start: PERIOD.start.toISOString(),
      end: PERIOD.end.toISOString(),
    });
    const run = await waitForRun(stack, "ev-scheduled", PERIOD);
    expect(run.state).toBe("COMPLETED");
  });

  it("another team's events are not exported", async () => {
    const others = await sourceRows(PERIOD, OTHER_TEAM);
    const rows = await landed("events_json");
    const otherIds = new Set(others.map((r) => r.uuid));
    expect(rows.filter((r) => otherIds.has(r.uuid))).toEqual([]);
  });
});

// A lone surrogate cannot be stored in UTF-8: ClickHouse keeps it as the
// escape text (\uD800), so that is the source text the STRING column holds.
function asStoredBySource(text: string | null): string | null {
  return text === null
    ? null
    : text.replace(
        /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g,
        (c) => `\\u${c.charCodeAt(0).toString(16)}`,
      );
}

describe("hostile properties", () => {
  const period: Period = { start: new Date("2026-11-26T10:00:00Z"), end: new Date("2026-11-26T11:00:00Z") };
  const uuid = (i: number) => `0193aaaa-0000-7000-8000-${String(i).padStart(12, "0")}`;

  beforeAll(async () => {
    const template = EVENT_ROWS[0]!;
    await insertRows(
      stack,
      "events",
      HOSTILE_PROPERTIES.map((h, i) => ({
        ...template,
        uuid: uuid(i),
        team_id: 7,
        event: `hostile ${i}`,
        properties: h.source ?? "",
        timestamp: "2026-11-26 10:30:00.000000",
        inserted_at: "2026-11-26 10:30:01.000000",
        _timestamp: Math.floor(Date.parse("2026-11-26T10:30:01Z") / 1000),
      })),
    );
  });

  it.each([true, false])("export without failing the run (useJsonType %s)", async (useJsonType) => {
    const id = `ev-hostile-${useJsonType ? "json" : "string"}`;
    const table = `events_hostile_${useJsonType ? "json" : "string"}`;
    const def = { ...definition(id, table, { useJsonType }), teamId: 7 };
    const res = await runExport(stack, def, { dataInterval: interval(period) });
    expect(res.status).toBe(202);
    const run = await waitForRun(stack, id, period);
    expect(run.error).toBeUndefined();
    expect(run.state).toBe("COMPLETED");
    expect(run.loadedRows).toBe(HOSTILE_PROPERTIES.length);
    const rows = await landed(table);
    const byUuid = new Map(rows.map((r) => [r.uuid, r]));
    HOSTILE_PROPERTIES.forEach((h, i) => {
      const row = byUuid.get(uuid(i));
      expect(row, h.name).toBeDefined();
      if (useJsonType) {
        if (h.json === null) expect(row!.properties ?? null, h.name).toBeNull();
        else if (!h.jsonParseDiffers) expect(JSON.parse(row!.properties), h.name).toEqual(h.json);
      } else {
        const stored = asStoredBySource(h.source);
        expect(row!.properties ?? null, h.name).toBe(stored === h.source ? h.string : stored);
      }
    });
  });
});

describe("run history", () => {
  it("GET ?export= lists the export's runs with their state", async () => {
    const res = await fetch(`${stack.functions.exportRunUrl}?export=ev-json`);
    expect(res.status).toBe(200);
    const body: any = await res.json();
    expect(body.runs).toHaveLength(1);
    expect(body.runs[0]).toMatchObject({ state: "COMPLETED", attempt: 1 });
    const manifest = await readManifest(stack, "ev-json", PERIOD);
    expect(body.runs[0].rows).toBe(manifest!.rows);
  });
});
