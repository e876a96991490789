// Reads infra/*.tf with a real HCL parser (@cdktf/hcl2json, HashiCorp's HCL
// library compiled to WebAssembly) and merges the files the way Terraform sees
// one module. Expressions stay strings of the form "${...}".
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "@cdktf/hcl2json";

export const INFRA_DIR = join(import.meta.dirname, "..", "..", "infra");

// Parsed HCL is schemaless JSON; tests walk it by known attribute names.

type Block = Record<string, any>;

export interface Module {
  files: string[];
  variables: Record<string, Block>;
  outputs: Record<string, Block>;

  locals: Record<string, any>;
  resources: Record<string, Record<string, Block>>;
  data: Record<string, Record<string, Block>>;
  checks: Record<string, Block>;
  terraform: Block[];
  /** Everything, for whole-module searches. */
  raw: Record<string, Block>;
}

function single(blocks: unknown, what: string): Block {
  if (!Array.isArray(blocks) || blocks.length !== 1) {
    throw new Error(`${what} is declared ${Array.isArray(blocks) ? blocks.length : 0} times`);
  }
  return blocks[0] as Block;
}

function addUnique<T>(into: Record<string, T>, key: string, value: T, what: string): void {
  if (key in into) throw new Error(`duplicate ${what} ${key}`);
  into[key] = value;
}

export async function loadModule(dir = INFRA_DIR): Promise<Module> {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith(".tf"))
    .sort();
  const mod: Module = {
    files,
    variables: {},
    outputs: {},
    locals: {},
    resources: {},
    data: {},
    checks: {},
    terraform: [],
    raw: {},
  };
  for (const file of files) {
    const parsed = (await parse(file, readFileSync(join(dir, file), "utf8"))) as Block;
    mod.raw[file] = parsed;
    for (const [name, blocks] of Object.entries(parsed.variable ?? {})) {
      addUnique(mod.variables, name, single(blocks, `variable ${name}`), "variable");
    }
    for (const [name, blocks] of Object.entries(parsed.output ?? {})) {
      addUnique(mod.outputs, name, single(blocks, `output ${name}`), "output");
    }
    for (const [name, blocks] of Object.entries(parsed.check ?? {})) {
      addUnique(mod.checks, name, single(blocks, `check ${name}`), "check");
    }
    for (const locals of (parsed.locals ?? []) as Block[]) {
      for (const [name, value] of Object.entries(locals)) addUnique(mod.locals, name, value, "local");
    }
    for (const kind of ["resource", "data"] as const) {
      const target = kind === "resource" ? mod.resources : mod.data;
      for (const [type, byName] of Object.entries((parsed[kind] ?? {}) as Record<string, Block>)) {
        target[type] ??= {};
        for (const [name, blocks] of Object.entries(byName)) {
          addUnique(target[type], name, single(blocks, `${kind} ${type}.${name}`), `${kind} ${type}`);
        }
      }
    }
    mod.terraform.push(...((parsed.terraform ?? []) as Block[]));
  }
  return mod;
}

/** A nested block (hcl2json keeps blocks as arrays); exactly one expected. */
export function block(parent: Block, name: string): Block {
  return single(parent[name], name);
}

export function resource(mod: Module, type: string, name: string): Block {
  const r = mod.resources[type]?.[name];
  if (!r) throw new Error(`resource ${type}.${name} not found`);
  return r;
}

/** "${google_service_account.x.email}" -> ["google_service_account", "x", "email"]; undefined if not a plain reference. */
export function reference(expr: unknown): string[] | undefined {
  if (typeof expr !== "string") return undefined;
  const m = /^\$\{([A-Za-z_][\w-]*(?:\.[A-Za-z_][\w-]*)+)\}$/.exec(expr);
  return m?.[1]?.split(".");
}

/** True when a string is an HCL literal rather than an expression. */
export function isLiteral(value: unknown): value is string {
  return typeof value === "string" && !value.includes("${");
}

/** The string literals of the first `[...]` list in an expression, e.g. contains(["a", "b"], x). */
export function stringListIn(expr: string, after: string): string[] {
  const at = expr.indexOf(after);
  if (at < 0) throw new Error(`${after} not found in ${expr}`);
  const open = expr.indexOf("[", at);
  const close = expr.indexOf("]", open);
  const inner = expr.slice(open + 1, close);
  return [...inner.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => JSON.parse(`"${m[1]}"`) as string);
}

/** The Cloud Logging filter of the production log sinks (local.audit_sink_filter), for the local stack's sink. */
export async function auditSinkFilter(dir = INFRA_DIR): Promise<string> {
  const filter: unknown = (await loadModule(dir)).locals.audit_sink_filter;
  if (!isLiteral(filter)) throw new Error("local.audit_sink_filter must be a plain string");
  return filter;
}
