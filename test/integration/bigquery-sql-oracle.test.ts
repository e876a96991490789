// Differential test: GoogleSQL expressions run through the local engine
// (ZetaSQL analysis + DuckDB translation) must give the answer of Google's
// reference implementation (the ZetaSQL evaluator), or fail where it fails.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { DuckDBInstance, type DuckDBConnection } from "@duckdb/node-api";
import { BigQueryEngineError, type Cell, type QueryEngine } from "../local/bigquery/contracts.js";
import { createQueryEngine } from "../local/bigquery/sql/engine.js";
import { MemoryCatalog } from "../local/bigquery/sql/memory-catalog.js";
import { ReferenceEvaluator } from "../local/bigquery/sql/reference-evaluator.js";

let instance: DuckDBInstance;
let connection: DuckDBConnection;
let engine: QueryEngine;
let oracle: ReferenceEvaluator;

beforeAll(async () => {
  instance = await DuckDBInstance.create(":memory:");
  connection = await instance.connect();
  engine = await createQueryEngine({ connection, catalog: new MemoryCatalog(connection) });
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
  'PARSE_JSON(\'{"z": 1, "y": [true]}\')',
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
