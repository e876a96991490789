import { describe, it, expect } from "vitest";
import {
  destinationTable,
  jsonColumns,
  loadFields,
  modelFields,
  MODELS,
  PERSONS_KEY,
  PERSONS_VERSIONS,
  STAGE_TABLE_TTL_MS,
  stageTable,
} from "../../functions/src/core/models.js";

// The seed's two model tables, row by row (Field | Type | Description). The
// seed renders code spans as "(team_id , distinct_id )"; the spaces before
// the comma and parenthesis are that rendering, not part of the text.
const SEED_EVENTS: [string, string, string][] = [
  ["uuid", "STRING", "The unique ID of the event within PostHog"],
  ["event", "STRING", "The name of the event that was sent"],
  ["properties", "STRING or JSON", "A JSON object with all the properties sent along with an event"],
  ["elements", "STRING", "This field is present for backwards compatibility but has been deprecated"],
  ["set", "STRING or JSON", "A JSON object with any person properties sent with the $set field"],
  ["set_once", "STRING or JSON", "A JSON object with any person properties sent with the $set_once field"],
  ["distinct_id", "STRING", "The distinct_id of the user who sent the event"],
  ["team_id", "INT64", "The team_id for the event"],
  ["ip", "STRING", "The IP address that was sent with the event"],
  ["site_url", "STRING", "This field is present for backwards compatibility but has been deprecated"],
  ["timestamp", "TIMESTAMP", "The timestamp associated with an event"],
  ["bq_ingested_timestamp", "TIMESTAMP", "The timestamp when the event was sent to BigQuery"],
];
const SEED_PERSONS: [string, string, string][] = [
  ["team_id", "INT64", "The id of the project (team) the person belongs to"],
  ["distinct_id", "STRING", "A distinct_id associated with the person"],
  ["person_id", "STRING", "The id of the person associated to this (team_id , distinct_id ) pair"],
  ["properties", "STRING or JSON", "A JSON object with all the latest properties of the person"],
  [
    "person_version",
    "INT64",
    "Internal version of the person properties associated with a (team_id , distinct_id ) pair, used by batch export in merge operation",
  ],
  [
    "person_distinct_id_version",
    "INT64",
    "Internal version of the person to distinct_id mapping associated with a (team_id , distinct_id ) pair, used by batch export in merge operation",
  ],
];
const SEED = { events: SEED_EVENTS, persons: SEED_PERSONS };

const unrender = (s: string) => s.replace(/ ,/g, ",").replace(/ \)/g, ")");

describe.each(MODELS.map((m) => [m]))("the %s model matches the seed's table", (model) => {
  it.each([
    ["STRING variant", false],
    ["JSON variant", true],
  ])("%s: names, order, types, descriptions", (_variant, useJsonType) => {
    const expected = SEED[model].map(([name, type, description]) => ({
      name,
      type: type === "STRING or JSON" ? (useJsonType ? "JSON" : "STRING") : type,
      mode: "NULLABLE",
      description: unrender(description),
    }));
    expect(modelFields(model, useJsonType)).toEqual(expected);
  });

  it("jsonColumns are exactly the seed's 'STRING or JSON' columns", () => {
    expect(jsonColumns(model)).toEqual(SEED[model].filter(([, t]) => t === "STRING or JSON").map(([n]) => n));
  });

  it("descriptions fit BigQuery's 1,024-character limit", () => {
    for (const f of modelFields(model, true)) expect(f.description.length).toBeLessThanOrEqual(1024);
  });
});

describe("merge columns", () => {
  it("key and versions are persons columns of the right types", () => {
    const byName = new Map(modelFields("persons", true).map((f) => [f.name, f.type]));
    expect([...PERSONS_KEY]).toEqual(["team_id", "distinct_id"]);
    expect([...PERSONS_VERSIONS]).toEqual(["person_version", "person_distinct_id_version"]);
    for (const v of PERSONS_VERSIONS) expect(byName.get(v)).toBe("INT64");
  });
});

describe("table resources", () => {
  const ref = { projectId: "my-project", datasetId: "BatchExports", tableId: "events" };

  it.each([
    ["STRING", false],
    ["JSON", true],
  ])("events (%s): partitioned by day on timestamp, the model's schema", (_v, useJsonType) => {
    const t = destinationTable("events", useJsonType, ref);
    expect(t.tableReference).toEqual(ref);
    expect(t.timePartitioning).toEqual({ type: "DAY", field: "timestamp" });
    expect(t.clustering).toBeUndefined();
    expect(t.schema.fields).toEqual(modelFields("events", useJsonType));
    expect(t.expirationTime).toBeUndefined();
  });

  it("the partitioning column is a TIMESTAMP of the events schema", () => {
    const t = destinationTable("events", true, ref);
    const field = t.schema.fields.find((f) => f.name === t.timePartitioning?.field);
    expect(field?.type).toBe("TIMESTAMP");
  });

  it.each([
    ["STRING", false],
    ["JSON", true],
  ])("persons (%s): clustered on the merge key, not partitioned", (_v, useJsonType) => {
    const t = destinationTable("persons", useJsonType, { ...ref, tableId: "persons" });
    expect(t.clustering).toEqual({ fields: ["team_id", "distinct_id"] });
    expect(t.timePartitioning).toBeUndefined();
    expect(t.schema.fields).toEqual(modelFields("persons", useJsonType));
  });

  it("stage tables expire after seven days and carry the run's labels", () => {
    const now = new Date("2026-11-25T11:00:00Z");
    const labels = { bqx_export: "persons-hourly", bqx_run: "r", bqx_model: "persons" };
    const t = stageTable("persons", true, { ...ref, tableId: "persons_stage" }, now, labels);
    expect(Number(t.expirationTime)).toBe(Date.parse("2026-12-02T11:00:00Z"));
    expect(STAGE_TABLE_TTL_MS).toBe(7 * 24 * 3600 * 1000);
    expect(t.labels).toEqual(labels);
    expect(t.schema.fields).toEqual(loadFields("persons", true));
    // The final table's columns, so MERGE copies them one to one, plus the deletion flag.
    expect(t.schema.fields.map((f) => f.name)).toEqual([
      ...destinationTable("persons", true, ref).schema.fields.map((f) => f.name),
      "bqx_deleted",
    ]);
    expect(t.schema.fields.at(-1)).toMatchObject({ name: "bqx_deleted", type: "BOOL", mode: "NULLABLE" });
    // Events stage tables have exactly the destination's columns.
    expect(stageTable("events", false, ref, now).schema.fields).toEqual(modelFields("events", false));
  });
});
