// ClickHouse queries that read one period of PostHog's tables (events, person,
// person_distinct_id2) as the rows of our two models. Every user-supplied
// value travels as a typed query parameter ({name:Type}, bound by the server:
// @clickhouse/client's query_params, HTTP `param_<name>`); the SQL text only
// varies in structure (which filters apply) and in the validated database name.
//
// Result contract (read as JSONEachRow), relied on by core/rows.ts:
// - columns are exactly sourceColumns(model) in order: for events the model's
//   12 less set, set_once and ip, which the encoder takes from properties
//   (ClickHouse's JSON functions return nothing for a whole document that
//   holds one lone surrogate escape or a number beyond int64); for persons the
//   6 model columns and the bqx_deleted flag, true or false;
// - timestamps are "YYYY-MM-DDThh:mm:ss.ffffffZ" (UTC, 6 fractional digits),
//   formatted in SQL from DateTime64(6), independent of session settings;
// - team_id and the two versions are decimal strings (64-bit quoting on, in the
//   query's own SETTINGS), written by the encoder with every digit;
// - uuid and person_id are canonical lowercase UUID strings;
// - properties is the source JSON text, NULL when the source holds '';
// - elements is elements_chain as a JSON string literal and site_url is '',
//   both as PostHog's own BigQuery export writes these deprecated columns;
// - bq_ingested_timestamp is the export time passed in (one value per run, so
//   a retried run writes the same rows).
// The SQL has no trailing semicolon or FORMAT: the client appends FORMAT.
import { ExportError } from "./errors.js";
import { loadFields, sourceColumns } from "./models.js";
import type { Period } from "./periods.js";

export interface SourceQuery {
  sql: string;
  params: Record<string, unknown>;
  /**
   * "lines": one text column read as TabSeparatedRaw, each row either a
   * finished NDJSON line for the load or RAW_ROW_MARKER and the source row as
   * JSONEachRow (see eventsQuery). Otherwise the rows are JSONEachRow.
   */
  output?: "lines";
}

/** Starts a "lines" row that ClickHouse left to the encoder: the source row as JSONEachRow follows. */
export const RAW_ROW_MARKER = "R";

export type EventsSelection = "ingested" | "backfill";

export interface EventsQueryOptions {
  teamId: number;
  period: Period;
  /** Written to every row as bq_ingested_timestamp. */
  exportedAt: Date;
  /** Only these event names (empty: all). */
  includeEvents: string[];
  /** Never these event names. */
  excludeEvents: string[];
  /** "ingested": rows that arrived in the period (scheduled runs); "backfill": rows whose timestamp is in it. */
  selection: EventsSelection;
  /** How far before the period an ingested event's timestamp may lie (ingested selection only). */
  lookbackDays: number;
  /** ClickHouse database holding PostHog's tables. */
  database?: string;
  /**
   * Rows as "lines" for a table with these column types: ClickHouse writes
   * the finished NDJSON line of every row whose values need none of the
   * encoder's rewriting, and hands the others over as source rows.
   */
  lines?: { useJsonType: boolean };
}

export interface PersonsQueryOptions {
  teamId: number;
  period: Period;
  exportedAt: Date;
  database?: string;
}

/**
 * The default of BQX_LOOKBACK_DAYS (config.ts decides it): late events older
 * than this are not exported by scheduled runs: the bound
 * keeps the scan to (lookback + period + skew) days of the team's events,
 * since inserted_at is not in the table's sorting key but timestamp is.
 * Backfills by timestamp pick such events up.
 */
export const DEFAULT_LOOKBACK_DAYS = 7;
export const MAX_LOOKBACK_DAYS = 365;
/** Events stamped up to this far after the period's end (client clock skew) still count. */
export const FUTURE_SKEW_MS = 24 * 60 * 60 * 1000;
export const DEFAULT_DATABASE = "posthog";

const DAY_MS = 24 * 60 * 60 * 1000;
// Letters, digits and underscores (as BQX_CLICKHOUSE_DATABASE allows), placed in
// backquotes; anything else is refused rather than escaped.
const DATABASE_NAME = /^[A-Za-z0-9_]{1,255}$/;

