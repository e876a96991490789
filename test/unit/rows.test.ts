import { describe, it, expect } from "vitest";
import { jsonDocument, jsonNumberFits, wellFormed } from "../../functions/src/core/json-text.js";
import { createRowEncoder, type RowEncoder } from "../../functions/src/core/rows.js";
import { loadFields, type ModelName } from "../../functions/src/core/models.js";
import { isExportError } from "../../functions/src/core/errors.js";
import { HOSTILE_PROPERTIES } from "../fixtures/hostile-properties.js";

/** One line through a fresh encoder. */
function encodeRow(model: ModelName, useJsonType: boolean, row: Record<string, unknown>): string {
  return createRowEncoder(model, useJsonType).encode(row);
}

function eventRow(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    uuid: "0191e0a4-0000-7000-8000-000000000001",
    event: "$pageview",
    properties: '{"$browser":"Firefox","$set":{"email":"a@example.com"},"$set_once":{},"$ip":"127.0.0.1"}',
    elements: "",
    distinct_id: "user-1",
    team_id: 1,
    site_url: "",
    timestamp: "2026-11-25T10:00:00.123456Z",
    bq_ingested_timestamp: "2026-11-25T11:00:05.000001Z",
    ...over,
  };
}

function personRow(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    team_id: 1,
    distinct_id: "user-1",
    person_id: "0191e0a4-0000-7000-8000-0000000000aa",
    properties: '{"email":"a@example.com"}',
    person_version: 3,
    person_distinct_id_version: "7",
    ...over,
  };
}

/** Checks what any loadable line must satisfy and returns it parsed. */
function checkLine(model: ModelName, useJsonType: boolean, line: string): Record<string, unknown> {
  expect(line).not.toMatch(/[\n\r]/);
  // UTF-8 round trip: no unpaired surrogates left in the line.
  expect(Buffer.from(line, "utf8").toString("utf8")).toBe(line);
  const parsed = JSON.parse(line) as Record<string, unknown>;
  const fields = loadFields(model, useJsonType);
  expect(Object.keys(parsed)).toEqual(fields.map((f) => f.name));
  for (const f of fields) {
    const v = parsed[f.name];
    if (v === null) continue;
    switch (f.type) {
      case "STRING":
        expect(typeof v, f.name).toBe("string");
        break;
      case "INT64":
        expect(typeof v === "number" ? Number.isSafeInteger(v) : /^-?\d+$/.test(v as string), f.name).toBe(
          true,
        );
        break;
      case "TIMESTAMP":
        expect(v, f.name).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z$/);
        break;
      case "JSON":
        break;
      case "BOOL":
        expect(typeof v, f.name).toBe("boolean");
        break;
    }
  }
  return parsed;
}

function jsonTypeOf(v: unknown): string | null {
  if (v === null) return null;
  if (Array.isArray(v)) return "array";
  return typeof v;
}

/** Both ways in: the row as an object, and as the source's JSONEachRow line. */
const PATHS = [
  ["object", (enc: RowEncoder, row: Record<string, unknown>) => enc.encode(row)],
  ["line", (enc: RowEncoder, row: Record<string, unknown>) => enc.encodeText(JSON.stringify(row))],
] as const;

