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
import { runExport, insertRows, interval, query, waitForRun } from "../helpers/stack-helpers.js";
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
    destination: {
      projectId: stack.projectId,
      datasetId: dest.datasetId,
      tableId: `persons_${useJsonType ? "json" : "string"}`,
      location: "US",
      keySecret: dest.keySecret,
    },
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
  it("land with the latest person_id, properties and both versions", async () => {
    const expected = await sourcePersons(PERIOD);
    expect(expected.length).toBeGreaterThan(0);
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