// DateTime64(6) renders 6 fractional digits with %f whatever the
// formatdatetime_* settings say, so the format does not depend on the session.
const DT = "DateTime64(6, 'UTC')";
function isoMicros(expr: string): string {
  return `formatDateTime(toDateTime64(${expr}, 6, 'UTC'), '%Y-%m-%dT%H:%i:%S.%fZ', 'UTC')`;
}

// Query-level settings travel with the SQL (the one place they are set), so
// output does not depend on the server's, the session's or the client's
// defaults: 64-bit integers as JSON strings, so every digit survives
// JSON.parse (versions above 2^53 included), and "/" unescaped (the setting
// also governs toJSONString, i.e. the elements text).
const OUTPUT_SETTINGS =
  "SETTINGS output_format_json_quote_64bit_integers = 1, output_format_json_escape_forward_slashes = 0";
// The lines query also pins what decides a plain row and how lines end:
// isValidJSON checks UTF-8 only with simdjson, and a profile could end
// TabSeparated lines with CRLF.
const LINES_SETTINGS = `${OUTPUT_SETTINGS}, allow_simdjson = 1, output_format_tsv_crlf_end_of_line = 0`;

function database(name: string | undefined): string {
  const db = name ?? DEFAULT_DATABASE;
  if (!DATABASE_NAME.test(db)) {
    throw new ExportError("INVALID_REQUEST", `Invalid ClickHouse database name ${JSON.stringify(db)}.`, {
      details: { database: db },
    });
  }
  return `\`${db}\``;
}

function checkTeam(teamId: number): number {
  if (!Number.isSafeInteger(teamId) || teamId < 0) {
    throw new ExportError("INVALID_REQUEST", `teamId must be a non-negative integer, got ${String(teamId)}.`);
  }
  return teamId;
}

function checkInstant(name: string, t: Date): Date {
  if (!(t instanceof Date) || Number.isNaN(t.getTime())) {
    throw new ExportError("INVALID_INTERVAL", `${name} is not a valid timestamp.`);
  }
  return t;
}

function checkPeriod(period: Period): Period {
  checkInstant("period.start", period.start);
  checkInstant("period.end", period.end);
  if (period.start.getTime() >= period.end.getTime()) {
    throw new ExportError(
      "INVALID_INTERVAL",
      `period.start (${period.start.toISOString()}) must be before period.end (${period.end.toISOString()}).`,
    );
  }
  return period;
}

/** A Date as ClickHouse's DateTime64 text, "YYYY-MM-DD hh:mm:ss.ffffff" in UTC. */
export function clickhouseDateTime64(t: Date): string {
  return checkInstant("timestamp", t).toISOString().replace("T", " ").replace("Z", "000");
}

function checkLookback(days: number): number {
  const d = days;
  if (!Number.isInteger(d) || d < 0 || d > MAX_LOOKBACK_DAYS) {
    throw new ExportError(
      "INVALID_REQUEST",
      `lookbackDays must be an integer from 0 to ${MAX_LOOKBACK_DAYS}, got ${String(days)}.`,
    );
  }
  return d;
}

function checkEventNames(name: string, events: string[]): string[] {
  if (!Array.isArray(events) || events.some((e) => typeof e !== "string")) {
    throw new ExportError("INVALID_REQUEST", `${name} must be a list of event names.`);
  }
  return events;
}

/**
 * The export's event-name filters as conditions, their lists bound as
 * parameters. Added only when set, so an unfiltered export scans no event list.
 */
function eventFilters(include: string[], exclude: string[], params: Record<string, unknown>): string[] {
  const conditions: string[] = [];
  if (include.length > 0) {
    params.include_events = include;
    conditions.push("event IN {include_events:Array(String)}");
  }
  if (exclude.length > 0) {
    params.exclude_events = exclude;
    conditions.push("event NOT IN {exclude_events:Array(String)}");
  }
  return conditions;
}

