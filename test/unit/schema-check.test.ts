import { describe, expect, it } from "vitest";
import { modelFields } from "../../functions/src/core/models.js";
import { checkTableSchema } from "../../functions/src/core/schema-check.js";

const asRest = (useJson: boolean) =>
  modelFields("events", useJson).map((f) => ({
    name: f.name,
    type: f.type === "INT64" ? "INTEGER" : f.type,
    mode: "NULLABLE",
  }));

describe("checkTableSchema", () => {
  it("accepts the model's own table (REST's legacy type names included)", () => {
    expect(checkTableSchema("events", true, "t", asRest(true))).toEqual({
      useJsonType: true,
      missing: [],
      notes: [],
    });
  });

  it("follows the table's STRING columns when JSON was asked for, and says so", () => {
    const r = checkTableSchema("events", true, "t", asRest(false));
    expect(r.useJsonType).toBe(false);
    expect(r.notes.join()).toMatch(/exporting them as STRING/);
  });

  it("adds missing model columns", () => {
    const r = checkTableSchema(
      "events",
      false,
      "t",
      asRest(false).filter((f) => f.name !== "bq_ingested_timestamp"),
    );
    expect(r.missing.map((f) => f.name)).toEqual(["bq_ingested_timestamp"]);
  });

  it.each([
    [
      "a wrong type",
      (f: { name: string; type: string }) => (f.name === "team_id" ? { ...f, type: "STRING" } : f),
      /team_id is STRING/,
    ],
    [
      "a JSON column of another type",
      (f: { name: string; type: string }) => (f.name === "set" ? { ...f, type: "INTEGER" } : f),
      /set is INT64; it must be JSON or STRING/,
    ],
    [
      "mixed JSON and STRING",
      (f: { name: string; type: string }) => (f.name === "set" ? { ...f, type: "JSON" } : f),
      /mix JSON and STRING/,
    ],
  ])("refuses %s with SCHEMA_MISMATCH naming the column", (_n, change, message) => {
    expect(() => checkTableSchema("events", false, "t", asRest(false).map(change))).toThrow(message);
  });
});
