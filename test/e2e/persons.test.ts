// End to end, persons model: rows land in a stage table, finalizeRun MERGEs
// them into the destination on the two version columns and drops the stage.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Period } from "../../functions/src/core/periods.js";
import { personsQuery } from "../../functions/src/core/source-sql.js";
import {
  DISTINCT_ID_ROWS,
  PERIOD,
  PERSON,
  PERSON_ROWS,
  TEAM,
  unixSeconds,
} from "../fixtures/posthog-fixtures.js";
import {
  runExport,
  insertRows,
  interval,
  query,
  waitForRun,
  destinationOf,
} from "../helpers/stack-helpers.js";
import { startLocalStack, type Destination, type LocalStack } from "../local/stack.js";

let stack: LocalStack;
let dest: Destination;
const NEXT: Period = { start: PERIOD.end, end: new Date(PERIOD.end.getTime() + 3600_000) };
const THIRD: Period = { start: NEXT.end, end: new Date(NEXT.end.getTime() + 3600_000) };

function definition(useJsonType: boolean) {
  return {
    id: `persons-${useJsonType ? "json" : "string"}`,
    model: "persons",
    teamId: TEAM,
    interval: "hour",
    useJsonType,
    destination: destinationOf(stack, dest, `persons_${useJsonType ? "json" : "string"}`),
  };
}

async function personsTable(useJsonType: boolean): Promise<Map<string, Record<string, any>>> {
  const rows = await query(
    stack,
    `SELECT team_id, distinct_id, person_id, ${useJsonType ? "TO_JSON_STRING(properties)" : "properties"} AS properties,
            person_version, person_distinct_id_version
     FROM \`${stack.projectId}.${dest.datasetId}.persons_${useJsonType ? "json" : "string"}\``,
  );
  return new Map(rows.map((r) => [r.distinct_id as string, r]));
}

async function sourcePersons(period: Period): Promise<Record<string, any>[]> {
  const out: Record<string, any>[] = [];
  const q = personsQuery({ teamId: TEAM, period, exportedAt: new Date() });
  for await (const line of stack.deps.source.rows(q)) out.push(JSON.parse(line));
  return out;
}

async function exportPeriod(useJsonType: boolean, period: Period) {
  const res = await runExport(stack, definition(useJsonType), { dataInterval: interval(period) });
  expect([200, 202]).toContain(res.status);
  return waitForRun(stack, definition(useJsonType).id, period);
}

beforeAll(async () => {
  stack = await startLocalStack();
  await insertRows(stack, "person", PERSON_ROWS);
  await insertRows(stack, "person_distinct_id2", DISTINCT_ID_ROWS);
  dest = await stack.createDestination({ datasetId: "BatchExports" });
  // The next hour: the two-id person's properties change (version 2), and b1
  // moves to that person (mapping version 2).
  await insertRows(stack, "person", [
    {
      ...PERSON_ROWS[1]!,
      version: 2,
      properties: '{"email":"ada@example.com","plan":"enterprise"}',
      _timestamp: unixSeconds("2026-11-25T11:10:00Z"),
    },
  ]);
  await insertRows(stack, "person_distinct_id2", [
    {
      ...DISTINCT_ID_ROWS[3]!,
      person_id: PERSON.twoIds,
      version: 2,
      _timestamp: unixSeconds("2026-11-25T11:20:00Z"),
    },
  ]);
});

afterAll(async () => {
  await stack?.stop();
});

describe.each([true, false])("persons (useJsonType %s)", (useJsonType) => {
  it("land with the latest person_id, properties and both versions; deleted keys stay out", async () => {
    const source = await sourcePersons(PERIOD);
    const expected = source.filter((r) => !r.bqx_deleted);
    const deleted = source.filter((r) => r.bqx_deleted).map((r) => r.distinct_id);
    expect(expected.length).toBeGreaterThan(0);
    expect(deleted.sort()).toEqual(["e1", "g1"]);
    const run = await exportPeriod(useJsonType, PERIOD);
    expect(run.state).toBe("COMPLETED");
    expect(run.mergedRows).toBe(expected.length);
    const table = await personsTable(useJsonType);
    expect([...table.keys()].sort()).toEqual(expected.map((r) => r.distinct_id).sort());
    for (const src of expected) {
      const row = table.get(src.distinct_id)!;
      expect(row.person_id).toBe(src.person_id);
      expect(JSON.parse(row.properties)).toEqual(JSON.parse(src.properties));
      expect(Number(row.person_version)).toBe(Number(src.person_version));
      expect(Number(row.person_distinct_id_version)).toBe(Number(src.person_distinct_id_version));
    }
    // The stage table is dropped.
    const [tables] = await stack.adminBigQuery().dataset(dest.datasetId).getTables();
    expect(tables.map((t) => t.id).filter((id) => id?.includes("_bqx_stage_"))).toEqual([]);
  });
});