/**
 * Events of one period, one row per uuid.
 *
 * - "ingested" (scheduled runs, as PostHog's batch exports): rows whose
 *   ingestion time, `inserted_at` or `_timestamp` where inserted_at is NULL,
 *   lies in [start, end), so an event that arrives late lands in the run of
 *   the period it arrived in. Their `timestamp` is bounded to
 *   [start - lookbackDays, end + 1 day of clock skew) so the scan
 *   uses the table's sorting key; events outside are left to a backfill.
 * - "backfill": rows whose `timestamp` lies in [start, end).
 *
 * Duplicates: ingestion can write an event twice. A uuid that occurs more than
 * once in the period yields one row, the latest inserted (ties broken by
 * Kafka `_offset`, then by content hash, so reruns choose the same row). The
 * set of duplicated uuids is found first by a scan of the narrow uuid column
 * (memory: a hash of the period's uuids, not its rows); rows outside it
 * stream unchanged and only the few duplicated rows are sorted. A plain
 * ORDER BY + LIMIT 1 BY over the period would sort every row before the
 * first byte comes out, and GROUP BY uuid with argMax would hold every row.
 * Output order is unspecified.
 */
export function eventsQuery(opts: EventsQueryOptions): SourceQuery {
  const teamId = checkTeam(opts.teamId);
  const period = checkPeriod(opts.period);
  const exportedAt = checkInstant("exportedAt", opts.exportedAt);
  const include = checkEventNames("includeEvents", opts.includeEvents);
  const exclude = checkEventNames("excludeEvents", opts.excludeEvents);
  const lookbackDays = checkLookback(opts.lookbackDays);
  const db = database(opts.database);

  const params: Record<string, unknown> = {
    team_id: teamId,
    exported_at: clickhouseDateTime64(exportedAt),
  };
  const ingestedAt = "coalesce(inserted_at, toDateTime64(_timestamp, 6, 'UTC'))";
  const conditions = ["team_id = {team_id:Int64}"];
  let prewhere: string;
  if (opts.selection === "ingested") {
    params.ingested_from = clickhouseDateTime64(period.start);
    params.ingested_to = clickhouseDateTime64(period.end);
    params.timestamp_from = clickhouseDateTime64(new Date(period.start.getTime() - lookbackDays * DAY_MS));
    params.timestamp_to = clickhouseDateTime64(new Date(period.end.getTime() + FUTURE_SKEW_MS));
    // PREWHERE reads the two narrow time columns first and the wide ones only
    // for rows of the period.
    prewhere = `${ingestedAt} >= {ingested_from:${DT}} AND ${ingestedAt} < {ingested_to:${DT}}`;
  } else {
    params.timestamp_from = clickhouseDateTime64(period.start);
    params.timestamp_to = clickhouseDateTime64(period.end);
    prewhere = `timestamp >= {timestamp_from:${DT}} AND timestamp < {timestamp_to:${DT}}`;
  }
  conditions.push(`timestamp >= {timestamp_from:${DT}}`, `timestamp < {timestamp_to:${DT}}`);
  conditions.push(...eventFilters(include, exclude, params));
  const from = `${db}.events PREWHERE ${prewhere} WHERE ${conditions.join(" AND ")}`;
  // Raw columns under private names: the outer SELECT reuses the public names
  // as aliases, and ClickHouse would otherwise resolve filters to the aliases.
  const raw = `uuid AS ev_uuid, event AS ev_event, properties AS ev_properties,
      elements_chain AS ev_elements_chain, distinct_id AS ev_distinct_id,
      team_id AS ev_team_id, timestamp AS ev_timestamp`;
  const duplicated = `SELECT uuid FROM ${from} GROUP BY uuid HAVING count() > 1`;

  const sql = `SELECT
    toString(ev_uuid) AS uuid,
    ev_event AS event,
    nullIf(ev_properties, '') AS properties,
    toJSONString(ev_elements_chain) AS elements,
    ev_distinct_id AS distinct_id,
    ev_team_id AS team_id,
    '' AS site_url,
    ${isoMicros("ev_timestamp")} AS \`timestamp\`,
    ${isoMicros(`{exported_at:${DT}}`)} AS bq_ingested_timestamp
  FROM (
    SELECT ${raw} FROM ${from} AND uuid NOT IN (${duplicated})
    UNION ALL
    SELECT * FROM (
      SELECT ${raw} FROM ${from} AND uuid IN (${duplicated})
      ORDER BY ev_uuid, ${ingestedAt} DESC, _offset DESC, cityHash64(event, distinct_id, properties, timestamp) DESC
      LIMIT 1 BY ev_uuid
    )
  )`;
  if (!opts.lines) return { sql: `${sql}\n  ${OUTPUT_SETTINGS}`, params };
  return {
    sql: `${eventLinesSql(sql, opts.lines.useJsonType)}\n  ${LINES_SETTINGS}`,
    params,
    output: "lines",
  };
}

