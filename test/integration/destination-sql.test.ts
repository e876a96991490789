// Every destination statement is analysed by Google's ZetaSQL analyzer
// against tables built from the model schemas, for both column variants.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { eventsInsertMergeSql, personsMergeSql } from "../../functions/src/core/destination-sql.js";
import type { TableRef } from "../../functions/src/core/identifiers.js";
import { loadFields, modelFields, type FieldSpec } from "../../functions/src/core/models.js";
import { createRowEncoder } from "../../functions/src/core/rows.js";
import { DuckDBInstance, type DuckDBConnection } from "@duckdb/node-api";
import { GoogleSqlAnalyzer, type CatalogTable } from "../local/zetasql/analyzer.js";
import { exampleQuerySql } from "../fixtures/seed-example-query.js";
import { HOSTILE_PROPERTIES } from "../fixtures/hostile-properties.js";

const project = "my-project";
const dataset = "BatchExports";
const ref = (tableId: string): TableRef => ({ projectId: project, datasetId: dataset, tableId });

const events = ref("events");
const eventsStage = ref("events_bqx_stage_20261125t100000z_20261125t110000z_a1");
const persons = ref("persons");
const personsStage = ref("persons_bqx_stage_20261125t100000z_20261125t110000z_a1");

function table(fields: FieldSpec[], t: TableRef): CatalogTable {
  return {
    path: `${t.projectId}.${t.datasetId}.${t.tableId}`,
    columns: fields.map((f) => ({ name: f.name, type: f.type })),
  };
}

/** Destination tables with the model's columns, stage tables with the load's (persons: + bqx_deleted). */
function catalog(useJsonType: boolean): CatalogTable[] {
  return [
    table(modelFields("events", useJsonType), events),
    table(loadFields("events", useJsonType), eventsStage),
    table(modelFields("persons", useJsonType), persons),
    table(loadFields("persons", useJsonType), personsStage),
  ];
}

let analyzer: GoogleSqlAnalyzer;
beforeAll(async () => {
  analyzer = await GoogleSqlAnalyzer.start();
});
afterAll(async () => {
  await analyzer?.stop();
});

describe.each([
  ["STRING columns", false],
  ["JSON columns", true],
])("destination SQL analyses as GoogleSQL (%s)", (_variant, useJsonType) => {
  const statements: [string, () => string, string][] = [
    ["persons MERGE", () => personsMergeSql(persons, personsStage, useJsonType), "Merge"],
    ["events insert-only MERGE", () => eventsInsertMergeSql(events, eventsStage), "Merge"],
    [
      "events insert-only MERGE with partition pruning",
      () =>
        eventsInsertMergeSql(events, eventsStage, {
          min: "2026-11-18T00:00:00.000000Z",
          max: "2026-11-25T10:59:59.999999Z",
        }),
      "Merge",
    ],
    ["the seed's example query", () => exampleQuerySql(events, persons), "Query"],
  ];
  it.each(statements)("%s", async (_name, build, kind) => {
    const sql = build();
    const result = await analyzer.analyze(sql, catalog(useJsonType));
    expect(result, sql).toMatchObject({ ok: true });
    if (result.ok) expect(result.statementKind).toBe(kind);
  });

  it("the example query returns (event STRING, unique_persons_count INT64)", async () => {
    const result = await analyzer.analyze(exampleQuerySql(events, persons), catalog(useJsonType));
    expect(result.ok && result.outputColumns).toEqual([
      { name: "event", type: "STRING" },
      { name: "unique_persons_count", type: "INT64" },
    ]);
  });
});

