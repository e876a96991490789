// Differential test: GoogleSQL expressions run through the local engine
// (ZetaSQL analysis + DuckDB translation) must give the answer of Google's
// reference implementation (the ZetaSQL evaluator), or fail where it fails.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { DuckDBInstance, type DuckDBConnection } from "@duckdb/node-api";
import { BigQueryEngineError, type Cell, type QueryEngine } from "../contracts.js";
import { createQueryEngine } from "./engine.js";
import { MemoryCatalog } from "./memory-catalog.js";
import { canonicalJson } from "./json-text.js";
import { ReferenceEvaluator, type ReferenceTable } from "./reference-evaluator.js";
import type { SqlType } from "../../zetasql/analyzer.js";

let instance: DuckDBInstance;
let connection: DuckDBConnection;
let engine: QueryEngine;
let oracle: ReferenceEvaluator;
let engineCatalog: MemoryCatalog;

beforeAll(async () => {
  instance = await DuckDBInstance.create(":memory:");
  connection = await instance.connect();
  engineCatalog = new MemoryCatalog(connection);
  engine = await createQueryEngine({ connection, catalog: engineCatalog });
  oracle = await ReferenceEvaluator.start();
});

afterAll(async () => {
  await engine?.close();
  await oracle?.stop();
  connection?.closeSync();
  instance?.closeSync();
});

type Outcome = { value: Cell } | { error: string };

async function viaEngine(expression: string): Promise<Outcome> {
  try {
    const result = await (
      await engine.prepare(`SELECT ${expression}`, { projectId: "oracle-project" })
    ).run();
    if (result.statementType !== "SELECT") throw new Error("not a SELECT");
    return { value: result.rows[0]?.[0] ?? null };
  } catch (err) {
    if (err instanceof BigQueryEngineError) return { error: err.message };
    throw err;
  }
}