describe.each(PATHS)("hostile properties, as %s: every case gives a loadable line", (_path, encodeWith) => {
  describe.each(["events", "persons"] as const)("%s.properties", (model) => {
    const rowOf = (source: string | null) =>
      model === "events" ? eventRow({ properties: source }) : personRow({ properties: source });
    it.each(HOSTILE_PROPERTIES.map((c) => [c.name, c] as const))("JSON variant: %s", (_name, c) => {
      const line = encodeWith(createRowEncoder(model, true), rowOf(c.source));
      const parsed = checkLine(model, true, line);
      expect(jsonTypeOf(parsed["properties"])).toBe(c.jsonType);
      if (!c.jsonParseDiffers) expect(parsed["properties"]).toEqual(c.json);
      if (c.jsonTextContains) expect(line).toContain(c.jsonTextContains);
    });

    it.each(HOSTILE_PROPERTIES.map((c) => [c.name, c] as const))("STRING variant: %s", (_name, c) => {
      const parsed = checkLine(model, false, encodeWith(createRowEncoder(model, false), rowOf(c.source)));
      expect(parsed["properties"]).toBe(c.string);
    });
  });

  // Every hostile value that is a JSON document, as the value of $set_once: it lands as it
  // would as a whole document.
  const asMembers = HOSTILE_PROPERTIES.filter(
    (c) => c.source !== null && jsonDocument(c.source).kind === "json" && c.jsonType !== null,
  );
  it.each(asMembers.map((c) => [c.name, c] as const))("events.set_once from $set_once: %s", (_name, c) => {
    const row = eventRow({ properties: `{"$set_once":${c.source ?? ""}}` });
    const line = encodeWith(createRowEncoder("events", true), row);
    const parsed = checkLine("events", true, line);
    expect(jsonTypeOf(parsed["set_once"])).toBe(c.jsonType);
    if (!c.jsonParseDiffers) expect(parsed["set_once"]).toEqual(c.json);
    if (c.jsonTextContains) expect(line).toContain(c.jsonTextContains);
    const asString = checkLine("events", false, encodeWith(createRowEncoder("events", false), row));
    expect(typeof asString["set_once"]).toBe("string");
  });
});

// PostHog's hostile test values (lone surrogates, numbers beyond int64, 1e400) anywhere in
// properties made ClickHouse's JSONExtract* return nothing for the whole document.
describe.each(PATHS)("set, set_once and ip come from properties, as %s", (_path, encodeWith) => {
  const SET = '"$set":{"email":"a@example.com"}';
  const REST = '"$set_once":{"first":1},"$ip":"203.0.113.7"';
  it.each([
    ["a lone surrogate escape elsewhere", `{"bad":"\\ud83e",${SET},${REST}}`],
    ["a raw lone surrogate elsewhere", `{"bad":"\ud83e",${SET},${REST}}`],
    ["an integer beyond int64 elsewhere", `{"big":123456789012345678901234567890,${SET},${REST}}`],
    ["1e400 elsewhere", `{"huge":1e400,${SET},${REST}}`],
    ["pretty-printed", `{\n  ${SET.replace(":", ": ")},\n  ${REST.replace(/,/g, ",\n  ")}\n}`],
    ["the members last after a deep value", `{"deep":${"[".repeat(100)}${"]".repeat(100)},${SET},${REST}}`],
    ["an escaped key", `{"\\u0024set":{"email":"a@example.com"},${REST}}`],
    ["duplicate keys (the first counts, as in BigQuery)", `{${SET},${REST},"$set":{"email":"b"},"$ip":"x"}`],
  ])("with %s", (_name, properties) => {
    for (const useJsonType of [true, false]) {
      const parsed = checkLine(
        "events",
        useJsonType,
        encodeWith(createRowEncoder("events", useJsonType), eventRow({ properties })),
      );
      const doc = (v: unknown) => (useJsonType ? v : JSON.parse(v as string));
      expect(doc(parsed["set"])).toEqual({ email: "a@example.com" });
      expect(doc(parsed["set_once"])).toEqual({ first: 1 });
      expect(parsed["ip"]).toBe("203.0.113.7");
    }
  });

  it.each([
    ["absent", "{}", null, null, null],
    ["JSON null and an empty ip", '{"$set":null,"$set_once":{},"$ip":""}', null, "{}", null],
    ["an ip that is not a string", '{"$ip":5,"$set":[1, 2]}', "[1,2]", null, null],
    ["a string $set", '{"$set":"a\\"b"}', '"a\\"b"', null, null],
    ["members only below the top level", '{"x":{"$set":{"a":1},"$ip":"1.2.3.4"}}', null, null, null],
    ["properties not a JSON object", '[{"$set":{"a":1}}]', null, null, null],
    ["properties invalid", '{"$set":{"a":1},"$ip":"1.2.3.4"', null, null, null],
    ["no properties", null, null, null, null],
    [
      "a lone surrogate in $set (STRING keeps the escape)",
      '{"$set":{"s":"\\ud83e"}}',
      '{"s":"\\ud83e"}',
      null,
      null,
    ],
    ["1e400 in $set (STRING keeps the digits)", '{"$set":{ "n" : 1e400 }}', '{"n":1e400}', null, null],
  ])("%s: STRING set/set_once/ip", (_name, properties, set, setOnce, ip) => {
    const parsed = checkLine(
      "events",
      false,
      encodeWith(createRowEncoder("events", false), eventRow({ properties })),
    );
    expect([parsed["set"], parsed["set_once"], parsed["ip"]]).toEqual([set, setOnce, ip]);
  });

  it("JSON set keeps a lone surrogate as U+FFFD and wide numbers as strings, as documents do", () => {
    const enc = createRowEncoder("events", true);
    const line = encodeWith(enc, eventRow({ properties: '{"$set":{"s":"\\ud83e","n":1e400}}' }));
    expect(checkLine("events", true, line)["set"]).toEqual({ s: "\uFFFD", n: "1e400" });
    // Counted once: in set (properties has them too, and counts its own).
    expect(enc.stats).toMatchObject({ loneSurrogates: 2, wideNumbers: 2 });
  });
});