describe("the analyzer rejects what BigQuery rejects", () => {
  it("JSON = JSON in a MERGE condition", async () => {
    const broken = personsMergeSql(persons, personsStage, true).replace(
      "WHEN MATCHED AND (",
      "WHEN MATCHED AND (stage.`properties` = final.`properties` OR ",
    );
    const result = await analyzer.analyze(broken, catalog(true));
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.message).toMatch(/Equality is not defined for arguments of type JSON/);
  });

  it("a column the model does not have", async () => {
    const broken = personsMergeSql(persons, personsStage, false).replace(
      "`person_version` DESC",
      "`version` DESC",
    );
    const result = await analyzer.analyze(broken, catalog(false));
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.message).toMatch(/Unrecognized name: `?version/);
  });

  it("QUALIFY without WHERE, GROUP BY or HAVING", async () => {
    const broken = eventsInsertMergeSql(events, eventsStage).replace("  WHERE TRUE\n", "");
    const result = await analyzer.analyze(broken, catalog(false));
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.message).toMatch(/QUALIFY/);
  });

  it("a table that is not in the catalog", async () => {
    const query = await analyzer.analyze(exampleQuerySql(events, ref("nope")), catalog(false));
    expect(query.ok).toBe(false);
    if (!query.ok) expect(query.message).toMatch(/not found/i);
  });
});

// Not SQL we run, but the same analyzer is the best judge we have of what
// BigQuery's JSON type accepts: a JSON literal is parsed by Google's JSON
// parser at analysis time (syntax, surrogates, number overflow).
describe("JSON column values of encoded rows pass Google's JSON parser", () => {
  const tail = ',"person_version":null,"person_distinct_id_version":null,"bqx_deleted":null}';
  const head = '{"team_id":null,"distinct_id":null,"person_id":null,"properties":';

  /** The `properties` value exactly as it appears in the NDJSON line. */
  function fragment(source: string | null): string {
    const line = createRowEncoder("persons", true).encode({ properties: source });
    expect(line.startsWith(head) && line.endsWith(tail)).toBe(true);
    return line.slice(head.length, line.length - tail.length);
  }

  /** A GoogleSQL string literal holding `text`. */
  function stringLiteral(text: string): string {
    return `'${text.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
  }

  it.each(HOSTILE_PROPERTIES.filter((c) => c.source !== null).map((c) => [c.name, c] as const))(
    "%s",
    async (_name, c) => {
      const json = fragment(c.source);
      const result = await analyzer.analyze(`SELECT JSON ${stringLiteral(json)} AS j`, []);
      expect(result, json.slice(0, 200)).toMatchObject({ ok: true });
    },
  );

  it("the raw hostile texts themselves would not all pass (the check can fail)", async () => {
    const rejected: string[] = [];
    for (const c of HOSTILE_PROPERTIES) {
      if (c.source === null || c.source.trim() === "") continue;
      const raw = await analyzer.analyze(`SELECT JSON ${stringLiteral(c.source)} AS j`, []);
      if (!raw.ok) rejected.push(c.name);
    }
    expect(rejected).toEqual(
      expect.arrayContaining([
        "truncated document",
        "escaped unpaired high surrogate",
        "float64 overflow",
        "raw newline inside a string (invalid JSON)",
      ]),
    );
  });
});