async function viaOracle(expression: string): Promise<Outcome> {
  try {
    return { value: await oracle.evaluate(expression) };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

// Known differences, left out below: UPPER/LOWER follow DuckDB's Unicode case
// mapping (UPPER('straße') is 'STRAẞE' here, 'STRASSE' in BigQuery).
const EXPRESSIONS = [
  // arithmetic and casts
  "7 / 2",
  "-7 / 2",
  "DIV(-7, 2)",
  "MOD(-7, 3)",
  "1.5 * 2",
  "ROUND(2.5)",
  "ROUND(-0.5)",
  "ROUND(1.005, 2)",
  "CAST(2.5 AS INT64)",
  "CAST(-3.5 AS INT64)",
  "CAST('42' AS INT64)",
  "SAFE_CAST('4x2' AS INT64)",
  "CAST(1.25 AS STRING)",
  "CAST(TRUE AS STRING)",
  "CAST(TIMESTAMP '2026-01-02 03:04:05.000100+00' AS STRING)",
  "CAST(DATE '2026-01-02' AS STRING)",
  "CAST('2026-01-02 03:04:05' AS TIMESTAMP)",
  "ABS(-3)",
  "SIGN(-2.5)",
  "FLOOR(-1.5)",
  "CEIL(1.2)",
  "SQRT(16)",
  "POW(2, 10)",
  "SAFE_DIVIDE(1, 0)",
  "1 / 0",
  "0.0 / 0",
  "IF(TRUE, 1, 0) / 0",
  "1 + 6 / 3 * 2",
  "10 / 4 / 5",
  "2 * 3 / 4",
  "-6 / 4",
  "CASE WHEN TRUE THEN 6 END / 4",
  "COALESCE(NULL, 1) / (2 - 2 + 4)",
  "CAST(1e20 AS STRING)",
  "CAST(0.1 AS STRING)",
  "CAST(1.0 AS STRING)",
  // conditionals
  "IF(NULL, 1, 2)",
  "IFNULL(NULL, 'x')",
  "COALESCE(NULL, 2, 3)",
  "NULLIF('a', 'a')",
  "GREATEST(3, NULL, 1)",
  "LEAST(3, 2, 1)",
  "CASE 2 WHEN 1 THEN 'one' WHEN 2 THEN 'two' END",
  "NULL IS NULL AND 1 IS NOT DISTINCT FROM 1",
  "3 BETWEEN 1 AND 5",
  "'b' IN ('a', 'b')",
  "'abc' LIKE 'a%'",
  "'ABC' LIKE 'a%'",
  // strings
  "CONCAT('a', 'b', NULL)",
  "CONCAT('a', 'b')",
  "'a' || 'b'",
  "LENGTH('日本語')",
  "LOWER('ÄB')",
  "SUBSTR('abcdef', 0)",
  "SUBSTR('abcdef', -3, 2)",
  "SUBSTR('abc', -10, 3)",
  "SUBSTR('abc', 5)",
  "STARTS_WITH('abc', '')",
  "ENDS_WITH('abc', 'bc')",
  "STRPOS('abcabc', 'c')",
  "REPLACE('a.b.c', '.', '')",
  "TRIM('xxaxx', 'x')",
  "LTRIM('  a ')",
  "RTRIM(' a  ')",
  "REVERSE('abc')",
  "REGEXP_CONTAINS('abc', 'b')",
  "REGEXP_CONTAINS('abc', '^b')",
  "REGEXP_CONTAINS('a.c', r'a\\.c')",
  "'a' < 'B'",
  "REGEXP_EXTRACT('ab12cd', r'\\d+')",
  "REGEXP_EXTRACT('ab12cd', r'b(\\d)')",
  "REGEXP_EXTRACT('abc', r'\\d')",
  "REGEXP_EXTRACT('abc', r'(a)(b)')",
  "REGEXP_REPLACE('a1b22', r'\\d', 'x')",
  "REGEXP_REPLACE('abc', r'(b)', r'[\\1]')",
  "LEFT('abc', 2)",
  "RIGHT('abc', 5)",
  "LPAD('ab', 5)",
  "LPAD('abcdef', 3, 'x')",
  "RPAD('ab', 5, 'xy')",
  "STRING(TIMESTAMP '2026-01-02 03:04:05.5+00')",
  "LN(1)",
  "LOG(100, 10)",
  "LOG(EXP(2))",
  "LOG10(1000)",
  "TRUNC(-2.7)",
  "IS_NAN(CAST('NaN' AS FLOAT64))",
  "PARSE_TIMESTAMP('%Y-%m-%d %H:%M:%S', '2026-11-25 10:11:12')",
  "PARSE_DATE('%Y%m%d', '20261125')",
  "UNIX_DATE(DATE '2026-11-25')",
  "DATE_FROM_UNIX_DATE(20417)",
  "LAST_DAY(DATE '2024-02-10')",
  "'a' = 'A'",
  // JSON
  'JSON \'{"b": 1, "a": [1, 2.50, 1e2]}\'',
  'JSON \'{"a": 1, "a": 2}\'',
  "JSON_VALUE(JSON '{\"a\": 1.50}', '$.a')",
  "JSON_VALUE(JSON '{\"a\": \"x\"}', '$.a')",
  "JSON_VALUE(JSON '{\"a\": {\"b\": 1}}', '$.a')",
  "JSON_VALUE(JSON '{\"a\": null}', '$.a')",
  "JSON_VALUE(JSON '{\"a\": true}', '$.a')",
  "JSON_VALUE('{\"a\": [10, 20]}', '$.a[1]')",
  "JSON_VALUE(JSON '{\"a b\": 1}', '$.\"a b\"')",
  'JSON_QUERY(JSON \'{"a": {"c": 1, "b": 2}}\', \'$.a\')',
  "JSON_QUERY('{\"a\": {\"b\": 2}}', '$.a')",
  "JSON_QUERY(JSON '{\"a\": 1}', '$.missing')",
  'JSON_EXTRACT_SCALAR(\'{"a": "x"}\', "$[\'a\']")',
  "JSON_TYPE(JSON '1.5')",
  "JSON_TYPE(JSON '\"s\"')",
  "JSON_TYPE(JSON 'null')",
  "JSON_TYPE(JSON '{}')",
  "JSON '{\"$browser\": \"Chrome\"}'['$browser']",
  "JSON '{\"a\": [1, {\"b\": 2}]}'['a'][1]['b']",
  "JSON_VALUE(JSON '{\"a\": [1, {\"b\": \"x\"}]}'['a'][1], '$.b')",
  "JSON '[1, 2]'[5]",
  'PARSE_JSON(\'{"z": 1, "y": [true]}\')',
  "PARSE_JSON('{x')",
  "SAFE.PARSE_JSON('{x')",
  "SAFE.PARSE_JSON('[2, 1]')",
  "SAFE.LOG(-1)",
  "SAFE.DIV(1, 0)",
  "DIV(1, 0)",
  "MOD(1, 0)",
  "MOD(-7.5, 2)",
  "SAFE.TIMESTAMP_MICROS(1)",
  'TO_JSON_STRING(JSON \'{"b": 1, "a": 2}\')',
  "TO_JSON_STRING('x')",
  "TO_JSON_STRING(1.5)",
  "TO_JSON_STRING(TIMESTAMP '2026-01-01 00:00:00+00')",
  "TO_JSON_STRING(TIMESTAMP '2026-01-01 00:00:00.5+00')",
  "TO_JSON_STRING(9007199254740993)",
  "TO_JSON_STRING(NULL)",
  "TO_JSON_STRING(DATE '2026-01-02')",
  "CAST(TIMESTAMP '2026-01-02 03:04:05.5+00' AS STRING)",
  "CAST(TIMESTAMP '1969-12-31 23:59:59.999+00' AS STRING)",
  // time
  "TIMESTAMP_TRUNC(TIMESTAMP '2026-11-25 10:11:12.345678+00', SECOND)",
  "TIMESTAMP_TRUNC(TIMESTAMP '2026-11-25 10:11:12+00', MONTH)",
  "TIMESTAMP_TRUNC(TIMESTAMP '2026-11-25 10:11:12+00', WEEK)",
  "TIMESTAMP_TRUNC(TIMESTAMP '2026-11-22 10:11:12+00', WEEK)",
  "TIMESTAMP_TRUNC(TIMESTAMP '2026-11-25 10:11:12+00', ISOWEEK)",
  "TIMESTAMP_TRUNC(TIMESTAMP '2026-11-25 10:11:12+00', QUARTER)",
  "TIMESTAMP_ADD(TIMESTAMP '2026-11-25 10:00:00+00', INTERVAL 3 DAY)",
  "TIMESTAMP_SUB(TIMESTAMP '2026-11-25 10:00:00+00', INTERVAL 1500 MILLISECOND)",
  "TIMESTAMP_DIFF(TIMESTAMP '2026-11-25 10:00:00+00', TIMESTAMP '2026-11-24 11:00:00+00', DAY)",
  "TIMESTAMP_DIFF(TIMESTAMP '2026-11-25 10:00:00+00', TIMESTAMP '2026-11-25 09:00:00.5+00', SECOND)",
  "DATE_ADD(DATE '2024-02-29', INTERVAL 1 YEAR)",
  "DATE_SUB(DATE '2026-03-31', INTERVAL 1 MONTH)",
  "DATE_ADD(DATE '2026-01-01', INTERVAL 2 WEEK)",
  "DATE_DIFF(DATE '2026-01-01', DATE '2026-03-01', DAY)",
  "DATE_TRUNC(DATE '2026-11-25', YEAR)",
  "DATE_TRUNC(DATE '2026-11-25', WEEK)",
  "DATE(TIMESTAMP '2026-11-25 23:59:59+00')",
  "DATE(2026, 2, 28)",
  "EXTRACT(HOUR FROM TIMESTAMP '2026-11-25 10:11:12+00')",
  "EXTRACT(DAYOFWEEK FROM TIMESTAMP '2026-11-25 10:11:12+00')",
  "EXTRACT(DAYOFYEAR FROM DATE '2026-12-31')",
  "EXTRACT(MILLISECOND FROM TIMESTAMP '2026-11-25 10:11:12.345678+00')",
  "EXTRACT(MICROSECOND FROM TIMESTAMP '2026-11-25 10:11:12.345678+00')",
  "EXTRACT(ISOWEEK FROM DATE '2026-01-01')",
  "EXTRACT(QUARTER FROM DATE '2026-11-25')",
  "EXTRACT(DATE FROM TIMESTAMP '2026-11-25 10:11:12+00')",
  "FORMAT_TIMESTAMP('%Y-%m-%dT%H:%M:%S', TIMESTAMP '2026-11-25 01:02:03+00')",
  "FORMAT_TIMESTAMP('%F %T', TIMESTAMP '2026-11-25 01:02:03+00')",
  "FORMAT_TIMESTAMP('%b %d %Y', TIMESTAMP '2026-11-25 01:02:03+00')",
  "FORMAT_DATE('%A %j', DATE '2026-11-25')",
  "UNIX_MICROS(TIMESTAMP '2026-11-25 10:00:00.000001+00')",
  "UNIX_MILLIS(TIMESTAMP '1969-12-31 23:59:59.9995+00')",
  "UNIX_SECONDS(TIMESTAMP '2026-11-25 10:00:00.9+00')",
  "TIMESTAMP_MICROS(1764064800000001)",
  "TIMESTAMP_MILLIS(-1)",
  "TIMESTAMP_SECONDS(1764064800)",
  "TIMESTAMP('2026-11-25')",
  "TIMESTAMP '2026-11-25 10:00:00.123456 UTC'",
];

describe("expressions agree with ZetaSQL's reference implementation", () => {
  it.each(EXPRESSIONS)("%s", async (expression) => {
    const expected = await viaOracle(expression);
    const actual = await viaEngine(expression);
    if ("error" in expected) expect(actual).toHaveProperty("error");
    else expect(actual).toEqual(expected);
  });
});

// --- Whole queries over a generated dataset, compared with the reference implementation.

/** Deterministic pseudo-random numbers (mulberry32), so a failure reproduces. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const EVENT_COLUMNS = [
  { name: "uuid", type: "STRING" },
  { name: "event", type: "STRING" },
  { name: "properties", type: "JSON" },
  { name: "distinct_id", type: "STRING" },
  { name: "team_id", type: "INT64" },
  { name: "timestamp", type: "TIMESTAMP" },
] as const satisfies readonly { name: string; type: SqlType }[];
const PERSON_COLUMNS = [
  { name: "team_id", type: "INT64" },
  { name: "distinct_id", type: "STRING" },
  { name: "person_id", type: "STRING" },
  { name: "person_version", type: "INT64" },
  { name: "person_distinct_id_version", type: "INT64" },
] as const satisfies readonly { name: string; type: SqlType }[];

function dataset(): ReferenceTable[] {
  const rnd = random(20261125);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
  const base = Date.UTC(2026, 10, 25) * 1000;
  const events: Cell[][] = [];
  for (let i = 0; i < 80; i++) {
    const props = pick([
      null,
      '{"plan": "free"}',
      '{"plan": "pro", "n": 2}',
      '{"n": 1.5, "plan": null}',
      '{"o": {"a": 1}}',
    ]);
    events.push([
      `u${String(i).padStart(3, "0")}`,
      pick(["pageview", "$pageview", "signup", "Purchase", null]),
      props,
      pick(["d0", "d1", "d2", "d3", "D1", "d4", null]),
      String(pick([1, 2])),
      String(base + Math.floor(rnd() * 86_400) * 1_000_000 + Math.floor(rnd() * 1000)),
    ]);
  }
  const persons: Cell[][] = [];
  for (const team of ["1", "2"]) {
    for (const d of ["d0", "d1", "d2", "D1", "d9"]) {
      const copies = 1 + Math.floor(rnd() * 3);
      for (let c = 0; c < copies; c++) {
        persons.push([
          team,
          d,
          pick(["p0", "p1", "p2", null]),
          String(Math.floor(rnd() * 4)),
          String(Math.floor(rnd() * 3)),
        ]);
      }
    }
  }
  return [
    { name: "events", columns: [...EVENT_COLUMNS], rows: events },
    { name: "persons", columns: [...PERSON_COLUMNS], rows: persons },
  ];
}

/** A GoogleSQL literal for a cell of the given type. */
function literal(type: SqlType, cell: Cell): string {
  if (cell === null) return "NULL";
  if (type === "STRING") return `'${String(cell).replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
  if (type === "JSON") return `JSON '${String(cell).replace(/'/g, "\\'")}'`;
  if (type === "TIMESTAMP") return `TIMESTAMP_MICROS(${String(cell)})`;
  return String(cell);
}