// ---------------------------------------------------------------- events as finished lines

/**
 * A properties document the encoder would copy unchanged (core/json-text.ts),
 * told in ClickHouse: valid JSON (simdjson, pinned by the query's settings:
 * RFC 8259, valid UTF-8), and none of what the encoder rewrites or refuses: a
 * byte order mark (which isValidJSON skips, BigQuery does not), a newline
 * between tokens, a `\u` escape (lone surrogates become U+FFFD; an escape can
 * also spell a key; PostHog's ingestion writes none but control characters),
 * an escaped slash, a number with an exponent or of 16 characters or more, at
 * the top level too (the encoder keeps the digits of those that float64 or
 * int64 cannot hold), more than 500 levels of nesting (bounded by the count of
 * brackets). The patterns may also match inside strings: such documents only
 * take the encoder's way.
 */
// RE2 syntax, placed in the SQL as quoted literals by sqlLiteral.
const ENCODER_NEEDED = String.raw`^\x{FEFF}|[\n\r]|\\u|\\/|(?:^|[:,\[])\s*-?[0-9]+(\.[0-9]+)?[eE]|(?:^|[:,\[])\s*-?[0-9.]{16}`;
/**
 * What JSONExtractRaw would spell otherwise than the source (and the encoder):
 * a number whose fraction ends in 0 (10.0 → 10), -0, a raw U+2028/U+2029
 * (escaped by ClickHouse). Numbers are told by what may stand around them, so
 * an IP address or a version in a string does not count. Checked only in
 * documents that mention $set.
 */
const RESPELLED_BY_CLICKHOUSE = String.raw`[:,\[]\s*-?[0-9]+\.[0-9]*0\s*[,}\]]|[:,\[]\s*-0\s*[,}\]]|\x{2028}|\x{2029}`;
const PLAIN_ROW = `isValidUTF8(event) AND isValidUTF8(distinct_id) AND isValidUTF8(elements)
    AND (properties IS NULL OR (isValidJSON(properties)
      AND NOT match(properties, ${sqlLiteral(ENCODER_NEEDED)})
      AND NOT (position(properties, '$set') > 0 AND match(properties, ${sqlLiteral(RESPELLED_BY_CLICKHOUSE)}))
      AND countSubstrings(properties, '{') + countSubstrings(properties, '[') <= 500))`;

/** A constant as a ClickHouse string literal (backslashes and quotes escaped). */
function sqlLiteral(text: string): string {
  return `'${text.replace(/[\\']/g, (c) => `\\${c}`)}'`;
}

const jsonText = (expr: string): string => `ifNull(toJSONString(${expr}), 'null')`;
const member = (key: string): string => `nullIf(nullIf(JSONExtractRaw(properties, '${key}'), ''), 'null')`;

/**
 * Each load column's value as NDJSON text, for a plain row: the encoder's
 * rules spelled in SQL (set/set_once/ip from properties' first top-level
 * $set/$set_once/$ip; JSONExtractRaw writes a value without whitespace).
 */
function lineValues(useJsonType: boolean): Record<string, string> {
  const doc = (expr: string) => (useJsonType ? `ifNull(${expr}, 'null')` : jsonText(expr));
  return {
    uuid: jsonText("uuid"),
    event: jsonText("event"),
    properties: doc("properties"),
    elements: jsonText("elements"),
    set: doc(member("$set")),
    set_once: doc(member("$set_once")),
    distinct_id: jsonText("distinct_id"),
    // Beyond 2^53 quoted, as the encoder writes INT64.
    team_id: `if(abs(team_id) <= 9007199254740991, toString(team_id), concat('"', toString(team_id), '"'))`,
    // JSONExtractString gives a number's text too: only a string is an ip.
    ip: jsonText(
      "if(JSONType(properties, '$ip') = 'String', nullIf(JSONExtractString(properties, '$ip'), ''), NULL)",
    ),
    site_url: jsonText("site_url"),
    timestamp: `concat('"', \`timestamp\`, '"')`,
    bq_ingested_timestamp: `concat('"', bq_ingested_timestamp, '"')`,
  };
}

