// Compares an existing destination table with the model. The table's own
// schema wins where that is safe: JSON-ish columns follow the table (JSON or
// STRING), missing model columns are added as NULLABLE by the load, extra
// table columns are left NULL. Anything else is a SCHEMA_MISMATCH naming the
// column, because the load would fail or write the wrong type.
import { ExportError } from "./errors.js";
import { jsonColumns, modelFields, type FieldSpec, type ModelName } from "./models.js";

export interface ExistingField {
  name: string;
  type: string;
  mode?: string | undefined;
}

export interface SchemaCheck {
  /** Whether JSON-ish columns are JSON in the table (the rows are encoded to match). */
  useJsonType: boolean;
  /** Model columns the table lacks; the load adds them (ALLOW_FIELD_ADDITION). */
  missing: FieldSpec[];
  /** Differences that do not stop the export, for the run's log and response. */
  notes: string[];
}

// REST returns legacy names for some types.
const CANONICAL: Record<string, string> = {
  INTEGER: "INT64",
  FLOAT: "FLOAT64",
  BOOLEAN: "BOOL",
  RECORD: "STRUCT",
};
const canonical = (t: string) => CANONICAL[t.toUpperCase()] ?? t.toUpperCase();

export function checkTableSchema(
  model: ModelName,
  requestedJson: boolean,
  table: string,
  existing: readonly ExistingField[],
): SchemaCheck {
  const byName = new Map(existing.map((f) => [f.name.toLowerCase(), f]));
  const jsonish = new Set(jsonColumns(model));
  const problems: string[] = [];
  const notes: string[] = [];
  const missing: FieldSpec[] = [];
  const jsonishTypes = new Set<string>();

  for (const field of modelFields(model, requestedJson)) {
    const found = byName.get(field.name.toLowerCase());
    if (!found) {
      missing.push(field);
      notes.push(`column ${field.name} is missing from ${table}; the load adds it as NULLABLE ${field.type}`);
      continue;
    }
    const type = canonical(found.type);
    if (jsonish.has(field.name)) {
      if (type !== "JSON" && type !== "STRING") {
        problems.push(`column ${found.name} is ${type}; it must be JSON or STRING`);
      } else {
        jsonishTypes.add(type);
      }
    } else if (type !== field.type) {
      problems.push(`column ${found.name} is ${type}; the ${model} model writes ${field.type}`);
    }
    if (found.mode === "REPEATED") problems.push(`column ${found.name} is REPEATED; it must be NULLABLE`);
    if (found.mode === "REQUIRED") {
      notes.push(
        `column ${found.name} is REQUIRED in ${table}; rows with no value for it will fail the load`,
      );
    }
  }
  if (jsonishTypes.size > 1) {
    problems.push(
      `the JSON columns (${[...jsonish].join(", ")}) mix JSON and STRING types; make them all one type`,
    );
  }
  if (problems.length > 0) {
    throw new ExportError(
      "SCHEMA_MISMATCH",
      `Table ${table} does not match the ${model} model: ${problems.join("; ")}. Fix the table, or point the export at a new table ID and it will be created.`,
      { details: { problems } },
    );
  }
  const useJsonType = jsonishTypes.size === 1 ? jsonishTypes.has("JSON") : requestedJson;
  if (useJsonType !== requestedJson) {
    notes.push(
      `${table} has ${useJsonType ? "JSON" : "STRING"} columns for ${[...jsonish].join(", ")}; exporting them as ${useJsonType ? "JSON" : "STRING"} (useJsonType is ${requestedJson})`,
    );
  }
  return { useJsonType, missing, notes };
}