const QUERIES: { sql: string; ordered: boolean }[] = [
  {
    sql: "SELECT event, COUNT(persons.person_id) AS unique_persons_count FROM events AS events LEFT JOIN persons AS persons ON events.distinct_id = persons.distinct_id AND events.team_id = persons.team_id WHERE persons.person_id IS NOT NULL GROUP BY event ORDER BY unique_persons_count DESC",
    ordered: false,
  },
  {
    sql: "SELECT event, COUNT(*) AS n, COUNT(DISTINCT distinct_id) AS people FROM events GROUP BY event ORDER BY event",
    ordered: true,
  },
  { sql: "SELECT distinct_id, uuid FROM events ORDER BY distinct_id DESC, uuid", ordered: true },
  { sql: "SELECT event, uuid FROM events ORDER BY event, uuid LIMIT 10 OFFSET 5", ordered: true },
  {
    sql: "SELECT uuid, ROW_NUMBER() OVER (PARTITION BY distinct_id ORDER BY timestamp, uuid) AS rn, RANK() OVER (PARTITION BY team_id ORDER BY event) AS r, DENSE_RANK() OVER (ORDER BY distinct_id) AS dr FROM events ORDER BY uuid",
    ordered: true,
  },
  {
    sql: "SELECT uuid, LAG(uuid) OVER (PARTITION BY team_id ORDER BY timestamp, uuid) AS prev, COUNT(*) OVER (PARTITION BY event) AS c FROM events ORDER BY uuid",
    ordered: true,
  },
  {
    sql: "SELECT * FROM persons WHERE TRUE QUALIFY ROW_NUMBER() OVER (PARTITION BY team_id, distinct_id ORDER BY person_distinct_id_version DESC, person_version DESC, person_id DESC) = 1 ORDER BY team_id, distinct_id",
    ordered: false,
  },
  {
    sql: "SELECT TIMESTAMP_TRUNC(timestamp, HOUR) AS h, COUNT(*) AS n FROM events GROUP BY h ORDER BY h",
    ordered: true,
  },
  {
    sql: "SELECT JSON_VALUE(properties, '$.plan') AS plan, COUNT(*) AS n, SUM(team_id) AS s, AVG(team_id) AS a FROM events GROUP BY plan ORDER BY plan",
    ordered: true,
  },
  {
    sql: "SELECT uuid, TO_JSON_STRING(properties) AS p, JSON_TYPE(properties.n) AS t FROM events ORDER BY uuid",
    ordered: true,
  },
  {
    sql: "SELECT e.uuid, p.person_id FROM events AS e INNER JOIN persons AS p ON e.distinct_id = p.distinct_id AND e.team_id = p.team_id WHERE p.person_version >= 1",
    ordered: false,
  },
  {
    sql: "WITH latest AS (SELECT team_id, distinct_id, MAX(person_version) AS v FROM persons GROUP BY team_id, distinct_id HAVING COUNT(*) > 1) SELECT l.team_id, l.distinct_id, l.v, MIN(e.timestamp) AS first_seen, MAX(e.uuid) AS last_uuid FROM latest AS l LEFT JOIN events AS e USING (team_id, distinct_id) GROUP BY 1, 2, 3 ORDER BY 1, 2",
    ordered: true,
  },
  {
    sql: "SELECT distinct_id FROM events WHERE team_id = 1 EXCEPT DISTINCT SELECT distinct_id FROM persons WHERE team_id = 1",
    ordered: false,
  },
  {
    sql: "SELECT distinct_id FROM events INTERSECT DISTINCT SELECT distinct_id FROM persons",
    ordered: false,
  },
  {
    sql: "SELECT team_id, distinct_id FROM persons UNION ALL SELECT team_id, distinct_id FROM events",
    ordered: false,
  },
  {
    sql: "SELECT uuid, CASE WHEN event LIKE '%view' THEN 'view' WHEN event IS NULL THEN 'none' ELSE LOWER(event) END AS kind, IF(team_id = 1, 'one', 'other') AS team FROM events WHERE uuid IN (SELECT MIN(uuid) FROM events GROUP BY event) ORDER BY uuid",
    ordered: true,
  },
  {
    sql: "SELECT p.distinct_id, p.team_id FROM persons AS p WHERE EXISTS (SELECT 1 FROM events AS e WHERE e.distinct_id = p.distinct_id AND e.event = 'signup') ORDER BY 1, 2",
    ordered: false,
  },
  {
    sql: "SELECT event, COUNTIF(team_id = 2) AS t2, LOGICAL_OR(distinct_id IS NULL) AS anon, STRING_AGG(DISTINCT distinct_id, ',' ORDER BY distinct_id) AS ids FROM events GROUP BY event HAVING COUNT(*) > 2 ORDER BY event",
    ordered: true,
  },
  { sql: "SELECT MAX(team_id) / MIN(team_id) AS ratio, 5 / 2 AS half FROM events", ordered: true },
  { sql: "SELECT DISTINCT event FROM events ORDER BY event DESC", ordered: true },
  {
    sql: "SELECT e.uuid, p.person_id, p.distinct_id FROM (SELECT * FROM events WHERE team_id = 2) AS e RIGHT JOIN persons AS p ON e.distinct_id = p.distinct_id WHERE p.team_id = 2",
    ordered: false,
  },
  {
    sql: "SELECT e.distinct_id AS a, p.distinct_id AS b FROM (SELECT DISTINCT distinct_id FROM events) AS e FULL OUTER JOIN (SELECT DISTINCT distinct_id FROM persons) AS p USING (distinct_id)",
    ordered: false,
  },
  {
    sql: "SELECT t.team_id, d.event FROM (SELECT DISTINCT team_id FROM persons) AS t CROSS JOIN (SELECT DISTINCT event FROM events) AS d, (SELECT 1 AS one) AS o",
    ordered: false,
  },
  {
    sql: "SELECT * EXCEPT (person_version) REPLACE (UPPER(person_id) AS person_id) FROM persons WHERE person_version > 1",
    ordered: false,
  },
  {
    sql: "SELECT uuid, properties['plan'] AS plan, JSON_VALUE(properties['o'], '$.a') AS a, 1 + SAFE_CAST(JSON_VALUE(properties['n']) AS FLOAT64) * 2 AS n FROM events ORDER BY uuid",
    ordered: true,
  },
  {
    sql: "SELECT team_id, ROUND(STDDEV(person_version), 6) AS sd, ROUND(VAR_POP(person_version), 6) AS vp, COUNT(DISTINCT person_id) AS people FROM persons GROUP BY team_id ORDER BY team_id",
    ordered: true,
  },
];

