// GoogleSQL run in the destination after a load: the persons MERGE and the
// insert-only events MERGE. Table names go through quoteTable (validated and
// quoted); column names come from the models, never from input.
import { quoteTable, type TableRef } from "./identifiers.js";
import { DELETED_FLAG, modelFields, PERSONS_KEY, PERSONS_VERSIONS, type ModelName } from "./models.js";

function columnNames(model: ModelName): string[] {
  // Names are the same in both variants; only JSON-or-STRING types differ.
  return modelFields(model, false).map((f) => f.name);
}

/** Column names from models.ts are plain identifiers; backticks keep reserved words (e.g. `set`) safe. */
function col(name: string): string {
  return `\`${name}\``;
}

function insertClause(columns: string[], condition?: string): string {
  return [
    `  WHEN NOT MATCHED BY TARGET${condition ? ` AND ${condition}` : ""} THEN`,
    `    INSERT (${columns.map(col).join(", ")})`,
    `    VALUES (${columns.map((c) => `stage.${col(c)}`).join(", ")})`,
  ].join("\n");
}

/**
 * Persons: MERGE the stage table into the final table.
 *
 * The stage is first reduced to one row per (team_id, distinct_id): the one
 * with the highest person_distinct_id_version, then the highest
 * person_version. The mapping version leads because a distinct_id that moved
 * to another person carries that person's (possibly lower) person_version.
 * A matched row is updated when either version in the stage is higher, as
 * the seed's FAQ describes; unmatched rows are inserted. A stage row flagged
 * as deleted (bqx_deleted: the mapping or the person was deleted in PostHog)
 * deletes the matched row when its versions are higher, and is never
 * inserted: deleted persons leave the table.
 *
 * The statement is the same for both column variants (JSON columns are only
 * copied, never compared: BigQuery has no equality on JSON); `useJsonType` is
 * part of the signature so callers and the analyzer tests state the variant.
 */
export function personsMergeSql(final: TableRef, stage: TableRef, _useJsonType: boolean): string {
  const columns = columnNames("persons");
  const [personVersion, distinctIdVersion] = PERSONS_VERSIONS;
  const keyMatch = PERSONS_KEY.map((k) => `final.${col(k)} = stage.${col(k)}`).join(" AND ");
  const updates = columns
    .filter((c) => !(PERSONS_KEY as readonly string[]).includes(c))
    .map((c) => `${col(c)} = stage.${col(c)}`);
  const newer =
    `(stage.${col(personVersion)} > final.${col(personVersion)}` +
    ` OR stage.${col(distinctIdVersion)} > final.${col(distinctIdVersion)})`;
  const deleted = `IFNULL(stage.${col(DELETED_FLAG)}, FALSE)`;
  return [
    `MERGE INTO ${quoteTable(final)} AS final`,
    "USING (",
    "  SELECT *",
    `  FROM ${quoteTable(stage)}`,
    // BigQuery only accepts QUALIFY alongside WHERE, GROUP BY or HAVING.
    "  WHERE TRUE",
    "  QUALIFY ROW_NUMBER() OVER (",
    `    PARTITION BY ${PERSONS_KEY.map(col).join(", ")}`,
    `    ORDER BY ${col(distinctIdVersion)} DESC, ${col(personVersion)} DESC, ${col("person_id")} DESC`,
    "  ) = 1",
    ") AS stage",
    `ON ${keyMatch}`,
    `  WHEN MATCHED AND ${deleted} AND ${newer} THEN`,
    "    DELETE",
    `  WHEN MATCHED AND ${newer} THEN`,
    `    UPDATE SET ${updates.join(", ")}`,
    insertClause(columns, `NOT ${deleted}`),
  ].join("\n");
}

/**
 * Inclusive bounds on the stage rows' `timestamp`, to prune the final table's
 * partitions: UTC instants as "YYYY-MM-DDThh:mm:ss[.f{1,6}]Z", kept as text
 * so their microseconds survive.
 */
export interface TimestampBounds {
  min: string;
  max: string;
}

const UTC_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?Z$/;

function timestampLiteral(t: string): string {
  // Only digits, '-', ':', '.', 'T' and 'Z' pass: safe inside quotes.
  if (!UTC_INSTANT.test(t) || Number.isNaN(Date.parse(t))) {
    throw new RangeError(`Invalid timestamp bound ${JSON.stringify(t.slice(0, 40))}`);
  }
  return `TIMESTAMP '${t}'`;
}

/**
 * Events with deduplicate: insert the stage rows whose uuid is not in the
 * final table yet (one row per uuid from the stage itself). A repeated event
 * has the same timestamp, so when `bounds` covers every stage timestamp the
 * ON clause also filters the final table to those days: BigQuery then prunes
 * the other partitions instead of scanning the whole table.
 */
export function eventsInsertMergeSql(final: TableRef, stage: TableRef, bounds?: TimestampBounds): string {
  const columns = columnNames("events");
  const prune = bounds
    ? [
        `  AND final.${col("timestamp")} >= ${timestampLiteral(bounds.min)}`,
        `  AND final.${col("timestamp")} <= ${timestampLiteral(bounds.max)}`,
      ]
    : [];
  return [
    `MERGE INTO ${quoteTable(final)} AS final`,
    "USING (",
    "  SELECT *",
    `  FROM ${quoteTable(stage)}`,
    "  WHERE TRUE",
    `  QUALIFY ROW_NUMBER() OVER (PARTITION BY ${col("uuid")} ORDER BY ${col("bq_ingested_timestamp")}) = 1`,
    ") AS stage",
    `ON final.${col("uuid")} = stage.${col("uuid")}`,
    ...prune,
    insertClause(columns),
  ].join("\n");
}
