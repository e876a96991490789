// PostHog's ClickHouse tables, as far as batch exports read them. Column names
// and types follow PostHog's schema (events, person, person_distinct_id2);
// engines are the single-node equivalents of PostHog's replicated ones.

export const POSTHOG_TABLES = ["events", "person", "person_distinct_id2"] as const;

export function posthogSchemaDdl(database = "posthog"): string[] {
  const db = `\`${database.replace(/`/g, "")}\``;
  return [
    `CREATE DATABASE IF NOT EXISTS ${db}`,
    // events: `inserted_at` is when ingestion wrote the row (NULL on rows
    // written before the column existed; `_timestamp` then stands in).
    `CREATE TABLE IF NOT EXISTS ${db}.events (
      uuid UUID,
      event String,
      properties String,
      timestamp DateTime64(6, 'UTC'),
      team_id Int64,
      distinct_id String,
      elements_chain String,
      created_at DateTime64(6, 'UTC'),
      person_id UUID,
      person_properties String,
      _timestamp DateTime,
      _offset UInt64,
      inserted_at Nullable(DateTime64(6, 'UTC'))
    ) ENGINE = MergeTree
    PARTITION BY toYYYYMM(timestamp)
    ORDER BY (team_id, toDate(timestamp), event, cityHash64(distinct_id), cityHash64(uuid))`,
    // person: one row per version; the highest version is current.
    `CREATE TABLE IF NOT EXISTS ${db}.person (
      id UUID,
      created_at DateTime64(3, 'UTC'),
      team_id Int64,
      properties String,
      is_identified Int8,
      is_deleted Int8,
      version UInt64,
      _timestamp DateTime,
      _offset UInt64
    ) ENGINE = ReplacingMergeTree(version)
    ORDER BY (team_id, id)`,
    // person_distinct_id2: the (team_id, distinct_id) → person_id mapping, versioned.
    `CREATE TABLE IF NOT EXISTS ${db}.person_distinct_id2 (
      team_id Int64,
      distinct_id String,
      person_id UUID,
      is_deleted Int8,
      version Int64,
      _timestamp DateTime,
      _offset UInt64,
      _partition UInt64
    ) ENGINE = ReplacingMergeTree(version)
    ORDER BY (team_id, distinct_id)`,
  ];
}
