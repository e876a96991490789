// infra/ checked offline: every .tf file parsed with HashiCorp's HCL parser
// (WebAssembly build in @cdktf/hcl2json), then the properties a reviewer of
// the deployment would check, held against the code's own definitions.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../functions/src/config.js";
import { decodeAuditEvent } from "../../functions/src/core/audit-event.js";
import { destinationSchema, exportDefinitionSchema } from "../../functions/src/core/definition.js";
import { MODELS } from "../../functions/src/core/models.js";
import {
  EXPORT_ID_PATTERN,
  exportObject,
  JOB_LABELS,
  jobLabels,
  manifestObject,
  stagingPrefix,
} from "../../functions/src/core/names.js";
import { INTERVALS } from "../../functions/src/core/periods.js";
import {
  block,
  INFRA_DIR,
  isLiteral,
  loadModule,
  reference,
  resource,
  stringListIn,
  type Module,
} from "./hcl.js";
import { parseLogFilter } from "../local/logging/filter.js";
import { PENDING_DEFINITION_FIELDS, PENDING_ENV } from "./pending-product.js";
import { parseTypeExpression, type TfType } from "./type-expr.js";
import { satisfies } from "./version-constraint.js";

const ROOT = join(INFRA_DIR, "..");
const packageJson = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
  main: string;
  scripts: Record<string, string>;
};

let mod: Module;
beforeAll(async () => {
  mod = await loadModule();
});

const FUNCTIONS = ["export_run", "finalize_run"] as const;
const fn = (name: (typeof FUNCTIONS)[number]) => resource(mod, "google_cloudfunctions2_function", name);

/** All string leaves of a parsed structure. */
function strings(node: unknown): string[] {
  if (typeof node === "string") return [node];
  if (Array.isArray(node)) return node.flatMap(strings);
  if (node && typeof node === "object") return Object.values(node).flatMap(strings);
  return [];
}

describe("module layout", () => {
  it("has the conventional files and every one parses", () => {
    for (const f of ["versions.tf", "variables.tf", "main.tf", "outputs.tf"]) expect(mod.files).toContain(f);
    expect(Object.keys(mod.raw).sort()).toEqual(mod.files);
  });

  it("pins Terraform and every provider", () => {
    expect(mod.terraform).toHaveLength(1);
    const tf = mod.terraform[0]!;
    expect(tf.required_version).toMatch(/>=\s*\d+\.\d+\.\d+.*<\s*\d+/);
    const providers = block(tf, "required_providers");
    expect(Object.keys(providers)).toContain("google");
    for (const [name, spec] of Object.entries(providers)) {
      expect(spec.source, name).toBe(`hashicorp/${name}`);
      expect(spec.version, name).toMatch(/^~>\s*\d+\.\d+/);
    }
    // Every resource type used comes from a declared provider.
    const types = [...Object.keys(mod.resources), ...Object.keys(mod.data)];
    for (const type of types) expect(Object.keys(providers), type).toContain(type.split("_")[0]);
  });

  it("requires a google provider whose dataset grants keep the dataset's authorized views (>= 6.39, < 7)", () => {
    // Before 6.39.0, google_bigquery_dataset_iam_member dropped authorized views
    // and routines from the dataset's access list (provider CHANGELOG 6.39.0).
    const constraint = block(mod.terraform[0]!, "required_providers").google.version as string;
    for (const v of ["6.39.0", "6.39.1", "6.50.0"]) expect(satisfies(v, constraint), v).toBe(true);
    for (const v of ["6.14.0", "6.38.0", "6.38.9", "7.0.0", "7.1.0"]) {
      expect(satisfies(v, constraint), v).toBe(false);
    }
  });

  it("types, describes and validates every variable", () => {
    expect(Object.keys(mod.variables).length).toBeGreaterThan(5);
    for (const [name, v] of Object.entries(mod.variables)) {
      expect(v.type, `${name}.type`).toMatch(/^\$\{.+\}$/s);
      expect(() => parseTypeExpression(v.type as string), `${name}.type`).not.toThrow();
      expect(
        typeof v.description === "string" && v.description.trim().length > 10,
        `${name}.description`,
      ).toBe(true);
      for (const rule of (v.validation ?? []) as { condition?: string; error_message?: string }[]) {
        expect(rule.condition, `${name} validation`).toMatch(/var\./);
        expect(rule.error_message, `${name} validation`).toMatch(/\S/);
      }
    }
  });

  it("describes every output", () => {
    for (const [name, o] of Object.entries(mod.outputs)) {
      expect(typeof o.description === "string" && o.description.length > 10, name).toBe(true);
      expect(o.value, name).toBeDefined();
    }
  });
});

