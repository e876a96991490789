import { describe, it, expect } from "vitest";
import {
  exportDefinitionSchema,
  parseExportRunRequest,
  requestedPeriod,
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
function issuesOf(body: unknown): RequestIssue[] {
  try {
    parseExportRunRequest(body);
    return [];
  } catch (err) {
    if (!isExportError(err)) throw err;
    expect(err.code).toBe("INVALID_REQUEST");
    expect(err.retryable).toBe(false);
    return (err.details?.["issues"] ?? []) as RequestIssue[];
  }
}

type Patch = (e: Record<string, unknown> & { destination: Record<string, unknown> }) => void;

function withExport(patch: Patch): unknown {
  const e = validExport() as unknown as Record<string, unknown> & { destination: Record<string, unknown> };
  patch(e);
  return { export: e };
}

describe("export definition: valid bodies", () => {
  const cases: [string, unknown][] = [
    [
      "the ARCHITECTURE example",
      {
        export: validExport(),
        dataInterval: { start: "2026-11-25T10:00:00Z", end: "2026-11-25T11:00:00Z" },
        force: false,
      },
    ],
    ["a scheduled body without interval", { export: validExport() }],
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
      "offset timestamps",
      {
        export: validExport(),
        dataInterval: { start: "2026-11-25T11:00:00+01:00", end: "2026-11-25T11:00:00Z" },
      },
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
      "export.id",
      /lowercase/,
    ],
    [
      "id too long",
      (e) => {
        e["id"] = "a".repeat(30);
      },
      "export.id",
      /1 to 29/,
    ],
    [
      "id ending in hyphen",
      (e) => {
        e["id"] = "events-";
      },
      "export.id",
      /hyphen/,
    ],
    [
      "unknown model",
      (e) => {
        e["model"] = "sessions";
      },
      "export.model",
      /events|persons/,
    ],
    [
      "teamId zero",
      (e) => {
        e["teamId"] = 0;
      },
      "export.teamId",
      /./,
    ],
    [
      "teamId fraction",
      (e) => {
        e["teamId"] = 1.5;
      },
      "export.teamId",
      /int/i,
    ],
    [
      "teamId as string",
      (e) => {
        e["teamId"] = "1";
      },
      "export.teamId",
      /number/,
    ],
    [
      "interval 1m",
      (e) => {
        e["interval"] = "1m";
      },
      "export.interval",
      /5m/,
    ],
    [
      "project with uppercase",
      (e) => {
        e.destination["projectId"] = "My-Project";
      },
      "export.destination.projectId",
      /lowercase/,
    ],
    [
      "project too short",
      (e) => {
        e.destination["projectId"] = "abc";
      },
      "export.destination.projectId",
      /6 to 30/,
    ],
    [
      "dataset with hyphen (BigQuery forbids it)",
      (e) => {
        e.destination["datasetId"] = "my-dataset";
      },
      "export.destination.datasetId",
      /letters, digits and underscores/,
    ],
    [
      "dataset with backtick",
      (e) => {
        e.destination["datasetId"] = "ds`; DROP";
      },
      "export.destination.datasetId",
      /letters, digits and underscores/,
    ],
    [
      "empty dataset",
      (e) => {
        e.destination["datasetId"] = "";
      },
      "export.destination.datasetId",
      /empty/,
    ],
    [
      "table with backtick",
      (e) => {
        e.destination["tableId"] = "t`x";
      },
      "export.destination.tableId",
      /letters, marks, numbers/,
    ],
    [
      "table too long",
      (e) => {
        e.destination["tableId"] = "é".repeat(513);
      },
      "export.destination.tableId",
      /1,024 bytes/,
    ],
    [
      "location misspelt",
      (e) => {
        e.destination["location"] = "Europe West 2";
      },
      "export.destination.location",
      /europe-west2/,
    ],
    [
      "key secret as a file path",
      (e) => {
        e.destination["keySecret"] = "/secrets/key.json";
      },
      "export.destination.keySecret",
      /projects\/<project>/,
    ],
    [
      "key secret without version",
      (e) => {
        e.destination["keySecret"] = "projects/my-project/secrets/bq-key";
      },
      "export.destination.keySecret",
      /versions/,
    ],
    [
      "useJsonType as string",
      (e) => {
        e["useJsonType"] = "true";
      },
      "export.useJsonType",
      /boolean/,
    ],
    [
      "empty event name",
      (e) => {
        e["includeEvents"] = [""];
      },
      "export.includeEvents[0]",
      /empty/,
    ],
    [
      "deduplicate on persons",
      (e) => {
        e["model"] = "persons";
        e["deduplicate"] = true;
      },
      "export.deduplicate",
      /events model/,
    ],
    [
      "event filter on persons",
      (e) => {
        e["model"] = "persons";
        e["excludeEvents"] = ["$pageview"];
      },
      "export.excludeEvents",
      /events model/,
    ],
    [
      "include/exclude overlap",
      (e) => {
        e["includeEvents"] = ["a", "b"];
        e["excludeEvents"] = ["b"];
      },
      "export.excludeEvents",
      /"b"/,
    ],
    [
      "unknown field in export",
      (e) => {
        e["useJSONType"] = true;
      },
      "export.useJSONType",
      /unknown field/,
    ],
    [
      "unknown field in destination",
      (e) => {
        e.destination["region"] = "US";
      },
      "export.destination.region",
      /unknown field/,
    ],
    [
      "missing destination field",
      (e) => {
        delete e.destination["tableId"];
      },
      "export.destination.tableId",
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
    expect(issues[0]?.path).toBe(`export.destination.${field}`);
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
      export: {
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
      },
      dataInterval: { start: "2026-11-25 10:00", end: "2026-11-25T11:00:00Z" },
      forse: true,
    };
    let message = "";
    try {
      parseExportRunRequest(body);
    } catch (err) {
      message = (err as Error).message;
    }
    const paths = issuesOf(body)
      .map((i) => i.path)
      .sort();
    expect(paths).toEqual(
      [
        "export.id",
        "export.teamId",
        "export.destination.datasetId",
        "export.destination.tableId",
        "export.destination.location",
        "export.destination.extra",
        "export.deduplicate",
        "dataInterval.start",
        "forse",
      ].sort(),
    );
    // The human message carries the same paths, for a 400 body or a CLI line.
    for (const p of paths) expect(message).toContain(`${p}: `);
  });

  it("rejects a body that is not an object", () => {
    expect(issuesOf("export=1").length).toBeGreaterThan(0);
    expect(issuesOf(null).length).toBeGreaterThan(0);
  });
});

