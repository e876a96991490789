// Micro-benchmark of NDJSON row encoding (not a test): rows/s and MB/s for
// both variants, from the source's JSONEachRow line (encodeText, the product's
// path) and from JSON.parse of the line (encode, the object path), against
// two floors: JSON.parse + JSON.stringify of the row as it comes (no checks
// at all) and the naive JSON variant (JSON.parse the line and the document,
// JSON.stringify the row).
//   npx tsx test/bench/rows-bench.ts [rows]
import { createRowEncoder } from "../../functions/src/core/rows.js";

const ROWS = Number(process.argv[2] ?? 100_000);

function properties(i: number): string {
  // A PostHog-like event: ~1.2 KB of properties, some unicode, nested objects.
  return JSON.stringify({
    $browser: i % 2 ? "Firefox" : "Chrome",
    $browser_version: 120 + (i % 7),
    $os: "Mac OS X",
    $current_url: `https://example.com/products/${i}?utm_source=newsletter&utm_campaign=winter`,
    $pathname: `/products/${i}`,
    $referrer: "https://www.google.com/",
    $screen_height: 1080,
    $screen_width: 1920,
    $session_id: `0191e0a4-${String(i).padStart(4, "0")}-7000-8000-000000000000`,
    $lib: "web",
    $lib_version: "1.150.0",
    $insert_id: `ins-${i}-abcdefghijklmnop`,
    $time: 1764064800.123 + i,
    title: "Winter sale — 20% off 🎉",
    price: 19.99,
    tags: ["sale", "winter", "featured"],
    experiment: { name: "checkout-v2", variant: i % 3 === 0 ? "control" : "test", exposure: true },
    $set: { email: `user${i}@example.com`, plan: "pro" },
    $set_once: {},
    $ip: "203.0.113.7",
    padding: "lorem ipsum dolor sit amet ".repeat(20),
  });
}

function makeRows(n: number): Record<string, unknown>[] {
  const rows: Record<string, unknown>[] = [];
  for (let i = 0; i < n; i++) {
    rows.push({
      uuid: `0191e0a4-0000-7000-8000-${String(i).padStart(12, "0")}`,
      event: i % 5 === 0 ? "$autocapture" : "$pageview",
      properties: properties(i),
      elements: "",
      distinct_id: `user-${i % 10_000}`,
      team_id: "1",
      site_url: "",
      timestamp: "2026-11-25T10:00:00.123456Z",
      bq_ingested_timestamp: "2026-11-25T11:00:05.000001Z",
    });
  }
  return rows;
}

type Encode = (line: string) => string;

/** Rows/s and chars/s of one pass over all rows. */
function pass(rows: string[], encode: Encode): { rate: number; charsPerSecond: number } {
  const t0 = process.hrtime.bigint();
  let chars = 0;
  for (const r of rows) chars += encode(r).length + 1;
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  return { rate: rows.length / seconds, charsPerSecond: chars / seconds };
}

/**
 * Rounds alternate between the contenders so a busy machine (other processes
 * on the same cores) slows them alike; the median round is reported.
 */
function compare(rows: string[], contenders: [string, Encode][], rounds = 5): void {
  for (const [, encode] of contenders) pass(rows.slice(0, 20_000), encode); // JIT warm-up
  const results = new Map<string, { rate: number; charsPerSecond: number }[]>(
    contenders.map(([n]) => [n, []]),
  );
  for (let round = 0; round < rounds; round++) {
    for (const [name, encode] of contenders) results.get(name)?.push(pass(rows, encode));
  }
  for (const [name, runs] of results) {
    const sorted = [...runs].sort((a, b) => a.rate - b.rate);
    const median = sorted[Math.floor(sorted.length / 2)]!;
    console.log(
      `${name.padEnd(44)} ${Math.round(median.rate).toLocaleString("en-US").padStart(10)} rows/s ${(median.charsPerSecond / 1e6).toFixed(0).padStart(6)} M chars/s`,
    );
  }
}

const objects = makeRows(ROWS);
const avg = objects.reduce((n, r) => n + (r["properties"] as string).length, 0) / objects.length;
// As ClickHouse sends them: one JSONEachRow line per row.
const rows = objects.map((r) => JSON.stringify(r));
const parse = (line: string) => JSON.parse(line) as Record<string, unknown>;
console.log(
  `${ROWS.toLocaleString("en-US")} events rows, properties ≈ ${Math.round(avg)} chars, Node ${process.version}`,
);

const asJson = createRowEncoder("events", true);
const asString = createRowEncoder("events", false);
const objectJson = createRowEncoder("events", true);
compare(rows, [
  ["floor: JSON.parse + JSON.stringify unchecked", (l) => JSON.stringify(parse(l))],
  [
    "naive JSON variant: parse line and doc, stringify",
    (l) => {
      const r = parse(l);
      const properties = JSON.parse(r["properties"] as string) as Record<string, unknown>;
      return JSON.stringify({ ...r, properties, set: properties["$set"], set_once: properties["$set_once"] });
    },
  ],
  ["encode(JSON.parse(line)), JSON variant", (l) => objectJson.encode(parse(l))],
  ["encodeText(line), JSON variant", (l) => asJson.encodeText(l)],
  ["encodeText(line), STRING variant", (l) => asString.encodeText(l)],
]);
console.log("changes made (JSON variant):", asJson.stats);
