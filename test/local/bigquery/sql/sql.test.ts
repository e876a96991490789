// The local BigQuery's query engine, used directly: ZetaSQL analysis, DuckDB
// translation and execution against an in-memory catalog.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { DuckDBInstance, type DuckDBConnection } from "@duckdb/node-api";
import { eventsInsertMergeSql, personsMergeSql } from "../../../../functions/src/core/destination-sql.js";
import { quoteTable } from "../../../../functions/src/core/identifiers.js";
import { loadFields, modelFields } from "../../../../functions/src/core/models.js";
import { exampleQuerySql } from "../../../fixtures/seed-example-query.js";
import {
  BigQueryEngineError,
  type Cell,
  type PrepareOptions,
  type QueryEngine,
  type QueryParameter,
  type StatementResult,
  type TableRef,
} from "../contracts.js";
import { readFileSync } from "node:fs";
import { createQueryEngine } from "./engine.js";
import { SUPPORTED_FUNCTIONS } from "./functions.js";
import { MemoryCatalog } from "./memory-catalog.js";

const PROJECT = "test-project";
let instance: DuckDBInstance;
let connection: DuckDBConnection;
let catalog: MemoryCatalog;
let engine: QueryEngine;

beforeAll(async () => {
  instance = await DuckDBInstance.create(":memory:");
  connection = await instance.connect();
  catalog = new MemoryCatalog(connection);
  engine = await createQueryEngine({ connection, catalog });
  for (const d of ["BatchExports", "example", "ddl"]) await catalog.createDataset(PROJECT, d);
});

afterAll(async () => {
  await engine?.close();
  connection?.closeSync();
  instance?.closeSync();
});

async function run(sql: string, options: Partial<PrepareOptions> = {}): Promise<StatementResult> {
  const prepared = await engine.prepare(sql, { projectId: PROJECT, ...options });
  return prepared.run();
}

async function select(sql: string, options: Partial<PrepareOptions> = {}): Promise<Cell[][]> {
  const result = await run(sql, options);
  if (result.statementType !== "SELECT") throw new Error(`expected SELECT, got ${result.statementType}`);
  return result.rows;
}

async function affected(sql: string): Promise<number> {
  const result = await run(sql);
  if (!("numDmlAffectedRows" in result)) throw new Error(`expected DML, got ${result.statementType}`);
  return result.numDmlAffectedRows;
}

async function rejection(sql: string, options: Partial<PrepareOptions> = {}): Promise<BigQueryEngineError> {
  try {
    await run(sql, options);
  } catch (err) {
    if (err instanceof BigQueryEngineError) return err;
    throw err;
  }
  throw new Error(`expected ${sql} to fail`);
}

const ref = (datasetId: string, tableId: string): TableRef => ({ projectId: PROJECT, datasetId, tableId });

async function createModelTable(model: "events" | "persons", useJson: boolean, r: TableRef) {
  await catalog.createTable({ ref: r, fields: modelFields(model, useJson) });
}

/** A stage table as the product loads it (persons stages carry the deletion flag). */
async function createStageTable(model: "events" | "persons", useJson: boolean, r: TableRef) {
  await catalog.createTable({ ref: r, fields: loadFields(model, useJson) });
}

/** The persons MERGE as the product runs it: the stage de-duplicated to the highest versions. */
function personsMerge(final: string, stage: string): string {
  return `
    MERGE INTO \`${PROJECT}.BatchExports.${final}\` AS final
    USING (
      SELECT * FROM \`${PROJECT}.BatchExports.${stage}\`
      WHERE true
      QUALIFY ROW_NUMBER() OVER (
        PARTITION BY team_id, distinct_id
        ORDER BY person_version DESC, person_distinct_id_version DESC) = 1
    ) AS stage
    ON final.team_id = stage.team_id AND final.distinct_id = stage.distinct_id
    WHEN MATCHED AND (stage.person_version > final.person_version
                      OR stage.person_distinct_id_version > final.person_distinct_id_version) THEN
      UPDATE SET person_id = stage.person_id, properties = stage.properties,
                 person_version = stage.person_version,
                 person_distinct_id_version = stage.person_distinct_id_version
    WHEN NOT MATCHED BY TARGET THEN
      INSERT (team_id, distinct_id, person_id, properties, person_version, person_distinct_id_version)
      VALUES (stage.team_id, stage.distinct_id, stage.person_id, stage.properties,
              stage.person_version, stage.person_distinct_id_version)`;
}

