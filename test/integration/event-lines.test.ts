// Events as "lines" on the real ClickHouse engine (chdb): ClickHouse writes the
// finished NDJSON line of every plain row, and hands the rest to the encoder.
// Whichever way a row goes, the load must get what the encoder writes for it.
import { gunzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stageLines } from "../../functions/src/app/stage-rows.js";
import { jsonDocumentWithMembers, wellFormed } from "../../functions/src/core/json-text.js";
import { createRowEncoder } from "../../functions/src/core/rows.js";
import { RAW_ROW_MARKER } from "../../functions/src/core/source-sql.js";
import { dt64, fixtureEventsQuery, unixSeconds } from "../fixtures/posthog-fixtures.js";
import { HOSTILE_PROPERTIES } from "../fixtures/hostile-properties.js";
import { openPosthogSession, type ChdbPosthog } from "../helpers/chdb-session.js";
import { MemoryStore } from "../helpers/fakes/memory-store.js";

const TEAM = 77;
const MEMBERS = new Set(["set", "set_once"]);
type Row = Record<string, unknown>;

/** Documents ClickHouse should finish itself (plain), and ones it must leave to the encoder. */
const PLAIN: [string, string][] = [
  [
    "a PostHog pageview",
    JSON.stringify({
      $current_url: "https://example.com/a/b?q=1&r=2",
      $browser: "Firefox",
      $session_id: "0191e0a4-1e5a-7000-8000-000000000001",
      $time: 1764064800.123,
      $screen_width: 1920,
      $set: { email: "ada@example.com", plan: "pro" },
      $set_once: { initial_referrer: "$direct" },
      $ip: "203.0.113.7",
      title: "Winter sale — 20% off 🎉",
      tags: ["sale", null, true, -3, 0.25],
    }),
  ],
  ["spaces and tabs between tokens", '{ "a" :\t[1, 2],  "$set" : { "x" : 1.5, "y": [0.25, -3] } }'],
  ["escaped quotes and backslashes", '{"t":"a\\"b\\\\c","$set":{"k":"q\\"r"},"$ip":"1.2.3.4"}'],
  ["a fraction ending in 0 without $set", '{"price":10.0,"z":-0}'],
  ["duplicate keys (the first counts)", '{"$set":{"a":1},"$ip":"x","$set":{"b":2},"$ip":"y"}'],
  ["JSON null members and an empty ip", '{"$set":null,"$set_once":{},"$ip":""}'],
  ["a non-string ip", '{"$ip":5}'],
  ["a top-level array", '[{"$set":{"a":1}}]'],
  ["the literal null", "null"],
  ["an int64 that fits, 15 digits", '{"n":123456789012345}'],
  ["no properties", ""],
];
const ENCODER: [string, string][] = [
  ["\\u escapes (one spells a key)", '{"t":"d\\u00e9\\u0001","\\u0024set":{"k":"\\u00e9"},"$ip":"1.2.3.4"}'],
  ["an escaped slash", '{"$set":{"u":"a\\/b"}}'],
  ["numbers JSONExtractRaw respells, in $set", '{"$set":{"price":10.0,"z":-0,"w":2.50}}'],
  ["a raw line separator where $set is", '{"$set":{"s":"p\u2028q"}}'],
  ["a top-level tiny number", "1e-400"],
  ["a top-level long decimal", "123456789012345678901234567890.5"],
  ["a lone surrogate escape", '{"$set":{"a":1},"bad":"\\ud83e"}'],
  ["a surrogate pair escape", '{"e":"\\ud83d\\ude00","$ip":"1.2.3.4"}'],
  ["a number beyond int64", '{"big":123456789012345678901234567890,"$set":{"a":1}}'],
  ["1e400", '{"huge":1e400,"$ip":"9.9.9.9"}'],
  ["an exponent", '{"x":[2E3]}'],
  ["a pretty-printed document", '{\n  "$set": {"a": 1}\n}'],
  ["invalid JSON", '{"$set":{"a":1}'],
  ["a raw tab inside a string", '{"a":"x\ty"}'],
  ["deeper than 500 levels", "[".repeat(501) + "]".repeat(501)],
];

let ch: ChdbPosthog;
const docs: { name: string; text: string; plain: boolean | undefined }[] = [
  ...PLAIN.map(([name, text]) => ({ name, text, plain: true })),
  ...ENCODER.map(([name, text]) => ({ name, text, plain: false })),
  // ClickHouse holds bytes: a raw lone surrogate (a JS string's) has no UTF-8 to insert.
  ...HOSTILE_PROPERTIES.filter((c) => c.source !== null && wellFormed(c.source) === c.source).map((c) => ({
    name: `hostile: ${c.name}`,
    text: c.source as string,
    plain: undefined,
  })),
];
const uuidOf = (i: number) => `0193aa00-0000-7000-8000-${String(i).padStart(12, "0")}`;

beforeAll(async () => {
  ch = openPosthogSession();
  const at = "2026-11-25T10:30:00.123456Z";
  await ch.insert(
    "events",
    docs.map((d, i) => ({
      uuid: uuidOf(i),
      event: i % 3 === 0 ? 'quote " and \\ back' : "$pageview",
      properties: d.text,
      timestamp: dt64(at.replace("30:00", `30:${String(i % 60).padStart(2, "0")}`)),
      team_id: TEAM,
      distinct_id: i % 4 === 0 ? "line\nbreak 横浜" : `user-${i}`,
      elements_chain: i % 5 === 0 ? 'a:text="x"' : "",
      created_at: dt64(at),
      person_id: "018f0000-0000-7000-8000-0000000000a1",
      person_properties: "{}",
      _timestamp: unixSeconds(at),
      _offset: 1,
      inserted_at: dt64(at),
    })),
  );
});
// An event name ending inside a UTF-8 character whose rest starts the distinct_id: each is
// invalid UTF-8, though the two joined are not.
const SPLIT_UTF8 = uuidOf(9999);
const SPLIT_DOC = { name: "invalid UTF-8 split across event and distinct_id", text: "{}", plain: false };