/**
 * The events rows as "lines": a plain row's finished NDJSON line (the load's
 * columns in order, exactly what the encoder would write, give or take
 * spelling), any other row marked and passed on as JSONEachRow for the
 * encoder. Most rows are plain, so the function copies their bytes.
 */
function eventLinesSql(rowsSql: string, useJsonType: boolean): string {
  const values = lineValues(useJsonType);
  const parts = loadFields("events", useJsonType).map(
    (f, i) => `'${i === 0 ? "{" : ","}"${f.name}":', ${values[f.name] ?? "'null'"}`,
  );
  const sourceRow = sourceColumns("events")
    .map((name) => (name === "timestamp" ? "`timestamp`" : name))
    .join(", ");
  return `SELECT if(${PLAIN_ROW},
    concat(${parts.join(", ")}, '}'),
    concat('${RAW_ROW_MARKER}', formatRowNoNewline('JSONEachRow', ${sourceRow}))) AS line
  FROM (${rowsSql})`;
}

/**
 * Persons of one period: every (team_id, distinct_id) of the team whose
 * person_distinct_id2 rows or whose current person's rows include one with
 * `_timestamp` in [start, end), output with its latest state: the mapping of
 * highest version joined with the person's row of highest version.
 * person_version = person.version, person_distinct_id_version =
 * person_distinct_id2.version, the two columns the destination MERGE compares.
 *
 * Deletions are rows too, flagged `bqx_deleted` with the versions of the
 * deletion (properties NULL): a key whose latest mapping is deleted (its
 * person_version is the person's latest, 0 when the person is gone), or whose
 * person's latest row is deleted. The MERGE deletes such a key from the
 * destination when those versions are higher, and never inserts it; a key
 * deleted and re-created later has a newer, undeleted latest state. A key
 * whose mapping stands but whose person row was never ingested is left out
 * until it is (its row would have no person).
 *
 * ReplacingMergeTree rows may not be merged yet, so versions are resolved with
 * argMax over (version, _timestamp, _offset) rather than FINAL. Only the
 * changed keys are aggregated: the candidate distinct_ids come from a narrow
 * scan of the period's rows, not from the whole team. The latest state may be
 * newer than the period's end; the MERGE on versions makes that harmless and
 * a later period exports the same versions again. Output order is unspecified.
 */
export function personsQuery(opts: PersonsQueryOptions): SourceQuery {
  const teamId = checkTeam(opts.teamId);
  const period = checkPeriod(opts.period);
  checkInstant("exportedAt", opts.exportedAt);
  const db = database(opts.database);
  const params: Record<string, unknown> = {
    team_id: teamId,
    changed_from: clickhouseDateTime64(period.start),
    changed_to: clickhouseDateTime64(period.end),
  };
  const inPeriod = `_timestamp >= {changed_from:${DT}} AND _timestamp < {changed_to:${DT}}`;
  const changedPersons = `SELECT id FROM ${db}.person WHERE team_id = {team_id:Int64} AND ${inPeriod}`;
  const candidates = `SELECT distinct_id FROM ${db}.person_distinct_id2
    WHERE team_id = {team_id:Int64} AND ((${inPeriod}) OR person_id IN (${changedPersons}))`;
  return { sql: personsLatestSql(db, candidates), params };
}

export interface PersonsSnapshotOptions {
  teamId: number;
  /** One of `of` slices of the team's keys, by a hash of distinct_id (a large team's backfill is chunked so). */
  bucket: { index: number; of: number };
  database?: string;
}

/**
 * A backfill of persons: the latest state of every key of the team (deleted
 * keys flagged, as personsQuery), or of one hash bucket of its keys.
 */
export function personsSnapshotQuery(opts: PersonsSnapshotOptions): SourceQuery {
  const teamId = checkTeam(opts.teamId);
  const { index, of } = opts.bucket;
  if (!Number.isInteger(of) || of < 1 || !Number.isInteger(index) || index < 0 || index >= of) {
    throw new ExportError("INVALID_REQUEST", `Invalid persons bucket ${String(index)} of ${String(of)}.`);
  }
  const db = database(opts.database);
  const params: Record<string, unknown> = { team_id: teamId, bucket: index, buckets: of };
  const candidates = `SELECT distinct_id FROM ${db}.person_distinct_id2
    WHERE team_id = {team_id:Int64} AND cityHash64(distinct_id) % {buckets:UInt64} = {bucket:UInt64}`;
  return { sql: personsLatestSql(db, candidates), params };
}

