// How each export acts in BigQuery, and what Terraform grants for it: the
// custom role (the setup guide's permission list), the dataset and job grants
// for the export's principal, and token creation for impersonated accounts.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { destinationSchema } from "../../functions/src/core/definition.js";
import { INFRA_DIR, loadModule, reference, resource, type Module } from "./hcl.js";

const ROOT = join(INFRA_DIR, "..");

let mod: Module;
beforeAll(async () => {
  mod = await loadModule();
});

const allResources = () => Object.values(mod.resources).flatMap((byName) => Object.values(byName));
const exportsRules = () =>
  (mod.variables.exports!.validation as { condition: string; error_message: string }[]).map(
    (v) => v.condition,
  );

/**
 * The permission list of the README's "## Permissions" section: its first
 * fenced code block, one permission per line (text after "#" is a comment).
 */
function readmePermissions(): string[] {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const section = readme.split(/^## Permissions\s*$/m)[1]?.split(/^## /m)[0] ?? "";
  const code = /```[^\n]*\n([\s\S]*?)```/.exec(section)?.[1] ?? "";
  return code
    .split("\n")
    .map((l) => l.split("#")[0]!.trim())
    .filter(Boolean);
}

describe("the custom role", () => {
  it("is exactly the README's (the setup guide's) permission list, the same in every destination project", () => {
    const listed = readmePermissions();
    expect(listed).toEqual([
      "bigquery.datasets.get",
      "bigquery.jobs.create",
      "bigquery.tables.create",
      "bigquery.tables.get",
      "bigquery.tables.getData",
      "bigquery.tables.list",
      "bigquery.tables.updateData",
      "bigquery.tables.delete",
    ]);
    expect(mod.locals.custom_role_permissions).toEqual(listed);
    const role = resource(mod, "google_project_iam_custom_role", "batch_exports");
    expect(role.permissions).toBe("${local.custom_role_permissions}");
    expect(role.for_each).toMatch(/var\.create_custom_role \? local\.destination_projects/);
  });

  it("is granted on the dataset, and job creation on the project, to each export's principal", () => {
    const grant = resource(mod, "google_bigquery_dataset_iam_member", "destination");
    expect(grant.for_each).toBe("${local.dataset_grants}");
    expect(grant.role).toContain("google_project_iam_custom_role.batch_exports[each.value.project].name");
    expect(grant.role).toContain('"roles/bigquery.dataEditor"');
    expect(grant.dataset_id).toBe("${each.value.dataset}");
    const jobs = resource(mod, "google_project_iam_member", "destination_job_user");
    expect(jobs.for_each).toBe("${local.job_user_grants}");
    expect(jobs.role).toBe("roles/bigquery.jobUser");
    // Exports sharing a dataset and principal are granted once (grouped with "...").
    expect(mod.locals.dataset_grants).toMatch(/=> g\.\.\./);
    expect(mod.locals.job_user_grants).toMatch(/\}\.\.\./);
  });
});

