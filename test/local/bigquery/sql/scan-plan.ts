// What a statement reads, as BigQuery bills it: for every table scan the
// columns the statement references (the analyzer prunes the rest) and, on a
// partitioned table, the values of the partitioning column its filters let
// through, from which the partitions it scans follow.
//
// Pruning follows "Query partitioned tables"
// (https://cloud.google.com/bigquery/docs/querying-partitioned-tables): a
// filter prunes when it compares the partitioning column itself with
// constant expressions (literals, query parameters); a function of the
// column (DATE(ts), TIMESTAMP_ADD(ts, ...)) does not. A filter reaches a
// scan through WHERE, through the ON condition of a join the scan cannot
// be null-extended by, and in DML through WHERE. For MERGE, "Update
// partitioned table data using DML"
// (https://cloud.google.com/bigquery/docs/using-dml-with-partitioned-tables)
// lets the partitioning column limit the scans "in either a subquery filter,
// a search_condition filter, or a merge_condition filter"; the target keeps
// the partitions some WHEN clause can act on: a MATCHED clause needs rows
// passing both the ON condition and its own condition, NOT MATCHED BY
// TARGET needs the rows the ON condition may match, NOT MATCHED BY SOURCE
// the rows its own condition passes. The source is pruned by the ON
// condition only when no NOT MATCHED BY TARGET clause must see every source
// row.
import { parseTimestampMicros } from "../load/values.js";
import { astNode, childNodes, columnId, columnName, int64, list, type AstNode } from "./resolved-ast.js";
import { ALL_VALUES, NO_VALUES, intersect, union, type ValueSet } from "./partitions.js";

export interface TableRead {
  /** The table's full name as the analyzer catalog registered it ("project.dataset.table"). */
  table: string;
  /** Columns the statement reads from this scan. */
  columns: string[];
  /** Partitioning-column values the scan keeps; ALL_VALUES when nothing prunes it. */
  keep: ValueSet;
}

export interface DmlTarget {
  table: string;
  statement: "INSERT" | "UPDATE" | "DELETE" | "MERGE";
  /**
   * Whether the statement may rewrite existing rows (UPDATE, DELETE, MERGE
   * with an UPDATE or DELETE clause): BigQuery then also processes the
   * target's partitions in full.
   */
  rewritesRows: boolean;
  /** The target's scan, when the statement reads it (all but INSERT). */
  scan?: TableRead;
}

export interface ScanPlan {
  reads: TableRead[];
  dml?: DmlTarget;
}

export interface ScanPlanContext {
  /** The partitioning column of a table (by full name), if it is partitioned. */
  partitionColumn(table: string): string | undefined;
  /** Bound query parameters: lower-case name → type and value as text (null for NULL). */
  params: Map<string, { type: string; value: string | null }>;
}

// ZetaSQL function names of the comparisons that prune.
const FN = "ZetaSQL:$";
const COMPARISONS = new Set(["equal", "less", "less_or_equal", "greater", "greater_or_equal"]);
const MIRRORED: Record<string, string> = {
  less: "greater",
  less_or_equal: "greater_or_equal",
  greater: "less",
  greater_or_equal: "less_or_equal",
  equal: "equal",
};

const MICROS_PER_DAY = 86_400_000_000n;

/** A constant's value in the partition domain (microseconds), or undefined when not a usable constant. */
function constantMicros(expr: AstNode | undefined, ctx: ScanPlanContext): bigint | undefined {
  if (!expr) return undefined;
  if (expr.kind === "resolvedLiteralNode") {
    const holder = expr.fields["value"] as { value?: Record<string, unknown> } | undefined;
    const v = holder?.value;
    if (!v) return undefined;
    const ts = v["timestampValue"] as { seconds?: unknown; nanos?: number } | undefined;
    if (ts) return int64(ts.seconds) * 1_000_000n + BigInt(Math.trunc((ts.nanos ?? 0) / 1000));
    if (v["dateValue"] !== undefined) return BigInt(Number(v["dateValue"])) * MICROS_PER_DAY;
    return undefined;
  }
  if (expr.kind === "resolvedParameterNode") {
    const name = expr.fields["name"];
    const p = typeof name === "string" ? ctx.params.get(name.toLowerCase()) : undefined;
    if (!p || p.value === null) return undefined;
    if (p.type === "TIMESTAMP") return parseTimestampMicros(String(p.value));
    if (p.type === "DATE") {
      const ms = Date.parse(`${String(p.value)}T00:00:00Z`);
      return Number.isNaN(ms) ? undefined : BigInt(ms) * 1000n;
    }
  }
  return undefined;
}