describe("the exports variable is the export definition", () => {
  const exportsType = (): Extract<TfType, { kind: "object" }> => {
    const t = parseTypeExpression(mod.variables.exports!.type as string);
    if (t.kind !== "map" || t.element.kind !== "object") throw new Error("exports must be map(object(...))");
    return t.element;
  };

  it("has the schema's fields (the map key is the id), optional exactly where the code defaults", () => {
    const attrs = exportsType().attributes;
    const schemaKeys = Object.keys(exportDefinitionSchema.shape).filter((k) => k !== "id");
    // Fields the product does not read yet stay out of the comparison, and
    // only while the schema lacks them (pending-product.ts).
    for (const pending of PENDING_DEFINITION_FIELDS) {
      expect(
        schemaKeys,
        `${pending} is in the schema now: remove it from PENDING_DEFINITION_FIELDS`,
      ).not.toContain(pending);
      expect(attrs[pending]?.optional, pending).toBe(true);
    }
    const declared = Object.keys(attrs).filter((k) => !PENDING_DEFINITION_FIELDS.includes(k));
    expect(declared.sort()).toEqual(schemaKeys.sort());
    for (const [key, field] of Object.entries(exportDefinitionSchema.shape)) {
      if (key === "id") continue;
      expect(attrs[key]!.optional, key).toBe(field.safeParse(undefined).success);
    }
    const dest = attrs.destination!.type;
    if (dest.kind !== "object") throw new Error("destination must be an object");
    expect(Object.keys(dest.attributes).sort()).toEqual(Object.keys(destinationSchema.shape).sort());
    for (const [key, field] of Object.entries(destinationSchema.shape)) {
      expect(dest.attributes[key]!.optional, `destination.${key}`).toBe(field.safeParse(undefined).success);
    }
  });

  it("validates ids with the code's pattern and models and intervals with the code's lists", () => {
    const conditions = ((mod.variables.exports!.validation ?? []) as { condition: string }[]).map(
      (v) => v.condition,
    );
    const idRule = conditions.find((c) => c.includes("keys(var.exports)"));
    expect(idRule).toBeDefined();
    const idRegex = /regex\("((?:[^"\\]|\\.)*)"/.exec(idRule!)?.[1];
    expect(idRegex && JSON.parse(`"${idRegex}"`)).toBe(EXPORT_ID_PATTERN.source);
    const modelRule = conditions.find((c) => c.includes("e.model)"));
    expect(stringListIn(modelRule!, "contains(")).toEqual([...MODELS]);
    const intervalRule = conditions.find((c) => c.includes("e.interval)"));
    expect(stringListIn(intervalRule!, "contains(")).toEqual([...INTERVALS]);
    expect(conditions.some((c) => c.includes("e.deduplicate") && c.includes('"events"'))).toBe(true);
  });

  it("stores every field of the definition, the map key as id, leaving out null fields at both levels", () => {
    const defs = mod.locals.export_definitions as string;
    // for id, e in var.exports : id => { for field, value in { <fields> } : field => value if value != null }
    const m =
      /^\$\{\{\s*for id, e in var\.exports\s*:\s*id => \{\s*for field, value in \{([\s\S]*)\}\s*:\s*field => value if value != null\s*\}\s*\}\}$/.exec(
        defs,
      );
    expect(m, defs).not.toBeNull();
    const fields = Object.fromEntries(
      [...m![1]!.matchAll(/^\s*(\w+)\s*=\s*(.+?)\s*$/gm)].map((f) => [f[1]!, f[2]!]),
    );
    expect(Object.keys(fields).sort()).toEqual(
      [...Object.keys(exportDefinitionSchema.shape), ...PENDING_DEFINITION_FIELDS].sort(),
    );
    expect(fields.id).toBe("id");
    expect(fields.destination).toMatch(/^\{\s*for k, v in e\.destination\s*:\s*k => v if v != null\s*\}$/);
    for (const [field, value] of Object.entries(fields)) {
      if (field !== "id" && field !== "destination") expect(value, field).toBe(`e.${field}`);
    }
  });
});