describe("queries agree with ZetaSQL's reference implementation", () => {
  const tables = dataset();
  const options = {
    projectId: "oracle-project",
    defaultDataset: { projectId: "oracle-project", datasetId: "oracle" },
  };

  beforeAll(async () => {
    const catalog = engineCatalog;
    await catalog.createDataset("oracle-project", "oracle");
    for (const t of tables) {
      await catalog.createTable({
        ref: { projectId: "oracle-project", datasetId: "oracle", tableId: t.name },
        fields: t.columns.map((c) => ({ name: c.name, type: c.type })),
      });
      const values = t.rows.map(
        (r) => `(${r.map((v, i) => literal((t.columns[i] as { type: SqlType }).type, v)).join(", ")})`,
      );
      const insert = await engine.prepare(
        `INSERT ${t.name} (${t.columns.map((c) => c.name).join(", ")}) VALUES ${values.join(", ")}`,
        options,
      );
      await insert.run();
    }
  });

  it.each(QUERIES)("$sql", async ({ sql, ordered }) => {
    const expected = await oracle.query(sql, tables);
    const result = await (await engine.prepare(sql, options)).run();
    if (result.statementType !== "SELECT") throw new Error("not a SELECT");
    const key = (rows: Cell[][]) => rows.map((r) => JSON.stringify(r)).sort();
    expect(expected.length).toBeGreaterThan(0);
    if (ordered) expect(result.rows).toEqual(expected);
    else expect(key(result.rows)).toEqual(key(expected));
  });
});