function isColumn(expr: AstNode | undefined, id: number): boolean {
  return expr?.kind === "resolvedColumnRefNode" && columnId(expr.fields["column"]) === id;
}

function comparisonSet(op: string, v: bigint): ValueSet {
  switch (op) {
    case "equal":
      return { intervals: [{ lo: v, hi: v }], includesNull: false };
    case "less":
      return { intervals: [{ lo: null, hi: v - 1n }], includesNull: false };
    case "less_or_equal":
      return { intervals: [{ lo: null, hi: v }], includesNull: false };
    case "greater":
      return { intervals: [{ lo: v + 1n, hi: null }], includesNull: false };
    default:
      return { intervals: [{ lo: v, hi: null }], includesNull: false };
  }
}

/**
 * The values of column `id` that can make `expr` TRUE, as far as the
 * constant comparisons in it tell; ALL_VALUES when it does not constrain
 * the column.
 */
export function valuesPassing(exprRaw: unknown, id: number, ctx: ScanPlanContext): ValueSet {
  const expr = astNode(exprRaw);
  if (!expr) return ALL_VALUES;
  if (expr.kind === "resolvedLiteralNode") {
    const v = (expr.fields["value"] as { value?: { boolValue?: boolean } } | undefined)?.value;
    return v?.boolValue === false ? NO_VALUES : ALL_VALUES;
  }
  if (expr.kind !== "resolvedFunctionCallNode") return ALL_VALUES;
  const name = String((expr.fields["function"] as { name?: string } | undefined)?.name ?? "");
  if (!name.startsWith(FN)) return ALL_VALUES;
  const fn = name.slice(FN.length);
  const args = list(expr.fields["argumentList"]);
  const argNodes = args.map((a) => astNode(a));
  if (fn === "and") {
    return args.reduce<ValueSet>((acc, a) => intersect(acc, valuesPassing(a, id, ctx)), ALL_VALUES);
  }
  if (fn === "or") {
    return args.reduce<ValueSet>((acc, a) => union(acc, valuesPassing(a, id, ctx)), NO_VALUES);
  }
  if (COMPARISONS.has(fn) && argNodes.length === 2) {
    const [a, b] = argNodes;
    if (isColumn(a, id)) {
      const v = constantMicros(b, ctx);
      if (v !== undefined) return comparisonSet(fn, v);
    } else if (isColumn(b, id)) {
      const v = constantMicros(a, ctx);
      if (v !== undefined) return comparisonSet(MIRRORED[fn] ?? fn, v);
    }
    return ALL_VALUES;
  }
  if (fn === "between" && argNodes.length === 3 && isColumn(argNodes[0], id)) {
    const lo = constantMicros(argNodes[1], ctx);
    const hi = constantMicros(argNodes[2], ctx);
    if (lo !== undefined && hi !== undefined) return { intervals: [{ lo, hi }], includesNull: false };
    return ALL_VALUES;
  }
  if (fn === "in" && argNodes.length >= 2 && isColumn(argNodes[0], id)) {
    let set = NO_VALUES;
    for (const item of argNodes.slice(1)) {
      const v = constantMicros(item, ctx);
      if (v === undefined) return ALL_VALUES;
      set = union(set, comparisonSet("equal", v));
    }
    return set;
  }
  return ALL_VALUES;
}

