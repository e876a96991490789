// The test-only YAML subset parser: what it reads, and that it refuses what it
// does not understand instead of guessing.
import { describe, expect, it } from "vitest";
import { parseYamlSubset, YamlSubsetError } from "./yaml-subset.js";

describe("parseYamlSubset", () => {
  it("reads mappings, sequences of mappings and scalars in all three styles", () => {
    const doc = [
      "# a comment",
      "steps:",
      "  - id: one # trailing comment",
      '    name: "node:22"',
      "    args:",
      "      - 'it''s'",
      '      - "a\\"b"',
      "      - plain-value",
      "  - id: two",
      "    name: x",
      "top: level",
      "nested:",
      "  inner:",
      '    deep: "#not a comment"',
    ].join("\n");
    expect(parseYamlSubset(doc)).toEqual({
      steps: [
        { id: "one", name: "node:22", args: ["it's", 'a"b', "plain-value"] },
        { id: "two", name: "x" },
      ],
      top: "level",
      nested: { inner: { deep: "#not a comment" } },
    });
  });

  it.each([
    ["flow sequence", 'args: ["a", "b"]'],
    ["flow mapping", "a: {b: c}"],
    ["block scalar", "a: |\n  text"],
    ["anchor", "a: &x b"],
    ["alias", "a: *x"],
    ["tab", "a:\n\tb: c"],
    ["duplicate key", "a: b\na: c"],
    ["document marker", "---\na: b"],
    ["bad indentation", "a: b\n   c: d"],
    ["key without value", "a:\nb: c"],
    ["unterminated quote", 'a: "b'],
    ["ambiguous plain scalar", "a: b: c"],
  ])("rejects a %s", (_what, doc) => {
    expect(() => parseYamlSubset(doc)).toThrow(YamlSubsetError);
  });
});
