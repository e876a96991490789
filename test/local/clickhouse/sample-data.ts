// Deterministic PostHog-shaped sample data, generated inside ClickHouse with
// INSERT ... SELECT FROM numbers(N): every value is a pure function of
// (seed, row number) through sipHash64/sipHash128, so the same seed gives the
// same rows on chdb and on a real ClickHouse, and 1M events take seconds, not
// minutes of JS.
//
// What is in it:
// - teams 1..T (skewed: the first teams are busier);
// - persons with 1-3 distinct_ids (an anonymous id, an email, a user handle),
//   1-4 versions each (properties change over time), a few deleted;
// - person_distinct_id2 rows, some with two versions (the id first pointed at
//   an anonymous person that was later merged into the current one), and a
//   newer is_deleted = 1 version for the ids of deleted persons;
// - events: $pageview/$autocapture/$pageleave/$identify/custom events, with
//   properties JSON holding strings with quotes, backslashes, newlines and
//   unicode, numbers, booleans, null, nested objects and arrays, sometimes
//   $set/$set_once; elements_chain on $autocapture;
// - ingestion times: inserted_at (and _timestamp, the Kafka time) a few
//   seconds after `timestamp`, hours to days after it for late arrivals, NULL
//   inserted_at for a few legacy rows;
// - duplicates: copies of some events (same uuid and payload) ingested again later.
import type { ClickHouseClient } from "@clickhouse/client";
import { posthogSchemaDdl } from "./posthog-schema.js";
import { sqlIdentifier, sqlString } from "./request.js";

/** Where the data goes: the local server, or a real ClickHouse (see clientTarget). */
export interface SqlTarget {
  exec(sql: string): Promise<void>;
  queryRows<T>(sql: string): Promise<T[]>;
}

/** Seeds through @clickhouse/client: the local server over HTTP, or a real ClickHouse. */
export function clientTarget(client: ClickHouseClient): SqlTarget {
  return {
    async exec(sql) {
      await client.command({ query: sql });
    },
    async queryRows<T>(sql: string) {
      const result = await client.query({ query: sql, format: "JSONEachRow" });
      return result.json<T>();
    },
  };
}

export interface SampleDataOptions {
  /** Distinct events to generate (duplicates come on top). */
  events: number;
  /** Number of teams, ids firstTeamId.. (default 3). */
  teams?: number;
  firstTeamId?: number;
  seed?: number;
  /** Event timestamps fall in [start, end). */
  start: Date;
  end: Date;
  /** Share of events ingested 1 h to 3 days after their timestamp (default 0.02). */
  lateFraction?: number;
  /** Share of events ingested a second time with the same uuid (default 0.001). */
  duplicateFraction?: number;
  /** Share of events with NULL inserted_at, as rows written before the column existed (default 0.002). */
  nullInsertedAtFraction?: number;
  /** Events per person on average (default 25). */
  eventsPerPerson?: number;
  /** Database holding PostHog's tables, created if missing (default "posthog"). */
  database?: string;
}

export interface TeamSummary {
  teamId: number;
  /** Rows in events, duplicates included. */
  eventRows: number;
  distinctUuids: number;
  lateEvents: number;
  persons: number;
  distinctIds: number;
  minTimestamp: string;
  maxTimestamp: string;
  minInsertedAt: string | null;
  maxInsertedAt: string | null;
}

export interface SampleDataSummary {
  database: string;
  seed: number;
  events: number;
  eventRows: number;
  duplicateRows: number;
  persons: number;
  personRows: number;
  distinctIdRows: number;
  teams: TeamSummary[];
}

const MICROS_PER_SECOND = 1_000_000;
// Properties as PostHog's ingestion writes them (JSON.stringify: "/" unescaped).
const JSON_SETTINGS = "output_format_json_escape_forward_slashes = 0";
const MICROS_PER_HOUR = 3600 * MICROS_PER_SECOND;
const MICROS_PER_DAY = 24 * MICROS_PER_HOUR;

function list(values: readonly string[]): string {
  return `[${values.map(sqlString).join(", ")}]`;
}

/** SQL for one deterministic pick from `values` driven by the hash expression `h`. */
function pick(values: readonly string[], h: string): string {
  return `${list(values)}[1 + (${h}) % ${values.length}]`;
}

function fraction(value: number, name: string): number {
  if (!(value >= 0 && value <= 1)) throw new RangeError(`${name} must be within [0, 1], got ${value}`);
  return value;
}