interface ScanColumns {
  table: string;
  /** columnId → name, for the columns in the scan's (pruned) column list. */
  columns: Map<number, string>;
}

function tableScanColumns(scan: AstNode): ScanColumns {
  const table = String((scan.fields["table"] as { fullName?: string } | undefined)?.fullName ?? "");
  const columns = new Map<number, string>();
  for (const c of list(scan.fields["columnList"])) columns.set(columnId(c), columnName(c));
  return { table, columns };
}

class Planner {
  readonly reads: TableRead[] = [];

  constructor(private readonly ctx: ScanPlanContext) {}

  /** The scan's partition values kept by `filters` (expressions that hold for every row it must produce). */
  keep(scan: ScanColumns, filters: unknown[]): ValueSet {
    const column = this.ctx.partitionColumn(scan.table);
    if (column === undefined) return ALL_VALUES;
    const id = [...scan.columns].find(([, name]) => name === column)?.[0];
    if (id === undefined) return ALL_VALUES;
    return filters.reduce<ValueSet>((acc, f) => intersect(acc, valuesPassing(f, id, this.ctx)), ALL_VALUES);
  }

  partitionColumnId(scan: ScanColumns): number | undefined {
    const column = this.ctx.partitionColumn(scan.table);
    return [...scan.columns].find(([, name]) => name === column)?.[0];
  }

  /**
   * Visits a scan with the filters known to apply to all the rows it must
   * produce. Scans that change which rows their input must produce
   * (aggregates, window functions, limits, set operations, WITH) pass none on.
   */
  scan(raw: unknown, filters: unknown[]): void {
    const node = astNode(raw);
    if (!node) return;
    const f = node.fields;
    switch (node.kind) {
      case "resolvedTableScanNode": {
        const scan = tableScanColumns(node);
        this.reads.push({
          table: scan.table,
          columns: [...scan.columns.values()],
          keep: this.keep(scan, filters),
        });
        return;
      }
      case "resolvedFilterScanNode":
        this.expressions(f["filterExpr"]);
        this.scan(f["inputScan"], [...filters, f["filterExpr"]]);
        return;
      case "resolvedProjectScanNode":
      case "resolvedOrderByScanNode":
        this.expressions(f["exprList"]);
        this.scan(f["inputScan"], filters);
        return;
      case "resolvedJoinScanNode": {
        // Comparisons on a scan's own partitioning column reject NULL, so the
        // filters above a join hold for either side; the ON condition holds
        // for a side only when the join cannot null-extend that side.
        const joinType = Number(f["joinType"] ?? 0);
        const on = f["joinExpr"];
        this.expressions(on);
        this.scan(f["leftScan"], joinType === 0 || joinType === 2 ? [...filters, on] : filters);
        this.scan(f["rightScan"], joinType === 0 || joinType === 1 ? [...filters, on] : filters);
        return;
      }
      default:
        for (const child of childNodes(f)) this.any(child);
    }
  }

  /** Scans inside expressions (subqueries) see no outer filter. */
  expressions(raw: unknown): void {
    for (const n of childNodes({ raw })) this.any(n);
  }

  /** Every scan at or below a node, with no filter from outside it. */
  any(node: AstNode): void {
    if (node.kind.endsWith("ScanNode")) this.scan({ node: node.kind, [node.kind]: node.fields }, []);
    else for (const child of childNodes(node.fields)) this.any(child);
  }
}

/** The target scan of a DML statement: the columns it reads (READ or READ_WRITE access). */
function targetRead(stmt: AstNode, keep: ValueSet): TableRead | undefined {
  const scanNode = astNode(stmt.fields["tableScan"], "resolvedTableScanNode");
  if (!scanNode) return undefined;
  const scan = tableScanColumns(scanNode);
  const access = list(stmt.fields["columnAccessList"]).map((a) => Number(a));
  const names = [...scan.columns.values()];
  // ObjectAccess: READ = 1, WRITE = 2, READ_WRITE = 3 (resolved_ast_enums.proto).
  const columns = names.filter((_, i) => ((access[i] ?? 1) & 1) === 1);
  return { table: scan.table, columns, keep };
}

