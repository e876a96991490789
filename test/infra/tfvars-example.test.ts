// infra/terraform.tfvars.example is what people copy: its exports must be
// accepted by exportRun exactly as the Scheduler jobs will send them.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "@cdktf/hcl2json";
import { beforeAll, describe, expect, it } from "vitest";
import { exportDefinitionSchema } from "../../functions/src/core/definition.js";
import { EXPORT_ID_PATTERN } from "../../functions/src/core/names.js";
import { INFRA_DIR, loadModule, type Module } from "./hcl.js";

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

/** What local.export_definitions makes of one entry: the key as id, absent keySecret left out. */
function storedDefinition(id: string, e: ExampleExport): unknown {
  const destination = Object.fromEntries(
    Object.entries(e.destination).filter(([, v]) => v !== null && v !== undefined),
  );
  return { ...e, id, destination };
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

  it("defines exports that exportRun accepts as the Scheduler sends them", () => {
    const exportsVar = vars.exports as Record<string, ExampleExport>;
    expect(Object.keys(exportsVar).length).toBeGreaterThan(0);
    for (const [id, e] of Object.entries(exportsVar)) {
      expect(id).toMatch(EXPORT_ID_PATTERN);
      const parsed = exportDefinitionSchema.safeParse(storedDefinition(id, e));
      expect(parsed.success, `${id}: ${parsed.error?.message ?? ""}`).toBe(true);
    }
    const models = new Set(Object.values(exportsVar).map((e) => e.model));
    expect(models).toEqual(new Set(["events", "persons"]));
  });

  it("names key secrets in the functions' project, each with its service account", () => {
    const exportsVar = vars.exports as Record<string, ExampleExport>;
    const accounts = vars.key_service_accounts as Record<string, string>;
    for (const e of Object.values(exportsVar)) {
      const m = /^projects\/([^/]+)\/secrets\/([^/]+)\/versions\//.exec(String(e.destination.keySecret));
      expect(m?.[1]).toBe(vars.project_id);
      expect(Object.keys(accounts)).toContain(m?.[2]);
    }
  });
});
