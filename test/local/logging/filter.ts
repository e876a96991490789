// A subset of the Cloud Logging query language, enough for log-sink filters:
// field paths (dotted, with quoted segments like "@type"), comparisons
// = != : < <= > >=, presence (field:*), AND / OR / NOT (OR binds tighter
// than AND, as in Logging), parentheses, and implicit AND between terms.

type Token =
  | { kind: "word"; text: string }
  | { kind: "string"; text: string }
  | { kind: "op"; text: string }
  | { kind: "lparen" | "rparen" | "dot" };

type Node =
  | { kind: "and" | "or"; left: Node; right: Node }
  | { kind: "not"; inner: Node }
  | { kind: "cmp"; path: string[]; op: string; value: string; wildcard: boolean }
  | { kind: "text"; value: string };

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i] as string;
    if (/\s/.test(c)) {
      i++;
    } else if (c === "(" || c === ")") {
      out.push({ kind: c === "(" ? "lparen" : "rparen" });
      i++;
    } else if (c === ".") {
      out.push({ kind: "dot" });
      i++;
    } else if (c === '"') {
      let j = i + 1;
      let text = "";
      while (j < src.length && src[j] !== '"') {
        if (src[j] === "\\" && j + 1 < src.length) j++;
        text += src[j];
        j++;
      }
      if (j >= src.length) throw new Error(`Unterminated string in filter at ${i}`);
      out.push({ kind: "string", text });
      i = j + 1;
    } else if (/[=!<>:]/.test(c)) {
      const two = src.slice(i, i + 2);
      if (two === "!=" || two === "<=" || two === ">=" || two === "=~" || two === "!~") {
        out.push({ kind: "op", text: two });
        i += 2;
      } else {
        out.push({ kind: "op", text: c });
        i++;
      }
    } else {
      let j = i;
      while (j < src.length && !/[\s().=!<>:"]/.test(src[j] as string)) j++;
      out.push({ kind: "word", text: src.slice(i, j) });
      i = j;
    }
  }
  return out;
}

class Parser {
  private pos = 0;
  constructor(private readonly tokens: Token[]) {}

  parse(): Node | undefined {
    if (this.tokens.length === 0) return undefined;
    const node = this.andExpr();
    if (this.pos < this.tokens.length) throw new Error("Unexpected token in filter");
    return node;
  }

  private peek(): Token | undefined {
    return this.tokens[this.pos];
  }
  private isWord(text: string): boolean {
    const t = this.peek();
    return t?.kind === "word" && t.text === text;
  }

  // AND (explicit or implicit) has the lowest precedence.
  private andExpr(): Node {
    let left = this.orExpr();
    for (;;) {
      const t = this.peek();
      if (!t || t.kind === "rparen") return left;
      if (this.isWord("AND")) this.pos++;
      left = { kind: "and", left, right: this.orExpr() };
    }
  }
  private orExpr(): Node {
    let left = this.unary();
    while (this.isWord("OR")) {
      this.pos++;
      left = { kind: "or", left, right: this.unary() };
    }
    return left;
  }
  private unary(): Node {
    const t = this.peek();
    if (this.isWord("NOT") || (t?.kind === "word" && t.text === "-")) {
      this.pos++;
      return { kind: "not", inner: this.unary() };
    }
    if (t?.kind === "lparen") {
      this.pos++;
      const inner = this.andExpr();
      if (this.peek()?.kind !== "rparen") throw new Error("Missing ) in filter");
      this.pos++;
      return inner;
    }
    return this.comparison();
  }
  private comparison(): Node {
    const path: string[] = [];
    const first = this.peek();
    if (!first || (first.kind !== "word" && first.kind !== "string"))
      throw new Error("Expected a field in filter");
    path.push(first.text);
    this.pos++;
    while (this.peek()?.kind === "dot") {
      this.pos++;
      const seg = this.peek();
      if (!seg || (seg.kind !== "word" && seg.kind !== "string"))
        throw new Error("Expected a field name after '.'");
      path.push(seg.text);
      this.pos++;
    }
    const op = this.peek();
    if (op?.kind !== "op") {
      // A bare term is a global text search.
      return { kind: "text", value: path.join(".") };
    }
    this.pos++;
    const v = this.peek();
    if (!v || (v.kind !== "word" && v.kind !== "string")) throw new Error("Expected a value in filter");
    this.pos++;
    return { kind: "cmp", path, op: op.text, value: v.text, wildcard: v.kind === "word" && v.text === "*" };
  }
}