describe.each([
  { variant: "STRING", useJson: false },
  { variant: "JSON", useJson: true },
])("persons MERGE with $variant properties", ({ variant, useJson }) => {
  const final = `persons_${variant.toLowerCase()}`;
  const stage = `persons_${variant.toLowerCase()}_stage`;
  // A properties literal of the column's type.
  const props = (name: string) => (useJson ? `JSON '{"name": "${name}"}'` : `'{"name": "${name}"}'`);

  beforeAll(async () => {
    await createModelTable("persons", useJson, ref("BatchExports", final));
    await createModelTable("persons", useJson, ref("BatchExports", stage));
    const existing = await affected(`
      INSERT INTO BatchExports.${final} (team_id, distinct_id, person_id, properties, person_version, person_distinct_id_version)
      VALUES (1, 'a', 'p-a', ${props("a0")}, 1, 1),
             (1, 'b', 'p-b', ${props("b0")}, 3, 1),
             (1, 'c', 'p-c', ${props("c0")}, 2, 2),
             (1, 'd', 'p-d', ${props("d0")}, 5, 5)`);
    expect(existing).toBe(4);
    await affected(`
      INSERT INTO BatchExports.${stage} (team_id, distinct_id, person_id, properties, person_version, person_distinct_id_version)
      VALUES (1, 'a', 'p-a2', ${props("a2")}, 2, 1),
             (1, 'a', 'p-a1', ${props("a1")}, 1, 1),
             (1, 'b', 'p-b2', ${props("b2")}, 3, 2),
             (1, 'c', 'p-c2', ${props("c2")}, 2, 2),
             (1, 'd', 'p-d2', ${props("d2")}, 4, 4),
             (1, 'e', 'p-e', ${props("e")}, 1, 1),
             (2, 'a', 'p-2a', ${props("2a")}, 1, 1)`);
  });

  it("updates higher versions, ignores equal and lower ones, inserts new keys", async () => {
    const prepared = await engine.prepare(personsMerge(final, stage), { projectId: PROJECT });
    expect(prepared.statementType).toBe("MERGE");
    expect(prepared.writes).toEqual([ref("BatchExports", final)]);
    expect(prepared.reads).toContainEqual(ref("BatchExports", stage));
    const result = await prepared.run();
    // a (person_version) and b (person_distinct_id_version) updated, e and (2, a) inserted.
    expect(result).toMatchObject({ statementType: "MERGE", numDmlAffectedRows: 4 });

    const rows = await select(`
      SELECT team_id, distinct_id, person_id, JSON_VALUE(properties, '$.name') AS name,
             person_version, person_distinct_id_version
      FROM BatchExports.${final} ORDER BY team_id, distinct_id`);
    expect(rows).toEqual([
      ["1", "a", "p-a2", "a2", "2", "1"],
      ["1", "b", "p-b2", "b2", "3", "2"],
      ["1", "c", "p-c", "c0", "2", "2"],
      ["1", "d", "p-d", "d0", "5", "5"],
      ["1", "e", "p-e", "e", "1", "1"],
      ["2", "a", "p-2a", "2a", "1", "1"],
    ]);
  });

  it("is a no-op when the same stage is merged again", async () => {
    expect(await affected(personsMerge(final, stage))).toBe(0);
  });

  it("returns the properties column as JSON text", async () => {
    const result = await run(`SELECT properties FROM BatchExports.${final} WHERE distinct_id = 'e'`);
    expect(result).toMatchObject({
      statementType: "SELECT",
      schema: [{ name: "properties", type: useJson ? "JSON" : "STRING" }],
    });
    const [[text]] = (result as { rows: Cell[][] }).rows as [[string]];
    expect(JSON.parse(text)).toEqual({ name: "e" });
    if (useJson) expect(text).toBe('{"name":"e"}');
  });
});

describe("events", () => {
  beforeAll(async () => {
    await createModelTable("events", true, ref("BatchExports", "events"));
    await createModelTable("events", true, ref("BatchExports", "events_stage"));
    await affected(`
      INSERT INTO BatchExports.events (uuid, event, properties, distinct_id, team_id, timestamp)
      VALUES ('u1', 'pageview', JSON '{"$browser": "Chrome", "n": 5, "o": {"a": 1}}', 'd1', 1, TIMESTAMP '2026-11-25 10:00:00.123456+00'),
             ('u2', 'signup', JSON '{"$browser": "Firefox", "n": null}', 'd2', 1, TIMESTAMP '2026-11-25 11:30:00+00')`);
    await affected(`
      INSERT INTO BatchExports.events_stage (uuid, event, properties, distinct_id, team_id, timestamp)
      VALUES ('u2', 'signup', JSON '{}', 'd2', 1, TIMESTAMP '2026-11-25 11:30:00+00'),
             ('u3', 'pageview', JSON '{}', 'd3', 1, TIMESTAMP '2026-11-25 12:00:00+00'),
             ('u4', 'pageview', NULL, 'd4', 2, TIMESTAMP '2026-11-26 00:00:00+00')`);
  });

  const insertOnlyMerge = `
    MERGE INTO BatchExports.events AS final
    USING BatchExports.events_stage AS stage
    ON final.uuid = stage.uuid
    WHEN NOT MATCHED THEN
      INSERT (uuid, event, properties, elements, \`set\`, set_once, distinct_id, team_id, ip, site_url, timestamp, bq_ingested_timestamp)
      VALUES (stage.uuid, stage.event, stage.properties, stage.elements, stage.\`set\`, stage.set_once, stage.distinct_id,
              stage.team_id, stage.ip, stage.site_url, stage.timestamp, stage.bq_ingested_timestamp)`;

  it("inserts only events whose uuid is new, once", async () => {
    expect(await affected(insertOnlyMerge)).toBe(2);
    expect(await affected(insertOnlyMerge)).toBe(0);
    expect(await select("SELECT uuid FROM BatchExports.events ORDER BY uuid")).toEqual([
      ["u1"],
      ["u2"],
      ["u3"],
      ["u4"],
    ]);
  });

  it("reads JSON columns with JSON_VALUE, JSON_QUERY and JSON_TYPE", async () => {
    const rows = await select(`
      SELECT JSON_VALUE(properties, '$."$browser"') AS browser, JSON_VALUE(properties, '$.n') AS n,
             JSON_VALUE(properties, '$.o') AS o, JSON_QUERY(properties, '$.o') AS o_json,
             JSON_TYPE(properties.n) AS n_type, JSON_EXTRACT_SCALAR(properties, "$['$browser']") AS legacy
      FROM BatchExports.events WHERE uuid IN ('u1', 'u2') ORDER BY uuid`);
    expect(rows).toEqual([
      ["Chrome", "5", null, '{"a":1}', "number", "Chrome"],
      ["Firefox", null, null, null, "null", "Firefox"],
    ]);
  });

  it("binds STRING, INT64 and TIMESTAMP query parameters", async () => {
    const params: QueryParameter[] = [
      { name: "event", parameterType: { type: "STRING" }, parameterValue: { value: "pageview" } },
      { name: "team", parameterType: { type: "INT64" }, parameterValue: { value: "1" } },
      {
        name: "since",
        parameterType: { type: "TIMESTAMP" },
        parameterValue: { value: "2026-11-25 10:00:00.123456 UTC" },
      },
    ];
    const rows = await select(
      "SELECT uuid, timestamp FROM BatchExports.events WHERE event = @event AND team_id = @team AND timestamp >= @since ORDER BY uuid",
      { params },
    );
    expect(rows).toEqual([
      ["u1", String(Date.UTC(2026, 10, 25, 10) * 1000 + 123456)],
      ["u3", String(Date.UTC(2026, 10, 25, 12) * 1000)],
    ]);
  });

  it("binds FLOAT64, BOOL, DATE, JSON and NULL parameters; rejects a malformed value", async () => {
    const p = (name: string, type: string, value: string | null): QueryParameter => ({
      name,
      parameterType: { type },
      parameterValue: { value },
    });
    const rows = await select(
      "SELECT @f * 2 AS f, NOT @b AS b, DATE_ADD(@d, INTERVAL 1 DAY) AS d, JSON_VALUE(@j, '$.x') AS j, @n IS NULL AS n, @t AS t",
      {
        params: [
          p("f", "FLOAT64", "1.25"),
          p("b", "BOOL", "true"),
          p("d", "DATE", "2026-02-28"),
          p("j", "JSON", '{"x": "y"}'),
          p("n", "STRING", null),
          p("t", "TIMESTAMP", "2026-11-25T10:00:00.5Z"),
        ],
      },
    );
    expect(rows).toEqual([
      [2.5, false, "2026-03-01", "y", true, String(Date.UTC(2026, 10, 25, 10) * 1000 + 500_000)],
    ]);
    const bad = await rejection("SELECT @i + 1", { params: [p("i", "INT64", "1.5")] });
    expect(bad.reason).toBe("invalidQuery");
  });

  it("computes TIMESTAMP functions in UTC with microseconds", async () => {
    const rows = await select(`
      SELECT TIMESTAMP_TRUNC(timestamp, HOUR) AS hour, TIMESTAMP_SUB(timestamp, INTERVAL 2 HOUR) AS earlier,
             FORMAT_TIMESTAMP('%F %T', timestamp) AS text, EXTRACT(DAYOFWEEK FROM timestamp) AS dow,
             EXTRACT(MICROSECOND FROM timestamp) AS micros, DATE(timestamp) AS day,
             TIMESTAMP_DIFF(timestamp, TIMESTAMP '2026-11-25 09:59:00+00', MINUTE) AS minutes
      FROM BatchExports.events WHERE uuid = 'u1'`);
    const t = Date.UTC(2026, 10, 25, 10);
    expect(rows).toEqual([
      [
        String(t * 1000),
        String((t - 2 * 3600_000) * 1000 + 123456),
        "2026-11-25 10:00:00",
        String(new Date(t).getUTCDay() + 1),
        "123456",
        "2026-11-25",
        "1",
      ],
    ]);
  });
});