// The source is shared, so the sequence of later periods runs once (JSON variant).
describe("later periods", () => {
  const useJsonType = true;

  it("a follow-up run with version bumps updates them, and inserts new keys", async () => {
    const before = await personsTable(useJsonType);
    const run = await exportPeriod(useJsonType, NEXT);
    expect(run.state).toBe("COMPLETED");
    const after = await personsTable(useJsonType);
    // Person version bump: both of its distinct_ids now carry version 2.
    for (const id of ["a1", "a2"]) {
      expect(Number(after.get(id)!.person_version)).toBe(2);
      expect(JSON.parse(after.get(id)!.properties)).toMatchObject({ plan: "enterprise" });
    }
    // Mapping version bump: b1 now points at the two-id person.
    expect(after.get("b1")!.person_id).toBe(PERSON.twoIds);
    expect(Number(after.get("b1")!.person_distinct_id_version)).toBe(2);
    // A new key from the period (f1 changed at 11:30) is inserted; nothing is lost.
    expect(after.has("f1")).toBe(true);
    for (const key of before.keys()) expect(after.has(key)).toBe(true);
  });

  it("equal versions change nothing", async () => {
    // The hour after: version 2 written again with other properties (the
    // source exports the latest state): equal versions must not overwrite.
    {
      await insertRows(stack, "person", [
        {
          ...PERSON_ROWS[1]!,
          version: 2,
          properties: '{"email":"ada@example.com","plan":"tampered"}',
          _timestamp: unixSeconds("2026-11-25T12:10:00Z"),
          _offset: 99,
        },
      ]);
    }
    const before = await personsTable(useJsonType);
    const run = await exportPeriod(useJsonType, THIRD);
    expect(run.state).toBe("COMPLETED");
    expect(run.rows).toBeGreaterThan(0);
    expect(run.mergedRows).toBe(0);
    const after = await personsTable(useJsonType);
    expect(after).toEqual(before);
    expect(JSON.parse(after.get("a1")!.properties)).toMatchObject({ plan: "enterprise" });
  });
});