function resolve(entry: unknown, path: string[]): unknown {
  let cur: unknown = entry;
  for (const seg of path) {
    if (typeof cur !== "object" || cur === null) return undefined;
    cur = (cur as Record<string, unknown>)[seg];
  }
  return cur;
}

function scalars(v: unknown): string[] {
  if (v === undefined || v === null) return [];
  if (Array.isArray(v)) return v.flatMap(scalars);
  if (typeof v === "string") return [v];
  if (typeof v === "number" || typeof v === "boolean" || typeof v === "bigint") return [String(v)];
  return [JSON.stringify(v)];
}

function compare(actual: string, op: string, expected: string): boolean {
  const an = Number(actual);
  const en = Number(expected);
  const numeric = actual !== "" && expected !== "" && Number.isFinite(an) && Number.isFinite(en);
  switch (op) {
    case "=":
      return actual === expected;
    case "!=":
      return actual !== expected;
    case ":":
      return actual.toLowerCase().includes(expected.toLowerCase());
    case "=~":
      return new RegExp(expected).test(actual);
    case "!~":
      return !new RegExp(expected).test(actual);
    case "<":
      return numeric ? an < en : actual < expected;
    case "<=":
      return numeric ? an <= en : actual <= expected;
    case ">":
      return numeric ? an > en : actual > expected;
    case ">=":
      return numeric ? an >= en : actual >= expected;
    default:
      throw new Error(`Unknown operator ${op}`);
  }
}

function evaluate(node: Node, entry: unknown): boolean {
  switch (node.kind) {
    case "and":
      return evaluate(node.left, entry) && evaluate(node.right, entry);
    case "or":
      return evaluate(node.left, entry) || evaluate(node.right, entry);
    case "not":
      return !evaluate(node.inner, entry);
    case "text":
      return JSON.stringify(entry).toLowerCase().includes(node.value.toLowerCase());
    case "cmp": {
      const values = scalars(resolve(entry, node.path));
      if (node.op === ":" && node.wildcard) return values.length > 0;
      // A missing field matches only "!=".
      if (values.length === 0) return node.op === "!=";
      if (node.op === "!=") return values.every((v) => compare(v, "!=", node.value));
      return values.some((v) => compare(v, node.op, node.value));
    }
  }
}

/** One comparison of a filter, e.g. `resource.type="bigquery_project"` or `labels.x:*` (wildcard). */
export interface LogComparison {
  path: string[];
  op: string;
  value: string;
  wildcard: boolean;
}

export interface LogFilter {
  matches(entry: unknown): boolean;
  /** Every comparison in the filter, in source order (for tests that hold a filter's terms to code). */
  comparisons(): LogComparison[];
}

function comparisonsOf(node: Node | undefined): LogComparison[] {
  if (!node) return [];
  switch (node.kind) {
    case "and":
    case "or":
      return [...comparisonsOf(node.left), ...comparisonsOf(node.right)];
    case "not":
      return comparisonsOf(node.inner);
    case "text":
      return [];
    case "cmp":
      return [{ path: node.path, op: node.op, value: node.value, wildcard: node.wildcard }];
  }
}

/**
 * Parses a filter; the empty filter matches everything. Throws on syntax
 * errors. The one evaluator of Logging filters here: the audit sink, the
 * log-based metrics' tests and the Terraform tests all use it.
 */
export function parseLogFilter(filter: string): LogFilter {
  const ast = new Parser(tokenize(filter)).parse();
  return {
    matches: (entry) => (ast ? evaluate(ast, entry) : true),
    comparisons: () => comparisonsOf(ast),
  };
}