describe("the seed's example query", () => {
  beforeAll(async () => {
    await createModelTable("events", false, ref("example", "events"));
    await createModelTable("persons", false, ref("example", "persons"));
    await affected(`
      INSERT example.events (uuid, event, distinct_id, team_id)
      VALUES ('e1', 'pageview', 'd1', 1), ('e2', 'pageview', 'd2', 1), ('e3', 'pageview', 'unknown', 1),
             ('e4', 'signup', 'd1', 1), ('e5', 'pageview', 'd1', 2), ('e6', 'purchase', 'd3', 1),
             ('e7', 'pageview', 'd1', 1)`);
    await affected(`
      INSERT example.persons (team_id, distinct_id, person_id, person_version, person_distinct_id_version)
      VALUES (1, 'd1', 'p1', 1, 1), (1, 'd2', 'p2', 1, 1), (1, 'd3', 'p1', 1, 1)`);
  });

  it("counts persons per event, highest first", async () => {
    const result = await run(
      "SELECT event, COUNT(persons.person_id) AS unique_persons_count FROM example.events AS events LEFT JOIN example.persons AS persons ON events.distinct_id = persons.distinct_id AND events.team_id = persons.team_id WHERE persons.person_id IS NOT NULL GROUP BY event ORDER BY unique_persons_count DESC",
    );
    if (result.statementType !== "SELECT") throw new Error("not a SELECT");
    expect(result.schema).toEqual([
      { name: "event", type: "STRING", mode: "NULLABLE" },
      { name: "unique_persons_count", type: "INT64", mode: "NULLABLE" },
    ]);
    // pageview: e1, e2, e7 (e3 has no person, e5 is another team's d1).
    expect(result.rows[0]).toEqual(["pageview", "3"]);
    // signup and purchase tie; their order is unspecified.
    expect(result.rows.slice(1).sort()).toEqual([
      ["purchase", "1"],
      ["signup", "1"],
    ]);
  });

  it("orders NULLs first ascending and last descending, as BigQuery does", async () => {
    await affected("INSERT example.persons (team_id, distinct_id, person_id) VALUES (9, 'z', NULL)");
    const asc = await select("SELECT person_id FROM example.persons ORDER BY person_id");
    const desc = await select("SELECT person_id FROM example.persons ORDER BY person_id DESC");
    expect(asc[0]).toEqual([null]);
    expect(desc[desc.length - 1]).toEqual([null]);
    await affected("DELETE example.persons WHERE team_id = 9");
  });

  it("names unnamed columns f0_, f1_ and divides integers into FLOAT64", async () => {
    const result = await run(
      "SELECT COUNT(*), event, 7 / 2 FROM example.events WHERE event = 'signup' GROUP BY event",
    );
    expect(result).toMatchObject({
      schema: [
        { name: "f0_", type: "INT64" },
        { name: "event", type: "STRING" },
        { name: "f1_", type: "FLOAT64" },
      ],
      rows: [["1", "signup", 3.5]],
    });
  });

  it("answers APPROX_COUNT_DISTINCT exactly", async () => {
    const [[approx, exact]] = (await select(
      "SELECT APPROX_COUNT_DISTINCT(distinct_id), COUNT(DISTINCT distinct_id) FROM example.events",
    )) as [[Cell, Cell]];
    expect(approx).toBe(exact);
    expect(exact).toBe("4");
  });

  it("resolves bare table names against the default dataset", async () => {
    const rows = await select("SELECT COUNT(*) FROM persons", {
      defaultDataset: { projectId: PROJECT, datasetId: "example" },
    });
    expect(rows).toEqual([["3"]]);
  });
});

