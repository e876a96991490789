import { describe, it, expect } from "vitest";
import {
  credentialsOf,
  definitionHash,
  exportDefinitionSchema,
  parseExportDefinition,
  type ExportDefinitionInput,
  type RequestIssue,
} from "../../functions/src/core/definition.js";
import { isExportError } from "../../functions/src/core/errors.js";

function validExport(): ExportDefinitionInput {
  return {
    id: "events-hourly",
    model: "events",
    teamId: 1,
    interval: "hour",
    destination: {
      projectId: "my-project",
      datasetId: "BatchExports",
      tableId: "events",
      location: "US",
      keySecret: "projects/my-project/secrets/bq-key/versions/latest",
    },
    useJsonType: true,
    includeEvents: [],
    excludeEvents: [],
    deduplicate: false,
  };
}

/** Runs the parse and returns its issues (empty when it succeeded). */
function issuesOf(definition: unknown): RequestIssue[] {
  try {
    parseExportDefinition(definition, "exports/test.json");
    return [];
  } catch (err) {
    if (!isExportError(err)) throw err;
    expect(err.code).toBe("INVALID_DEFINITION");
    expect(err.retryable).toBe(false);
    return (err.details?.["issues"] ?? []) as RequestIssue[];
  }
}

type Patch = (e: Record<string, unknown> & { destination: Record<string, unknown> }) => void;

function withExport(patch: Patch): unknown {
  const e = validExport() as unknown as Record<string, unknown> & { destination: Record<string, unknown> };
  patch(e);
  return e;
}

describe("export definition: valid definitions", () => {
  const cases: [string, unknown][] = [
    ["the ARCHITECTURE example", validExport()],
    [
      "persons without deduplicate",
      withExport((e) => {
        e["model"] = "persons";
        delete e["deduplicate"];
      }),
    ],
    [
      "no key secret (keyless)",
      withExport((e) => {
        delete e.destination["keySecret"];
      }),
    ],
    [
      "region location",
      withExport((e) => {
        e.destination["location"] = "europe-west2";
      }),
    ],
    [
      "lowercase multi-region",
      withExport((e) => {
        e.destination["location"] = "eu";
      }),
    ],
    [
      "secret version number",
      withExport((e) => {
        e.destination["keySecret"] = "projects/123456789/secrets/key_1/versions/3";
      }),
    ],
    [
      "table ID with dash and space",
      withExport((e) => {
        e.destination["tableId"] = "My Export-Table";
      }),
    ],
    [
      "unicode table ID",
      withExport((e) => {
        e.destination["tableId"] = "таблица_событий";
      }),
    ],
    [
      "disjoint include/exclude",
      withExport((e) => {
        e["includeEvents"] = ["$pageview"];
        e["excludeEvents"] = ["$identify"];
      }),
    ],
  ];
  it.each(cases)("%s", (_name, body) => {
    expect(issuesOf(body)).toEqual([]);
  });

  it("fills defaults the way PostHog does (STRING columns, no filters, no dedup)", () => {
    const parsed = exportDefinitionSchema.parse({
      id: "p",
      model: "persons",
      teamId: 2,
      interval: "day",
      destination: { projectId: "my-project", datasetId: "ds", tableId: "persons", location: "EU" },
    });
    expect(parsed.useJsonType).toBe(false);
    expect(parsed.includeEvents).toEqual([]);
    expect(parsed.excludeEvents).toEqual([]);
    expect(parsed.deduplicate).toBe(false);
    expect(parsed.destination.keySecret).toBeUndefined();
  });
});