describe("stored export definitions", () => {
  it("are one JSON object per export, where and as the product reads them", () => {
    const object = resource(mod, "google_storage_bucket_object", "export_definition");
    expect(object.for_each).toBe("${var.exports}");
    expect(object.bucket).toBe("${google_storage_bucket.staging.name}");
    // The name is the code's exportObject(id) with the map key as id.
    expect(object.name).toBe(exportObject("${each.key}"));
    expect(object.content).toBe("${jsonencode(local.export_definitions[each.key])}");
    expect(object.content_type).toBe("application/json");
    // Staged-data expiry never reaches them.
    const rule = resource(mod, "google_storage_bucket", "staging").lifecycle_rule as {
      condition: { matches_prefix: string[] }[];
    }[];
    for (const prefix of rule[0]!.condition[0]!.matches_prefix) {
      expect(exportObject("events-hourly").startsWith(prefix)).toBe(false);
    }
  });
});

describe("service accounts", () => {
  const saOf = (expr: unknown, attr: "email" | "id" | "member"): string => {
    const ref = reference(expr);
    expect(ref?.[0], String(expr)).toBe("google_service_account");
    expect(ref?.[2], String(expr)).toBe(attr);
    expect(mod.resources.google_service_account?.[ref![1]!], String(expr)).toBeDefined();
    return ref![1]!;
  };

  it("gives each function its own runtime account, and builds with a dedicated one", () => {
    const runtime = FUNCTIONS.map((f) => saOf(block(fn(f), "service_config").service_account_email, "email"));
    expect(new Set(runtime).size).toBe(FUNCTIONS.length);
    const builders = FUNCTIONS.map((f) => saOf(block(fn(f), "build_config").service_account, "id"));
    for (const b of builders) expect(runtime).not.toContain(b);
  });

  it("invokes with accounts that are neither runtime accounts nor each other", () => {
    const runtime = FUNCTIONS.map((f) => saOf(block(fn(f), "service_config").service_account_email, "email"));
    const trigger = saOf(block(fn("finalize_run"), "event_trigger").service_account_email, "email");
    const scheduler = saOf(
      block(block(resource(mod, "google_cloud_scheduler_job", "export"), "http_target"), "oidc_token")
        .service_account_email,
      "email",
    );
    const tasks = saOf(
      (mod.locals.export_run_env as Record<string, string>).BQX_TASKS_SERVICE_ACCOUNT,
      "email",
    );
    expect(new Set([...runtime, trigger, scheduler, tasks]).size).toBe(5);
  });

  it("never uses a default service account", () => {
    const all = strings(mod.raw);
    expect(
      all.filter((s) => /compute@developer\.gserviceaccount\.com|@appspot\.gserviceaccount\.com/.test(s)),
    ).toEqual([]);
  });
});

describe("invokers", () => {
  it("grants no public access anywhere", () => {
    const all = strings(mod.raw);
    expect(all.filter((s) => /allUsers|allAuthenticatedUsers/.test(s))).toEqual([]);
    // Only additive members: no authoritative bindings or policies that could replace others' grants.
    for (const type of Object.keys(mod.resources)) expect(type).not.toMatch(/_iam_(binding|policy)$/);
  });

  it("lets only the scheduler and tasks accounts invoke exportRun and only the trigger account invoke finalizeRun", () => {
    const invokers = Object.values(mod.resources)
      .flatMap((byName) => Object.values(byName))
      .filter((r) => r.role === "roles/run.invoker" || r.role === "roles/cloudfunctions.invoker");
    const byService = new Map<string, string[]>();
    for (const r of invokers) {
      const service = reference(r.name)?.[1] ?? "?";
      byService.set(service, [
        ...(byService.get(service) ?? []),
        reference(r.member)?.[1] ?? String(r.member),
      ]);
    }
    expect(Object.fromEntries(byService)).toEqual({
      export_run: ["scheduler", "tasks"],
      finalize_run: ["trigger"],
    });
  });
});

