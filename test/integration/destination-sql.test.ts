// Every destination statement is analysed by Google's ZetaSQL analyzer
// against tables built from the model schemas, for both column variants.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import {
  dropTableSql,
  eventsInsertMergeSql,
  exampleQuerySql,
  personsMergeSql,
} from "../../functions/src/core/destination-sql.js";
import type { TableRef } from "../../functions/src/core/identifiers.js";
import { modelFields, type ModelName } from "../../functions/src/core/models.js";
import { GoogleSqlAnalyzer, type CatalogTable } from "../local/zetasql/analyzer.js";

const project = "my-project";
const dataset = "BatchExports";
const ref = (tableId: string): TableRef => ({ projectId: project, datasetId: dataset, tableId });

const events = ref("events");
const eventsStage = ref("events_bqx_stage_20261125t100000z_20261125t110000z_a1");
const persons = ref("persons");
const personsStage = ref("persons_bqx_stage_20261125t100000z_20261125t110000z_a1");

function table(model: ModelName, useJsonType: boolean, t: TableRef): CatalogTable {
  return {
    path: `${t.projectId}.${t.datasetId}.${t.tableId}`,
    columns: modelFields(model, useJsonType).map((f) => ({ name: f.name, type: f.type })),
  };
}

function catalog(useJsonType: boolean): CatalogTable[] {
  return [
    table("events", useJsonType, events),
    table("events", useJsonType, eventsStage),
    table("persons", useJsonType, persons),
    table("persons", useJsonType, personsStage),
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
          min: new Date("2026-11-18T00:00:00Z"),
          max: new Date("2026-11-25T11:00:00Z"),
        }),
      "Merge",
    ],
    ["DROP of the persons stage table", () => dropTableSql(personsStage), "Drop"],
    ["DROP of the events stage table", () => dropTableSql(eventsStage), "Drop"],
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

  it("a stage table that is not in the catalog", async () => {
    const result = await analyzer.analyze(dropTableSql(ref("nope")), catalog(false));
    // DROP IF EXISTS of a missing table is fine in BigQuery; a query over it is not.
    expect(result.ok).toBe(true);
    const query = await analyzer.analyze(exampleQuerySql(events, ref("nope")), catalog(false));
    expect(query.ok).toBe(false);
    if (!query.ok) expect(query.message).toMatch(/not found/i);
  });
});