describe("an export's principal", () => {
  it("is the impersonated account, else the key's account, else (when granted) the functions' own", () => {
    const principals = mod.locals.destination_principals as string;
    const impersonate = principals.indexOf("e.destination.impersonate != null");
    const key = principals.indexOf("e.destination.keySecret != null");
    const keyless = principals.indexOf("var.grant_keyless_access");
    expect(impersonate).toBeGreaterThan(-1);
    expect(key).toBeGreaterThan(impersonate);
    expect(keyless).toBeGreaterThan(key);
    expect(principals).toContain('"serviceAccount:${e.destination.impersonate}"');
    expect(principals).toContain("var.key_service_accounts");
    expect(principals).toContain("values(local.runtime_members)");
    expect(mod.locals.runtime_members).toEqual({
      export_run: "${google_service_account.export_run.member}",
      finalize_run: "${google_service_account.finalize_run.member}",
    });
  });

  it("is declared as in the product: impersonate is optional, and not together with keySecret", () => {
    const conditions = exportsRules();
    expect(
      conditions.some((c) =>
        /e\.destination\.keySecret == null \|\| e\.destination\.impersonate == null/.test(c),
      ),
    ).toBe(true);
    // The schema refuses both as well.
    const both = destinationSchema.safeParse({
      projectId: "my-analytics-project",
      datasetId: "BatchExports",
      tableId: "events",
      location: "US",
      keySecret: "projects/p-123456/secrets/k/versions/latest",
      impersonate: "bq@my-analytics-project.iam.gserviceaccount.com",
    });
    expect(both.success).toBe(false);
  });

  it("validates impersonate with the product's own service-account pattern", () => {
    const rule = exportsRules().find((c) => c.includes("regex(") && c.includes("e.destination.impersonate"))!;
    const source = /regex\(\s*"((?:[^"\\]|\\.)*)"/.exec(rule)?.[1];
    expect(source).toBeDefined();
    const terraform = new RegExp(JSON.parse(`"${source}"`) as string);
    const product = destinationSchema.shape.impersonate;
    const samples = [
      "bq-exporter@my-analytics-project.iam.gserviceaccount.com",
      "123456789012-compute@developer.gserviceaccount.com",
      "my-app@appspot.gserviceaccount.com",
      "a.b_c@x.gserviceaccount.com",
      "Bq@my-project.iam.gserviceaccount.com",
      "bq@my-project.iam.gserviceaccount.com.evil.com",
      "bq@my-project.iam.google.com",
      "user@example.com",
      "bq-exporter",
      "",
    ];
    for (const email of samples) {
      expect(terraform.test(email), email).toBe(product.safeParse(email).success);
    }
  });
});

describe("impersonation", () => {
  it("lets both functions mint tokens for each impersonated account, on that account only", () => {
    const grant = resource(mod, "google_service_account_iam_member", "impersonation_token_creator");
    expect(grant.role).toBe("roles/iam.serviceAccountTokenCreator");
    expect(grant.service_account_id).toBe("projects/-/serviceAccounts/${each.value.account}");
    expect(grant.member).toBe("${local.runtime_members[each.value.runtime]}");
    expect(grant.for_each).toMatch(
      /setproduct\(local\.impersonated_accounts, keys\(local\.runtime_members\)\)/,
    );
    expect(mod.locals.impersonated_accounts).toMatch(
      /e\.destination\.impersonate if e\.destination\.impersonate != null/,
    );
  });

  it("gives the impersonated accounts the grants a key's account gets: dataset, jobs and staged files", () => {
    expect(mod.locals.destination_service_accounts).toContain("local.impersonated_accounts");
    expect(mod.locals.destination_service_accounts).toContain("var.key_service_accounts");
    expect(resource(mod, "google_storage_bucket_iam_member", "staging_destination_reader").for_each).toBe(
      "${local.destination_service_accounts}",
    );
  });

  it("never grants token creation or acting as accounts project-wide", () => {
    const projectRoles = Object.values(mod.resources.google_project_iam_member ?? {}).map(
      (g) => g.role as string,
    );
    expect(projectRoles.filter((r) => r.startsWith("roles/iam."))).toEqual([]);
    // Every account-level grant, by account, role and member.
    const grants = Object.entries(mod.resources.google_service_account_iam_member ?? {}).map(([name, g]) => [
      name,
      g.role,
      reference(g.member)?.[1] ?? g.member,
    ]);
    expect(grants.sort()).toEqual(
      [
        ["export_run_acts_as_tasks", "roles/iam.serviceAccountUser", "export_run"],
        [
          "impersonation_token_creator",
          "roles/iam.serviceAccountTokenCreator",
          "${local.runtime_members[each.value.runtime]}",
        ],
        [
          "trigger_token_creator",
          "roles/iam.serviceAccountTokenCreator",
          "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com",
        ],
      ].sort(),
    );
    expect(allResources().filter((r) => r.role === "roles/iam.serviceAccountTokenCreator")).toHaveLength(2);
  });

  it("explains, at plan time, exports whose BigQuery principal gets no grant", () => {
    const keyless = mod.checks.keyless_exports_have_grants!;
    const assert = (keyless.assert as { condition: string; error_message: string }[])[0]!;
    expect(assert.condition).toContain("e.destination.impersonate != null");
    expect(assert.condition).toContain("e.destination.keySecret != null");
    expect(assert.error_message).toMatch(/impersonate/);
    expect(mod.checks.key_service_accounts_cover_key_secrets).toBeDefined();
  });
});
