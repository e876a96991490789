// Table paths as GoogleSQL writes them (`p.d.t`, p.d.t, `p`.d.t, my-project.d.t,
// d.t, t) resolved to a TableRef the way BigQuery does: two parts are
// dataset.table in the job's project, one part needs a default dataset.
import { BigQueryEngineError, type TableRef } from "../contracts.js";
import { isOp, type Token } from "./tokens.js";

export interface ResolveContext {
  projectId: string;
  defaultDataset?: { projectId: string; datasetId: string };
}

export interface TablePath {
  /** Name parts after splitting quoted segments on dots. */
  parts: string[];
  /** Index just past the path. */
  end: number;
}

/**
 * Reads a path starting at `start` (identifiers joined by dots; an unquoted
 * first part may contain dashes, as project IDs do). Undefined if no path starts there.
 */
export function readPath(tokens: Token[], start: number): TablePath | undefined {
  const first = tokens[start];
  if (!first || (first.kind !== "ident" && first.kind !== "quoted")) return undefined;
  const segments: string[] = [];
  let k = start;
  let segment = first.value;
  k++;
  // my-project.dataset.table: dashes only join unquoted words/numbers of the first part.
  if (first.kind === "ident") {
    while (
      isOp(tokens[k], "-") &&
      (tokens[k + 1]?.kind === "ident" || tokens[k + 1]?.kind === "number") &&
      isOp(tokens[k + 2], ".")
    ) {
      segment += `-${(tokens[k + 1] as Token).text}`;
      k += 2;
    }
  }
  segments.push(segment);
  while (isOp(tokens[k], ".") && (tokens[k + 1]?.kind === "ident" || tokens[k + 1]?.kind === "quoted")) {
    segments.push((tokens[k + 1] as Token).value);
    k += 2;
  }
  const parts = segments.flatMap((s) => s.split("."));
  return { parts, end: k };
}

export function resolveTable(parts: string[], ctx: ResolveContext): TableRef {
  if (parts.some((p) => p.length === 0)) {
    throw new BigQueryEngineError("invalidQuery", `Invalid table name: ${parts.join(".")}`);
  }
  if (parts.length === 3) {
    const [projectId, datasetId, tableId] = parts as [string, string, string];
    return { projectId, datasetId, tableId };
  }
  if (parts.length === 2) {
    const [datasetId, tableId] = parts as [string, string];
    return { projectId: ctx.projectId, datasetId, tableId };
  }
  if (parts.length === 1) {
    if (!ctx.defaultDataset) {
      throw new BigQueryEngineError(
        "invalidQuery",
        `Table name "${parts[0]}" missing dataset while no default dataset is set in the request.`,
      );
    }
    return { ...ctx.defaultDataset, tableId: parts[0] as string };
  }
  throw new BigQueryEngineError("invalidQuery", `Invalid table name: ${parts.join(".")}`);
}

export function refKey(ref: TableRef): string {
  return `${ref.projectId}:${ref.datasetId}.${ref.tableId}`;
}

export function sameRef(a: TableRef, b: TableRef): boolean {
  return a.projectId === b.projectId && a.datasetId === b.datasetId && a.tableId === b.tableId;
}

export function uniqueRefs(refs: TableRef[]): TableRef[] {
  const seen = new Map<string, TableRef>();
  for (const r of refs) if (!seen.has(refKey(r))) seen.set(refKey(r), r);
  return [...seen.values()];
}

/** BigQuery's answer for a table that does not exist (HTTP 404). */
export function tableNotFound(ref: TableRef, datasetExists: boolean): BigQueryEngineError {
  const message = datasetExists
    ? `Not found: Table ${refKey(ref)} was not found in location US`
    : `Not found: Dataset ${ref.projectId}:${ref.datasetId} was not found in location US`;
  return new BigQueryEngineError("notFound", message, 404);
}
