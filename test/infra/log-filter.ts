// Evaluates the subset of the Cloud Logging query language the sink filter
// uses: comparisons joined by AND, each either `path="value"` (equality) or
// `path:*` (field present). Path segments may be quoted ("@type"). Anything
// else is rejected, so the test cannot silently misread the filter.

export interface Comparison {
  path: string[];
  op: "=" | ":*";
  value?: string;
}

const COMPARISON =
  /^((?:[A-Za-z_][\w]*|"[^"]+")(?:\.(?:[A-Za-z_][\w]*|"[^"]+"))*)(?:="((?:[^"\\]|\\.)*)"|(:\*))$/;

export function parseLogFilter(filter: string): Comparison[] {
  const terms = filter
    .trim()
    .split(/\s+AND\s+/)
    .map((t) => t.trim());
  return terms.map((term) => {
    const m = COMPARISON.exec(term);
    if (!m) throw new Error(`unsupported filter term: ${term}`);
    const path = (m[1] ?? "").match(/"[^"]+"|[^.]+/g)?.map((s) => s.replace(/^"|"$/g, "")) ?? [];
    return m[3] ? { path, op: ":*" } : { path, op: "=", value: JSON.parse(`"${m[2]}"`) as string };
  });
}

function lookup(entry: unknown, path: string[]): unknown {
  let node: unknown = entry;
  for (const segment of path) {
    if (node === null || typeof node !== "object") return undefined;
    node = (node as Record<string, unknown>)[segment];
  }
  return node;
}

export function matchesLogFilter(filter: string, entry: unknown): boolean {
  return parseLogFilter(filter).every((c) => {
    const value = lookup(entry, c.path);
    return c.op === ":*" ? value !== undefined && value !== null : value === c.value;
  });
}