describe("functions", () => {
  it("are gen2 on nodejs22 with the code's entry points", () => {
    expect(block(fn("export_run"), "build_config").entry_point).toBe("exportRun");
    expect(block(fn("finalize_run"), "build_config").entry_point).toBe("finalizeRun");
    for (const f of FUNCTIONS) expect(block(fn(f), "build_config").runtime).toBe("nodejs22");
  });

  it("deploy one source object named by a hash of the packaged files", () => {
    for (const f of FUNCTIONS) {
      const src = block(block(block(fn(f), "build_config"), "source"), "storage_source");
      expect(src.object).toBe("${google_storage_bucket_object.source.name}");
      // The buildpack must not run the package's build script (it would install devDependencies).
      expect(block(fn(f), "build_config").environment_variables).toEqual({ GOOGLE_NODE_RUN_SCRIPTS: "" });
    }
    const object = resource(mod, "google_storage_bucket_object", "source");
    expect(object.name).toContain("${local.source_hash}");
    expect(object.source).toBe("${data.archive_file.source.output_path}");
    expect(mod.locals.source_hash).toMatch(/filesha256/);
    expect(mod.locals.source_hash).toContain("local.source_files");
  });

  it("packages package.json, the lock file and the compiled entry point named by package.json main", () => {
    const files = mod.locals.source_files as string;
    expect(files).toContain('"package.json"');
    expect(files).toContain('"package-lock.json"');
    const glob = /fileset\(local\.repo_root,\s*"([^"]+)"\)/.exec(files)?.[1];
    expect(glob).toBeDefined();
    const globRe = new RegExp(
      `^${glob!
        .replace(/[.+^$()|[\]\\]/g, "\\$&")
        .replace(/\*\*\//g, "(?:.*/)?")
        .replace(/(?<![.)])\*/g, "[^/]*")}$`,
    );
    expect(packageJson.main).toMatch(globRe);
    expect(glob).not.toMatch(/src|test|node_modules/);
    const archive = mod.data.archive_file!.source!;
    expect(block(block(archive, "lifecycle"), "precondition").condition).toContain(packageJson.main);
    expect(archive.dynamic?.source?.[0]?.for_each).toBe("${local.source_files}");
  });

  it("set every variable the configuration loader requires, the password from Secret Manager", () => {
    let required: string[] = [];
    try {
      loadConfig({});
    } catch (err) {
      required = ((err as { details?: { issues?: string[] } }).details?.issues ?? []).map(
        (i) => i.split(":")[0]!,
      );
    }
    expect(required.length).toBeGreaterThan(0);
    const env = mod.locals.function_env as Record<string, string>;
    expect(block(fn("export_run"), "service_config").environment_variables).toBe(
      "${merge(local.function_env, local.export_run_env)}",
    );
    expect(block(fn("finalize_run"), "service_config").environment_variables).toBe("${local.function_env}");
    for (const f of FUNCTIONS) {
      const sc = block(fn(f), "service_config");
      const secretKeys = ((sc.secret_environment_variables ?? []) as { key: string }[]).map((s) => s.key);
      for (const key of required) expect([...Object.keys(env), ...secretKeys], `${f}: ${key}`).toContain(key);
    }
    const password = block(block(fn("export_run"), "service_config"), "secret_environment_variables");
    expect(password).toMatchObject({
      key: "BQX_CLICKHOUSE_PASSWORD",
      secret: "${google_secret_manager_secret.clickhouse_password.secret_id}",
      version: "latest",
    });
    // Every BQX_ name is one the loader knows (setting an unknown one is a
    // typo), except exportRun's new ones the product does not read yet.
    const config = readFileSync(join(ROOT, "functions/src/config.ts"), "utf8");
    const names = [...Object.keys(env), ...Object.keys(mod.locals.export_run_env as Record<string, string>)];
    for (const pending of PENDING_ENV) {
      expect(names).toContain(pending);
      expect(config, `${pending} is read now: remove it from PENDING_ENV`).not.toContain(pending);
    }
    const settled = names.filter((k) => !PENDING_ENV.includes(k));
    expect(settled.filter((k) => config.includes(k))).toEqual(settled);
  });

  it("trigger finalizeRun from the topic, retried", () => {
    const trigger = block(fn("finalize_run"), "event_trigger");
    expect(trigger.event_type).toBe("google.cloud.pubsub.topic.v1.messagePublished");
    expect(trigger.retry_policy).toBe("RETRY_POLICY_RETRY");
    expect(reference(trigger.pubsub_topic)?.slice(0, 1)).toEqual(["google_pubsub_topic"]);
    expect(fn("export_run")).not.toHaveProperty("event_trigger");
  });
});

