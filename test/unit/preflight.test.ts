// The preflight's decisions (app/preflight-rules.ts) and its probes
// (app/preflight.ts) against in-memory ports that refuse what a test says:
// cases the local stack cannot produce (a staging bucket the load cannot
// read, a key BigQuery rejects, a ClickHouse schema missing columns). The
// permission matrix against the local BigQuery is in test/e2e/cli.test.ts.
import { describe, expect, it } from "vitest";
import type { AppDeps } from "../../functions/src/app/deps.js";
import { registerExport } from "../../functions/src/app/export-store.js";
import type { JobInfo, LoadSpec, SourceDatabase, Warehouse } from "../../functions/src/app/ports.js";
import { runPreflight, SOURCE_COLUMNS } from "../../functions/src/app/preflight.js";
import {
  classifyLoadFailure,
  credentialsFailure,
  permissionNeeds,
} from "../../functions/src/app/preflight-rules.js";
import { parseExportDefinition, type ExportDefinition } from "../../functions/src/core/definition.js";
import { ExportError } from "../../functions/src/core/errors.js";
import { eventsQuery, personsQuery } from "../../functions/src/core/source-sql.js";
import { PATH_PERMISSIONS } from "../../functions/src/core/write-path.js";
import { posthogSchemaDdl } from "../local/clickhouse/posthog-schema.js";
import { fakeWorld } from "../helpers/fakes/fake-deps.js";
import { MemoryStore } from "../helpers/fakes/memory-store.js";
import { MemoryWarehouse } from "../helpers/fakes/memory-warehouse.js";

function definition(model: "events" | "persons", extra: Record<string, unknown> = {}): ExportDefinition {
  return parseExportDefinition(
    {
      id: `${model}-x`,
      model,
      teamId: 1,
      interval: "hour",
      destination: { projectId: "my-project", datasetId: "d", tableId: "t", location: "US" },
      ...extra,
    },
    "test",
  );
}

describe("what each export needs", () => {
  const needOf = (def: ExportDefinition) =>
    Object.fromEntries(permissionNeeds(def).map((n) => [n.permission, n.need]));

  it("events: the append path's five, getData for merges through a stage, delete optional, list unused", () => {
    const needs = needOf(definition("events"));
    for (const p of PATH_PERMISSIONS.append) expect(needs[p]).toBe("required");
    expect(needs["bigquery.tables.getData"]).toBe("required");
    expect(needs["bigquery.tables.delete"]).toBe("optional");
    expect(needs["bigquery.tables.list"]).toBe("unused");
    const why = permissionNeeds(definition("events")).find(
      (n) => n.permission === "bigquery.tables.getData",
    )!.why;
    expect(why).toMatch(/^forced reruns, backfills and retries after a load merge through a stage table/);
  });

  it("persons and deduplicating events: every path permission, delete optional", () => {
    for (const def of [definition("persons"), definition("events", { deduplicate: true })]) {
      const needs = needOf(def);
      for (const p of PATH_PERMISSIONS["merge-versions"]) {
        expect(needs[p]).toBe(p === "bigquery.tables.delete" ? "optional" : "required");
      }
      expect(needs["bigquery.tables.list"]).toBe("unused");
    }
  });
});

describe("the source columns the check names", () => {
  /** PostHog's columns of `table` (the local schema) that the query's SQL mentions. */
  function columnsUsed(sql: string, table: string): string[] {
    const ddl = posthogSchemaDdl("posthog").find((s) => s.includes(`.${table} (`))!;
    const columns = [...ddl.matchAll(/^\s+([a-z_][a-z0-9_]*) [A-Z]/gm)].map((m) => m[1]!);
    return columns.filter((c) => new RegExp(`(?<![\\w.])${c}(?!\\w)`).test(sql));
  }
  const period = { start: new Date("2026-11-25T10:00:00Z"), end: new Date("2026-11-25T11:00:00Z") };

  it("are exactly those the export queries read", () => {
    const events = eventsQuery({
      teamId: 1,
      period,
      exportedAt: period.end,
      includeEvents: [],
      excludeEvents: [],
      selection: "ingested",
      lookbackDays: 7,
    }).sql;
    expect([...SOURCE_COLUMNS.events.events!].sort()).toEqual(columnsUsed(events, "events").sort());
    const persons = personsQuery({ teamId: 1, period, exportedAt: period.end }).sql;
    for (const table of ["person", "person_distinct_id2"]) {
      expect([...SOURCE_COLUMNS.persons[table]!].sort()).toEqual(columnsUsed(persons, table).sort());
    }
  });
});