describe("the product's destination SQL (functions/src/core/destination-sql.ts)", () => {
  describe.each([false, true])("with useJsonType=%s", (useJson) => {
    const suffix = useJson ? "json" : "string";
    const final = ref("BatchExports", `product_persons_${suffix}`);
    const stage = ref("BatchExports", `product_persons_${suffix}_stage`);
    const events = ref("BatchExports", `product_events_${suffix}`);
    const eventsStage = ref("BatchExports", `product_events_${suffix}_stage`);
    const props = (v: string) => (useJson ? `JSON '${v}'` : `'${v}'`);

    beforeAll(async () => {
      await createModelTable("persons", useJson, final);
      await createStageTable("persons", useJson, stage);
      await createModelTable("events", useJson, events);
      await createStageTable("events", useJson, eventsStage);
      await affected(`INSERT \`${PROJECT}.BatchExports.${final.tableId}\`
        (team_id, distinct_id, person_id, properties, person_version, person_distinct_id_version)
        VALUES (1, 'x', 'p1', ${props('{"v":1}')}, 4, 1), (1, 'y', 'p2', ${props('{"v":1}')}, 1, 1)`);
      // x moves to person p3 (mapping version 2, lower person_version): the mapping wins.
      // y has two stage rows; the higher person_version wins. z is new.
      await affected(`INSERT \`${PROJECT}.BatchExports.${stage.tableId}\`
        (team_id, distinct_id, person_id, properties, person_version, person_distinct_id_version)
        VALUES (1, 'x', 'p3', ${props('{"v":2}')}, 1, 2), (1, 'x', 'p1', ${props('{"v":3}')}, 5, 1),
               (1, 'y', 'p2', ${props('{"v":2}')}, 2, 1), (1, 'y', 'p2', ${props('{"v":3}')}, 3, 1),
               (1, 'z', 'p4', ${props('{"v":1}')}, 1, 1)`);
      await affected(`INSERT \`${PROJECT}.BatchExports.${events.tableId}\` (uuid, event, team_id, distinct_id, timestamp)
        VALUES ('u1', 'a', 1, 'x', TIMESTAMP '2026-11-25 10:00:00+00')`);
      await affected(`INSERT \`${PROJECT}.BatchExports.${eventsStage.tableId}\`
        (uuid, event, team_id, distinct_id, timestamp, bq_ingested_timestamp)
        VALUES ('u1', 'a', 1, 'x', TIMESTAMP '2026-11-25 10:00:00+00', TIMESTAMP '2026-11-25 10:05:00+00'),
               ('u2', 'b', 1, 'z', TIMESTAMP '2026-11-25 10:30:00+00', TIMESTAMP '2026-11-25 10:05:00+00'),
               ('u2', 'b', 1, 'z', TIMESTAMP '2026-11-25 10:30:00+00', TIMESTAMP '2026-11-25 10:06:00+00')`);
    });

    it("personsMergeSql keeps the latest mapping and version per key", async () => {
      expect(await affected(personsMergeSql(final, stage, useJson))).toBe(3);
      expect(
        await select(`SELECT distinct_id, person_id, JSON_VALUE(properties, '$.v'), person_version, person_distinct_id_version
          FROM \`${PROJECT}.BatchExports.${final.tableId}\` ORDER BY distinct_id`),
      ).toEqual([
        ["x", "p3", "2", "1", "2"],
        ["y", "p2", "3", "3", "1"],
        ["z", "p4", "1", "1", "1"],
      ]);
      expect(await affected(personsMergeSql(final, stage, useJson))).toBe(0);
    });

    it("eventsInsertMergeSql inserts each new uuid once, with and without partition bounds", async () => {
      const bounds = { min: "2026-11-25T10:00:00Z", max: "2026-11-25T10:30:00Z" };
      expect(await affected(eventsInsertMergeSql(events, eventsStage, bounds))).toBe(1);
      expect(await affected(eventsInsertMergeSql(events, eventsStage))).toBe(0);
      expect(
        await select(`SELECT uuid, event FROM \`${PROJECT}.BatchExports.${events.tableId}\` ORDER BY uuid`),
      ).toEqual([
        ["u1", "a"],
        ["u2", "b"],
      ]);
    });

    it("runs the seed's example query, and DROP TABLE IF EXISTS drops the stage tables", async () => {
      // One person each; the two counts tie, so their order is unspecified.
      expect((await select(exampleQuerySql(events, final))).sort()).toEqual([
        ["a", "1"],
        ["b", "1"],
      ]);
      for (const r of [stage, eventsStage]) {
        const prepared = await engine.prepare(`DROP TABLE IF EXISTS ${quoteTable(r)}`, {
          projectId: PROJECT,
        });
        expect(prepared.drops).toEqual([r]);
        await prepared.run();
        expect(catalog.getTable(r)).toBeUndefined();
      }
    });
  });
});