describe("BigQuery job completions", () => {
  const filter = () => mod.locals.audit_sink_filter as string;

  it("keep the sink filter a literal the local stack can read", () => {
    expect(isLiteral(filter())).toBe(true);
    expect(() => parseLogFilter(filter())).not.toThrow();
  });

  it("select DONE BigQueryAuditMetadata job changes in BigQuery projects", () => {
    const terms = parseLogFilter(filter())
      .comparisons()
      .filter((t) => t.op === "=");
    const eq = Object.fromEntries(terms.map((t) => [t.path.join("."), t.value]));
    expect(eq).toEqual({
      "resource.type": "bigquery_project",
      "protoPayload.metadata.@type": "type.googleapis.com/google.cloud.audit.BigQueryAuditMetadata",
      "protoPayload.metadata.jobChange.after": "DONE",
    });
  });

  it("require exactly the job labels the code sets", () => {
    const labelPrefix = "protoPayload.metadata.jobChange.job.jobConfig.labels.";
    const labelKeys = parseLogFilter(filter())
      .comparisons()
      .filter((t) => t.op === ":" && t.wildcard)
      .map((t) => t.path.join("."))
      .map((p) => {
        expect(p.startsWith(labelPrefix), p).toBe(true);
        return p.slice(labelPrefix.length);
      });
    expect(labelKeys.sort()).toEqual(Object.values(JOB_LABELS).sort());
    expect(Object.keys(jobLabels("e", "r", "events")).sort()).toEqual(labelKeys);
  });

  it("pass what finalizeRun acts on and nothing it would ignore for state or labels", () => {
    const entry = (after: string, labels: Record<string, string>, type = "bigquery_project") => ({
      resource: { type, labels: { project_id: "p", location: "US" } },
      protoPayload: {
        metadata: {
          "@type": "type.googleapis.com/google.cloud.audit.BigQueryAuditMetadata",
          jobChange: {
            before: "RUNNING",
            after,
            job: { jobName: "projects/p/jobs/j1", jobConfig: { type: "IMPORT", labels } },
          },
        },
      },
    });
    const ours = jobLabels("events-hourly", "events-hourly-20261125t100000z-20261125t110000z", "events");
    const without = (key: string) => Object.fromEntries(Object.entries(ours).filter(([k]) => k !== key));
    const cases = [
      entry("DONE", ours),
      entry("RUNNING", ours),
      entry("PENDING", ours),
      entry("DONE", {}),
      entry("DONE", { team: "x" }),
      ...Object.values(JOB_LABELS).map((k) => entry("DONE", without(k))),
    ];
    for (const e of cases) {
      const data = { message: { data: Buffer.from(JSON.stringify(e)).toString("base64"), messageId: "1" } };
      expect(parseLogFilter(filter()).matches(e), JSON.stringify(e.protoPayload.metadata.jobChange)).toBe(
        decodeAuditEvent(data).kind === "ours",
      );
    }
    expect(parseLogFilter(filter()).matches(entry("DONE", ours))).toBe(true);
    expect(parseLogFilter(filter()).matches(entry("DONE", ours, "bigquery_dataset"))).toBe(false);
  });

  it("route through one sink per destination project whose writer may publish to the topic", () => {
    const sink = resource(mod, "google_logging_project_sink", "bigquery_jobs");
    expect(sink.filter).toBe("${local.audit_sink_filter}");
    expect(sink.for_each).toBe("${local.destination_projects}");
    expect(sink.destination).toBe("pubsub.googleapis.com/${google_pubsub_topic.bigquery_jobs.id}");
    expect(block(fn("finalize_run"), "event_trigger").pubsub_topic).toBe(
      "${google_pubsub_topic.bigquery_jobs.id}",
    );
    const publisher = resource(mod, "google_pubsub_topic_iam_member", "sink_publisher");
    expect(publisher).toMatchObject({
      for_each: "${google_logging_project_sink.bigquery_jobs}",
      role: "roles/pubsub.publisher",
      member: "${each.value.writer_identity}",
    });
  });
});