// PostHog's own follow-up scenario for persons: after a first export, half of
// the distinct_ids move to new persons, one person is deleted and one
// mapping is deleted; the same hour is run again, then the next hour, where a
// deleted distinct_id comes back. After each run the table equals the latest
// state in ClickHouse, computed here from the rows inserted.
describe("follow-up: moves, deletions and a re-created key", () => {
  const team = 3;
  const id = "persons-followup";
  const table = "persons_followup";
  const person = (n: number) => `018f0000-0000-7000-8000-00000000f${String(n).padStart(3, "0")}`;
  const at = (iso: string) => unixSeconds(iso);
  interface Person {
    id: string;
    version: number;
    properties: string;
    deleted: boolean;
  }
  interface Mapping {
    distinctId: string;
    personId: string;
    version: number;
    deleted: boolean;
  }
  const persons = new Map<string, Person>();
  const mappings = new Map<string, Mapping>();

  async function writePerson(p: Person, when: string, offset: number) {
    persons.set(p.id, p);
    await insertRows(stack, "person", [
      {
        id: p.id,
        created_at: "2026-11-01 00:00:00.000",
        team_id: team,
        properties: p.properties,
        is_identified: 1,
        is_deleted: p.deleted ? 1 : 0,
        version: p.version,
        _timestamp: at(when),
        _offset: offset,
      },
    ]);
  }
  async function writeMapping(m: Mapping, when: string) {
    mappings.set(m.distinctId, m);
    await insertRows(stack, "person_distinct_id2", [
      {
        team_id: team,
        distinct_id: m.distinctId,
        person_id: m.personId,
        is_deleted: m.deleted ? 1 : 0,
        version: m.version,
        _timestamp: at(when),
        _offset: m.version,
        _partition: 0,
      },
    ]);
  }

  /** The latest state: each undeleted mapping whose person exists and is not deleted. */
  function latestState(): Record<string, unknown>[] {
    return [...mappings.values()]
      .filter((m) => !m.deleted && persons.has(m.personId) && !persons.get(m.personId)!.deleted)
      .map((m) => {
        const p = persons.get(m.personId)!;
        return {
          distinct_id: m.distinctId,
          person_id: m.personId,
          properties: JSON.parse(p.properties) as unknown,
          person_version: p.version,
          person_distinct_id_version: m.version,
        };
      })
      .sort((a, b) => a.distinct_id.localeCompare(b.distinct_id));
  }

  async function tableState(): Promise<Record<string, unknown>[]> {
    const rows = await query(
      stack,
      `SELECT distinct_id, person_id, properties, person_version, person_distinct_id_version
       FROM \`${stack.projectId}.${dest.datasetId}.${table}\` WHERE team_id = ${team} ORDER BY distinct_id`,
    );
    return rows.map((r) => ({
      distinct_id: r.distinct_id,
      person_id: r.person_id,
      properties: JSON.parse(r.properties as string) as unknown,
      person_version: Number(r.person_version),
      person_distinct_id_version: Number(r.person_distinct_id_version),
    }));
  }

  async function run(period: Period, force = false) {
    const def = {
      ...definition(false),
      id,
      teamId: team,
      destination: { ...definition(false).destination, tableId: table },
    };
    const res = await runExport(stack, def, { dataInterval: interval(period), force });
    expect([200, 202]).toContain(res.status);
    const m = await waitForRun(stack, id, period);
    expect(m.state).toBe("COMPLETED");
  }

  it("ends each run with the table equal to ClickHouse's latest state", async () => {
    const hour = PERIOD.start.toISOString();
    const later = (minutes: number) => new Date(PERIOD.start.getTime() + minutes * 60_000).toISOString();
    for (let i = 1; i <= 4; i++) {
      await writePerson({ id: person(i), version: 0, properties: `{"n":${i}}`, deleted: false }, hour, 1);
      for (const j of [2 * i - 1, 2 * i]) {
        await writeMapping({ distinctId: `d${j}`, personId: person(i), version: 0, deleted: false }, hour);
      }
    }
    await run(PERIOD);
    expect(await tableState()).toEqual(latestState());
    expect(latestState()).toHaveLength(8);

    // Later in the same hour: d1, d3, d5, d7 move to new persons (mapping
    // version + 1), person 2 is deleted (version + 1), d8's mapping is deleted.
    for (const j of [1, 3, 5, 7]) {
      await writePerson(
        { id: person(10 + j), version: 0, properties: `{"moved":${j}}`, deleted: false },
        later(30),
        1,
      );
      await writeMapping(
        { distinctId: `d${j}`, personId: person(10 + j), version: 1, deleted: false },
        later(30),
      );
    }
    await writePerson({ id: person(2), version: 1, properties: `{"n":2}`, deleted: true }, later(40), 2);
    await writeMapping({ distinctId: "d8", personId: person(4), version: 1, deleted: true }, later(45));
    await run(PERIOD, true);
    const afterRerun = latestState();
    expect(afterRerun.map((r) => r["distinct_id"])).toEqual(["d1", "d2", "d3", "d5", "d6", "d7"]);
    expect(await tableState()).toEqual(afterRerun);

    // The next hour: d8 comes back on person 4 (mapping version 2) and person 1's properties change.
    await writeMapping(
      { distinctId: "d8", personId: person(4), version: 2, deleted: false },
      NEXT.start.toISOString(),
    );
    await writePerson(
      { id: person(1), version: 1, properties: `{"n":1,"plan":"pro"}`, deleted: false },
      NEXT.start.toISOString(),
      3,
    );
    await run(NEXT);
    expect(await tableState()).toEqual(latestState());
    expect(latestState().map((r) => r["distinct_id"])).toContain("d8");
  });
});
