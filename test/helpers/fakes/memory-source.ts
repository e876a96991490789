// An in-memory ClickHouse behind the SourceDatabase port: PostHog events and
// person changes held as objects, answered for the product's queries by
// their parameters (the real SQL runs on chdb in
// test/integration/source-sql.test.ts). Rows come out in the source
// contract's shape (core/source-sql.ts): 64-bit integers as strings,
// timestamps with six fractional digits, persons with the deletion flag.
import { ExportError } from "../../../functions/src/core/errors.js";
import type { SourceDatabase } from "../../../functions/src/app/ports.js";
import { RAW_ROW_MARKER, type SourceQuery } from "../../../functions/src/core/source-sql.js";

export interface SourceEvent {
  uuid: string;
  teamId: number;
  event: string;
  distinctId: string;
  properties: string;
  timestamp: Date;
  ingestedAt: Date;
}

/** One row of person/person_distinct_id2 history, as PostHog writes them. */
export interface PersonChange {
  teamId: number;
  distinctId: string;
  personId: string;
  personVersion: bigint;
  mappingVersion: bigint;
  properties: string;
  deleted: boolean;
  at: Date;
}

export interface SourceFaults {
  /** Fail the query before the first row (ClickHouse unreachable). */
  unavailable?: () => boolean;
  /** Fail after this many rows (a connection reset mid-stream). */
  breakAfter?: () => number | undefined;
}

const micros = (t: Date) => t.toISOString().replace("Z", "000Z");

function chTime(value: unknown): Date {
  // "YYYY-MM-DD hh:mm:ss.ffffff" (UTC), as the product binds DateTime64(6) parameters.
  return new Date(`${String(value).replace(" ", "T").slice(0, 23)}Z`);
}

/** An odd size, so chunks end anywhere in a line. */
const BYTES_CHUNK = 61;

export class MemorySource implements SourceDatabase {
  events: SourceEvent[] = [];
  persons: PersonChange[] = [];
  faults: SourceFaults = {};

  constructor(private readonly yieldPoint: () => Promise<void> = () => Promise.resolve()) {}

  async *rows(query: SourceQuery): AsyncIterable<string> {
    await this.yieldPoint();
    if (this.faults.unavailable?.()) {
      throw new ExportError("SOURCE_FAILED", "ClickHouse could not be reached: ECONNREFUSED (injected)", {
        retryable: true,
      });
    }
    const rows =
      "changed_from" in query.params
        ? this.personRows(query.params)
        : // A "lines" query: every row handed to the encoder, as ClickHouse hands the non-plain ones.
          this.eventRows(query.params).map((row) => (query.output === "lines" ? RAW_ROW_MARKER + row : row));
    const breakAfter = this.faults.breakAfter?.();
    let n = 0;
    for (const row of rows) {
      if (breakAfter !== undefined && n >= breakAfter) {
        throw new ExportError("SOURCE_FAILED", "ClickHouse could not be reached: ECONNRESET (injected)", {
          retryable: true,
        });
      }
      n++;
      if (n % 7 === 0) await this.yieldPoint();
      yield row;
    }
  }

  /**
   * rows() as ClickHouse's answer would arrive: bytes in small chunks, cut
   * inside lines and inside characters, so staging sees every boundary.
   */
  async *bytes(query: SourceQuery): AsyncIterable<Buffer> {
    let buffered = Buffer.alloc(0);
    for await (const row of this.rows(query)) {
      buffered = Buffer.concat([buffered, Buffer.from(`${row}\n`, "utf8")]);
      while (buffered.length >= BYTES_CHUNK) {
        yield buffered.subarray(0, BYTES_CHUNK);
        buffered = buffered.subarray(BYTES_CHUNK);
      }
    }
    if (buffered.length > 0) yield buffered;
  }

  /** The latest state of every key, as the destination must end up (deleted keys absent). */
  latestPersons(teamId: number): Map<string, PersonChange> {
    const out = new Map<string, PersonChange>();
    for (const c of this.persons) {
      if (c.teamId !== teamId) continue;
      const cur = out.get(c.distinctId);
      if (
        !cur ||
        c.mappingVersion > cur.mappingVersion ||
        (c.mappingVersion === cur.mappingVersion && c.personVersion > cur.personVersion)
      ) {
        out.set(c.distinctId, c);
      }
    }
    return out;
  }

  private eventRows(p: Record<string, unknown>): string[] {
    const team = Number(p["team_id"]);
    const exportedAt = micros(chTime(p["exported_at"]));
    const tsFrom = chTime(p["timestamp_from"]).getTime();
    const tsTo = chTime(p["timestamp_to"]).getTime();
    const ingested = "ingested_from" in p;
    const inFrom = ingested ? chTime(p["ingested_from"]).getTime() : 0;
    const inTo = ingested ? chTime(p["ingested_to"]).getTime() : 0;
    const picked = new Map<string, SourceEvent>();
    for (const e of this.events) {
      if (e.teamId !== team) continue;
      const ts = e.timestamp.getTime();
      if (ts < tsFrom || ts >= tsTo) continue;
      if (ingested && (e.ingestedAt.getTime() < inFrom || e.ingestedAt.getTime() >= inTo)) continue;
      const cur = picked.get(e.uuid);
      if (!cur || e.ingestedAt > cur.ingestedAt) picked.set(e.uuid, e);
    }
    return [...picked.values()].map((e) =>
      JSON.stringify({
        uuid: e.uuid,
        event: e.event,
        properties: e.properties,
        elements: '""',
        distinct_id: e.distinctId,
        team_id: String(e.teamId),
        site_url: "",
        timestamp: micros(e.timestamp),
        bq_ingested_timestamp: exportedAt,
      }),
    );
  }

  private personRows(p: Record<string, unknown>): string[] {
    const team = Number(p["team_id"]);
    const from = chTime(p["changed_from"]).getTime();
    const to = chTime(p["changed_to"]).getTime();
    const changed = new Set(
      this.persons
        .filter((c) => c.teamId === team && c.at.getTime() >= from && c.at.getTime() < to)
        .map((c) => c.distinctId),
    );
    const latest = this.latestPersons(team);
    return [...changed].map((id) => {
      const c = latest.get(id)!;
      return JSON.stringify({
        team_id: String(c.teamId),
        distinct_id: c.distinctId,
        person_id: c.personId,
        properties: c.deleted ? null : c.properties,
        person_version: String(c.personVersion),
        person_distinct_id_version: String(c.mappingVersion),
        bqx_deleted: c.deleted,
      });
    });
  }
}