describe("export definition: the explicit interval", () => {
  const cases: [string, string, string, string, RegExp][] = [
    [
      "misaligned start",
      "2026-11-25T10:30:00Z",
      "2026-11-25T12:00:00Z",
      "dataInterval.start",
      /use 2026-11-25T10:00:00\.000Z or 2026-11-25T11:00:00\.000Z/,
    ],
    [
      "misaligned end",
      "2026-11-25T10:00:00Z",
      "2026-11-25T11:59:00Z",
      "dataInterval.end",
      /not on a hour boundary/,
    ],
    [
      "start after end",
      "2026-11-25T12:00:00Z",
      "2026-11-25T10:00:00Z",
      "dataInterval.start",
      /must be before/,
    ],
    ["no zone", "2026-11-25T10:00:00", "2026-11-25T11:00:00Z", "dataInterval.start", /time zone/],
    ["not a timestamp", "2026-11-25T10:00:00Z", "tomorrow", "dataInterval.end", /ISO 8601/],
  ];
  it.each(cases)("%s", (_name, start, end, path, message) => {
    const issues = issuesOf({ export: validExport(), dataInterval: { start, end } });
    expect(issues.map((i) => i.path)).toEqual([path]);
    expect(issues[0]?.message).toMatch(message);
  });

  it("is reported together with problems elsewhere", () => {
    const body = withExport((e) => {
      e.destination["datasetId"] = "my-dataset";
    }) as Record<string, unknown>;
    body["dataInterval"] = { start: "2026-11-25T10:30:00Z", end: "2026-11-25T12:00:00Z" };
    expect(
      issuesOf(body)
        .map((i) => i.path)
        .sort(),
    ).toEqual(["dataInterval.start", "export.destination.datasetId"]);
  });

  it("uses the export's own interval: a day export needs midnight boundaries", () => {
    const body = withExport((e) => {
      e["interval"] = "day";
    }) as Record<string, unknown>;
    body["dataInterval"] = { start: "2026-11-25T00:00:00Z", end: "2026-11-25T12:00:00Z" };
    expect(issuesOf(body)[0]?.message).toMatch(/not on a day boundary/);
  });
});

describe("requestedPeriod", () => {
  it("returns the explicit period as Dates", () => {
    const req = parseExportRunRequest({
      export: validExport(),
      dataInterval: { start: "2026-11-25T10:00:00Z", end: "2026-11-25T12:00:00Z" },
    });
    expect(requestedPeriod(req)).toEqual({
      start: new Date("2026-11-25T10:00:00Z"),
      end: new Date("2026-11-25T12:00:00Z"),
    });
  });
  it("is undefined for a scheduled run", () => {
    expect(requestedPeriod(parseExportRunRequest({ export: validExport() }))).toBeUndefined();
  });
  it("still checks a request built without the parser (INVALID_INTERVAL)", () => {
    const req = parseExportRunRequest({ export: validExport() });
    const unchecked = {
      ...req,
      dataInterval: { start: "2026-11-25T10:30:00Z", end: "2026-11-25T12:00:00Z" },
    };
    expect(() => requestedPeriod(unchecked)).toThrow(/not on a hour boundary/);
  });
});
