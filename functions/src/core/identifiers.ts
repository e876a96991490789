// BigQuery resource names, validated against BigQuery's naming rules and
// quoted, so no user-supplied value ever reaches SQL text unchecked.
import { ExportError } from "./errors.js";

// Project IDs: 6-30 chars, lowercase letters, digits and hyphens, starting with
// a letter and not ending with a hyphen; optionally domain-scoped
// ("example.com:my-project").
const PROJECT_ID = /^(?:[a-z][a-z0-9.-]*[a-z0-9]:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$/;
// Dataset IDs: letters, digits and underscores, up to 1,024 characters.
const DATASET_ID = /^[A-Za-z0-9_]{1,1024}$/;
// Table IDs: Unicode letters, marks, numbers, connectors (e.g. underscore),
// dashes and spaces, up to 1,024 UTF-8 bytes.
const TABLE_ID = /^[\p{L}\p{M}\p{N}\p{Pc}\p{Pd}\p{Zs}]+$/u;
const TABLE_ID_MAX_BYTES = 1024;

export type IdentifierKind = "project" | "dataset" | "table";

/** Returns a message naming what is wrong with the ID, or undefined when it is valid. */
export function identifierProblem(kind: IdentifierKind, value: string): string | undefined {
  switch (kind) {
    case "project":
      return PROJECT_ID.test(value)
        ? undefined
        : "a project ID has 6 to 30 lowercase letters, digits or hyphens, starts with a letter and does not end with a hyphen";
    case "dataset":
      if (value.length === 0) return "a dataset ID must not be empty";
      return DATASET_ID.test(value)
        ? undefined
        : "a dataset ID may contain only letters, digits and underscores (at most 1,024)";
    case "table":
      if (value.length === 0) return "a table ID must not be empty";
      if (Buffer.byteLength(value, "utf8") > TABLE_ID_MAX_BYTES) return "a table ID is at most 1,024 bytes";
      return TABLE_ID.test(value)
        ? undefined
        : "a table ID may contain only letters, marks, numbers, underscores, dashes and spaces";
  }
}

export interface TableRef {
  projectId: string;
  datasetId: string;
  tableId: string;
}

export function assertIdentifier(kind: IdentifierKind, value: string): string {
  const problem = identifierProblem(kind, value);
  if (problem) {
    throw new ExportError("INVALID_REQUEST", `Invalid ${kind} ID ${JSON.stringify(value)}: ${problem}.`, {
      details: { kind, value },
    });
  }
  return value;
}

/**
 * The table as one quoted GoogleSQL path, `project.dataset.table`. Validation
 * guarantees no backtick or backslash can occur inside the quotes.
 */
export function quoteTable(ref: TableRef): string {
  assertIdentifier("project", ref.projectId);
  assertIdentifier("dataset", ref.datasetId);
  assertIdentifier("table", ref.tableId);
  return `\`${ref.projectId}.${ref.datasetId}.${ref.tableId}\``;
}