describe("export definition: each invalid field names its path", () => {
  const cases: [string, Patch, string, RegExp][] = [
    [
      "id with uppercase",
      (e) => {
        e["id"] = "Events";
      },
      "id",
      /lowercase/,
    ],
    [
      "id too long",
      (e) => {
        e["id"] = "a".repeat(30);
      },
      "id",
      /1 to 29/,
    ],
    [
      "id ending in hyphen",
      (e) => {
        e["id"] = "events-";
      },
      "id",
      /hyphen/,
    ],
    [
      "unknown model",
      (e) => {
        e["model"] = "sessions";
      },
      "model",
      /events|persons/,
    ],
    [
      "teamId zero",
      (e) => {
        e["teamId"] = 0;
      },
      "teamId",
      /./,
    ],
    [
      "teamId fraction",
      (e) => {
        e["teamId"] = 1.5;
      },
      "teamId",
      /int/i,
    ],
    [
      "teamId as string",
      (e) => {
        e["teamId"] = "1";
      },
      "teamId",
      /number/,
    ],
    [
      "interval 1m",
      (e) => {
        e["interval"] = "1m";
      },
      "interval",
      /5m/,
    ],
    [
      "project with uppercase",
      (e) => {
        e.destination["projectId"] = "My-Project";
      },
      "destination.projectId",
      /lowercase/,
    ],
    [
      "project too short",
      (e) => {
        e.destination["projectId"] = "abc";
      },
      "destination.projectId",
      /6 to 30/,
    ],
    [
      "dataset with hyphen (BigQuery forbids it)",
      (e) => {
        e.destination["datasetId"] = "my-dataset";
      },
      "destination.datasetId",
      /letters, digits and underscores/,
    ],
    [
      "dataset with backtick",
      (e) => {
        e.destination["datasetId"] = "ds`; DROP";
      },
      "destination.datasetId",
      /letters, digits and underscores/,
    ],
    [
      "empty dataset",
      (e) => {
        e.destination["datasetId"] = "";
      },
      "destination.datasetId",
      /empty/,
    ],
    [
      "table with backtick",
      (e) => {
        e.destination["tableId"] = "t`x";
      },
      "destination.tableId",
      /letters, marks, numbers/,
    ],
    [
      "table too long",
      (e) => {
        e.destination["tableId"] = "é".repeat(513);
      },
      "destination.tableId",
      /1,024 bytes/,
    ],
    [
      "location misspelt",
      (e) => {
        e.destination["location"] = "Europe West 2";
      },
      "destination.location",
      /europe-west2/,
    ],
    [
      "key secret as a file path",
      (e) => {
        e.destination["keySecret"] = "/secrets/key.json";
      },
      "destination.keySecret",
      /projects\/<project>/,
    ],
    [
      "key secret without version",
      (e) => {
        e.destination["keySecret"] = "projects/my-project/secrets/bq-key";
      },
      "destination.keySecret",
      /versions/,
    ],
    [
      "useJsonType as string",
      (e) => {
        e["useJsonType"] = "true";
      },
      "useJsonType",
      /boolean/,
    ],
    [
      "empty event name",
      (e) => {
        e["includeEvents"] = [""];
      },
      "includeEvents[0]",
      /empty/,
    ],
    [
      "deduplicate on persons",
      (e) => {
        e["model"] = "persons";
        e["deduplicate"] = true;
      },
      "deduplicate",
      /events model/,
    ],
    [
      "event filter on persons",
      (e) => {
        e["model"] = "persons";
        e["excludeEvents"] = ["$pageview"];
      },
      "excludeEvents",
      /events model/,
    ],
    [
      "include/exclude overlap",
      (e) => {
        e["includeEvents"] = ["a", "b"];
        e["excludeEvents"] = ["b"];
      },
      "excludeEvents",
      /"b"/,
    ],
    [
      "unknown field in export",
      (e) => {
        e["useJSONType"] = true;
      },
      "useJSONType",
      /unknown field/,
    ],
    [
      "unknown field in destination",
      (e) => {
        e.destination["region"] = "US";
      },
      "destination.region",
      /unknown field/,
    ],
    [
      "missing destination field",
      (e) => {
        delete e.destination["tableId"];
      },
      "destination.tableId",
      /^required \(string\)$/,
    ],
  ];
  it.each(cases)("%s", (_name, patch, path, message) => {
    const issues = issuesOf(withExport(patch));
    expect(issues.map((i) => i.path)).toEqual([path]);
    expect(issues[0]?.message).toMatch(message);
  });
});

describe("export definition: the seed's fully-qualified names", () => {
  const cases: [string, "datasetId" | "tableId", string, RegExp][] = [
    [
      "colon table",
      "tableId",
      "project-123:dataset:MyExportTable",
      /use only the table ID, e\.g\. MyExportTable/,
    ],
    [
      "dotted table",
      "tableId",
      "project-123.dataset.MyExportTable",
      /use only the table ID, e\.g\. MyExportTable/,
    ],
    ["colon dataset", "datasetId", "project-123:my-dataset", /use only the dataset ID, e\.g\. my-dataset/],
    [
      "dotted dataset",
      "datasetId",
      "project-123.BatchExports",
      /use only the dataset ID, e\.g\. BatchExports/,
    ],
  ];
  it.each(cases)("%s", (_name, field, value, message) => {
    const issues = issuesOf(
      withExport((e) => {
        e.destination[field] = value;
      }),
    );
    expect(issues).toHaveLength(1);
    expect(issues[0]?.path).toBe(`destination.${field}`);
    expect(issues[0]?.message).toMatch(message);
  });

  it("says that the seed's my-dataset is itself not a BigQuery dataset ID", () => {
    const [issue] = issuesOf(
      withExport((e) => {
        e.destination["datasetId"] = "project-123:my-dataset";
      }),
    );
    expect(issue?.message).toMatch(/only letters, digits and underscores, so e\.g\. my_dataset/);
  });
});