describe("GoogleSQL expressions as BigQuery evaluates them", () => {
  const utc = (iso: string) => String(Date.parse(iso) * 1000);
  // 2026-11-25 is a Wednesday: its WEEK (Sunday-based) starts on the 22nd, its ISOWEEK on the 23rd.
  const cases: [string, Cell][] = [
    ["SUBSTR('abcdef', 0, 2)", "ab"],
    ["SUBSTR('abc', -5, 2)", "ab"],
    ["SUBSTR('abcdef', -2)", "ef"],
    ["SUBSTR('abcdef', 2, 3)", "bcd"],
    ["CONCAT('a', 'b', 'c')", "abc"],
    ["CONCAT('a', NULL)", null],
    ["GREATEST(1, NULL)", null],
    ["LEAST(3, 1, 2)", "1"],
    ["IF(1 < 2, 'y', 'n')", "y"],
    ["IFNULL(NULL, 'z')", "z"],
    ["COALESCE(NULL, NULL, 3)", "3"],
    ["NULLIF(1, 1)", null],
    ["CASE WHEN 1 = 2 THEN 'a' ELSE 'b' END", "b"],
    ["SAFE_DIVIDE(1, 0)", null],
    ["SAFE_DIVIDE(3, 2)", 1.5],
    ["DIV(-7, 2)", "-3"],
    ["MOD(-7, 2)", "-1"],
    ["7 / 2", 3.5],
    ["1.5 * 2", 3],
    ["ROUND(2.5)", 3],
    ["ROUND(-2.5)", -3],
    ["ROUND(1.234, 2)", 1.23],
    ["0x10", "16"],
    ["CAST('12' AS INT64)", "12"],
    ["SAFE_CAST('x' AS INT64)", null],
    ["CAST(2.5 AS INT64)", "3"],
    ["CAST(-2.5 AS INT64)", "-3"],
    ["SAFE_CAST(3.5 AS INT64)", "4"],
    ["CAST(CAST(2.5 AS NUMERIC) AS INT64)", "3"],
    ["CAST(TIMESTAMP '2026-01-02 03:04:05.123456+00' AS STRING)", "2026-01-02 03:04:05.123456+00"],
    ["LOWER('ÀB')", "àb"],
    ["UPPER('ab')", "AB"],
    ["LENGTH('héllo')", "5"],
    ["STARTS_WITH('hello', 'he')", true],
    ["ENDS_WITH('hello', 'lo')", true],
    ["REGEXP_CONTAINS('foo123', r'\\d+')", true],
    ["REGEXP_CONTAINS('foo', r'^o')", false],
    ["'it\\'s'", "it's"],
    ['"double"', "double"],
    ["'''two\nlines'''", "two\nlines"],
    ["'\\u00e9\\n'", "é\n"],
    ["STRPOS('hello', 'l')", "3"],
    ["REPLACE('aaa', 'a', 'b')", "bbb"],
    ["TRIM('  x  ')", "x"],
    ["'a' < 'B'", false],
    ["TO_JSON_STRING('a\"b')", '"a\\"b"'],
    ["TO_JSON_STRING(1)", "1"],
    ["JSON_TYPE(PARSE_JSON('[1]'))", "array"],
    ["JSON_VALUE('{\"a\": \"x\"}', '$.a')", "x"],
    ["JSON_QUERY('{\"a\": {\"b\": 1}}', '$.a')", '{"b":1}'],
    ["PARSE_JSON('{ \"a\" : 1 }')", '{"a":1}'],
    ["TIMESTAMP_ADD(TIMESTAMP '2026-01-01 00:00:00+00', INTERVAL 90 MINUTE)", utc("2026-01-01T01:30:00Z")],
    [
      "TIMESTAMP_SUB(TIMESTAMP '2026-01-01 00:00:00+00', INTERVAL 1 MICROSECOND)",
      String(Date.parse("2026-01-01T00:00:00Z") * 1000 - 1),
    ],
    ["DATE_ADD(DATE '2026-01-31', INTERVAL 1 MONTH)", "2026-02-28"],
    ["DATE_SUB(DATE '2026-03-01', INTERVAL 1 DAY)", "2026-02-28"],
    ["DATE_TRUNC(DATE '2026-11-25', MONTH)", "2026-11-01"],
    ["TIMESTAMP_TRUNC(TIMESTAMP '2026-11-25 10:00:00+00', WEEK)", utc("2026-11-22T00:00:00Z")],
    ["TIMESTAMP_TRUNC(TIMESTAMP '2026-11-25 10:00:00+00', ISOWEEK)", utc("2026-11-23T00:00:00Z")],
    ["TIMESTAMP_TRUNC(TIMESTAMP '2026-11-25 10:45:00+00', DAY)", utc("2026-11-25T00:00:00Z")],
    ["FORMAT_DATE('%Y/%m/%d', DATE '2026-11-25')", "2026/11/25"],
    ["EXTRACT(YEAR FROM DATE '2026-11-25')", "2026"],
    ["EXTRACT(DAYOFWEEK FROM DATE '2026-11-22')", "1"],
    ["UNIX_MICROS(TIMESTAMP '1970-01-01 00:00:01+00')", "1000000"],
    ["UNIX_SECONDS(TIMESTAMP '1969-12-31 23:59:59.5+00')", "-1"],
    ["TIMESTAMP_MICROS(1)", "1"],
    ["TIMESTAMP_SECONDS(2)", "2000000"],
    ["TIMESTAMP_DIFF(TIMESTAMP '2026-01-01 00:00:00+00', TIMESTAMP '2026-01-01 01:30:00+00', HOUR)", "-1"],
    ["DATE_DIFF(DATE '2026-03-01', DATE '2026-02-01', DAY)", "28"],
    ["DATE(2026, 11, 25)", "2026-11-25"],
    ["TIMESTAMP('2026-11-25 10:00:00')", utc("2026-11-25T10:00:00Z")],
    ["CURRENT_TIMESTAMP() IS NOT NULL AND CURRENT_DATE IS NOT NULL", true],
    ["1 IS NOT DISTINCT FROM 1", true],
    ["'x' IN ('x', 'y') /* a comment */", true],
  ];

  it.each(cases)("SELECT %s", async (expr, expected) => {
    const rows = await select(`SELECT ${expr} AS v -- trailing comment`);
    expect(rows).toEqual([[expected]]);
  });

  it("returns DATETIME, TIME, NUMERIC, BYTES and DATE cells in the contract's normal form", async () => {
    const result = await run(
      "SELECT DATETIME '2026-01-02 03:04:05.5' AS dt, DATETIME '1969-12-31 23:59:59' AS old, TIME '10:11:12.000025' AS t, NUMERIC '-1.50' AS n, CAST('ab' AS BYTES) AS b, DATE '2026-01-02' AS d",
    );
    expect(result).toMatchObject({
      schema: [
        { name: "dt", type: "DATETIME" },
        { name: "old", type: "DATETIME" },
        { name: "t", type: "TIME" },
        { name: "n", type: "NUMERIC" },
        { name: "b", type: "BYTES" },
        { name: "d", type: "DATE" },
      ],
      rows: [
        [
          "2026-01-02T03:04:05.500000",
          "1969-12-31T23:59:59",
          "10:11:12.000025",
          "-1.5",
          "YWI=",
          "2026-01-02",
        ],
      ],
    });
  });

  it("runs WITH, SELECT * EXCEPT, COUNT(DISTINCT), window functions and LIMIT", async () => {
    const rows = await select(`
      WITH per_event AS (
        SELECT event, distinct_id, team_id FROM example.events WHERE team_id = 1
      )
      SELECT * EXCEPT (team_id), COUNT(DISTINCT distinct_id) OVER (PARTITION BY event) AS people,
             RANK() OVER (ORDER BY event) AS r
      FROM per_event
      WHERE event != 'purchase'
      ORDER BY event, distinct_id
      LIMIT 3`);
    expect(rows).toEqual([
      ["pageview", "d1", "3", "1"],
      ["pageview", "d1", "3", "1"],
      ["pageview", "d2", "3", "1"],
    ]);
  });
});

describe("SUPPORTED.md", () => {
  it("lists exactly the functions the translation supports", () => {
    const doc = readFileSync(new URL("./SUPPORTED.md", import.meta.url), "utf8");
    const section = /## Functions\n\n([\s\S]*?)\n\n/.exec(doc)?.[1] ?? "";
    const listed = section
      .replace(/\.$/, "")
      .split(/,\s*/)
      .map((s) => s.trim());
    expect(listed).toEqual([...SUPPORTED_FUNCTIONS]);
  });
});

