// A parser for Terraform type constraints as they appear in variable "type"
// (string, number, bool, any, list(T), set(T), map(T), tuple([...]),
// object({ a = T, b = optional(T, default) })), keeping optional() defaults
// that are literals. Used to compare the typed `exports` variable with the
// code's zod schema and to convert example values the way Terraform does.

export type TfType =
  | { kind: "primitive"; name: "string" | "number" | "bool" | "any" }
  | { kind: "list" | "set" | "map"; element: TfType }
  | { kind: "tuple"; elements: TfType[] }
  | { kind: "object"; attributes: Record<string, TfAttribute> };

export interface TfAttribute {
  type: TfType;
  optional: boolean;
  hasDefault: boolean;
  /** The optional() default when it is a literal (string, number, bool, null, list or object of them). */
  defaultValue?: unknown;
}

const TOKEN = /\s*(?:([A-Za-z_][\w-]*)|("(?:[^"\\]|\\.)*")|(-?\d+(?:\.\d+)?)|([(){}[\]=,]))/y;

function tokenize(src: string): string[] {
  const tokens: string[] = [];
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < src.length) {
    if (/^\s*$/.test(src.slice(TOKEN.lastIndex))) break;
    const m = TOKEN.exec(src);
    if (!m)
      throw new Error(
        `unexpected input at ${TOKEN.lastIndex}: ${src.slice(TOKEN.lastIndex, TOKEN.lastIndex + 20)}`,
      );
    tokens.push(m[1] ?? m[2] ?? m[3] ?? m[4] ?? "");
  }
  return tokens;
}

export function parseTypeExpression(expr: string): TfType {
  const src = /^\$\{([\s\S]*)\}$/.exec(expr)?.[1] ?? expr;
  const tokens = tokenize(src);
  let i = 0;
  const peek = (): string | undefined => tokens[i];
  const next = (): string => {
    const t = tokens[i++];
    if (t === undefined) throw new Error("unexpected end of type expression");
    return t;
  };
  const expect = (t: string): void => {
    const got = next();
    if (got !== t) throw new Error(`expected ${t}, got ${got}`);
  };
  /** One literal default: "text", 12, true/false/null, [literals] or { key = literal }. */
  const parseLiteral = (): unknown => {
    const t = next();
    if (t.startsWith('"')) return JSON.parse(t) as string;
    if (/^-?\d/.test(t)) return Number(t);
    if (t === "true" || t === "false") return t === "true";
    if (t === "null") return null;
    if (t === "[") {
      const items: unknown[] = [];
      while (peek() !== "]") {
        items.push(parseLiteral());
        if (peek() === ",") next();
      }
      next();
      return items;
    }
    if (t === "{") {
      const fields: Record<string, unknown> = {};
      while (peek() !== "}") {
        const key = next();
        expect("=");
        fields[key.startsWith('"') ? (JSON.parse(key) as string) : key] = parseLiteral();
        if (peek() === ",") next();
      }
      next();
      return fields;
    }
    throw new Error(`default ${t} is not a literal`);
  };

  const parseType = (): TfType => {
    const name = next();
    switch (name) {
      case "string":
      case "number":
      case "bool":
      case "any":
        return { kind: "primitive", name };
      case "list":
      case "set":
      case "map": {
        expect("(");
        const element = parseType();
        expect(")");
        return { kind: name, element };
      }
      case "tuple": {
        expect("(");
        expect("[");
        const elements: TfType[] = [];
        while (peek() !== "]") {
          elements.push(parseType());
          if (peek() === ",") next();
        }
        expect("]");
        expect(")");
        return { kind: "tuple", elements };
      }
      case "object": {
        expect("(");
        expect("{");
        const attributes: Record<string, TfAttribute> = {};
        while (peek() !== "}") {
          const attr = next();
          expect("=");
          if (peek() === "optional") {
            next();
            expect("(");
            const type = parseType();
            if (peek() === ",") {
              next();
              const defaultValue = parseLiteral();
              expect(")");
              attributes[attr] = { type, optional: true, hasDefault: true, defaultValue };
            } else {
              expect(")");
              attributes[attr] = { type, optional: true, hasDefault: false };
            }
          } else {
            attributes[attr] = { type: parseType(), optional: false, hasDefault: false };
          }
          if (peek() === ",") next();
        }
        expect("}");
        expect(")");
        return { kind: "object", attributes };
      }
      default:
        throw new Error(`unknown type ${name}`);
    }
  };

  const type = parseType();
  if (i !== tokens.length) throw new Error(`trailing tokens: ${tokens.slice(i).join(" ")}`);
  return type;
}