describe("staging bucket", () => {
  const bucket = () => resource(mod, "google_storage_bucket", "staging");

  it("uses uniform access, blocks public access and is what the functions are told to use", () => {
    expect(bucket().uniform_bucket_level_access).toBe(true);
    expect(bucket().public_access_prevention).toBe("enforced");
    expect((mod.locals.function_env as Record<string, string>).BQX_STAGING_BUCKET).toBe(
      "${google_storage_bucket.staging.name}",
    );
  });

  it("deletes staged data after the retention and keeps run manifests", () => {
    const rules = bucket().lifecycle_rule as {
      condition: Record<string, unknown>[];
      action: { type: string }[];
    }[];
    expect(rules).toHaveLength(1);
    const condition = rules[0]!.condition[0]!;
    expect(rules[0]!.action[0]!.type).toBe("Delete");
    expect(condition.age).toBe("${var.staging_retention_days}");
    const prefixes = condition.matches_prefix as string[];
    const staged = `${stagingPrefix("events-hourly", "run", 1)}part-00000.ndjson.gz`;
    const manifest = manifestObject("events-hourly", { start: new Date(0), end: new Date(3_600_000) });
    expect(prefixes.some((p) => staged.startsWith(p))).toBe(true);
    expect(prefixes.some((p) => manifest.startsWith(p))).toBe(false);
    expect(mod.variables.staging_retention_days!.default).toBe(7);
  });

  it("checks its location against the datasets'", () => {
    const pre = block(block(bucket(), "lifecycle"), "precondition");
    expect(pre.condition).toContain("local.exports_incompatible_with_staging");
    expect(mod.locals.exports_incompatible_with_staging).toMatch(/e\.destination\.location/);
    expect(mod.locals.exports_incompatible_with_staging).toMatch(/var\.staging_bucket_location/);
  });

  it("is written only by the two runtime accounts and read by the load jobs' principals, on this bucket only", () => {
    const grants = Object.values(mod.resources.google_storage_bucket_iam_member ?? {}).filter(
      (g) => g.bucket === "${google_storage_bucket.staging.name}",
    );
    expect(grants.map((g) => [g.role, reference(g.member)?.[1] ?? g.member]).sort()).toEqual([
      ["roles/storage.objectAdmin", "export_run"],
      ["roles/storage.objectAdmin", "finalize_run"],
      ["roles/storage.objectViewer", "serviceAccount:${each.value}"],
    ]);
    const reader = resource(mod, "google_storage_bucket_iam_member", "staging_destination_reader");
    expect(reader.for_each).toBe("${local.destination_service_accounts}");
    // The key accounts and the impersonated ones: every principal a load job runs as.
    expect(mod.locals.destination_service_accounts).toBe(
      "${setunion(toset(values(var.key_service_accounts)), local.impersonated_accounts)}",
    );
    const projectRoles = Object.values(mod.resources.google_project_iam_member ?? {}).map(
      (g) => g.role as string,
    );
    expect(projectRoles.filter((r) => r.startsWith("roles/storage."))).toEqual([]);
  });
});

describe("secrets", () => {
  it("are created empty: no secret value anywhere in the module", () => {
    expect(mod.resources.google_secret_manager_secret_version).toBeUndefined();
    expect(JSON.stringify(mod.raw)).not.toMatch(/secret_data/);
    expect(Object.keys(mod.resources.google_secret_manager_secret ?? {}).sort()).toEqual([
      "clickhouse_password",
      "destination_key",
    ]);
  });

  it("grant access per secret, never project-wide", () => {
    const accessors = Object.entries(mod.resources.google_secret_manager_secret_iam_member ?? {});
    const pairs = accessors.map(([, g]) => [
      reference(g.for_each ?? g.secret_id)?.[1] ?? String(g.secret_id),
      reference(g.member)?.[1],
    ]);
    expect(pairs.sort()).toEqual([
      ["clickhouse_password", "export_run"],
      ["destination_key", "export_run"],
      ["destination_key", "finalize_run"],
    ]);
    for (const [, g] of accessors) expect(g.role).toBe("roles/secretmanager.secretAccessor");
    const projectRoles = Object.values(mod.resources.google_project_iam_member ?? {}).map(
      (g) => g.role as string,
    );
    expect(projectRoles.filter((r) => r.startsWith("roles/secretmanager."))).toEqual([]);
    // The key secrets are the ones the exports name.
    expect(resource(mod, "google_secret_manager_secret", "destination_key").for_each).toBe(
      "${local.key_secret_names}",
    );
    expect(mod.locals.key_secret_refs).toContain("e.destination.keySecret");
  });
});

describe("required APIs", () => {
  it("enables what the deployment uses", () => {
    const apis = mod.locals.apis as string;
    for (const api of [
      "cloudfunctions",
      "run",
      "cloudbuild",
      "artifactregistry",
      "eventarc",
      "pubsub",
      "cloudscheduler",
      "cloudtasks",
      "iamcredentials",
      "monitoring",
      "secretmanager",
      "logging",
      "storage",
      "bigquery",
    ]) {
      expect(apis).toContain(`"${api}.googleapis.com"`);
    }
    expect(resource(mod, "google_project_service", "apis").disable_on_destroy).toBe(false);
  });
});
