// What Terraform makes of a variable's value given its type constraint, for
// the shapes our variables use: an unset optional() attribute becomes its
// default, or null without one ("attr = tostring(null)" in the documented
// example of convert(): developer.hashicorp.com/terraform/language/functions/
// convert); a missing required attribute is an error; attributes the type does
// not declare are discarded by the conversion, and reported here, because in
// an example file they are always a mistake.
import type { TfType } from "./type-expr.js";

export interface Converted {
  value: unknown;
  /** Dotted paths of attributes Terraform would silently drop. */
  discarded: string[];
}

function fail(path: string, message: string): never {
  throw new Error(`${path || "value"}: ${message}`);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function convertToType(type: TfType, value: unknown, path = ""): Converted {
  const discarded: string[] = [];
  const walk = (t: TfType, v: unknown, at: string): unknown => {
    if (v === null) return null;
    switch (t.kind) {
      case "primitive":
        if (t.name === "any") return v;
        if (t.name === "string" && typeof v === "string") return v;
        if (t.name === "number" && typeof v === "number") return v;
        if (t.name === "bool" && typeof v === "boolean") return v;
        return fail(at, `expected ${t.name}, got ${JSON.stringify(v)}`);
      case "list":
      case "set":
        if (!Array.isArray(v)) return fail(at, `expected a ${t.kind}`);
        return v.map((item, i) => walk(t.element, item, `${at}[${i}]`));
      case "tuple":
        if (!Array.isArray(v) || v.length !== t.elements.length) return fail(at, "expected a tuple");
        return v.map((item, i) => walk(t.elements[i]!, item, `${at}[${i}]`));
      case "map":
        if (!isRecord(v)) return fail(at, "expected a map");
        return Object.fromEntries(
          Object.entries(v).map(([k, item]) => [k, walk(t.element, item, at ? `${at}.${k}` : k)]),
        );
      case "object": {
        if (!isRecord(v)) return fail(at, "expected an object");
        const out: Record<string, unknown> = {};
        for (const [name, attr] of Object.entries(t.attributes)) {
          const where = at ? `${at}.${name}` : name;
          if (name in v && v[name] !== undefined) out[name] = walk(attr.type, v[name], where);
          else if (!attr.optional) fail(where, "required attribute missing");
          else if (attr.hasDefault) {
            if (!("defaultValue" in attr)) fail(where, "the default is not a literal");
            out[name] = walk(attr.type, attr.defaultValue, where);
          } else out[name] = null;
        }
        for (const name of Object.keys(v)) {
          if (!(name in t.attributes)) discarded.push(at ? `${at}.${name}` : name);
        }
        return out;
      }
    }
  };
  return { value: walk(type, value, path), discarded };
}