describe("queries BigQuery rejects", () => {
  it("an unknown column is invalidQuery with BigQuery's position format", async () => {
    const err = await rejection("SELECT nope FROM example.events");
    expect(err.reason).toBe("invalidQuery");
    expect(err.message).toBe("Unrecognized name: nope at [1:8]");
  });

  it("JSON compared with = is invalidQuery", async () => {
    const err = await rejection("SELECT uuid FROM BatchExports.events WHERE properties = properties");
    expect(err.reason).toBe("invalidQuery");
    expect(err.message).toMatch(/^Equality is not defined for arguments of type JSON at \[1:\d+\]$/);
  });

  it("GROUP BY a FLOAT64 is invalidQuery", async () => {
    const err = await rejection(
      "SELECT CAST(team_id AS FLOAT64) AS f, COUNT(*) FROM example.events GROUP BY f",
    );
    expect(err.reason).toBe("invalidQuery");
    expect(err.message).toContain("Grouping by expressions of type FLOAT64 is not allowed");
  });

  it("a parameter of the wrong type is invalidQuery", async () => {
    const err = await rejection("SELECT uuid FROM example.events WHERE team_id = @team", {
      params: [{ name: "team", parameterType: { type: "STRING" }, parameterValue: { value: "1" } }],
    });
    expect(err.reason).toBe("invalidQuery");
    expect(err.message).toContain("No matching signature for operator = for argument types: INT64, STRING");
  });

  it("QUALIFY without WHERE, GROUP BY or HAVING is invalidQuery", async () => {
    const err = await rejection(
      "SELECT uuid FROM example.events QUALIFY ROW_NUMBER() OVER (ORDER BY uuid) = 1",
    );
    expect(err.reason).toBe("invalidQuery");
  });

  it("a missing table is notFound (404) with BigQuery's message", async () => {
    const err = await rejection("SELECT * FROM example.missing");
    expect([err.reason, err.httpStatus, err.message]).toEqual([
      "notFound",
      404,
      `Not found: Table ${PROJECT}:example.missing was not found in location US`,
    ]);
    const noDataset = await rejection(`SELECT * FROM \`${PROJECT}.nodataset.t\``);
    expect(noDataset.message).toBe(`Not found: Dataset ${PROJECT}:nodataset was not found in location US`);
  });

  it("a MERGE matching one target row with two source rows is invalidQuery", async () => {
    const err = await rejection(`
      MERGE example.persons T USING example.events S ON T.distinct_id = S.distinct_id AND T.team_id = S.team_id
      WHEN MATCHED THEN UPDATE SET person_version = 9`);
    expect(err.reason).toBe("invalidQuery");
    expect(err.message).toBe("UPDATE/MERGE must match at most one source row for each target row");
  });

  it("a function outside the supported set is a clear error naming it", async () => {
    const err = await rejection("SELECT SOUNDEX(event) FROM example.events");
    expect(err.reason).toBe("invalidQuery");
    expect(err.message).toBe("The local BigQuery cannot run the function SOUNDEX yet");
  });
});

describe("DDL", () => {
  it("creates a table with partitioning, clustering and options recorded", async () => {
    const prepared = await engine.prepare(
      `CREATE TABLE IF NOT EXISTS ddl.t (id INT64 NOT NULL, ts TIMESTAMP, name STRING(10) OPTIONS(description = "the name"))
       PARTITION BY DATE(ts) CLUSTER BY id OPTIONS(description = 'a table', labels = [("team", "data")])`,
      { projectId: PROJECT },
    );
    expect(prepared.creates).toEqual([ref("ddl", "t")]);
    await prepared.run();
    const meta = catalog.getTable(ref("ddl", "t"));
    expect(meta).toMatchObject({
      fields: [
        { name: "id", type: "INT64", mode: "REQUIRED" },
        { name: "ts", type: "TIMESTAMP", mode: "NULLABLE" },
        { name: "name", type: "STRING", description: "the name" },
      ],
      timePartitioning: { type: "DAY", field: "ts" },
      clustering: { fields: ["id"] },
      description: "a table",
      labels: { team: "data" },
    });
    // IF NOT EXISTS on an existing table is a no-op; without it, a 409.
    await run("CREATE TABLE IF NOT EXISTS ddl.t (other STRING)");
    expect(catalog.getTable(ref("ddl", "t"))?.fields).toHaveLength(3);
    const dup = await rejection("CREATE TABLE ddl.t (other STRING)");
    expect([dup.reason, dup.httpStatus]).toEqual(["duplicate", 409]);
  });

  it("creates a table from a query", async () => {
    await run("CREATE TABLE ddl.counts AS SELECT event, COUNT(*) AS n FROM example.events GROUP BY event");
    expect(catalog.getTable(ref("ddl", "counts"))?.fields.map((f) => [f.name, f.type])).toEqual([
      ["event", "STRING"],
      ["n", "INT64"],
    ]);
    expect(await select("SELECT n FROM ddl.counts WHERE event = 'pageview'")).toEqual([["5"]]);
  });

  it("drops tables; IF EXISTS tolerates a missing one", async () => {
    await run("CREATE TABLE ddl.gone (x INT64)");
    const prepared = await engine.prepare("DROP TABLE IF EXISTS ddl.gone", { projectId: PROJECT });
    expect(prepared.drops).toEqual([ref("ddl", "gone")]);
    await prepared.run();
    expect(catalog.getTable(ref("ddl", "gone"))).toBeUndefined();
    await run("DROP TABLE IF EXISTS ddl.gone");
    await run("CREATE TABLE ddl.gone (x INT64)");
    await run("INSERT ddl.gone (x) VALUES (1)");
    await run("CREATE OR REPLACE TABLE ddl.gone (y STRING)");
    expect(catalog.getTable(ref("ddl", "gone"))?.fields.map((f) => f.name)).toEqual(["y"]);
    expect(await select("SELECT COUNT(*) FROM ddl.gone")).toEqual([["0"]]);
    await run("DROP TABLE ddl.gone");
    const err = await rejection("DROP TABLE ddl.gone");
    expect([err.reason, err.httpStatus]).toEqual(["notFound", 404]);
  });
});