export function scanPlan(resolvedStatement: Record<string, unknown>, ctx: ScanPlanContext): ScanPlan {
  const stmt = astNode(resolvedStatement);
  const planner = new Planner(ctx);
  if (!stmt) return { reads: [] };
  const f = stmt.fields;
  const scanOf = (raw: unknown) => {
    const n = astNode(raw, "resolvedTableScanNode");
    return n ? tableScanColumns(n) : undefined;
  };
  switch (stmt.kind) {
    case "resolvedInsertStmtNode": {
      const target = scanOf(f["tableScan"]);
      planner.scan(f["query"], []);
      planner.expressions(f["rowList"]);
      return {
        reads: planner.reads,
        dml: { table: target?.table ?? "", statement: "INSERT", rewritesRows: false },
      };
    }
    case "resolvedDeleteStmtNode":
    case "resolvedUpdateStmtNode": {
      const target = scanOf(f["tableScan"]);
      planner.expressions(f["whereExpr"]);
      planner.expressions(f["updateItemList"]);
      if (f["fromScan"]) planner.scan(f["fromScan"], []);
      const keep = target ? planner.keep(target, [f["whereExpr"]]) : ALL_VALUES;
      const scan = targetRead(stmt, keep);
      return {
        reads: [...(scan ? [scan] : []), ...planner.reads],
        dml: {
          table: target?.table ?? "",
          statement: stmt.kind === "resolvedDeleteStmtNode" ? "DELETE" : "UPDATE",
          rewritesRows: true,
          ...(scan ? { scan } : {}),
        },
      };
    }
    case "resolvedMergeStmtNode": {
      const target = scanOf(f["tableScan"]);
      const clauses = list(f["whenClauseList"]).map((c) => c as Record<string, unknown>);
      const on = f["mergeExpr"];
      planner.expressions(on);
      for (const c of clauses) {
        planner.expressions(c["matchExpr"]);
        planner.expressions(c["updateItemList"]);
        planner.expressions(c["insertRow"]);
      }
      // MatchType: MATCHED = 0, NOT_MATCHED_BY_SOURCE = 1, NOT_MATCHED_BY_TARGET = 2.
      const insertsUnmatchedSource = clauses.some((c) => Number(c["matchType"] ?? 0) === 2);
      planner.scan(f["fromScan"], insertsUnmatchedSource ? [] : [on]);
      let keep = ALL_VALUES;
      const id = target ? planner.partitionColumnId(target) : undefined;
      if (id !== undefined) {
        const onSet = valuesPassing(on, id, ctx);
        keep = clauses.reduce<ValueSet>((acc, c) => {
          const own = c["matchExpr"] ? valuesPassing(c["matchExpr"], id, ctx) : ALL_VALUES;
          const type = Number(c["matchType"] ?? 0);
          const needed = type === 0 ? intersect(onSet, own) : type === 2 ? onSet : own;
          return union(acc, needed);
        }, NO_VALUES);
      }
      // ActionType: INSERT = 0, UPDATE = 1, DELETE = 2.
      const rewritesRows = clauses.some((c) => Number(c["actionType"] ?? 0) !== 0);
      const scan = targetRead(stmt, keep);
      return {
        reads: [...(scan ? [scan] : []), ...planner.reads],
        dml: { table: target?.table ?? "", statement: "MERGE", rewritesRows, ...(scan ? { scan } : {}) },
      };
    }
    case "resolvedQueryStmtNode":
      planner.scan(f["query"], []);
      return { reads: planner.reads };
    default:
      // DDL (CREATE TABLE AS SELECT) and others: every scan, unfiltered by outer context.
      planner.any(stmt);
      return { reads: planner.reads };
  }
}