/** The number of keys (distinct_ids) of a team: how a persons backfill sizes its buckets. */
export function personsCountQuery(teamId: number, databaseName?: string): SourceQuery {
  const db = database(databaseName);
  return {
    sql: `SELECT uniqExact(distinct_id) AS n FROM ${db}.person_distinct_id2 WHERE team_id = {team_id:Int64} ${OUTPUT_SETTINGS}`,
    params: { team_id: checkTeam(teamId) },
  };
}

export interface EventsPerDayOptions {
  teamId: number;
  range: Period;
  includeEvents: string[];
  excludeEvents: string[];
  database?: string;
}

/**
 * Events per UTC day in a range, by `timestamp` (as a backfill selects them):
 * one cheap grouped count over the narrow columns, to size a backfill's
 * chunks. Rows: {"day": "YYYY-MM-DD", "n": "<count>"}.
 */
export function eventsPerDayQuery(opts: EventsPerDayOptions): SourceQuery {
  const range = checkPeriod(opts.range);
  const db = database(opts.database);
  const params: Record<string, unknown> = {
    team_id: checkTeam(opts.teamId),
    timestamp_from: clickhouseDateTime64(range.start),
    timestamp_to: clickhouseDateTime64(range.end),
  };
  const conditions = [
    "team_id = {team_id:Int64}",
    `timestamp >= {timestamp_from:${DT}}`,
    `timestamp < {timestamp_to:${DT}}`,
  ];
  conditions.push(
    ...eventFilters(
      checkEventNames("includeEvents", opts.includeEvents),
      checkEventNames("excludeEvents", opts.excludeEvents),
      params,
    ),
  );
  return {
    sql: `SELECT toString(toDate(timestamp, 'UTC')) AS day, count() AS n FROM ${db}.events
    WHERE ${conditions.join(" AND ")} GROUP BY day ORDER BY day ${OUTPUT_SETTINGS}`,
    params,
  };
}

/**
 * The latest state of the candidate keys (a subquery yielding distinct_ids):
 * the mapping of highest version joined with its person's row of highest
 * version, deletions flagged (see personsQuery).
 */
function personsLatestSql(db: string, candidates: string): string {
  const latest = "(version, _timestamp, _offset)";
  return `SELECT
    pd.pd_team_id AS team_id,
    pd.pd_distinct_id AS distinct_id,
    toString(pd.pd_person_id) AS person_id,
    if(bqx_deleted, NULL, nullIf(p.p_properties, '')) AS properties,
    coalesce(p.p_version, 0) AS person_version,
    pd.pd_version AS person_distinct_id_version,
    toBool(pd.pd_deleted = 1 OR coalesce(p.p_deleted, 0) = 1) AS bqx_deleted
  FROM (
    SELECT
      team_id AS pd_team_id,
      distinct_id AS pd_distinct_id,
      argMax(person_id, ${latest}) AS pd_person_id,
      max(version) AS pd_version,
      argMax(is_deleted, ${latest}) AS pd_deleted
    FROM ${db}.person_distinct_id2
    WHERE team_id = {team_id:Int64} AND distinct_id IN (${candidates})
    GROUP BY team_id, distinct_id
  ) AS pd
  LEFT JOIN (
    SELECT
      id AS p_id,
      argMax(properties, ${latest}) AS p_properties,
      max(version) AS p_version,
      argMax(is_deleted, ${latest}) AS p_deleted
    FROM ${db}.person
    WHERE team_id = {team_id:Int64} AND id IN (
      SELECT person_id FROM ${db}.person_distinct_id2
      WHERE team_id = {team_id:Int64} AND distinct_id IN (${candidates})
    )
    GROUP BY id
  ) AS p ON p.p_id = pd.pd_person_id
  WHERE pd.pd_deleted = 1 OR p.p_id IS NOT NULL
  ${OUTPUT_SETTINGS}, join_use_nulls = 1`;
}
