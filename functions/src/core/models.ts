// The two models of the seed, with its exact column names, order, BigQuery
// types and descriptions, and the BigQuery table resources built from them.
import type { TableRef } from "./identifiers.js";

export const MODELS = ["events", "persons"] as const;
export type ModelName = (typeof MODELS)[number];

export type BigQueryType = "STRING" | "INT64" | "TIMESTAMP" | "JSON" | "BOOL";

export interface FieldSpec {
  name: string;
  type: BigQueryType;
  mode: "NULLABLE" | "REQUIRED";
  description: string;
}

// "STRING or JSON" columns follow the export's useJsonType switch.
type JsonOrString = "JSON_OR_STRING";
interface ModelField {
  name: string;
  type: BigQueryType | JsonOrString;
  description: string;
}

const EVENTS: readonly ModelField[] = [
  { name: "uuid", type: "STRING", description: "The unique ID of the event within PostHog" },
  { name: "event", type: "STRING", description: "The name of the event that was sent" },
  {
    name: "properties",
    type: "JSON_OR_STRING",
    description: "A JSON object with all the properties sent along with an event",
  },
  {
    name: "elements",
    type: "STRING",
    description: "This field is present for backwards compatibility but has been deprecated",
  },
  {
    name: "set",
    type: "JSON_OR_STRING",
    description: "A JSON object with any person properties sent with the $set field",
  },
  {
    name: "set_once",
    type: "JSON_OR_STRING",
    description: "A JSON object with any person properties sent with the $set_once field",
  },
  { name: "distinct_id", type: "STRING", description: "The distinct_id of the user who sent the event" },
  { name: "team_id", type: "INT64", description: "The team_id for the event" },
  { name: "ip", type: "STRING", description: "The IP address that was sent with the event" },
  {
    name: "site_url",
    type: "STRING",
    description: "This field is present for backwards compatibility but has been deprecated",
  },
  { name: "timestamp", type: "TIMESTAMP", description: "The timestamp associated with an event" },
  {
    name: "bq_ingested_timestamp",
    type: "TIMESTAMP",
    description: "The timestamp when the event was sent to BigQuery",
  },
];

const PERSONS: readonly ModelField[] = [
  { name: "team_id", type: "INT64", description: "The id of the project (team) the person belongs to" },
  { name: "distinct_id", type: "STRING", description: "A distinct_id associated with the person" },
  {
    name: "person_id",
    type: "STRING",
    description: "The id of the person associated to this (team_id, distinct_id) pair",
  },
  {
    name: "properties",
    type: "JSON_OR_STRING",
    description: "A JSON object with all the latest properties of the person",
  },
  {
    name: "person_version",
    type: "INT64",
    description:
      "Internal version of the person properties associated with a (team_id, distinct_id) pair, used by batch export in merge operation",
  },
  {
    name: "person_distinct_id_version",
    type: "INT64",
    description:
      "Internal version of the person to distinct_id mapping associated with a (team_id, distinct_id) pair, used by batch export in merge operation",
  },
];

const MODEL_FIELDS: Record<ModelName, readonly ModelField[]> = { events: EVENTS, persons: PERSONS };

/** Key columns of the mutable model, and the version columns its MERGE compares. */
export const PERSONS_KEY = ["team_id", "distinct_id"] as const;
export const PERSONS_VERSIONS = ["person_version", "person_distinct_id_version"] as const;

/**
 * The model's columns in the seed's order. Columns are NULLABLE as PostHog
 * creates them, so tables created by PostHog's own exports load unchanged.
 */
export function modelFields(model: ModelName, useJsonType: boolean): FieldSpec[] {
  return MODEL_FIELDS[model].map((f) => ({
    name: f.name,
    type: f.type === "JSON_OR_STRING" ? (useJsonType ? "JSON" : "STRING") : f.type,
    mode: "NULLABLE",
    description: f.description,
  }));
}

/**
 * Persons stage tables carry one internal column beyond the seed's six: the
 * key was deleted in PostHog (its mapping, or its person). The MERGE deletes
 * such keys from the destination and never inserts them; the destination
 * schema stays the seed's.
 */
export const DELETED_FLAG = "bqx_deleted";

/**
 * The columns of a load: the model's, plus the deletion flag for persons
 * (which always load into a stage table). The source query yields these in
 * this order, less the columns derived from properties (sourceColumns).
 */
export function loadFields(model: ModelName, useJsonType: boolean): FieldSpec[] {
  const fields = modelFields(model, useJsonType);
  if (model === "events") return fields;
  return [
    ...fields,
    {
      name: DELETED_FLAG,
      type: "BOOL",
      mode: "NULLABLE",
      description: "The key was deleted in PostHog: the MERGE removes it from the destination",
    },
  ];
}

/**
 * Events columns PostHog derives from `properties` (set ← $set, set_once ←
 * $set_once, ip ← $ip). The row encoder takes them from the document it
 * already scans, so any document that loads as `properties` yields them
 * (ClickHouse's JSON functions reject a whole document for one lone surrogate
 * or a number beyond int64); the source query does not emit them.
 */
export const PROPERTIES_MEMBERS: Readonly<Record<ModelName, Readonly<Record<string, string>>>> = {
  events: { set: "$set", set_once: "$set_once", ip: "$ip" },
  persons: {},
};

/** The columns the source query yields, in order: the load's, less those derived from properties. */
export function sourceColumns(model: ModelName): string[] {
  const derived = PROPERTIES_MEMBERS[model];
  return loadFields(model, false)
    .map((f) => f.name)
    .filter((name) => !(name in derived));
}

/** Columns whose values are JSON documents (STRING or JSON typed). */
export function jsonColumns(model: ModelName): string[] {
  return MODEL_FIELDS[model].filter((f) => f.type === "JSON_OR_STRING").map((f) => f.name);
}

/** The subset of BigQuery's Table resource (REST v2) that we create. */
export interface TableResource {
  tableReference: TableRef;
  description?: string;
  schema: { fields: FieldSpec[] };
  timePartitioning?: { type: "DAY"; field: string };
  clustering?: { fields: string[] };
  expirationTime?: string;
  labels?: Record<string, string>;
}

/**
 * The destination table. Events are partitioned by day on `timestamp` (queries
 * by time scan only their days); persons are clustered on their MERGE key.
 */
export function destinationTable(model: ModelName, useJsonType: boolean, ref: TableRef): TableResource {
  const base = {
    tableReference: ref,
    schema: { fields: modelFields(model, useJsonType) },
  };
  if (model === "events") {
    return {
      ...base,
      description: "PostHog events, exported by BigQuery batch exports",
      timePartitioning: { type: "DAY", field: "timestamp" },
    };
  }
  return {
    ...base,
    description: "PostHog persons, exported by BigQuery batch exports",
    clustering: { fields: [...PERSONS_KEY] },
  };
}

export const STAGE_TABLE_TTL_MS = 7 * 24 * 60 * 60 * 1000;

/**
 * A stage table for one run attempt: the load's columns (the destination's,
 * plus the deletion flag for persons), and an expiration so a run that never
 * finalizes cannot leave it behind for good.
 */
export function stageTable(
  model: ModelName,
  useJsonType: boolean,
  ref: TableRef,
  now: Date,
  labels: Record<string, string> = {},
): TableResource {
  return {
    tableReference: ref,
    description: "Stage table of a BigQuery batch export run; dropped when the run finalizes",
    schema: { fields: loadFields(model, useJsonType) },
    expirationTime: String(now.getTime() + STAGE_TABLE_TTL_MS),
    labels,
  };
}