describe("reading BigQuery's refusals", () => {
  it("tells a table permission from a file the load could not read", () => {
    expect(
      classifyLoadFailure(
        "Access Denied: Table p:d.t: Permission bigquery.tables.updateData denied on table p:d.t (or it may not exist).",
      ),
    ).toBe("updateData");
    expect(
      classifyLoadFailure("Access Denied: File gs://bqx-staging/staging/x/probe.ndjson.gz: Access Denied"),
    ).toBe("bucket");
    expect(
      classifyLoadFailure("Error while reading data, error message: JSON table encountered too many errors"),
    ).toBe("other");
  });

  it("names the grant that fixes a credential", () => {
    const imp = credentialsFailure(
      { mode: "impersonate", serviceAccount: "w@p.iam.gserviceaccount.com" },
      new ExportError("PERMISSION_DENIED", "x", {
        details: { permission: "iam.serviceAccounts.getAccessToken" },
      }),
    );
    expect(imp.fix).toBe(
      "grant the function's service account roles/iam.serviceAccountTokenCreator on w@p.iam.gserviceaccount.com",
    );
    const secret = credentialsFailure(
      { mode: "key", secret: "projects/p/secrets/k/versions/1" },
      new ExportError("PERMISSION_DENIED", "may not read"),
    );
    expect(secret.fix).toContain("roles/secretmanager.secretAccessor on projects/p/secrets/k/versions/1");
  });
});

/** A warehouse that refuses what the test names, like BigQuery would. */
class RefusingWarehouse extends MemoryWarehouse {
  refuse = new Set<string>();
  loadError: string | undefined;
  rejectKey = false;

  private check(method: string, permission: string) {
    if (this.rejectKey) {
      throw new ExportError(
        "BAD_CREDENTIALS",
        "The destination service-account key was rejected: invalid_grant",
      );
    }
    if (this.refuse.has(method)) {
      throw new ExportError(
        "PERMISSION_DENIED",
        `Access Denied: Permission ${permission} denied (or it may not exist).`,
      );
    }
  }
  override async datasetLocation(): Promise<string> {
    this.check("datasetLocation", "bigquery.datasets.get");
    return super.datasetLocation();
  }
  override async startLoad(spec: LoadSpec): Promise<JobInfo> {
    this.check("startLoad", "bigquery.jobs.create");
    if (this.loadError)
      return {
        ref: spec.job,
        state: "DONE",
        labels: spec.labels,
        error: { reason: "accessDenied", message: this.loadError },
      };
    return super.startLoad(spec);
  }
  override async listTables(p: string, d: string, max: number): Promise<string[]> {
    this.check("listTables", "bigquery.tables.list");
    return super.listTables(p, d, max);
  }
}

/** A ClickHouse whose events table lacks `lacking`, answering system.columns as ClickHouse would. */
function source(lacking: string[] = []): SourceDatabase {
  return {
    // The preflight stages nothing.
    bytes: () => (async function* () {})(),
    // eslint-disable-next-line @typescript-eslint/require-await
    async *rows(query) {
      if (query.sql.includes("system.columns")) {
        for (const [table, columns] of Object.entries({
          ...SOURCE_COLUMNS.events,
          ...SOURCE_COLUMNS.persons,
        })) {
          for (const name of columns) {
            if (!(table === "events" && lacking.includes(name))) yield JSON.stringify({ table, name });
          }
        }
        return;
      }
      if (lacking.length > 0 && query.sql.includes(".events")) {
        throw new ExportError(
          "SOURCE_FAILED",
          `ClickHouse rejected the export query: Unknown expression identifier \`${lacking[0]}\``,
          {
            details: { clickhouseCode: "47" },
          },
        );
      }
    },
  };
}