describe("export definition: several problems at once", () => {
  it("reports every bad field in one parse, each with its path", () => {
    const body = {
      ...validExport(),
      id: "Bad_ID",
      model: "persons",
      deduplicate: true,
      teamId: -3,
      destination: {
        projectId: "project-123",
        datasetId: "project-123:my-dataset",
        tableId: "project-123:dataset:MyExportTable",
        location: "moon",
        extra: 1,
      },
      forse: true,
    };
    let message = "";
    try {
      parseExportDefinition(body, "exports/x.json");
    } catch (err) {
      message = (err as Error).message;
    }
    const paths = issuesOf(body)
      .map((i) => i.path)
      .sort();
    expect(paths).toEqual(
      [
        "id",
        "teamId",
        "destination.datasetId",
        "destination.tableId",
        "destination.location",
        "destination.extra",
        "deduplicate",
        "forse",
      ].sort(),
    );
    // The human message carries the same paths and names the object.
    for (const p of paths) expect(message).toContain(`${p}: `);
    expect(message).toContain("exports/x.json");
  });

  it("rejects a body that is not an object", () => {
    expect(issuesOf("export=1").length).toBeGreaterThan(0);
    expect(issuesOf(null).length).toBeGreaterThan(0);
  });
});

describe("credentials: exactly one way to act in BigQuery", () => {
  const sa = "bq-exporter@my-project.iam.gserviceaccount.com";
  it.each([
    ["impersonation", { impersonate: sa }, { mode: "impersonate", serviceAccount: sa }],
    [
      "a key secret",
      { keySecret: "projects/my-project/secrets/k/versions/2" },
      { mode: "key", secret: "projects/my-project/secrets/k/versions/2" },
    ],
    ["neither: the function's own identity", {}, { mode: "function" }],
  ])("%s", (_name, creds, expected) => {
    const def = withExport((e) => {
      delete e.destination["keySecret"];
      Object.assign(e.destination, creds);
    });
    expect(credentialsOf(parseExportDefinition(def, "t").destination)).toEqual(expected);
  });

  it("refuses both a key and impersonation, naming the keyless one", () => {
    const issues = issuesOf(
      withExport((e) => {
        e.destination["impersonate"] = sa;
      }),
    );
    expect(issues).toEqual([{ path: "destination.impersonate", message: expect.stringMatching(/not both/) }]);
  });

  it.each(["someone@example.com", "not an email", "bq@my-project.iam.gserviceaccount.com.evil.org"])(
    "refuses %s as a service account",
    (value) => {
      const issues = issuesOf(
        withExport((e) => {
          delete e.destination["keySecret"];
          e.destination["impersonate"] = value;
        }),
      );
      expect(issues.map((i) => i.path)).toEqual(["destination.impersonate"]);
    },
  );
});

describe("definitionHash", () => {
  it("is the same for the same definition, whatever the key order and defaults", () => {
    const a = parseExportDefinition(validExport(), "a");
    const { destination, ...rest } = validExport();
    const reordered = {
      destination: { ...destination },
      ...Object.fromEntries(Object.entries(rest).reverse()),
    };
    expect(definitionHash(parseExportDefinition(reordered, "b"))).toBe(definitionHash(a));
  });
  it("changes when a field changes", () => {
    const a = parseExportDefinition(validExport(), "a");
    const b = parseExportDefinition({ ...validExport(), excludeEvents: ["$autocapture"] }, "b");
    expect(definitionHash(b)).not.toBe(definitionHash(a));
    expect(definitionHash(a)).toMatch(/^[0-9a-f]{12}$/);
  });
});

describe("bounded messages", () => {
  it("lists a few problems and counts the rest", () => {
    const def: Record<string, unknown> = { ...validExport() };
    for (let i = 0; i < 5000; i++) def[`field${i}`] = i;
    let message = "";
    let details: Record<string, unknown> | undefined;
    try {
      parseExportDefinition(def, "exports/big.json");
    } catch (err) {
      message = (err as Error).message;
      details = isExportError(err) ? err.details : undefined;
    }
    expect(message).toMatch(/and 4992 more problems/);
    expect(message.length).toBeLessThan(1000);
    expect((details?.["issues"] as unknown[]).length).toBe(8);
    expect(details?.["moreIssues"]).toBe(4992);
  });
});
