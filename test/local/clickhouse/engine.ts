// The chdb side of the emulator. chdb binds one data directory per process;
// several connections (Sessions) to that same directory run queries in
// parallel, each with its own settings and query parameters. So every HTTP
// query gets a fresh connection: `USE db`, one `SET` with its settings and
// `param_<name>` values (the engine then parses each raw parameter text as its
// declared {name:Type}, exactly as ClickHouse does for HTTP parameters; no
// value is ever spliced into the query), then the query itself, streamed
// chunk by chunk off the event loop.
//
// chdb cannot stream statements that return no rows (INSERT, CREATE, SHOW ...):
// it refuses them with BAD_ARGUMENTS, and those run as one buffered call.
// At most `maxConcurrent` queries run at once (default 3): each holds a libuv
// worker while the engine computes, and the pool has 4, shared with zlib and fs.
import { Session, drainPending, type ChdbQueryStream, type StreamChunk } from "chdb";
import { fromEngineError } from "./errors.js";
import type { RawInsert } from "./insert.js";
import { sqlIdentifier, sqlString } from "./request.js";

export interface EngineQuery {
  sql: string;
  database: string | undefined;
  /** Output format when the query has no FORMAT clause. */
  format: string;
  settings: ReadonlyArray<readonly [string, string]>;
  params: ReadonlyArray<readonly [string, string]>;
  readonly: boolean;
  /** When set, `sql` is its statement and the data goes to chdb's raw insert. */
  insert?: RawInsert | undefined;
}

/** A running query's output, pulled one chunk at a time; always close() it. */
export interface EngineCursor {
  /** The next chunk of formatted output, or undefined at the end. Throws ClickHouseServerError. */
  next(): Promise<Uint8Array | undefined>;
  /** Rows and bytes produced so far, and what the engine reports as read (buffered statements only). */
  readonly stats: CursorStats;
  close(): void;
}

export interface CursorStats {
  resultRows: number;
  resultBytes: number;
  readRows: number;
  readBytes: number;
  writtenRows: number;
  writtenBytes: number;
}

const NOT_STREAMABLE = "Streaming query is not supported";

/** A counting semaphore: FIFO waiters. */
class Slots {
  private free: number;
  private readonly waiters: Array<() => void> = [];
  constructor(size: number) {
    this.free = size;
  }
  async acquire(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return;
    }
    await new Promise<void>((resolve) => this.waiters.push(resolve));
  }
  release(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.free++;
  }
}

export class ChdbEngine {
  private readonly root: Session;
  private readonly slots: Slots;
  private closed = false;

  constructor(
    readonly dataDir: string,
    maxConcurrent = 3,
  ) {
    // The root session keeps the directory bound for the server's lifetime.
    this.root = new Session(dataDir);
    this.slots = new Slots(maxConcurrent);
  }

  /** Runs one statement to completion and discards its output (DDL, seeding). */
  async exec(sql: string, database?: string): Promise<void> {
    const cursor = await this.open({
      sql,
      database,
      format: "TabSeparated",
      settings: [],
      params: [],
      readonly: false,
    });
    try {
      while ((await cursor.next()) !== undefined) {
        // drain
      }
    } finally {
      cursor.close();
    }
  }

  /** Runs a (small) query and returns its rows parsed from JSONEachRow. */
  async queryRows<T>(sql: string, database?: string): Promise<T[]> {
    const cursor = await this.open({
      sql,
      database,
      format: "JSONEachRow",
      settings: [],
      params: [],
      readonly: false,
    });
    const parts: Uint8Array[] = [];
    try {
      for (let chunk = await cursor.next(); chunk !== undefined; chunk = await cursor.next())
        parts.push(chunk);
    } finally {
      cursor.close();
    }
    return Buffer.concat(parts)
      .toString("utf8")
      .split("\n")
      .filter((line) => line !== "")
      .map((line) => JSON.parse(line) as T);
  }

  /** Starts a query; errors that happen before the first chunk reject here or in the first next(). */
  async open(query: EngineQuery): Promise<EngineCursor> {
    if (this.closed) throw new Error("ClickHouse emulator is stopped");
    await this.slots.acquire();
    let session: Session | undefined;
    let stream: ChdbQueryStream | undefined;
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      try {
        stream?.cancel();
      } catch {
        // already finished
      }
      session?.close();
      this.slots.release();
    };
    try {
      session = new Session(this.dataDir);
      if (query.database !== undefined) await session.queryAsync(`USE ${sqlIdentifier(query.database)}`);
      const assignments = [
        ...query.settings.map(([k, v]) => `${k} = ${sqlString(v)}`),
        ...query.params.map(([k, v]) => `param_${k} = ${sqlString(v)}`),
        // Last, so that a GET can still change other settings (readonly = 2 semantics).
        ...(query.readonly ? ["readonly = 2"] : []),
      ];
      if (assignments.length > 0) await session.queryAsync(`SET ${assignments.join(", ")}`);

      const stats: CursorStats = {
        resultRows: 0,
        resultBytes: 0,
        readRows: 0,
        readBytes: 0,
        writtenRows: 0,
        writtenBytes: 0,
      };
      if (query.insert) {
        const { table, columns, format, data } = query.insert;
        const written = await session.insert({
          table,
          format,
          values: data,
          ...(columns ? { columns } : {}),
        });
        stats.writtenRows = written.rowsWritten;
        stats.writtenBytes = written.bytesWritten;
        return { stats, next: () => Promise.resolve(undefined), close: release };
      }
      try {
        stream = session.queryStream(query.sql, { format: query.format });
      } catch (err) {
        if (!(err instanceof Error) || !err.message.includes(NOT_STREAMABLE)) throw err;
      }
      if (stream) {
        const iterator: AsyncIterator<StreamChunk> = stream[Symbol.asyncIterator]();
        return {
          stats,
          async next() {
            try {
              const step = await iterator.next();
              if (step.done) return undefined;
              stats.resultRows += step.value.numRows;
              stats.resultBytes += step.value.numBytes;
              return step.value.raw();
            } catch (err) {
              throw fromEngineError(err);
            }
          },
          close: release,
        };
      }
      const result = await session.queryAsync(query.sql, { format: query.format });
      stats.readRows = result.rowsRead;
      stats.readBytes = result.bytesRead;
      let pending: Uint8Array | undefined = result.bytes();
      stats.resultBytes = pending.length;
      return {
        stats,
        next() {
          const chunk = pending;
          pending = undefined;
          return Promise.resolve(chunk && chunk.length > 0 ? chunk : undefined);
        },
        close: release,
      };
    } catch (err) {
      release();
      throw fromEngineError(err);
    }
  }

  /** Closes the root connection and waits until chdb has released the directory. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.root.close();
    await drainPending();
  }
}