beforeAll(async () => {
  await ch.query(
    `INSERT INTO posthog.events (uuid, event, properties, timestamp, team_id, distinct_id, elements_chain,
       created_at, person_id, person_properties, _timestamp, _offset, inserted_at)
     SELECT toUUID('${SPLIT_UTF8}'), unhex('61C3'), '{}', toDateTime64('2026-11-25 10:31:00', 6, 'UTC'), ${TEAM},
       unhex('A962'), '', now64(), toUUID('018f0000-0000-7000-8000-0000000000a1'), '{}',
       toDateTime('2026-11-25 10:31:00', 'UTC'), 1, toDateTime64('2026-11-25 10:31:00', 6, 'UTC')`,
  );
});
afterAll(() => ch?.close());

const docOf = (uuid: unknown) => (uuid === SPLIT_UTF8 ? SPLIT_DOC : docs[Number(String(uuid).slice(-12))]!);

async function read(useJsonType: boolean | undefined): Promise<string[]> {
  const q = fixtureEventsQuery({
    teamId: TEAM,
    ...(useJsonType === undefined ? {} : { lines: { useJsonType } }),
  });
  const text = await ch.queryText(q.sql, q.params, q.output === "lines" ? "TabSeparatedRaw" : "JSONEachRow");
  return text.split("\n").filter((l) => l.length > 0);
}

const uuidIn = (line: string) =>
  (JSON.parse(line.startsWith(RAW_ROW_MARKER) ? line.slice(1) : line) as Row).uuid;

describe.each([true, false])("events as lines, useJsonType %s", (useJsonType) => {
  let bySource: Map<unknown, string>;
  let lines: string[];
  beforeAll(async () => {
    bySource = new Map((await read(undefined)).map((l) => [uuidIn(l), l]));
    lines = await read(useJsonType);
  });

  it("has one line per source row", () => {
    expect(lines).toHaveLength(docs.length + 1);
    expect(new Set(lines.map(uuidIn))).toEqual(new Set(bySource.keys()));
  });

  it("finishes plain rows in ClickHouse and leaves the others to the encoder", () => {
    for (const [i, d] of docs.entries()) {
      const line = lines.find((l) => uuidIn(l) === uuidOf(i))!;
      const finished = !line.startsWith(RAW_ROW_MARKER);
      // Rows whose distinct_id or event needs nothing either way: the document decides.
      if (d.plain !== undefined) expect(finished, d.name).toBe(d.plain);
    }
    expect(lines.find((l) => uuidIn(l) === SPLIT_UTF8)?.startsWith(RAW_ROW_MARKER), SPLIT_DOC.name).toBe(
      true,
    );
    expect(lines.filter((l) => !l.startsWith(RAW_ROW_MARKER)).length).toBeGreaterThanOrEqual(PLAIN.length);
  });

  it("loads what the encoder writes for the source row, whichever way the row went", () => {
    const viaLines = createRowEncoder("events", useJsonType);
    const viaSource = createRowEncoder("events", useJsonType);
    for (const line of lines) {
      const uuid = uuidIn(line);
      const d = docOf(uuid);
      const gotLine = viaLines.encodeLine(line);
      const wantLine = viaSource.encodeText(bySource.get(uuid)!);
      const got = JSON.parse(gotLine) as Row;
      const want = JSON.parse(wantLine) as Row;
      expect(Object.keys(got), d.name).toEqual(Object.keys(want));
      for (const key of Object.keys(want)) expect(got[key], `${d.name}: ${key}`).toEqual(want[key]);
      // set/set_once as spelled in the line (JSON.parse would read 10.0 and 10 alike).
      const spelled = (text: string) => jsonDocumentWithMembers(text, MEMBERS).members;
      expect(spelled(gotLine), d.name).toEqual(spelled(wantLine));
    }
    expect(viaLines.stats.rows).toBe(viaSource.stats.rows);
    expect(viaLines.stats.finishedLines).toBe(lines.filter((l) => !l.startsWith(RAW_ROW_MARKER)).length);
    expect([viaLines.stats.timestampMin, viaLines.stats.timestampMax]).toEqual([
      viaSource.stats.timestampMin,
      viaSource.stats.timestampMax,
    ]);
  });

  it("stages the answer's bytes, cut anywhere, as encodeLine writes its lines", async () => {
    const byLine = createRowEncoder("events", useJsonType);
    const expected = lines.map((l) => `${byLine.encodeLine(l)}\n`).join("");
    const answer = Buffer.from(lines.map((l) => `${l}\n`).join(""), "utf8");
    async function* chunks(): AsyncIterable<Buffer> {
      for (let at = 0; at < answer.length; at += 333)
        yield await Promise.resolve(answer.subarray(at, at + 333));
    }
    const store = new MemoryStore();
    const encoder = createRowEncoder("events", useJsonType);
    const staged = await stageLines({ chunks: chunks(), encoder, store, prefix: "p/", partBytes: 4096 });
    const text = Buffer.concat(staged.files.map((f) => gunzipSync(store.bytes(f)!))).toString("utf8");
    expect(text).toBe(expected);
    expect(encoder.stats).toEqual(byLine.stats);
  });
});