const BROWSERS = ["Chrome", "Safari", "Firefox", "Microsoft Edge", "Samsung Internet", "Opera"];
const OSES = ["Mac OS X", "Windows", "iOS", "Android", "Linux", "Chrome OS"];
const PATHS = [
  "/",
  "/pricing",
  "/docs/getting-started",
  "/blog/ça-marche",
  "/signup?ref=hn&utm_source=news",
  "/app/insights/42",
];
const HOSTS = ["https://app.example.com", "https://www.example.com", "https://example.co.jp"];
const COUNTRIES = ["US", "GB", "DE", "FR", "JP", "BR", "IN"];
const PLANS = ["free", "startup", "scale", "enterprise"];
const TITLES = [
  "Home",
  "Pricing — Example",
  'He said "hi" \\ then left',
  "Café ☕ 日本語 🚀",
  "multi\nline\ttitle",
  "Ünïcödé Ω≈ç√",
];
const CUSTOM_EVENTS = ["signed_up", "purchase", "feature_flag_called", "insight viewed", "dashboard_created"];
const ELEMENT_CHAINS = [
  'button.btn.btn-primary:attr__class="btn btn-primary"nth-child="2"nth-of-type="1"text="Sign up";div.hero:nth-child="1"nth-of-type="1";body:nth-child="2"nth-of-type="1"',
  'a:attr__href="/pricing"href="/pricing"nth-child="3"nth-of-type="3"text="Pricing";nav.top:nth-child="1"nth-of-type="1"',
  'span:nth-child="1"nth-of-type="1"text="Café ☕";button.cta:attr__data-attr="buy"nth-child="1"nth-of-type="1"',
];

/** The SQL expressions shared by the three tables: everything about person `p` is a function of (seed, p). */
class Expressions {
  constructor(
    private readonly seed: number,
    private readonly teams: number,
    private readonly firstTeamId: number,
  ) {}

  h(tag: string, ...args: string[]): string {
    return `sipHash64(${this.seed}, ${sqlString(tag)}, ${args.join(", ")})`;
  }

  /** Uniform in [0, 1). */
  u(tag: string, ...args: string[]): string {
    return `(${this.h(tag, ...args)} / 18446744073709551616.0)`;
  }

  /** A version-4-shaped UUID from a 128-bit hash. */
  uuid(tag: string, ...args: string[]): string {
    const hex = `hex(sipHash128(${this.seed}, ${sqlString(tag)}, ${args.join(", ")}))`;
    return `toUUID(concat(substring(${hex}, 1, 8), '-', substring(${hex}, 9, 4), '-4', substring(${hex}, 14, 3), '-a', substring(${hex}, 18, 3), '-', substring(${hex}, 21, 12)))`;
  }

  /** Busier teams first: team index skewed by a power law. */
  team(p: string): string {
    return `(${this.firstTeamId} + toInt64(floor(${this.teams} * pow(${this.u("team", p)}, 1.7))))`;
  }

  personUuid(p: string): string {
    return this.uuid("person", p);
  }

  /** The anonymous person a distinct_id belonged to before it was merged. */
  orphanUuid(p: string): string {
    return this.uuid("orphan", p);
  }

  distinctCount(p: string): string {
    return `(1 + ${this.h("ndid", p)} % 3)`;
  }

  merged(p: string): string {
    return `(${this.h("merged", p)} % 4 = 0)`;
  }

  /** The j-th distinct_id of person p: anonymous id, email, handle. `anon` may be a precomputed column. */
  distinctId(p: string, j: string, anon = `toString(${this.uuid("anon", p)})`): string {
    return `multiIf(${j} = 0, ${anon}, ${j} = 1, ${this.email(p)}, concat('user_', toString(${p})))`;
  }

  /** A few persons end deleted: their last version and their distinct_ids say so. */
  deleted(p: string): string {
    return `(${this.h("deleted", p)} % 200 = 0)`;
  }

  versions(p: string): string {
    return `(1 + ${this.h("nver", p)} % 4)`;
  }

  email(p: string): string {
    return `concat('user', toString(${p}), '@example.com')`;
  }

