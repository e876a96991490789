// Table schemas as the REST API receives and returns them: type aliases
// (INTEGER/INT64, ...), modes, descriptions, and the rules BigQuery applies
// when a schema is created or changed.
import type { SqlType } from "../zetasql/analyzer.js";
import type { FieldSchema, TableRef } from "./contracts.js";
import { ApiError, invalid } from "./errors.js";

/** REST TableFieldSchema, as clients send it. */
export interface RestField {
  name?: unknown;
  type?: unknown;
  mode?: unknown;
  description?: unknown;
  fields?: unknown;
}

const TYPE_ALIASES: Record<string, SqlType> = {
  STRING: "STRING",
  INTEGER: "INT64",
  INT64: "INT64",
  FLOAT: "FLOAT64",
  FLOAT64: "FLOAT64",
  BOOLEAN: "BOOL",
  BOOL: "BOOL",
  BYTES: "BYTES",
  DATE: "DATE",
  DATETIME: "DATETIME",
  TIME: "TIME",
  TIMESTAMP: "TIMESTAMP",
  NUMERIC: "NUMERIC",
  DECIMAL: "NUMERIC",
  BIGNUMERIC: "BIGNUMERIC",
  BIGDECIMAL: "BIGNUMERIC",
  JSON: "JSON",
};

// The REST API answers with the legacy type names.
const REST_TYPE: Record<SqlType, string> = {
  STRING: "STRING",
  INT64: "INTEGER",
  FLOAT64: "FLOAT",
  BOOL: "BOOLEAN",
  BYTES: "BYTES",
  DATE: "DATE",
  DATETIME: "DATETIME",
  TIME: "TIME",
  TIMESTAMP: "TIMESTAMP",
  NUMERIC: "NUMERIC",
  BIGNUMERIC: "BIGNUMERIC",
  JSON: "JSON",
};

// Column names: letters, digits and underscores, not starting with a digit, ≤ 300 chars.
const FIELD_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,299}$/;

export function tableName(ref: TableRef): string {
  return `${ref.projectId}:${ref.datasetId}.${ref.tableId}`;
}

export function parseFields(raw: unknown): FieldSchema[] {
  if (!Array.isArray(raw)) throw invalid("Schema has no fields.");
  const seen = new Set<string>();
  return raw.map((f: RestField) => {
    if (typeof f !== "object" || f === null) throw invalid("Invalid field in schema.");
    const name = typeof f.name === "string" ? f.name : "";
    if (!FIELD_NAME.test(name)) {
      throw invalid(
        `Invalid field name "${name}". Fields must contain only letters, numbers, and underscores, start with a letter or underscore, and be at most 300 characters long.`,
      );
    }
    const lower = name.toLowerCase();
    if (seen.has(lower)) throw invalid(`Field ${name} already exists in schema`);
    seen.add(lower);
    const typeName = typeof f.type === "string" ? f.type.toUpperCase() : "";
    if (typeName === "RECORD" || typeName === "STRUCT" || typeName === "GEOGRAPHY" || typeName === "RANGE") {
      throw new ApiError(
        "notImplemented",
        `Field ${name}: type ${typeName} is not supported by the local BigQuery.`,
        {
          httpStatus: 400,
        },
      );
    }
    const type = TYPE_ALIASES[typeName];
    if (!type) throw invalid(`Invalid value for type: ${String(f.type)} is not a valid value`);
    const modeName =
      f.mode === undefined ? "NULLABLE" : typeof f.mode === "string" ? f.mode.toUpperCase() : "";
    if (modeName !== "NULLABLE" && modeName !== "REQUIRED" && modeName !== "REPEATED") {
      throw invalid(`Invalid value for mode: ${String(f.mode)} is not a valid value`);
    }
    if (modeName === "REPEATED") {
      throw new ApiError(
        "notImplemented",
        `Field ${name}: REPEATED mode is not supported by the local BigQuery.`,
        {
          httpStatus: 400,
        },
      );
    }
    if (f.description !== undefined && typeof f.description !== "string")
      throw invalid(`Invalid description for field ${name}`);
    if (typeof f.description === "string" && f.description.length > 1024) {
      throw invalid(`The description for field ${name} is too long. The maximum length is 1024 characters.`);
    }
    return {
      name,
      type,
      mode: modeName,
      ...(typeof f.description === "string" ? { description: f.description } : {}),
    };
  });
}

export function restFields(fields: FieldSchema[]): Array<Record<string, string>> {
  return fields.map((f) => ({
    name: f.name,
    type: REST_TYPE[f.type],
    mode: f.mode ?? "NULLABLE",
    ...(f.description !== undefined ? { description: f.description } : {}),
  }));
}

/**
 * Checks a schema change as tables.patch/update and load jobs with
 * schemaUpdateOptions do: existing fields keep their name and type (REQUIRED
 * may relax to NULLABLE when allowed), new fields must be NULLABLE.
 * Returns the fields to add.
 */
export function schemaChange(
  ref: TableRef,
  current: FieldSchema[],
  next: FieldSchema[],
  options: { allowAdd: boolean; allowRelax: boolean },
): FieldSchema[] {
  const prefix = `Provided Schema does not match Table ${tableName(ref)}.`;
  const byName = new Map(next.map((f) => [f.name.toLowerCase(), f]));
  for (const old of current) {
    const nf = byName.get(old.name.toLowerCase());
    if (!nf) throw invalid(`${prefix} Field ${old.name} is missing in new schema`);
    if (nf.type !== old.type) {
      throw invalid(
        `${prefix} Field ${old.name} has changed type from ${REST_TYPE[old.type]} to ${REST_TYPE[nf.type]}`,
      );
    }
    const oldMode = old.mode ?? "NULLABLE";
    const newMode = nf.mode ?? "NULLABLE";
    if (oldMode !== newMode) {
      if (!(oldMode === "REQUIRED" && newMode === "NULLABLE" && options.allowRelax)) {
        throw invalid(`${prefix} Field ${old.name} has changed mode from ${oldMode} to ${newMode}`);
      }
    }
  }
  const existing = new Set(current.map((f) => f.name.toLowerCase()));
  const added = next.filter((f) => !existing.has(f.name.toLowerCase()));
  if (added.length > 0 && !options.allowAdd) {
    throw invalid(
      `${prefix} Field ${added[0]?.name ?? ""} has been added to the schema but schema updates are not allowed`,
    );
  }
  for (const f of added) {
    if ((f.mode ?? "NULLABLE") === "REQUIRED") {
      throw invalid(`${prefix} Cannot add required fields to an existing schema. (field: ${f.name})`);
    }
  }
  return added;
}
