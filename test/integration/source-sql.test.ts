// The source queries run on the real ClickHouse engine (chdb) against
// PostHog-schema tables holding the fixture rows, and must return exactly the
// expected rows for each case.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@clickhouse/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isExportError } from "../../functions/src/core/errors.js";
import { loadFields, sourceColumns } from "../../functions/src/core/models.js";
import { createRowEncoder } from "../../functions/src/core/rows.js";
import type { Period } from "../../functions/src/core/periods.js";
import {
  eventsQuery,
  personsQuery,
  type EventsQueryOptions,
  DEFAULT_LOOKBACK_DAYS,
} from "../../functions/src/core/source-sql.js";
import {
  EV,
  EVENT_ROWS,
  EXPORTED_AT,
  fixtureEventsQuery,
  OTHER_TEAM,
  PERIOD,
  PERSON,
  POSTHOG_FIXTURES,
  TEAM,
  dt64,
  unixSeconds,
  type EventRow,
} from "../fixtures/posthog-fixtures.js";
import { openWithRows, type ChdbPosthog } from "../helpers/chdb-session.js";
import { startClickHouseServer, type ClickHouseServer } from "../local/clickhouse/server.js";

type Row = Record<string, unknown>;

let ch: ChdbPosthog;
// chdb allows one data directory per process: the session and the local
// ClickHouse HTTP server (used by the last group) share this one.
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "bqx-source-sql-"));
  ch = await openWithRows(POSTHOG_FIXTURES, { dir });
});
afterAll(() => {
  ch?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function events(overrides: Partial<EventsQueryOptions> = {}): Promise<Row[]> {
  const q = fixtureEventsQuery(overrides);
  return ch.query(q.sql, q.params);
}

function persons(teamId: number, period: Period = PERIOD): Promise<Row[]> {
  const q = personsQuery({ teamId, period, exportedAt: EXPORTED_AT });
  return ch.query(q.sql, q.params);
}

/** The rows as the encoder writes them (STRING variant): set, set_once and ip are its to derive. */
const encoded = (rows: Row[]): Row[] => {
  const encoder = createRowEncoder("events", false);
  return rows.map((r) => JSON.parse(encoder.encodeText(JSON.stringify(r))) as Row);
};

const uuids = (rows: Row[]): string[] => rows.map((r) => String(r.uuid)).sort();
const sorted = (ids: string[]): string[] => [...ids].sort();
const byDistinctId = (rows: Row[]): Row[] =>
  [...rows].sort((a, b) => String(a.distinct_id).localeCompare(String(b.distinct_id)));

const ISO_MICROS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/;

describe("eventsQuery, ingested selection (scheduled runs)", () => {
  it("returns the period's arrivals: on time, late within the lookback, and rows without inserted_at", async () => {
    const rows = await events({ lookbackDays: 2 });
    expect(uuids(rows)).toEqual(sorted([EV.onTime, EV.late, EV.excluded, EV.duplicated, EV.noInsertedAt]));
  });

  it("leaves out events older than the lookback and stamped beyond the future skew", async () => {
    const uuidsDefault = uuids(await events());
    expect(uuidsDefault).not.toContain(EV.tooOld); // 10 days old, default lookback 7
    expect(uuidsDefault).not.toContain(EV.future); // 2 days ahead, skew 1 day
    // A lookback that reaches back 11 days picks the old event up.
    expect(uuids(await events({ lookbackDays: 11 }))).toContain(EV.tooOld);
    // A lookback of 1 day no longer reaches the event stamped the day before at 09:00.
    expect(uuids(await events({ lookbackDays: 1 }))).not.toContain(EV.late);
  });

  it("never returns rows ingested before or after the period", async () => {
    const got = uuids(await events({ lookbackDays: 30 }));
    expect(got).not.toContain(EV.previous);
    expect(got).not.toContain(EV.crossesEnd);
    // ... which the next period's run picks up.
    const next = { start: PERIOD.end, end: new Date(PERIOD.end.getTime() + 3_600_000) };
    expect(uuids(await events({ period: next }))).toEqual([EV.crossesEnd]);
  });

  it("writes each model column, in the model's order, with the documented values", async () => {
    const rows = await events({ lookbackDays: 2 });
    for (const row of rows) expect(Object.keys(row)).toEqual(sourceColumns("events"));
    const onTime = rows.find((r) => r.uuid === EV.onTime);
    const source = EVENT_ROWS.find((r) => r.uuid === EV.onTime) as EventRow;
    expect(onTime).toEqual({
      uuid: EV.onTime,
      event: "$pageview",
      properties: source.properties,
      elements: JSON.stringify(source.elements_chain),
      distinct_id: "user-a1",
      team_id: "1",
      site_url: "",
      timestamp: "2026-11-25T10:15:00.123456Z",
      bq_ingested_timestamp: "2026-11-25T11:00:07.250000Z",
    });
    // set, set_once and ip: the encoder's, from properties.
    expect(encoded([onTime!])[0]).toMatchObject({
      set: JSON.stringify({ email: "ada@example.com", plan: "pro" }),
      set_once: JSON.stringify({ initial_referrer: "$direct" }),
      ip: "203.0.113.7",
    });
    const late = rows.find((r) => r.uuid === EV.late);
    expect(late).toMatchObject({ elements: '""', site_url: "" });
    expect(encoded([late!])[0]).toMatchObject({ set: null, set_once: null, ip: null });
    expect(late?.timestamp).toBe("2026-11-24T09:00:00.000000Z");
    for (const row of rows) {
      expect(row.timestamp).toMatch(ISO_MICROS);
      expect(row.bq_ingested_timestamp).toBe("2026-11-25T11:00:07.250000Z");
      expect(row.team_id).toMatch(/^[0-9]+$/);
    }
  });

  it("returns a uuid written twice once: the copy inserted last", async () => {
    const rows = (await events()).filter((r) => r.uuid === EV.duplicated);
    expect(rows).toHaveLength(1);
    expect(rows[0]?.properties).toBe(JSON.stringify({ attempt: 2 }));
  });

  it("applies exclude and include lists", async () => {
    const excluded = uuids(await events({ lookbackDays: 2, excludeEvents: ["$feature_flag_called"] }));
    expect(excluded).toEqual(sorted([EV.onTime, EV.late, EV.duplicated, EV.noInsertedAt]));
    const included = uuids(await events({ includeEvents: ["signed_up", "$feature_flag_called"] }));
    expect(included).toEqual(sorted([EV.excluded, EV.duplicated]));
    const both = uuids(
      await events({ includeEvents: ["signed_up", "$feature_flag_called"], excludeEvents: ["signed_up"] }),
    );
    expect(both).toEqual([EV.excluded]);
    expect(await events({ includeEvents: ["no such event"] })).toEqual([]);
  });

  it("keeps teams apart", async () => {
    const team1 = uuids(await events({ lookbackDays: 30 }));
    expect(team1).not.toContain(EV.otherTeam);
    const team2 = await events({ teamId: OTHER_TEAM });
    expect(uuids(team2)).toEqual([EV.otherTeam]);
    expect(team2[0]?.team_id).toBe(String(OTHER_TEAM));
    expect(await events({ teamId: 99 })).toEqual([]);
  });
});

describe("eventsQuery, backfill selection", () => {
  it("selects by timestamp, whenever the event arrived", async () => {
    const rows = await events({ selection: "backfill" });
    expect(uuids(rows)).toEqual(
      sorted([EV.onTime, EV.excluded, EV.duplicated, EV.crossesEnd, EV.noInsertedAt]),
    );
    expect(rows.filter((r) => r.uuid === EV.duplicated)).toHaveLength(1);
    expect(rows.find((r) => r.uuid === EV.crossesEnd)?.timestamp).toBe("2026-11-25T10:59:59.999999Z");
  });

  it("finds late and old events in the periods they happened in", async () => {
    const lateHour = { start: new Date("2026-11-24T09:00:00Z"), end: new Date("2026-11-24T10:00:00Z") };
    expect(uuids(await events({ selection: "backfill", period: lateHour }))).toEqual([EV.late]);
    const oldDay = { start: new Date("2026-11-15T00:00:00Z"), end: new Date("2026-11-16T00:00:00Z") };
    expect(uuids(await events({ selection: "backfill", period: oldDay }))).toEqual([EV.tooOld]);
  });

  it("applies the filters", async () => {
    const rows = await events({
      selection: "backfill",
      excludeEvents: ["$feature_flag_called", "signed_up"],
    });
    expect(uuids(rows)).toEqual(sorted([EV.onTime, EV.crossesEnd, EV.noInsertedAt]));
  });
});

describe("eventsQuery parameters", () => {
  it("carries hostile event names as parameters that match exactly, never as SQL", async () => {
    const team = 3;
    const names = ["it's", "back\\slash", "{evil:String}", "x') OR 1=1 --", "tab\there\nnewline"];
    await ch.insert(
      "events",
      names.map((event, i) => ({
        ...(EVENT_ROWS[0] as EventRow),
        uuid: `01937a00-0000-7000-8000-0000000003${String(i).padStart(2, "0")}`,
        event,
        team_id: team,
        inserted_at: dt64("2026-11-25T10:30:00Z"),
        _timestamp: unixSeconds("2026-11-25T10:30:00Z"),
      })),
    );
    for (const name of names) {
      const q = eventsQuery({
        teamId: team,
        period: PERIOD,
        exportedAt: EXPORTED_AT,
        includeEvents: [name],
        excludeEvents: [],
        selection: "ingested",
        lookbackDays: DEFAULT_LOOKBACK_DAYS,
      });
      expect(q.sql).not.toContain(name);
      const rows = await ch.query(q.sql, q.params);
      expect(rows.map((r) => r.event)).toEqual([name]);
    }
    const all = await events({ teamId: team, excludeEvents: names.slice(0, 2) });
    expect(all.map((r) => r.event).sort()).toEqual(names.slice(2).sort());
  });

  it("maps empty and null source values as documented, and breaks duplicate ties by _offset", async () => {
    const team = 4;
    const at = "2026-11-25T10:30:00Z";
    const base = {
      ...(EVENT_ROWS[0] as EventRow),
      team_id: team,
      inserted_at: dt64(at),
      _timestamp: unixSeconds(at),
    };
    const id = (n: number): string => `01937a00-0000-7000-8000-0000000004${String(n).padStart(2, "0")}`;
    await ch.insert("events", [
      { ...base, uuid: id(1), properties: "", elements_chain: "" },
      {
        ...base,
        uuid: id(2),
        properties: '{"$set":null,"$set_once":{},"$ip":""}',
        elements_chain: 'a:text="x"',
      },
      // PostHog's hostile values beside the members: ClickHouse's JSONExtract* gave NULL for all.
      {
        ...base,
        uuid: id(4),
        properties:
          '{"bad":"\\ud83e","big":123456789012345678901234567890,"huge":1e400,"$set":{"a":1},"$set_once":{"b":"\\ud83d\\ude00"},"$ip":"198.51.100.4"}',
      },
      // Same uuid, same inserted_at: the higher Kafka offset wins.
      { ...base, uuid: id(3), properties: '{"copy":"low"}', _offset: 7 },
      { ...base, uuid: id(3), properties: '{"copy":"high"}', _offset: 9 },
    ]);
    const rows = encoded(await events({ teamId: team }));
    const get = (n: number): Row | undefined => rows.find((r) => r.uuid === id(n));
    expect(rows).toHaveLength(4);
    expect(get(1)).toMatchObject({ properties: null, set: null, set_once: null, ip: null, elements: '""' });
    expect(get(2)).toMatchObject({
      set: null,
      set_once: "{}",
      ip: null,
      elements: JSON.stringify('a:text="x"'),
    });
    expect(get(3)?.properties).toBe('{"copy":"high"}');
    expect(get(4)).toMatchObject({ set: '{"a":1}', set_once: '{"b":"\\ud83d\\ude00"}', ip: "198.51.100.4" });
  });

  it("refuses a database name that is not a plain identifier, and bad periods", () => {
    const base = {
      teamId: TEAM,
      period: PERIOD,
      exportedAt: EXPORTED_AT,
      includeEvents: [],
      excludeEvents: [],
      selection: "ingested" as const,
      lookbackDays: DEFAULT_LOOKBACK_DAYS,
    };
    const codeOf = (f: () => unknown): string | undefined => {
      try {
        f();
      } catch (e) {
        return isExportError(e) ? e.code : "not an ExportError";
      }
      return undefined;
    };
    expect(codeOf(() => eventsQuery({ ...base, database: "posthog`; DROP TABLE x; --" }))).toBe(
      "INVALID_REQUEST",
    );
    expect(codeOf(() => personsQuery({ ...base, database: "a.b" }))).toBe("INVALID_REQUEST");
    expect(codeOf(() => eventsQuery({ ...base, lookbackDays: -1 }))).toBe("INVALID_REQUEST");
    expect(codeOf(() => eventsQuery({ ...base, teamId: 1.5 }))).toBe("INVALID_REQUEST");
    expect(codeOf(() => eventsQuery({ ...base, period: { start: PERIOD.end, end: PERIOD.start } }))).toBe(
      "INVALID_INTERVAL",
    );
    expect(codeOf(() => personsQuery({ ...base, exportedAt: new Date(Number.NaN) }))).toBe(
      "INVALID_INTERVAL",
    );
    expect(codeOf(() => eventsQuery({ ...base, database: "posthog_2" }))).toBeUndefined();
    expect(codeOf(() => personsQuery({ ...base, database: "2024_posthog" }))).toBeUndefined();
    expect(codeOf(() => personsQuery({ ...base, database: "" }))).toBe("INVALID_REQUEST");
  });
});

describe("personsQuery", () => {
  it("returns each distinct_id whose mapping or person changed, with the latest versions, deletions flagged", async () => {
    const rows = byDistinctId(await persons(TEAM));
    const ada = JSON.stringify({ email: "ada@example.com", plan: "pro" });
    // 64-bit integers come quoted, so every digit survives JSON.parse.
    expect(rows).toEqual([
      // Person bump (version 0 → 1, the new row written twice): both of its distinct_ids.
      {
        team_id: "1",
        distinct_id: "a1",
        person_id: PERSON.twoIds,
        properties: ada,
        person_version: "1",
        person_distinct_id_version: "0",
        bqx_deleted: false,
      },
      {
        team_id: "1",
        distinct_id: "a2",
        person_id: PERSON.twoIds,
        properties: ada,
        person_version: "1",
        person_distinct_id_version: "0",
        bqx_deleted: false,
      },
      // Mapping bump: b1 moved to another person, whose own row is older.
      {
        team_id: "1",
        distinct_id: "b1",
        person_id: PERSON.mergedInto,
        properties: JSON.stringify({ name: "Grace", email: "grace@example.com" }),
        person_version: "2",
        person_distinct_id_version: "1",
        bqx_deleted: false,
      },
      // e1's mapping was deleted (at mapping version 1): a deletion, no properties.
      {
        team_id: "1",
        distinct_id: "e1",
        person_id: PERSON.mappingDeleted,
        properties: null,
        person_version: "0",
        person_distinct_id_version: "1",
        bqx_deleted: true,
      },
      // g1's person was deleted (at person version 1).
      {
        team_id: "1",
        distinct_id: "g1",
        person_id: PERSON.deleted,
        properties: null,
        person_version: "1",
        person_distinct_id_version: "0",
        bqx_deleted: true,
      },
      // Not here: c1 (unchanged, though its person received b1), d1 (unchanged),
      // f1 (changes after the period).
    ]);
    const names = loadFields("persons", false).map((f) => f.name);
    for (const row of rows) expect(Object.keys(row)).toEqual(names);
  });

  it("exports the latest state when an earlier period is run later", async () => {
    const day = { start: new Date("2026-11-24T00:00:00Z"), end: new Date("2026-11-25T00:00:00Z") };
    const rows = byDistinctId(await persons(TEAM, day));
    expect(
      rows.map((r) => [
        r.distinct_id,
        r.person_id,
        r.person_version,
        r.person_distinct_id_version,
        r.bqx_deleted,
      ]),
    ).toEqual([
      ["a1", PERSON.twoIds, "1", "0", false],
      ["a2", PERSON.twoIds, "1", "0", false],
      ["b1", PERSON.mergedInto, "2", "1", false],
      ["c1", PERSON.mergedInto, "2", "0", false],
      ["d1", PERSON.unchanged, "5", "0", false],
      ["e1", PERSON.mappingDeleted, "0", "1", true],
      ["f1", PERSON.changesLater, "1", "0", false],
      ["g1", PERSON.deleted, "1", "0", true],
    ]);
  });

  it("picks up a change in the period that follows", async () => {
    const next = { start: PERIOD.end, end: new Date(PERIOD.end.getTime() + 3_600_000) };
    const rows = await persons(TEAM, next);
    expect(rows).toEqual([
      {
        team_id: "1",
        distinct_id: "f1",
        person_id: PERSON.changesLater,
        properties: JSON.stringify({ name: "Later v1" }),
        person_version: "1",
        person_distinct_id_version: "0",
        bqx_deleted: false,
      },
    ]);
  });

  it("keeps teams apart, even for equal distinct_ids", async () => {
    const rows = await persons(OTHER_TEAM);
    expect(rows).toEqual([
      {
        team_id: "2",
        distinct_id: "a1",
        person_id: PERSON.otherTeam,
        properties: JSON.stringify({ name: "Team two" }),
        person_version: "3",
        person_distinct_id_version: "4",
        bqx_deleted: false,
      },
    ]);
    expect(await persons(99)).toEqual([]);
  });

  it("keeps versions above 2^53 exact", async () => {
    // 2^63 - 1: JSON.parse of an unquoted number would make it 9223372036854775808.
    const big = "9223372036854775807";
    const id = "018f0000-0000-7000-8000-0000000000b9";
    const at = unixSeconds("2026-11-25T10:10:00Z");
    await ch.query(
      `INSERT INTO posthog.person (id, created_at, team_id, properties, is_identified, is_deleted, version, _timestamp, _offset)
       VALUES ('${id}', '2026-11-01 00:00:00', 7, '{}', 1, 0, ${big}, ${at}, 1)`,
    );
    await ch.query(
      `INSERT INTO posthog.person_distinct_id2 (team_id, distinct_id, person_id, is_deleted, version, _timestamp, _offset, _partition)
       VALUES (7, 'big', '${id}', 0, ${big}, ${at}, 1, 0)`,
    );
    const [row] = await persons(7);
    expect(row).toMatchObject({ person_version: big, person_distinct_id_version: big });
  });
});

describe("over ClickHouse's HTTP interface with @clickhouse/client", () => {
  let server: ClickHouseServer;
  beforeAll(async () => {
    server = await startClickHouseServer({ dataDir: dir, user: "exporter", password: "pw" });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("binds the same parameters as query_params and returns the same rows", async () => {
    const client = createClient({ url: server.url, username: "exporter", password: "pw" });
    try {
      const queries = [
        eventsQuery({
          teamId: TEAM,
          period: PERIOD,
          exportedAt: EXPORTED_AT,
          includeEvents: ["$pageview", "signed_up", "it's"],
          excludeEvents: ["signed_up"],
          selection: "ingested",
          lookbackDays: 2,
        }),
        eventsQuery({
          teamId: TEAM,
          period: PERIOD,
          exportedAt: EXPORTED_AT,
          includeEvents: [],
          excludeEvents: [],
          selection: "backfill",
          lookbackDays: DEFAULT_LOOKBACK_DAYS,
        }),
        personsQuery({ teamId: TEAM, period: PERIOD, exportedAt: EXPORTED_AT }),
      ];
      for (const q of queries) {
        const result = await client.query({ query: q.sql, query_params: q.params, format: "JSONEachRow" });
        const viaHttp = await result.json<Row>();
        const direct = await ch.query(q.sql, q.params);
        expect(viaHttp.length).toBeGreaterThan(0);
        const key = (r: Row): string => JSON.stringify(r);
        expect(viaHttp.map(key).sort()).toEqual(direct.map(key).sort());
      }
    } finally {
      await client.close();
    }
  });
});