describe("the line path", () => {
  it("writes what the object path writes, for ClickHouse's lines and for hostile ones", () => {
    const rows = [
      eventRow(),
      eventRow({ team_id: "9223372036854775807", distinct_id: 'quote " back \\ slash / \u2028' }),
      eventRow({ distinct_id: "a\udc00", event: null, elements: '""' }),
      eventRow({ properties: "", timestamp: "2026-11-25 10:00:00.5" }),
      ...HOSTILE_PROPERTIES.map((c) => eventRow({ properties: c.source })),
    ];
    for (const useJsonType of [true, false]) {
      const byObject = createRowEncoder("events", useJsonType);
      const byLine = createRowEncoder("events", useJsonType);
      for (const row of rows) {
        const line = JSON.stringify(row);
        expect(JSON.parse(byLine.encodeText(line))).toEqual(JSON.parse(byObject.encode(row)));
      }
      expect(byLine.stats).toEqual(byObject.stats);
    }
  });

  it("parses a line in any other shape (keys reordered, spaces) rather than misreading it", () => {
    const row = eventRow();
    const reordered = JSON.stringify(Object.fromEntries(Object.entries(row).reverse()));
    const spaced = JSON.stringify(row, null, 1).replace(/\n/g, "");
    const expected = createRowEncoder("events", true).encode(row);
    expect(createRowEncoder("events", true).encodeText(reordered)).toBe(expected);
    expect(createRowEncoder("events", true).encodeText(spaced)).toBe(expected);
  });

  it("copies ClickHouse's string literals as they are", () => {
    const line =
      '{"uuid":"0191e0a4-0000-7000-8000-000000000001","event":"a\\"b\\\\","properties":null,' +
      '"elements":"\\"\\"","distinct_id":"x\\u0001y","team_id":"1","site_url":"",' +
      '"timestamp":"2026-11-25T10:00:00.123456Z","bq_ingested_timestamp":"2026-11-25T11:00:05.000001Z"}';
    const out = createRowEncoder("events", false).encodeText(line);
    expect(out).toContain('"event":"a\\"b\\\\"');
    expect(out).toContain('"elements":"\\"\\""');
    expect(JSON.parse(out)).toMatchObject({ distinct_id: "x\u0001y", team_id: 1, set: null, ip: null });
  });
});

describe("JSON documents that are already fine are passed through unchanged", () => {
  it.each([
    ['{"a":1,"b":[true,false,null],"c":{"d":"e"}}'],
    ['{"$browser":"Firefox","$current_url":"https://example.com/?q=1&r=2"}'],
    ['{"n":-0.5e-3,"m":9007199254740993}'],
    ['  {"padded": "with spaces and\\ttabs"}  '],
  ])("%s", (text) => {
    const doc = jsonDocument(text);
    expect(doc).toEqual({ kind: "json", text });
    // Same string instance: nothing was rebuilt.
    expect(doc.kind === "json" && doc.text === text).toBe(true);
  });
});