describe("more DML", () => {
  const t = ref("ddl", "kv");
  const s = ref("ddl", "kv_source");

  beforeAll(async () => {
    await run("CREATE TABLE ddl.kv (k INT64, v STRING, n INT64)");
    await run("CREATE TABLE ddl.kv_source (k INT64, v STRING, n INT64)");
  });

  async function reset(target: string[], source: string[]) {
    await run("DELETE ddl.kv WHERE TRUE");
    await run("DELETE ddl.kv_source WHERE TRUE");
    if (target.length > 0) await run(`INSERT ddl.kv (k, v, n) VALUES ${target.join(", ")}`);
    if (source.length > 0) await run(`INSERT ddl.kv_source (k, v, n) VALUES ${source.join(", ")}`);
  }

  it("MERGE deletes matched rows and handles NOT MATCHED BY SOURCE", async () => {
    await reset(["(1, 'a', 1)", "(2, 'b', 1)", "(3, 'c', 1)"], ["(1, 'x', 0)", "(2, 'y', 5)", "(4, 'z', 1)"]);
    const prepared = await engine
      .prepare(
        `MERGE ddl.kv T USING ddl.kv_source S ON T.k = S.k
       WHEN MATCHED AND S.n = 0 THEN DELETE
       WHEN MATCHED THEN UPDATE SET T.v = S.v, n = T.n + S.n
       WHEN NOT MATCHED BY SOURCE THEN UPDATE SET v = CONCAT(T.v, '-orphan')
       WHEN NOT MATCHED THEN INSERT ROW`,
        { projectId: PROJECT },
      )
      .catch((err: unknown) => err);
    // INSERT ROW is outside the supported set: a clear error, not a guess.
    expect(prepared).toBeInstanceOf(BigQueryEngineError);
    expect((prepared as Error).message).toBe("The local BigQuery cannot run MERGE ... INSERT ROW yet");

    const merge = await engine.prepare(
      `MERGE ddl.kv T USING ddl.kv_source S ON T.k = S.k
       WHEN MATCHED AND S.n = 0 THEN DELETE
       WHEN MATCHED THEN UPDATE SET T.v = S.v, n = T.n + S.n
       WHEN NOT MATCHED BY SOURCE THEN UPDATE SET v = CONCAT(T.v, '-orphan')
       WHEN NOT MATCHED THEN INSERT VALUES (S.k, S.v, S.n)`,
      { projectId: PROJECT },
    );
    expect(merge.writes).toEqual([t]);
    expect(merge.reads).toEqual([t, s]);
    // 1 deleted, 2 updated, 3 updated (orphan), 4 inserted.
    expect(await merge.run()).toMatchObject({ numDmlAffectedRows: 4 });
    expect(await select("SELECT k, v, n FROM ddl.kv ORDER BY k")).toEqual([
      ["2", "y", "6"],
      ["3", "c-orphan", "1"],
      ["4", "z", "1"],
    ]);
  });

  it("MERGE with WHEN MATCHED AND ... THEN DELETE, several WHEN MATCHED and a conditional insert reports dmlStats", async () => {
    await reset(
      ["(1, 'a', 1)", "(2, 'b', 1)", "(3, 'c', 1)", "(5, 'e', 9)"],
      [
        "(1, 'del', 2)",
        "(2, 'new', 2)",
        "(3, 'old', 0)",
        "(4, 'ins', 1)",
        "(6, 'skip', 0)",
        "(5, 'keep', 1)",
      ],
    );
    const result = await run(`
      MERGE ddl.kv AS final USING ddl.kv_source AS stage ON final.k = stage.k
      WHEN MATCHED AND stage.v = 'del' AND stage.n > final.n THEN DELETE
      WHEN MATCHED AND stage.n > final.n THEN UPDATE SET v = stage.v, n = stage.n
      WHEN NOT MATCHED BY TARGET AND stage.n > 0 THEN INSERT (k, v, n) VALUES (stage.k, stage.v, stage.n)`);
    // 1 deleted (first clause wins over the second), 2 updated, 3 and 5 left (no clause holds), 4 inserted, 6 skipped.
    expect(result).toMatchObject({
      numDmlAffectedRows: 3,
      dmlStats: { insertedRowCount: 1, updatedRowCount: 1, deletedRowCount: 1 },
    });
    expect(await select("SELECT k, v, n FROM ddl.kv ORDER BY k")).toEqual([
      ["2", "new", "2"],
      ["3", "c", "1"],
      ["4", "ins", "1"],
      ["5", "e", "9"],
    ]);
  });

  it("rejects duplicate source matches only for rows an UPDATE clause's MERGE acts on, as documented", async () => {
    // https://cloud.google.com/bigquery/docs/reference/standard-sql/dml-syntax#merge_statement
    await reset(["(1, 'a', 1)", "(2, 'b', 1)"], ["(1, 'x', 5)", "(1, 'y', 6)", "(2, 'z', 0)", "(2, 'w', 0)"]);
    // Only DELETE clauses: duplicates are fine.
    expect(
      await affected(
        "MERGE ddl.kv T USING ddl.kv_source S ON T.k = S.k WHEN MATCHED AND S.n > 4 THEN DELETE",
      ),
    ).toBe(1);
    await reset(["(1, 'a', 1)", "(2, 'b', 1)"], ["(1, 'x', 5)", "(1, 'y', 6)", "(2, 'z', 0)", "(2, 'w', 0)"]);
    // With an UPDATE clause: key 1, matched twice, is acted on (S.n > 4): an error.
    const err = await rejection(
      "MERGE ddl.kv T USING ddl.kv_source S ON T.k = S.k WHEN MATCHED AND S.n > 4 THEN UPDATE SET n = S.n",
    );
    expect(err.message).toBe("UPDATE/MERGE must match at most one source row for each target row");
    // Key 2 alone, matched twice but acted on by no clause: no error.
    expect(
      await affected(
        "MERGE ddl.kv T USING ddl.kv_source S ON T.k = S.k AND S.k = 2 WHEN MATCHED AND S.n > 4 THEN UPDATE SET n = S.n",
      ),
    ).toBe(0);
  });

  it("UPDATE ... FROM, DELETE and INSERT ... SELECT report their tables and counts", async () => {
    await reset(["(1, 'a', 1)", "(2, 'b', 1)"], ["(1, 'x', 7)", "(3, 'z', 9)"]);
    const update = await engine.prepare(
      "UPDATE ddl.kv AS T SET n = S.n FROM ddl.kv_source AS S WHERE T.k = S.k",
      { projectId: PROJECT },
    );
    expect([update.writes, update.reads]).toEqual([[t], [t, s]]);
    expect(await update.run()).toMatchObject({ statementType: "UPDATE", numDmlAffectedRows: 1 });

    const insert = await engine.prepare(
      "INSERT INTO ddl.kv (k, v, n) SELECT k, v, n FROM ddl.kv_source WHERE k > 2",
      {
        projectId: PROJECT,
      },
    );
    expect([insert.writes, insert.reads]).toEqual([[t], [s]]);
    expect(await insert.run()).toMatchObject({ statementType: "INSERT", numDmlAffectedRows: 1 });

    const twice = await rejection("UPDATE ddl.kv SET n = 0 FROM ddl.kv_source AS S WHERE S.k > 0");
    expect(twice.message).toBe("UPDATE/MERGE must match at most one source row for each target row");

    expect(await affected("DELETE FROM ddl.kv WHERE n > 5")).toBe(2);
    expect(await select("SELECT k, n FROM ddl.kv ORDER BY k")).toEqual([["2", "1"]]);
  });

  it("table names are case-sensitive, as in BigQuery", async () => {
    const err = await rejection("SELECT * FROM ddl.KV");
    expect([err.reason, err.message]).toEqual([
      "notFound",
      `Not found: Table ${PROJECT}:ddl.KV was not found in location US`,
    ]);
  });

  it("refuses constructs outside the supported set by name", async () => {
    expect((await rejection("SELECT x FROM UNNEST([1, 2]) AS x")).message).toBe(
      "The local BigQuery cannot run UNNEST yet",
    );
    expect((await rejection("CREATE VIEW ddl.v AS SELECT 1 AS x")).message).toBe(
      "The local BigQuery cannot run CREATE VIEW yet",
    );
    expect((await rejection("SELECT AS VALUE 1")).message).toBe(
      "The local BigQuery cannot run SELECT AS STRUCT / SELECT AS VALUE yet",
    );
    expect((await rejection("SELECT SAFE.REVERSE('ab')")).message).toBe(
      "The local BigQuery cannot run the function SAFE.REVERSE yet",
    );
  });
});