  personProperties(p: string, v: string): string {
    return `concat('{"email":', toJSONString(${this.email(p)}),
      ',"name":', toJSONString(concat(${pick(["Ana", "Björn", "Chloé", "Dmitri", "Eun-ji", "Fátima"], this.h("name", p))}, ' ', toString(${p}))),
      ',"plan":', toJSONString(${pick(PLANS, `${this.h("plan", p)} + ${v}`)}),
      ',"logins":', toString(${v} * 3 + 1),
      ',"$initial_browser":', toJSONString(${pick(BROWSERS, this.h("browser", p))}),
      ',"$geoip_country_code":', toJSONString(${pick(COUNTRIES, this.h("country", p))}),
      ',"company":{"name":', toJSONString(concat('Acme ', toString(${p} % 97))), ',"size":', toString(1 + ${this.h("size", p)} % 5000), '}',
      ',"tags":', if(${v} % 2 = 0, '["beta","early adopter"]', '[]'),
      '}')`;
  }

  /** Person p's time of creation, in microseconds, up to 30 days before the window. */
  createdUs(p: string, startUs: number): string {
    return `(${startUs} - toInt64(${this.h("created", p)} % ${30 * MICROS_PER_DAY}))`;
  }
}

async function ensureSchema(target: SqlTarget, database: string): Promise<void> {
  for (const ddl of posthogSchemaDdl(database)) await target.exec(ddl);
}

/**
 * Generates the sample data into `target` (tables created if missing) and returns
 * what landed, per team. Same options → same rows.
 */