const DML: string[] = [
  "UPDATE events SET event = UPPER(event), team_id = team_id + 10 WHERE distinct_id = 'd1'",
  "UPDATE events SET properties = JSON '{\"x\": [1, 2]}', timestamp = TIMESTAMP_ADD(timestamp, INTERVAL 1 HOUR) WHERE event IS NULL",
  "DELETE FROM events WHERE properties IS NULL OR JSON_VALUE(properties, '$.plan') = 'free'",
  "DELETE events WHERE distinct_id > 'd2'",
  // INSERT is left out: the reference server process crashes on it. MERGE too: the
  // reference evaluator answers "Evaluator does not support statement kind: MergeStmt".
];

describe("DML agrees with ZetaSQL's reference implementation", () => {
  const [events] = dataset() as [ReferenceTable];
  const table = { ...events, primaryKey: [0] };

  it.each(DML.map((sql, i) => ({ sql, i })))("$sql", async ({ sql, i }) => {
    const datasetId = `dml_${i}`;
    const options = {
      projectId: "oracle-project",
      defaultDataset: { projectId: "oracle-project", datasetId },
    };
    await engineCatalog.createDataset("oracle-project", datasetId);
    await engineCatalog.createTable({
      ref: { projectId: "oracle-project", datasetId, tableId: "events" },
      fields: table.columns.map((c) => ({ name: c.name, type: c.type })),
    });
    const values = table.rows.map(
      (r) => `(${r.map((v, j) => literal((table.columns[j] as { type: SqlType }).type, v)).join(", ")})`,
    );
    await (
      await engine.prepare(
        `INSERT events (${table.columns.map((c) => c.name).join(", ")}) VALUES ${values.join(", ")}`,
        options,
      )
    ).run();

    const changes = await oracle.modify(sql, [table]);
    // The table's JSON as the engine returns it: canonical.
    const canonical = (r: Cell[]) =>
      r.map((v, j) =>
        (table.columns[j] as { type: SqlType }).type === "JSON" && v !== null ? canonicalJson(String(v)) : v,
      );
    const expected = new Map(table.rows.map((r) => [r[0], canonical(r)]));
    for (const c of changes) {
      if (c.operation === "DELETE") expected.delete(c.oldKey[0] ?? c.row[0] ?? null);
      else if (c.operation === "UPDATE") {
        expected.delete(c.oldKey[0] ?? null);
        expected.set(c.row[0] ?? null, c.row);
      } else expected.set(c.row[0] ?? null, c.row);
    }

    const result = await (await engine.prepare(sql, options)).run();
    const count = (op: string) => changes.filter((c) => c.operation === op).length;
    expect(result).toMatchObject({
      numDmlAffectedRows: changes.length,
      dmlStats: {
        insertedRowCount: count("INSERT"),
        updatedRowCount: count("UPDATE"),
        deletedRowCount: count("DELETE"),
      },
    });
    const after = await (await engine.prepare("SELECT * FROM events", options)).run();
    if (after.statementType !== "SELECT") throw new Error("not a SELECT");
    const key = (rows: Cell[][]) => rows.map((r) => JSON.stringify(r)).sort();
    expect(changes.length).toBeGreaterThan(0);
    expect(key(after.rows)).toEqual(key([...expected.values()]));
  });
});
