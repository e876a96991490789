// Shape checks of the destination SQL; the ZetaSQL analysis and the MERGE
// semantics are in test/integration/destination-sql.test.ts.
import { describe, it, expect } from "vitest";
import { eventsInsertMergeSql, personsMergeSql } from "../../functions/src/core/destination-sql.js";
import { ExportError } from "../../functions/src/core/errors.js";
import type { TableRef } from "../../functions/src/core/identifiers.js";
import { modelFields } from "../../functions/src/core/models.js";
import { exampleQuerySql } from "../fixtures/seed-example-query.js";

const ok: TableRef = { projectId: "my-project", datasetId: "BatchExports", tableId: "persons" };
const stage: TableRef = { ...ok, tableId: "persons_stage" };

describe("identifiers never reach SQL unchecked", () => {
  const hostile: [string, TableRef][] = [
    ["backtick in the table", { ...ok, tableId: "t` WHERE TRUE; DROP TABLE x; --" }],
    ["dot in the dataset", { ...ok, datasetId: "a.b" }],
    ["quote in the project", { ...ok, projectId: "my-proj'ect" }],
    ["newline in the table", { ...ok, tableId: "t\nx" }],
  ];
  const builders: [string, (bad: TableRef) => string][] = [
    ["personsMergeSql (final)", (bad) => personsMergeSql(bad, stage, true)],
    ["personsMergeSql (stage)", (bad) => personsMergeSql(ok, bad, false)],
    ["eventsInsertMergeSql", (bad) => eventsInsertMergeSql(bad, stage)],
    ["exampleQuerySql", (bad) => exampleQuerySql(ok, bad)],
  ];
  for (const [builder, build] of builders) {
    it.each(hostile)(`${builder}: %s → INVALID_REQUEST`, (_name, bad) => {
      expect(() => build(bad)).toThrow(ExportError);
      try {
        build(bad);
      } catch (err) {
        expect((err as ExportError).code).toBe("INVALID_REQUEST");
      }
    });
  }
});

describe("statement shapes", () => {
  it("the persons MERGE inserts and updates every model column, and deletes only flagged keys", () => {
    const sql = personsMergeSql(ok, stage, true);
    for (const f of modelFields("persons", true)) expect(sql).toContain(`stage.\`${f.name}\``);
    expect(sql).toContain("WHEN NOT MATCHED BY TARGET AND NOT IFNULL(stage.`bqx_deleted`, FALSE) THEN");
    expect(sql).toMatch(
      /WHEN MATCHED AND IFNULL\(stage\.`bqx_deleted`, FALSE\) AND \(.*\) THEN\n\s+DELETE\n/,
    );
    // Rows the stage does not mention are never touched.
    expect(sql).not.toMatch(/WHEN NOT MATCHED BY SOURCE/);
    // The deletion clause comes first: a flagged key is never updated instead.
    expect(sql.indexOf("DELETE")).toBeLessThan(sql.indexOf("UPDATE SET"));
  });

  it("the events MERGE only inserts: no UPDATE or DELETE of exported events", () => {
    const sql = eventsInsertMergeSql({ ...ok, tableId: "events" }, { ...ok, tableId: "events_stage" });
    expect(sql).not.toMatch(/\bUPDATE\b|\bDELETE\b|WHEN MATCHED/);
    for (const f of modelFields("events", true)) expect(sql).toContain(`stage.\`${f.name}\``);
  });

  it("timestamp bounds are TIMESTAMP literals with their microseconds, and must be UTC instants", () => {
    const sql = eventsInsertMergeSql(ok, stage, {
      min: "2026-11-25T09:00:00.000001Z",
      max: "2026-11-25T10:59:59.999999Z",
    });
    expect(sql).toContain("final.`timestamp` >= TIMESTAMP '2026-11-25T09:00:00.000001Z'");
    expect(sql).toContain("final.`timestamp` <= TIMESTAMP '2026-11-25T10:59:59.999999Z'");
    for (const bad of [
      "x",
      "2026-11-25 09:00:00",
      "2026-11-25T09:00:00+01:00",
      "2026-11-25T09:00:00Z' OR '1",
    ]) {
      expect(() => eventsInsertMergeSql(ok, stage, { min: bad, max: "2026-11-25T10:00:00Z" })).toThrow(
        RangeError,
      );
    }
  });

  it("the example query is the seed's, on the given tables", () => {
    const sql = exampleQuerySql({ ...ok, tableId: "events" }, ok).replace(/\s+/g, " ");
    expect(sql).toBe(
      "SELECT event, COUNT(persons.person_id) AS unique_persons_count FROM `my-project.BatchExports.events` AS events " +
        "LEFT JOIN `my-project.BatchExports.persons` AS persons ON events.distinct_id = persons.distinct_id AND " +
        "events.team_id = persons.team_id WHERE persons.person_id IS NOT NULL GROUP BY event ORDER BY unique_persons_count DESC",
    );
  });
});