export async function generateSampleData(
  target: SqlTarget,
  opts: SampleDataOptions,
): Promise<SampleDataSummary> {
  const events = Math.floor(opts.events);
  if (!(events >= 0)) throw new RangeError(`events must be >= 0, got ${opts.events}`);
  const teams = Math.max(1, Math.floor(opts.teams ?? 3));
  const firstTeamId = Math.floor(opts.firstTeamId ?? 1);
  const seed = Math.floor(opts.seed ?? 1) >>> 0;
  const startUs = opts.start.getTime() * 1000;
  const endUs = opts.end.getTime() * 1000;
  if (!(endUs > startUs)) throw new RangeError("end must be after start");
  const late = fraction(opts.lateFraction ?? 0.02, "lateFraction");
  const dup = fraction(opts.duplicateFraction ?? 0.001, "duplicateFraction");
  const nullInserted = fraction(opts.nullInsertedAtFraction ?? 0.002, "nullInsertedAtFraction");
  const persons = Math.max(1, Math.ceil(events / Math.max(1, opts.eventsPerPerson ?? 25)));
  const database = opts.database ?? "posthog";
  const db = sqlIdentifier(database);
  const x = new Expressions(seed, teams, firstTeamId);
  const spanUs = endUs - startUs;

  await ensureSchema(target, database);

  // person and person_distinct_id2 are ReplacingMergeTree: versions written in one
  // INSERT collapse at once, so each version goes in its own INSERT (its own part),
  // the way they arrive in PostHog. Background merges may collapse them later:
  // readers must take the highest version (argMax / FINAL), as in production.
  const maxVersions = 4;
  for (let version = 0; version < maxVersions; version++) {
    await target.exec(`
      INSERT INTO ${db}.person (id, created_at, team_id, properties, is_identified, is_deleted, version, _timestamp, _offset)
      SELECT id, fromUnixTimestamp64Milli(intDiv(created_us, 1000), 'UTC'), team_id, properties,
             is_identified, is_deleted, ${version}, toDateTime(intDiv(ts_us, 1000000), 'UTC'), _offset
      FROM (
        SELECT number AS p,
               ${x.personUuid("p")} AS id,
               ${x.createdUs("p", startUs)} AS created_us,
               ${x.versions("p")} AS nver,
               created_us + intDiv((${endUs} - created_us) * ${version}, nver) AS ts_us,
               ${x.team("p")} AS team_id,
               ${x.personProperties("p", String(version))} AS properties,
               toInt8(${x.distinctCount("p")} > 1) AS is_identified,
               toInt8(${version} = nver - 1 AND ${x.deleted("p")}) AS is_deleted,
               p * ${maxVersions} + ${version} AS _offset
        FROM numbers(${persons})
        WHERE ${version} < nver
      )
      SETTINGS ${JSON_SETTINGS}`);
  }

  // person_distinct_id2: merged ids first pointed (version 0) at an orphan person.
  for (const ver of [0, 1]) {
    await target.exec(`
      INSERT INTO ${db}.person_distinct_id2 (team_id, distinct_id, person_id, is_deleted, version, _timestamp, _offset, _partition)
      SELECT team_id, distinct_id, person_id, 0, ${ver}, toDateTime(intDiv(ts_us, 1000000), 'UTC'), _offset, _offset % 16
      FROM (
        SELECT number AS p, j,
               ${x.team("p")} AS team_id,
               ${x.distinctId("p", "j")} AS distinct_id,
               j = 1 AND ${x.merged("p")} AS merged,
               if(${ver} = 0 AND merged, ${x.orphanUuid("p")}, ${x.personUuid("p")}) AS person_id,
               ${x.createdUs("p", startUs)} + ${ver} * ${MICROS_PER_HOUR} + j * ${MICROS_PER_SECOND} AS ts_us,
               p * 8 + j * 2 + ${ver} AS _offset
        FROM numbers(${persons})
        ARRAY JOIN range(${x.distinctCount("number")}) AS j
        WHERE ${ver} = 0 OR merged
      )`);
  }

  // Deleted persons: each of their distinct_ids gets a newer, is_deleted = 1 version,
  // written when the person's last (deleted) version was.
  await target.exec(`
    INSERT INTO ${db}.person_distinct_id2 (team_id, distinct_id, person_id, is_deleted, version, _timestamp, _offset, _partition)
    SELECT team_id, distinct_id, person_id, 1, version, toDateTime(intDiv(ts_us, 1000000), 'UTC'), _offset, _offset % 16
    FROM (
      SELECT number AS p, j,
             ${x.team("p")} AS team_id,
             ${x.distinctId("p", "j")} AS distinct_id,
             ${x.personUuid("p")} AS person_id,
             if(j = 1 AND ${x.merged("p")}, 2, 1) AS version,
             ${x.createdUs("p", startUs)} AS created_us,
             ${x.versions("p")} AS nver,
             created_us + intDiv((${endUs} - created_us) * (nver - 1), nver) + ${MICROS_PER_SECOND} AS ts_us,
             p * 8 + 5 + j AS _offset
      FROM numbers(${persons})
      ARRAY JOIN range(${x.distinctCount("number")}) AS j
      WHERE ${x.deleted("p")}
    )`);

  // events: per-event hashes joined to per-person values (computed once per
  // person, not once per event: this is most of the generation time).
  const lateCut = Math.round(late * 1e6);
  const nullCut = Math.round(nullInserted * 1e6);
  await target.exec(`
    INSERT INTO ${db}.events (uuid, event, properties, timestamp, team_id, distinct_id, elements_chain,
                              created_at, person_id, person_properties, _timestamp, _offset, inserted_at)
    SELECT uuid, event, properties, fromUnixTimestamp64Micro(ts_us, 'UTC'), team_id, distinct_id, elements_chain,
           fromUnixTimestamp64Micro(ingest_us, 'UTC'), person_id, person_properties,
           toDateTime(intDiv(ingest_us, 1000000), 'UTC'), n,
           if(legacy, NULL, fromUnixTimestamp64Micro(ingest_us + 1000 + toInt64(hi % 9000), 'UTC'))
    FROM (
      SELECT *,
             did_h % ndid AS j,
             ${x.distinctId("p", "j", "anon_id")} AS distinct_id,
             concat('{"$browser":', toJSONString(browser),
                    ',"$os":', toJSONString(os),
                    ',"$current_url":', toJSONString(url),
                    ',"$host":', toJSONString(domain(url)),
                    ',"$pathname":', toJSONString(path(url)),
                    ',"$ip":', toJSONString(ip),
                    ',"$lib":"web","$lib_version":"1.187.2"',
                    ',"$screen_width":', screen,
                    ',"$referrer":', if(hi % 3 = 0, 'null', toJSONString('https://news.ycombinator.com/')),
                    ',"title":', toJSONString(title),
                    ',"$session_id":', toJSONString(toString(${x.uuid("session", "p", `intDiv(ts_us, ${MICROS_PER_DAY})`)})),
                    ',"$feature_flags":{"new-onboarding":', if(ff, 'true', 'false'),
                    ',"pricing-test":', toJSONString(ffv), '}',
                    ',"$active_feature_flags":', if(ff, '["new-onboarding","pricing-test"]', '["pricing-test"]'),
                    if(event = 'purchase',
                       concat(',"revenue":', toString(round(5 + (${x.h("amount", "n")} % 50000) / 100, 2)),
                              ',"items":[{"sku":', toJSONString(concat('SKU-', toString(${x.h("sku", "n")} % 1000))),
                              ',"qty":', toString(1 + ${x.h("qty", "n")} % 3), ',"gift":false}]'),
                       ''),
                    if(event = '$identify' OR intDiv(hi, 7) % 20 = 0,
                       concat(',"$set":{"email":', toJSONString(email), ',"plan":', toJSONString(plan), '}'),
                       ''),
                    if(intDiv(hi, 11) % 50 = 0,
                       concat(',"$set_once":{"$initial_referrer":"$direct","$initial_current_url":', toJSONString(url), '}'),
                       ''),
                    '}') AS properties
      FROM (
        SELECT number AS n,
               ${x.h("ev", "n")} AS hi,
               -- Hashes depend on argument types: p must be UInt64 as numbers() gives it elsewhere.
               toUInt64(${x.h("person-of", "n")} % ${persons}) AS p,
               ${x.h("did-of", "n")} AS did_h,
               ${x.uuid("event", "n")} AS uuid,
               ${startUs} + toInt64(${x.h("ts", "n")} % ${spanUs}) AS ts_us,
               ${x.h("late", "n")} % 1000000 < ${lateCut} AS is_late,
               ${x.h("legacy", "n")} % 1000000 < ${nullCut} AS legacy,
               ts_us + if(is_late, ${MICROS_PER_HOUR} + toInt64(${x.h("lag", "n")} % ${3 * MICROS_PER_DAY}),
                                   100000 + toInt64(${x.h("lag", "n")} % ${5 * MICROS_PER_SECOND})) AS ingest_us,
               ${x.h("kind", "n")} % 100 AS kind,
               multiIf(kind < 45, '$pageview', kind < 65, '$autocapture', kind < 75, '$pageleave', kind < 78, '$identify',
                       ${pick(CUSTOM_EVENTS, "intDiv(hi, 3)")}) AS event,
               concat(${pick(HOSTS, "intDiv(hi, 5)")}, ${pick(PATHS, "intDiv(hi, 13)")}) AS url,
               if(event = '$autocapture', ${pick(ELEMENT_CHAINS, "intDiv(hi, 17)")}, '') AS elements_chain,
               ${pick(TITLES, "intDiv(hi, 19)")} AS title
        FROM numbers(${events})
      ) AS e
      INNER JOIN (
        SELECT number AS p,
               ${x.team("p")} AS team_id,
               ${x.personUuid("p")} AS person_id,
               ${x.personProperties("p", `(${x.versions("p")} - 1)`)} AS person_properties,
               ${x.distinctCount("p")} AS ndid,
               toString(${x.uuid("anon", "p")}) AS anon_id,
               ${x.email("p")} AS email,
               ${pick(BROWSERS, x.h("browser", "p"))} AS browser,
               ${pick(OSES, x.h("os", "p"))} AS os,
               IPv4NumToString(toUInt32(${x.h("ip", "p")} % 4294967296)) AS ip,
               ${pick(["1920", "1440", "390", "1280"], x.h("screen", "p"))} AS screen,
               ${x.h("ff", "p")} % 2 = 0 AS ff,
               ${pick(["control", "test", "test-2"], x.h("ffv", "p"))} AS ffv,
               ${pick(PLANS, x.h("plan", "p"))} AS plan
        FROM numbers(${persons})
      ) AS pp USING (p)
    )
    SETTINGS ${JSON_SETTINGS}`);

  // Duplicates: the same events (uuid, payload, timestamp) ingested again a little later.
  const dupCut = Math.round(dup * 1e6);
  if (dupCut > 0 && events > 0) {
    await target.exec(`
      INSERT INTO ${db}.events (uuid, event, properties, timestamp, team_id, distinct_id, elements_chain,
                                created_at, person_id, person_properties, _timestamp, _offset, inserted_at)
      SELECT uuid, event, properties, timestamp, team_id, distinct_id, elements_chain,
             created_at + toIntervalSecond(30), person_id, person_properties, _timestamp + 30, _offset + ${events},
             if(inserted_at IS NULL, NULL, inserted_at + toIntervalSecond(30))
      FROM ${db}.events
      WHERE team_id BETWEEN ${firstTeamId} AND ${firstTeamId + teams - 1}
        AND _offset < ${events}
        AND ${x.h("dup", "_offset")} % 1000000 < ${dupCut}`);
  }

  return summarize(target, database, seed, firstTeamId, teams);
}

