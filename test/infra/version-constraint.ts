// Terraform version constraints ("~> 6.39", ">= 1.9.0, < 2.0.0"): whether a
// version satisfies one. Operators =, !=, >, >=, <, <= and ~> ("pessimistic":
// ~> 6.39 means >= 6.39 and < 7.0; ~> 1.2.3 means >= 1.2.3 and < 1.3.0),
// comma-separated constraints all apply
// (developer.hashicorp.com/terraform/language/expressions/version-constraints).

type Version = [number, number, number];

function parseVersion(text: string): { version: Version; parts: number } {
  const m = /^(\d+)(?:\.(\d+))?(?:\.(\d+))?$/.exec(text.trim());
  if (!m) throw new Error(`not a version: ${text}`);
  const parts = m.slice(1).filter((p) => p !== undefined).length;
  return { version: [Number(m[1]), Number(m[2] ?? 0), Number(m[3] ?? 0)], parts };
}

function compare(a: Version, b: Version): number {
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return Math.sign(a[i]! - b[i]!);
  return 0;
}

function satisfiesOne(version: Version, constraint: string): boolean {
  const m = /^(~>|>=|<=|!=|=|>|<)?\s*(\S+)$/.exec(constraint.trim());
  if (!m) throw new Error(`not a version constraint: ${constraint}`);
  const op = m[1] ?? "=";
  const { version: bound, parts } = parseVersion(m[2]!);
  const c = compare(version, bound);
  switch (op) {
    case "=":
      return c === 0;
    case "!=":
      return c !== 0;
    case ">":
      return c > 0;
    case ">=":
      return c >= 0;
    case "<":
      return c < 0;
    case "<=":
      return c <= 0;
    default: {
      // ~>: only the rightmost given part may increase.
      if (parts < 2) throw new Error(`~> needs at least major.minor: ${constraint}`);
      const upper: Version = parts === 2 ? [bound[0] + 1, 0, 0] : [bound[0], bound[1] + 1, 0];
      return c >= 0 && compare(version, upper) < 0;
    }
  }
}

/** Whether `version` (e.g. "6.39.0") satisfies every constraint in `constraints`. */
export function satisfies(version: string, constraints: string): boolean {
  const v = parseVersion(version).version;
  return constraints.split(",").every((c) => satisfiesOne(v, c));
}
