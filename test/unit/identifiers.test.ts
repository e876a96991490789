import { describe, it, expect } from "vitest";
import {
  assertIdentifier,
  identifierProblem,
  quoteTable,
  type IdentifierKind,
} from "../../functions/src/core/identifiers.js";
import { ExportError } from "../../functions/src/core/errors.js";

describe("BigQuery naming rules", () => {
  const cases: [IdentifierKind, string, boolean][] = [
    // Projects: 6-30 lowercase letters, digits, hyphens; start with a letter; no trailing hyphen.
    ["project", "my-project", true],
    ["project", "project-123", true],
    ["project", "abcdef", true],
    ["project", "a" + "b".repeat(29), true],
    ["project", "example.com:my-project", true],
    ["project", "abcde", false],
    ["project", "a" + "b".repeat(30), false],
    ["project", "My-Project", false],
    ["project", "1project", false],
    ["project", "project-", false],
    ["project", "my_project", false],
    ["project", "my-project`", false],
    // Datasets: letters, digits, underscores; at most 1,024.
    ["dataset", "BatchExports", true],
    ["dataset", "example", true],
    ["dataset", "_private_1", true],
    ["dataset", "d".repeat(1024), true],
    ["dataset", "d".repeat(1025), false],
    ["dataset", "my-dataset", false],
    ["dataset", "my dataset", false],
    ["dataset", "project-123:my-dataset", false],
    ["dataset", "données", false],
    ["dataset", "", false],
    // Tables: Unicode letters, marks, numbers, connectors, dashes, spaces; ≤ 1,024 bytes.
    ["table", "events", true],
    ["table", "MyExportTable", true],
    ["table", "my-table 2026", true],
    ["table", "таблица", true],
    ["table", "事件", true],
    ["table", "café\u0301", true],
    ["table", "t".repeat(1024), true],
    ["table", "é".repeat(512), true],
    ["table", "é".repeat(513), false],
    ["table", "", false],
    ["table", "dataset.table", false],
    ["table", "project-123:dataset:MyExportTable", false],
    ["table", "t`; DROP TABLE x; --", false],
    ["table", "t\\u0060", false],
    ["table", "line\nbreak", false],
    ["table", "tab\there", false],
    ["table", "star*", false],
  ];
  it.each(cases)("%s %j → valid: %s", (kind, value, valid) => {
    const problem = identifierProblem(kind, value);
    if (valid) expect(problem).toBeUndefined();
    else expect(problem).toMatch(new RegExp(kind === "project" ? "project ID" : `${kind} ID`));
  });
});

describe("assertIdentifier", () => {
  it("returns a valid ID unchanged", () => {
    expect(assertIdentifier("dataset", "BatchExports")).toBe("BatchExports");
  });
  it("throws a permanent INVALID_REQUEST naming the kind and the value", () => {
    try {
      assertIdentifier("dataset", "my-dataset");
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ExportError);
      const e = err as ExportError;
      expect(e.code).toBe("INVALID_REQUEST");
      expect(e.retryable).toBe(false);
      expect(e.message).toContain('Invalid dataset ID "my-dataset"');
      expect(e.details).toEqual({ kind: "dataset", value: "my-dataset" });
    }
  });
});

describe("quoteTable", () => {
  it("quotes the full path once", () => {
    expect(quoteTable({ projectId: "my-project", datasetId: "BatchExports", tableId: "events" })).toBe(
      "`my-project.BatchExports.events`",
    );
  });
  it("keeps spaces and dashes inside the quotes", () => {
    expect(quoteTable({ projectId: "my-project", datasetId: "ds", tableId: "My Table-1" })).toBe(
      "`my-project.ds.My Table-1`",
    );
  });
  it.each([
    ["a backtick in the table", { projectId: "my-project", datasetId: "ds", tableId: "x` OR 1=1 --" }],
    ["a dot in the dataset", { projectId: "my-project", datasetId: "a.b", tableId: "t" }],
    ["a backslash in the table", { projectId: "my-project", datasetId: "ds", tableId: "t\\" }],
    ["an invalid project", { projectId: "x", datasetId: "ds", tableId: "t" }],
  ])("refuses %s instead of producing SQL", (_name, ref) => {
    expect(() => quoteTable(ref)).toThrow(ExportError);
  });
});