async function summarize(
  target: SqlTarget,
  database: string,
  seed: number,
  firstTeamId: number,
  teams: number,
): Promise<SampleDataSummary> {
  const db = sqlIdentifier(database);
  const range = `BETWEEN ${firstTeamId} AND ${firstTeamId + teams - 1}`;
  interface EventRow {
    team_id: number;
    rows: number;
    uuids: number;
    late: number;
    min_ts: string;
    max_ts: string;
    min_ins: string | null;
    max_ins: string | null;
  }
  const eventRows = await target.queryRows<EventRow>(`
    SELECT team_id, count() AS rows, uniqExact(uuid) AS uuids,
           countIf(dateDiff('second', timestamp, inserted_at) > 3600) AS late,
           toString(min(timestamp)) AS min_ts, toString(max(timestamp)) AS max_ts,
           toString(min(inserted_at)) AS min_ins, toString(max(inserted_at)) AS max_ins
    FROM ${db}.events WHERE team_id ${range} GROUP BY team_id ORDER BY team_id`);
  const personRows = await target.queryRows<{ team_id: number; persons: number; rows: number }>(`
    SELECT team_id, uniqExact(id) AS persons, count() AS rows
    FROM ${db}.person WHERE team_id ${range} GROUP BY team_id`);
  const idRows = await target.queryRows<{ team_id: number; ids: number; rows: number }>(`
    SELECT team_id, uniqExact(distinct_id) AS ids, count() AS rows
    FROM ${db}.person_distinct_id2 WHERE team_id ${range} GROUP BY team_id`);

  const teamIds = new Set<number>([...eventRows, ...personRows, ...idRows].map((r) => Number(r.team_id)));
  const summaries: TeamSummary[] = [...teamIds]
    .sort((a, b) => a - b)
    .map((teamId) => {
      const e = eventRows.find((r) => Number(r.team_id) === teamId);
      const p = personRows.find((r) => Number(r.team_id) === teamId);
      const d = idRows.find((r) => Number(r.team_id) === teamId);
      return {
        teamId,
        eventRows: Number(e?.rows ?? 0),
        distinctUuids: Number(e?.uuids ?? 0),
        lateEvents: Number(e?.late ?? 0),
        persons: Number(p?.persons ?? 0),
        distinctIds: Number(d?.ids ?? 0),
        minTimestamp: e?.min_ts ?? "",
        maxTimestamp: e?.max_ts ?? "",
        minInsertedAt: e?.min_ins ?? null,
        maxInsertedAt: e?.max_ins ?? null,
      };
    });
  const sum = (f: (t: TeamSummary) => number): number => summaries.reduce((acc, t) => acc + f(t), 0);
  const eventsTotal = sum((t) => t.distinctUuids);
  const rowsTotal = sum((t) => t.eventRows);
  return {
    database,
    seed,
    events: eventsTotal,
    eventRows: rowsTotal,
    duplicateRows: rowsTotal - eventsTotal,
    persons: sum((t) => t.persons),
    personRows: personRows.reduce((acc, r) => acc + Number(r.rows), 0),
    distinctIdRows: idRows.reduce((acc, r) => acc + Number(r.rows), 0),
    teams: summaries,
  };
}

/**
 * An order-independent digest of the three tables, to compare two generations.
 * person tables are read FINAL (latest versions) so background merges do not change it.
 */
export async function sampleDataFingerprint(target: SqlTarget, database = "posthog"): Promise<string> {
  const db = sqlIdentifier(database);
  const [row] = await target.queryRows<{ e: string; p: string; d: string }>(`
    SELECT
      (SELECT concat(toString(count()), ':', toString(sum(cityHash64(uuid, event, properties, timestamp, team_id,
              distinct_id, elements_chain, person_id, _offset, ifNull(toString(inserted_at), 'null'))))) FROM ${db}.events) AS e,
      (SELECT concat(toString(count()), ':', toString(sum(cityHash64(id, team_id, properties, version, is_deleted, _timestamp))))
         FROM ${db}.person FINAL) AS p,
      (SELECT concat(toString(count()), ':', toString(sum(cityHash64(team_id, distinct_id, person_id, version, _timestamp))))
         FROM ${db}.person_distinct_id2 FINAL) AS d`);
  if (!row) throw new Error("fingerprint query returned nothing");
  return `events=${row.e} person=${row.p} pdi=${row.d}`;
}
