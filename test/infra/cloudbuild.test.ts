// cloudbuild.yaml: parses (strict subset parser), runs the checks before the
// deploy, calls only npm scripts that exist, and deploys with the Terraform
// version infra/ requires.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { INFRA_DIR, loadModule, type Module } from "./hcl.js";
import { satisfies } from "./version-constraint.js";
import { parseYamlSubset, type YamlValue } from "./yaml-subset.js";

const ROOT = join(INFRA_DIR, "..");
const scripts = (
  JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> }
).scripts;

interface Step {
  id?: string;
  name: string;
  entrypoint?: string;
  dir?: string;
  args?: string[];
}

let build: Record<string, YamlValue>;
let steps: Step[];
let mod: Module;
beforeAll(async () => {
  build = parseYamlSubset(readFileSync(join(ROOT, "cloudbuild.yaml"), "utf8")) as Record<string, YamlValue>;
  steps = build.steps as unknown as Step[];
  mod = await loadModule();
});

/** The npm command a step runs, e.g. "ci", "run lint", "test"; undefined for other steps. */
function npmCommand(step: Step): string | undefined {
  const argv = step.entrypoint ? [step.entrypoint, ...(step.args ?? [])] : (step.args ?? []);
  if (argv[0] !== "npm") return undefined;
  return argv[1] === "run" ? `run ${argv[2]}` : argv[1];
}

/** npm's built-in commands that run a package.json script of the same name. */
const SCRIPT_ALIASES: Record<string, string> = { test: "test", start: "start" };

describe("cloudbuild.yaml", () => {
  it("is a list of steps, each with an image", () => {
    expect(Array.isArray(steps)).toBe(true);
    for (const step of steps) expect(typeof step.name).toBe("string");
  });

  it("calls only npm scripts that exist in package.json", () => {
    const commands = steps.map(npmCommand).filter((c): c is string => c !== undefined);
    expect(commands.length).toBeGreaterThan(0);
    for (const c of commands) {
      if (c === "ci") continue;
      const script = c.startsWith("run ") ? c.slice(4) : SCRIPT_ALIASES[c];
      expect(script, c).toBeDefined();
      expect(Object.keys(scripts), c).toContain(script);
    }
  });

  it("installs, lints, tests and builds, in that order, before deploying", () => {
    const order = (c: string) => steps.findIndex((s) => npmCommand(s) === c);
    const deploy = steps.findIndex((s) => /terraform|gcloud/.test(s.name));
    const sequence = [order("ci"), order("run lint"), order("test"), order("run build"), deploy];
    for (const i of sequence) expect(i).toBeGreaterThanOrEqual(0);
    expect([...sequence].sort((a, b) => a - b)).toEqual(sequence);
    // The deploy steps come last.
    expect(steps.slice(deploy).every((s) => !npmCommand(s))).toBe(true);
  });

  it("deploys with terraform init + apply in infra/, on a Terraform that infra/ accepts", () => {
    const tfSteps = steps.filter((s) => s.name.startsWith("hashicorp/terraform:"));
    expect(tfSteps.map((s) => s.args?.[0])).toEqual(["init", "apply"]);
    for (const s of tfSteps) expect(s.dir).toBe("infra");
    const version = tfSteps[0]!.name.split(":")[1]!;
    const required = mod.terraform[0]!.required_version as string;
    expect(satisfies(version, required), `${version} ${required}`).toBe(true);
    expect(tfSteps.find((s) => s.args?.[0] === "apply")?.args).toEqual(
      expect.arrayContaining(["-auto-approve", "-input=false"]),
    );
  });

  it("declares every substitution it uses, all user-defined (leading underscore)", () => {
    const used = new Set(
      steps.flatMap((s) =>
        (s.args ?? []).flatMap((a) => [...a.matchAll(/\$\{?(_[A-Z0-9_]+)\}?/g)].map((m) => m[1]!)),
      ),
    );
    expect(used.size).toBeGreaterThan(0);
    const declared = Object.keys((build.substitutions ?? {}) as Record<string, string>);
    expect([...used].sort()).toEqual(declared.sort());
  });

  it("is documented: the README's Deploy section names the substitutions and says it runs terraform", () => {
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    const deploy = readme.split(/^## Deploy\s*$/m)[1]?.split(/^## /m)[0] ?? "";
    expect(deploy).toMatch(/terraform apply/);
    for (const name of Object.keys((build.substitutions ?? {}) as Record<string, string>))
      expect(deploy).toContain(name);
  });
});

describe("README Deploy section", () => {
  it("has the infra inputs and outputs table with every variable and output", () => {
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    const deploy = readme.split(/^## Deploy\s*$/m)[1]?.split(/^## /m)[0] ?? "";
    const tableNames = new Set([...deploy.matchAll(/^\|\s*`([a-z_]+)`\s*\|/gm)].map((m) => m[1]));
    for (const name of [...Object.keys(mod.variables), ...Object.keys(mod.outputs)]) {
      expect(tableNames.has(name), name).toBe(true);
    }
  });
});