describe("jsonNumberFits follows ZetaSQL's exact number mode", () => {
  // Outcomes observed with Google's ZetaSQL PARSE_JSON (reference implementation).
  it.each([
    ["0", true],
    ["-0", true],
    ["1.0", true],
    ["1.50", true],
    ["1E2", true],
    ["0.1", true],
    ["0.30000000000000004", true],
    ["9007199254740993", true],
    ["123456789012345678", true],
    ["18446744073709551615", true],
    ["-9223372036854775808", true],
    ["1.7976931348623157e308", true],
    ["5e-324", true],
    ["1e21", true],
    ["0.000001", true],
    ["123456789012345678901234567890", false],
    ["-9223372036854775809", false],
    ["18446744073709551616", false],
    ["1e400", false],
    ["1e-400", false],
    ["3.14159265358979323846", false],
    ["12345678901234567.5", false],
    ["9007199254740993.0", false],
  ])("%s → %s", (literal, fits) => {
    expect(jsonNumberFits(literal)).toBe(fits);
  });
});

describe("stats count what was changed", () => {
  it("counts invalid documents, wide numbers, lone surrogates and deep nesting", () => {
    const enc = createRowEncoder("events", true);
    enc.encode(eventRow({ properties: "{oops" }));
    enc.encode(eventRow({ properties: '{"$set":{"n":1e400,"m":1e401},"$set_once":"\\ud800"}' }));
    enc.encode(eventRow({ properties: "[".repeat(501) + "]".repeat(501), distinct_id: "a\udc00" }));
    expect(enc.stats).toMatchObject({
      rows: 3,
      invalidJson: 1,
      tooDeep: 1,
      // In properties, and again in the set/set_once taken from it.
      wideNumbers: 4,
      loneSurrogates: 3,
    });
  });
  it("keeps the earliest and latest event timestamp, as fixed-width text that sorts as time", () => {
    const enc = createRowEncoder("events", false);
    enc.encode(eventRow({ timestamp: "2026-11-25 10:00:00.5" }));
    enc.encode(eventRow({ timestamp: "2026-11-25T10:00:00Z" }));
    enc.encode(eventRow({ timestamp: "2026-11-25T09:59:59.999999Z" }));
    enc.encode(eventRow({ timestamp: "2026-11-25T10:00:00.000001Z" }));
    expect(enc.stats.timestampMin).toBe("2026-11-25T09:59:59.999999Z");
    expect(enc.stats.timestampMax).toBe("2026-11-25T10:00:00.500000Z");
    const persons = createRowEncoder("persons", false);
    expect(persons.stats.timestampMin).toBeUndefined();
  });
  it("500 levels are still a JSON document", () => {
    expect(jsonDocument("[".repeat(500) + "]".repeat(500)).kind).toBe("json");
  });
});

describe("STRING columns", () => {
  it.each([
    ["null stays NULL", null, null],
    ["undefined (missing key) is NULL", undefined, null],
    ["newline and NUL are escaped", "a\nb\u0000c", "a\nb\u0000c"],
    ["numbers become their decimal text", 42, "42"],
    ["lone surrogate becomes U+FFFD", "x\ud800", "x\uFFFD"],
    ["emoji kept", "👩‍👩‍👧", "👩‍👩‍👧"],
  ])("%s", (_name, input, expected) => {
    const parsed = checkLine("events", false, encodeRow("events", false, eventRow({ distinct_id: input })));
    expect(parsed["distinct_id"]).toBe(expected);
  });

  it("wellFormed returns the same string when there is nothing to fix", () => {
    const s = "plain ascii and 🎉";
    expect(wellFormed(s)).toBe(s);
  });
});

