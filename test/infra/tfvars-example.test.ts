// infra/terraform.tfvars.example is what people copy: its exports, converted
// by the exports variable's type as Terraform converts them and stored as
// local.export_definitions stores them, must be definitions the product reads.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "@cdktf/hcl2json";
import { beforeAll, describe, expect, it } from "vitest";
import { parseExportDefinition } from "../../functions/src/core/definition.js";
import { EXPORT_ID_PATTERN, exportObject } from "../../functions/src/core/names.js";
import { INFRA_DIR, loadModule, type Module } from "./hcl.js";
import { PENDING_DEFINITION_FIELDS } from "./pending-product.js";
import { convertToType } from "./tf-convert.js";
import { parseTypeExpression } from "./type-expr.js";

interface ExampleExport {
  destination: Record<string, string | null | undefined>;
  [key: string]: unknown;
}

let vars: Record<string, unknown>;
let mod: Module;
beforeAll(async () => {
  vars = (await parse(
    "terraform.tfvars.example",
    readFileSync(join(INFRA_DIR, "terraform.tfvars.example"), "utf8"),
  )) as Record<string, unknown>;
  mod = await loadModule();
});

const exampleExports = () => vars.exports as Record<string, ExampleExport>;

/** Drops null attributes, as the for-expressions of local.export_definitions do. */
function withoutNulls(value: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== null));
}

/**
 * What lands in exports/<id>.json: var.exports after Terraform's conversion
 * (unset optional attributes become their default or null), the key as id,
 * nulls left out at both levels (local.export_definitions).
 */
function storedDefinitions(): Record<string, Record<string, unknown>> {
  const converted = convertToType(parseTypeExpression(mod.variables.exports!.type as string), vars.exports);
  expect(converted.discarded, "attributes the exports type does not declare").toEqual([]);
  const byId = converted.value as Record<string, Record<string, unknown>>;
  return Object.fromEntries(
    Object.entries(byId).map(([id, e]) => [
      id,
      withoutNulls({ id, ...e, destination: withoutNulls(e.destination as Record<string, unknown>) }),
    ]),
  );
}

describe("terraform.tfvars.example", () => {
  it("sets only declared variables and every required one", () => {
    const declared = Object.keys(mod.variables);
    for (const name of Object.keys(vars)) expect(declared, name).toContain(name);
    const required = Object.entries(mod.variables)
      .filter(([, v]) => !("default" in v))
      .map(([name]) => name);
    for (const name of required) expect(Object.keys(vars), name).toContain(name);
  });

  it("defines exports whose stored definitions the product accepts", () => {
    const stored = storedDefinitions();
    expect(Object.keys(stored).length).toBeGreaterThan(0);
    for (const [id, def] of Object.entries(stored)) {
      expect(id).toMatch(EXPORT_ID_PATTERN);
      // Fields the product does not read yet are Terraform's alone for now (pending-product.ts).
      const known = Object.fromEntries(
        Object.entries(def).filter(([k]) => !PENDING_DEFINITION_FIELDS.includes(k)),
      );
      const parsed = parseExportDefinition(known, `gs://example-bucket/${exportObject(id)}`);
      expect(parsed.id).toBe(id);
    }
    const models = new Set(Object.values(exampleExports()).map((e) => e.model));
    expect(models).toEqual(new Set(["events", "persons"]));
  });

  it("leads with a keyless export (impersonate) and keeps one with a key", () => {
    const entries = Object.values(exampleExports());
    expect(entries[0]!.destination.impersonate).toMatch(/@.+\.gserviceaccount\.com$/);
    expect(entries[0]!.destination.keySecret).toBeUndefined();
    expect(entries.some((e) => typeof e.destination.keySecret === "string")).toBe(true);
  });

  it("names key secrets in the functions' project, each with its service account", () => {
    const accounts = vars.key_service_accounts as Record<string, string>;
    const withKeys = Object.values(exampleExports()).filter((e) => e.destination.keySecret);
    expect(withKeys.length).toBeGreaterThan(0);
    for (const e of withKeys) {
      const m = /^projects\/([^/]+)\/secrets\/([^/]+)\/versions\//.exec(String(e.destination.keySecret));
      expect(m?.[1]).toBe(vars.project_id);
      expect(Object.keys(accounts)).toContain(m?.[2]);
    }
  });
});