async function preflight(warehouse: Warehouse, src: SourceDatabase, store: MemoryStore) {
  await registerExport(
    {
      id: "events-x",
      model: "events",
      teamId: 1,
      interval: "hour",
      destination: { projectId: "my-project", datasetId: "d", tableId: "t", location: "US" },
    },
    store,
  );
  const deps: AppDeps = {
    ...fakeWorld({ now: new Date("2026-11-25T12:00:00Z") }).deps,
    store,
    source: src,
    warehouses: { forDestination: () => Promise.resolve(warehouse) },
  };
  return runPreflight("events-x", deps);
}

const line = (report: Awaited<ReturnType<typeof preflight>>, key: string) =>
  report.checks.find((l) => l.permission === key || (l.permission === undefined && l.check === key));

describe("runPreflight", () => {
  it("passes a complete setup, leaves nothing behind, and says tables.list is unused", async () => {
    const store = new MemoryStore();
    const warehouse = new RefusingWarehouse(store);
    const report = await preflight(warehouse, source(), store);
    expect(report.ok).toBe(true);
    expect(report.checks.filter((l) => l.status !== "ok")).toEqual([]);
    expect(line(report, "bigquery.tables.list")!.message).toContain("this product never lists tables");
    expect(line(report, "bigquery.tables.getData")!.message).toContain("1 row(s) read back");
    expect([...warehouse.tables.keys()]).toEqual([]);
    expect([...store.objects.keys()].filter((k) => k.startsWith("staging/"))).toEqual([]);
  });

  it("a load that cannot read the staging bucket fails the bucket line, with the grant", async () => {
    const store = new MemoryStore("bqx-staging");
    const warehouse = new RefusingWarehouse(store);
    warehouse.loadError =
      "Access Denied: File gs://bqx-staging/staging/events-x/bqx-check-1/probe.ndjson.gz: Access Denied";
    const report = await preflight(warehouse, source(), store);
    expect(report.ok).toBe(false);
    expect(line(report, "staging-bucket")).toMatchObject({
      status: "failed",
      fix: "grant the function's own service account roles/storage.objectViewer on gs://bqx-staging",
    });
    expect(line(report, "bigquery.tables.updateData")!.status).toBe("skipped");
  });

  it("a key BigQuery rejects fails the credentials line and skips the rest of BigQuery", async () => {
    const store = new MemoryStore();
    const warehouse = new RefusingWarehouse(store);
    warehouse.rejectKey = true;
    const report = await preflight(warehouse, source(), store);
    expect(line(report, "credentials")!.status).toBe("failed");
    const permissions = report.checks.filter((l) => l.check === "permission");
    expect(permissions).toHaveLength(8);
    expect(new Set(permissions.map((l) => l.status))).toEqual(new Set(["skipped"]));
    expect(line(report, "source")!.status).toBe("ok");
  });

  it("names every denied permission at once; an unused one is only noted", async () => {
    const store = new MemoryStore();
    const warehouse = new RefusingWarehouse(store);
    warehouse.refuse = new Set(["datasetLocation", "listTables"]);
    const report = await preflight(warehouse, source(), store);
    expect(report.checks.filter((l) => l.status === "failed").map((l) => l.permission)).toEqual([
      "bigquery.datasets.get",
    ]);
    expect(line(report, "bigquery.tables.list")!.status).toBe("info");
    expect(line(report, "location")!.status).toBe("skipped");
  });

  it("names every column the source lacks", async () => {
    const store = new MemoryStore();
    const report = await preflight(new RefusingWarehouse(store), source(["inserted_at", "_offset"]), store);
    expect(line(report, "clickhouse")!.status).toBe("ok");
    expect(line(report, "source")).toMatchObject({
      status: "failed",
      message: "posthog.events lacks inserted_at, _offset",
    });
  });
});