describe("persons MERGE on generated data", () => {
  // The seed's rule as a model: a stage row (the highest versions per key)
  // replaces a final row when either version is higher; new keys are inserted.
  type Person = { team: number; id: string; person: string; pv: number | null; pdv: number | null };
  const key = (p: Person) => `${p.team}/${p.id}`;

  function model(final: Person[], stage: Person[]): { rows: Person[]; changed: number } {
    const best = new Map<string, Person>();
    for (const s of stage) {
      const b = best.get(key(s));
      const rank = (p: Person) => [p.pdv ?? -Infinity, p.pv ?? -Infinity, p.person] as const;
      if (!b) best.set(key(s), s);
      else {
        const [x, y] = [rank(s), rank(b)];
        if (x[0] > y[0] || (x[0] === y[0] && (x[1] > y[1] || (x[1] === y[1] && x[2] > y[2]))))
          best.set(key(s), s);
      }
    }
    const rows = new Map(final.map((p) => [key(p), p]));
    let changed = 0;
    for (const [k, s] of best) {
      const f = rows.get(k);
      const higher = (a: number | null, b: number | null) => a !== null && b !== null && a > b;
      if (!f) {
        rows.set(k, s);
        changed++;
      } else if (higher(s.pv, f.pv) || higher(s.pdv, f.pdv)) {
        rows.set(k, s);
        changed++;
      }
    }
    return { rows: [...rows.values()], changed };
  }

  it.each([1, 2, 3, 4, 5])("agrees with the model (seed %i)", async (seed) => {
    const rnd = random(seed);
    const version = () => (rnd() < 0.1 ? null : Math.floor(rnd() * 4));
    const person = (team: number, id: string): Person => ({
      team,
      id,
      person: `p${Math.floor(rnd() * 5)}`,
      pv: version(),
      pdv: version(),
    });
    const final: Person[] = [];
    const stage: Person[] = [];
    for (const team of [1, 2]) {
      for (let i = 0; i < 12; i++) {
        const id = `d${i}`;
        if (rnd() < 0.6) final.push(person(team, id));
        const copies = Math.floor(rnd() * 3);
        for (let c = 0; c < copies; c++) stage.push(person(team, id));
      }
    }
    const finalRef = ref("BatchExports", `gen_persons_${seed}`);
    const stageRef = ref("BatchExports", `gen_persons_${seed}_stage`);
    await createModelTable("persons", true, finalRef);
    await createStageTable("persons", true, stageRef);
    const values = (ps: Person[]) =>
      ps
        .map(
          (p) =>
            `(${p.team}, '${p.id}', '${p.person}', JSON '{"p": "${p.person}"}', ${p.pv ?? "NULL"}, ${p.pdv ?? "NULL"})`,
        )
        .join(", ");
    const columns =
      "(team_id, distinct_id, person_id, properties, person_version, person_distinct_id_version)";
    if (final.length > 0)
      await run(`INSERT BatchExports.${finalRef.tableId} ${columns} VALUES ${values(final)}`);
    if (stage.length > 0)
      await run(`INSERT BatchExports.${stageRef.tableId} ${columns} VALUES ${values(stage)}`);

    const expected = model(final, stage);
    expect(await affected(personsMergeSql(finalRef, stageRef, true))).toBe(expected.changed);
    const rows = await select(
      `SELECT team_id, distinct_id, person_id, person_version, person_distinct_id_version, JSON_VALUE(properties, '$.p')
       FROM BatchExports.${finalRef.tableId}`,
    );
    const asCells = (p: Person): Cell[] => [
      String(p.team),
      p.id,
      p.person,
      p.pv === null ? null : String(p.pv),
      p.pdv === null ? null : String(p.pdv),
      p.person,
    ];
    const sort = (xs: Cell[][]) => xs.map((r) => JSON.stringify(r)).sort();
    expect(sort(rows)).toEqual(sort(expected.rows.map(asCells)));
  });
});

/** Deterministic pseudo-random numbers (mulberry32). */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