// ZetaSQL says the statements are valid GoogleSQL; this says they do what the
// seed's FAQ describes, by running them on DuckDB (a real engine with MERGE
// and QUALIFY) after the only translation needed: quoted paths to table names.
describe("what the MERGE statements do (run on DuckDB)", () => {
  let db: DuckDBInstance;
  let conn: DuckDBConnection;
  beforeAll(async () => {
    db = await DuckDBInstance.create(":memory:");
    conn = await db.connect();
  });
  afterAll(() => {
    conn?.closeSync();
    db?.closeSync();
  });

  function toDuckDb(sql: string): string {
    return sql.replace(/`[a-z0-9-]+\.BatchExports\.([A-Za-z0-9_]+)`/g, "$1").replaceAll("`", '"');
  }
  async function rows(sqlText: string): Promise<Record<string, unknown>[]> {
    return (await conn.runAndReadAll(sqlText)).getRowObjectsJson();
  }

  it("persons: highest versions win, either version higher updates, new keys insert, newer deletions delete", async () => {
    const cols =
      "team_id BIGINT, distinct_id VARCHAR, person_id VARCHAR, properties VARCHAR, person_version BIGINT, person_distinct_id_version BIGINT";
    await conn.run(`CREATE OR REPLACE TABLE persons (${cols})`);
    await conn.run(`CREATE OR REPLACE TABLE ${personsStage.tableId} (${cols}, bqx_deleted BOOLEAN)`);
    await conn.run(`INSERT INTO persons VALUES
      (1, 'older', 'p1', 'kept', 5, 1),
      (1, 'newer', 'p2', 'old', 1, 1),
      (1, 'moved', 'p4', 'old', 5, 1),
      (1, 'same', 'p7', 'kept', 3, 3),
      (2, 'older', 'p8', 'other team', 1, 1),
      (1, 'mapping-deleted', 'p3', 'x', 5, 1),
      (1, 'person-deleted', 'p10', 'x', 2, 1),
      (1, 'stale-deletion', 'p11', 'kept', 5, 5)`);
    await conn.run(`INSERT INTO ${personsStage.tableId} VALUES
      (1, 'older', 'p1', 'stale', 4, 1, false),
      (1, 'newer', 'p2', 'v2', 2, 1, false),
      (1, 'newer', 'p2', 'v3', 3, 1, false),
      (1, 'moved', 'p9', 'new person', 1, 2, false),
      (1, 'same', 'p7', 'replayed', 3, 3, false),
      (1, 'fresh', 'p5', 'high person version', 9, 1, false),
      (1, 'fresh', 'p6', 'high mapping version', 1, 2, false),
      (1, 'mapping-deleted', 'p3', NULL, 5, 2, true),
      (1, 'person-deleted', 'p10', NULL, 3, 1, true),
      (1, 'stale-deletion', 'p11', NULL, 4, 5, true),
      (1, 'never-exported', 'p12', NULL, 1, 1, true),
      (1, 'recreated', 'p13', NULL, 1, 2, true),
      (1, 'recreated', 'p14', 'back', 1, 3, false)`);
    await conn.run(toDuckDb(personsMergeSql(persons, personsStage, false)));
    const result = await rows(
      "SELECT team_id, distinct_id, person_id, properties FROM persons ORDER BY team_id, distinct_id",
    );
    expect(result).toEqual([
      { team_id: "1", distinct_id: "fresh", person_id: "p6", properties: "high mapping version" },
      { team_id: "1", distinct_id: "moved", person_id: "p9", properties: "new person" },
      { team_id: "1", distinct_id: "newer", person_id: "p2", properties: "v3" },
      { team_id: "1", distinct_id: "older", person_id: "p1", properties: "kept" },
      { team_id: "1", distinct_id: "recreated", person_id: "p14", properties: "back" },
      { team_id: "1", distinct_id: "same", person_id: "p7", properties: "kept" },
      { team_id: "1", distinct_id: "stale-deletion", person_id: "p11", properties: "kept" },
      { team_id: "2", distinct_id: "older", person_id: "p8", properties: "other team" },
    ]);
  });

  it.each([
    ["without pruning", undefined],
    ["with timestamp bounds", { min: "2026-11-25T09:00:00Z", max: "2026-11-25T10:30:00.000001Z" }],
  ])("events (%s): each uuid once, existing ones untouched", async (_name, bounds) => {
    const cols = modelFields("events", false)
      .map(
        (f) =>
          `"${f.name}" ${f.type === "INT64" ? "BIGINT" : f.type === "TIMESTAMP" ? "TIMESTAMPTZ" : "VARCHAR"}`,
      )
      .join(", ");
    await conn.run(`CREATE OR REPLACE TABLE events (${cols})`);
    await conn.run(`CREATE OR REPLACE TABLE ${eventsStage.tableId} (${cols})`);
    const row = (uuid: string, event: string) =>
      `('${uuid}', '${event}', '{}', '', NULL, NULL, 'd', 1, NULL, '', TIMESTAMPTZ '2026-11-25 10:00:00+00', TIMESTAMPTZ '2026-11-25 11:00:00+00')`;
    await conn.run(`INSERT INTO events VALUES ${row("u1", "first load")}`);
    await conn.run(
      `INSERT INTO ${eventsStage.tableId} VALUES ${row("u1", "retried")}, ${row("u2", "new")}, ${row("u2", "new")}, ${row("u3", "new")}`,
    );
    await conn.run(toDuckDb(eventsInsertMergeSql(events, eventsStage, bounds)));
    expect(await rows("SELECT uuid, event FROM events ORDER BY uuid")).toEqual([
      { uuid: "u1", event: "first load" },
      { uuid: "u2", event: "new" },
      { uuid: "u3", event: "new" },
    ]);
  });
});