describe("INT64 columns", () => {
  it.each([
    ["a number", 7, "7"],
    ["a decimal string", "7", "7"],
    ["a negative string", "-12", "-12"],
    ["2^53 + 1 as a string is quoted", "9007199254740993", '"9007199254740993"'],
    ["int64 max as a bigint is quoted", 9223372036854775807n, '"9223372036854775807"'],
    ["null", null, "null"],
  ])("%s", (_name, input, fragment) => {
    const line = encodeRow("persons", false, personRow({ person_version: input }));
    checkLine("persons", false, line);
    expect(line).toContain(`"person_version":${fragment},`);
  });

  it.each([
    ["a fraction", 1.5],
    ["an unsafe number", 2 ** 60],
    ["beyond int64", "9223372036854775808"],
    ["not a number", "7a"],
    ["a leading zero", "007"],
    ["a boolean", true],
  ])("rejects %s with SOURCE_FAILED naming the column", (_name, input) => {
    try {
      encodeRow("persons", false, personRow({ person_distinct_id_version: input }));
      expect.unreachable();
    } catch (err) {
      expect(isExportError(err) && err.code).toBe("SOURCE_FAILED");
      expect(isExportError(err) && err.retryable).toBe(false);
      expect((err as Error).message).toContain("person_distinct_id_version");
    }
  });
});

describe("TIMESTAMP columns", () => {
  it.each([
    ["canonical ISO with micros", "2026-11-25T10:00:00.123456Z", "2026-11-25T10:00:00.123456Z"],
    ["ISO without fraction", "2026-11-25T10:00:00Z", "2026-11-25T10:00:00Z"],
    ["ClickHouse DateTime64(6) text (UTC)", "2026-11-25 10:00:00.123456", "2026-11-25T10:00:00.123456Z"],
    ["nanoseconds truncated to micros", "2026-11-25T10:00:00.123456789Z", "2026-11-25T10:00:00.123456Z"],
    ["explicit +00:00", "2026-11-25T10:00:00+00:00", "2026-11-25T10:00:00Z"],
    ["a Date", new Date("2026-11-25T10:00:00.5Z"), "2026-11-25T10:00:00.500Z"],
    ["null", null, null],
  ])("%s", (_name, input, expected) => {
    const parsed = checkLine("events", true, encodeRow("events", true, eventRow({ timestamp: input })));
    expect(parsed["timestamp"]).toBe(expected);
  });

  it.each([
    ["a non-UTC offset", "2026-11-25T10:00:00+02:00"],
    ["garbage", "yesterday"],
    ["an invalid Date", new Date("nope")],
    ["epoch seconds", 1764064800],
  ])("rejects %s with SOURCE_FAILED", (_name, input) => {
    expect(() => encodeRow("events", true, eventRow({ bq_ingested_timestamp: input }))).toThrow(
      /bq_ingested_timestamp/,
    );
  });
});

describe("whole rows", () => {
  it("encode an events row with the model's columns in the seed's order", () => {
    const line = encodeRow("events", true, eventRow({ extra_column: "ignored" }));
    const parsed = checkLine("events", true, line);
    expect(parsed).toEqual({
      uuid: "0191e0a4-0000-7000-8000-000000000001",
      event: "$pageview",
      properties: {
        $browser: "Firefox",
        $set: { email: "a@example.com" },
        $set_once: {},
        $ip: "127.0.0.1",
      },
      elements: "",
      set: { email: "a@example.com" },
      set_once: {},
      distinct_id: "user-1",
      team_id: 1,
      ip: "127.0.0.1",
      site_url: "",
      timestamp: "2026-11-25T10:00:00.123456Z",
      bq_ingested_timestamp: "2026-11-25T11:00:05.000001Z",
    });
  });

  it("encode a persons row in both variants", () => {
    const asJson = checkLine("persons", true, encodeRow("persons", true, personRow()));
    const asString = checkLine("persons", false, encodeRow("persons", false, personRow()));
    expect(asJson["properties"]).toEqual({ email: "a@example.com" });
    expect(asString["properties"]).toBe('{"email":"a@example.com"}');
    expect(asJson["person_distinct_id_version"]).toBe(7);
  });

  it("treat missing keys as NULL", () => {
    const parsed = checkLine("persons", true, encodeRow("persons", true, { team_id: 1, distinct_id: "d" }));
    expect(parsed["properties"]).toBeNull();
    expect(parsed["person_version"]).toBeNull();
  });
});
