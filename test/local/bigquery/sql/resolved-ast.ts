// Reading ZetaSQL's resolved AST as the analyzer's gRPC client decodes it:
// every node sits in a oneof wrapper ({node: "resolvedXNode", resolvedXNode:
// {...}}), its base classes' fields nest under "parent", and int64 values
// arrive as Long-like {low, high}.

export interface AstNode {
  /** The node's proto name, e.g. "resolvedTableScanNode". */
  kind: string;
  /** The node's fields together with those of its base classes. */
  fields: Record<string, unknown>;
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

/**
 * The node inside a oneof wrapper, with its base-class fields merged in. A
 * field typed with a concrete node message (a DML statement's tableScan)
 * holds the node without a wrapper: `kind` names it then.
 */
export function astNode(x: unknown, kind?: string): AstNode | undefined {
  let body: unknown = x;
  while (isRecord(body) && typeof body["node"] === "string" && isRecord(body[body["node"]])) {
    kind = body["node"];
    body = body[kind];
  }
  if (!kind || !isRecord(body)) return undefined;
  const fields: Record<string, unknown> = {};
  for (let level: unknown = body; isRecord(level); level = level["parent"]) {
    for (const [k, v] of Object.entries(level)) if (k !== "parent" && !(k in fields)) fields[k] = v;
  }
  return { kind, fields };
}

/** An int64 as the proto loader gives it (Long-like, number or string). */
export function int64(x: unknown): bigint {
  if (typeof x === "bigint") return x;
  if (typeof x === "number") return BigInt(x);
  if (typeof x === "string") return BigInt(x);
  if (isRecord(x) && typeof x["low"] === "number" && typeof x["high"] === "number") {
    return (BigInt(x["high"]) << 32n) | BigInt(x["low"] >>> 0);
  }
  return 0n;
}

export function list(x: unknown): unknown[] {
  return Array.isArray(x) ? x : [];
}

/** The id of a ResolvedColumn (a column's identity across the whole statement). */
export function columnId(column: unknown): number {
  return isRecord(column) ? Number(int64(column["columnId"])) : -1;
}

export function columnName(column: unknown): string {
  return isRecord(column) && typeof column["name"] === "string" ? column["name"] : "";
}

/** Every AST node below x (not x itself), outermost first, without descending into them. */
export function childNodes(x: unknown): AstNode[] {
  const out: AstNode[] = [];
  const visit = (v: unknown): void => {
    if (Array.isArray(v)) {
      for (const item of v) visit(item);
      return;
    }
    if (!isRecord(v)) return;
    const node = astNode(v);
    if (node) {
      out.push(node);
      return;
    }
    for (const value of Object.values(v)) visit(value);
  };
  if (isRecord(x)) for (const value of Object.values(x)) visit(value);
  else visit(x);
  return out;
}
