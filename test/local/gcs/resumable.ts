// Resumable upload sessions (uploadType=resumable). A session is a JSON record
// and a .part file under dataDir/uploads; each PUT appends to the .part file,
// so an interrupted request keeps what arrived and a status query
// (Content-Range: bytes */*) reports it. Finishing a session commits the .part
// file through the store, with the preconditions given when it was started.
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { randomUUID } from "node:crypto";
import { Transform, type Readable, type TransformCallback } from "node:stream";
import { pipeline } from "node:stream/promises";
import { GcsError, invalid } from "./errors.js";
import { KeyedLock } from "./keyed-lock.js";
import type { Preconditions } from "./preconditions.js";
import type { ObjectMeta, WritableFields } from "./resources.js";
import { HashingTransform, HashState, type GcsStore, type StagedData } from "./store.js";

export interface SessionRecord {
  id: string;
  bucket: string;
  name: string;
  fields: WritableFields;
  pre: Preconditions;
  /** X-Upload-Content-Length, when the client declared the size up front. */
  declaredSize?: number;
  createdAt: string;
  /** Set once the object was committed: later PUTs answer it again. */
  final?: ObjectMeta;
  /** Set when committing failed (e.g. 412): later PUTs answer the same error. */
  failed?: { status: number; reason: string; message: string };
}

export type PutOutcome =
  { kind: "incomplete"; received: number } | { kind: "done"; meta: ObjectMeta } | { kind: "aborted" };

interface ContentRange {
  /** undefined for a status query ("bytes *\/total"). */
  start?: number;
  /** undefined for "*" (up to the end of this request's body). */
  end?: number;
  /** undefined for "*" (not yet known). */
  total?: number;
}

/** Parses "bytes a-b/t", "bytes a-*\/t", "bytes *\/t" (t may be "*"); undefined header = whole object in one request. */
export function parseContentRange(header: string | undefined): ContentRange {
  if (header === undefined) return { start: 0 };
  const m = /^bytes (?:(\d+)-(\d+|\*)|\*)\/(\d+|\*)$/.exec(header.trim());
  if (!m) throw invalid(`Invalid Content-Range header: ${header}`);
  const num = (s: string | undefined): number | undefined =>
    s === undefined || s === "*" ? undefined : Number(s);
  return { start: num(m[1]), end: num(m[2]), total: num(m[3]) };
}

/** Drops the first `n` bytes of a stream (bytes the server already has). */
class SkipBytes extends Transform {
  /** Bytes that arrived, skipped or not. */
  seen = 0;
  constructor(private remaining: number) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.seen += chunk.length;
    if (this.remaining >= chunk.length) {
      this.remaining -= chunk.length;
      cb();
      return;
    }
    const out = chunk.subarray(this.remaining);
    this.remaining = 0;
    cb(null, out);
  }
}

export class ResumableSessions {
  private readonly locks = new KeyedLock();
  /** Running hashes per session, valid while their size equals the .part file's. */
  private readonly hashers = new Map<string, HashState>();
  /** The request body currently being appended, per session. */
  private readonly active = new Map<string, Readable>();

  constructor(
    private readonly store: GcsStore,
    private readonly dir: string,
  ) {}

  static async open(store: GcsStore, dataDir: string): Promise<ResumableSessions> {
    const dir = join(dataDir, "uploads");
    await mkdir(dir, { recursive: true });
    return new ResumableSessions(store, dir);
  }

  private recordPath(id: string): string {
    return join(this.dir, `${id}.json`);
  }

  private partPath(id: string): string {
    return join(this.dir, `${id}.part`);
  }

  async create(init: Omit<SessionRecord, "id" | "createdAt">): Promise<SessionRecord> {
    const rec: SessionRecord = {
      ...init,
      id: randomUUID().replace(/-/g, ""),
      createdAt: new Date().toISOString(),
    };
    await writeFile(this.partPath(rec.id), "");
    await writeFile(this.recordPath(rec.id), JSON.stringify(rec));
    return rec;
  }

  private async load(id: string): Promise<SessionRecord> {
    if (!/^[0-9a-f]{32}$/.test(id)) throw invalid(`Invalid upload_id: ${id}`);
    try {
      return JSON.parse(await readFile(this.recordPath(id), "utf8")) as SessionRecord;
    } catch {
      throw new GcsError(404, "notFound", `No such upload session: ${id}`);
    }
  }

  private async received(id: string): Promise<number> {
    return (await stat(this.partPath(id))).size;
  }

  /** Cancels a session (DELETE on the session URI). */
  async cancel(id: string): Promise<void> {
    await this.locks.run(id, async () => {
      await this.load(id);
      this.hashers.delete(id);
      await rm(this.partPath(id), { force: true });
      await rm(this.recordPath(id), { force: true });
    });
  }

  /**
   * One PUT on the session URI. `body` is consumed. `clientHashes` is the
   * X-Goog-Hash header, checked when the object is finished.
   */
  async put(
    id: string,
    rangeHeader: string | undefined,
    body: Readable,
    verify: (staged: StagedData) => void,
  ): Promise<PutOutcome> {
    const range = parseContentRange(rangeHeader);
    if (range.start === undefined) {
      // Status query: answered at once, even while an earlier PUT is still open
      // (a client that gave up may leave its request hanging, as with GCS).
      body.resume();
      const rec = this.settled(await this.load(id));
      if (rec) return rec;
      const total = range.total;
      if (total === undefined || (await this.received(id)) !== total) {
        return { kind: "incomplete", received: await this.received(id) };
      }
      // "bytes */N" with all N bytes held completes the upload.
    } else {
      // A new data request supersedes one still open on the same session.
      this.active.get(id)?.destroy();
      this.active.set(id, body);
    }
    try {
      return await this.locks.run(id, async () => {
        const rec = await this.load(id);
        const settled = this.settled(rec);
        if (settled) {
          body.resume();
          return settled;
        }
        let received = await this.received(id);
        if (range.start !== undefined) {
          if (range.start > received) {
            body.resume();
            throw invalid(
              `Invalid request. According to the Content-Range header, the upload offset is ${range.start} byte(s), which exceeds already uploaded size of ${received} byte(s).`,
            );
          }
          const ok = await this.append(id, body, received - range.start);
          received = await this.received(id);
          if (this.hashers.get(id)?.size !== received) this.hashers.delete(id);
          if (!ok) return { kind: "aborted" };
        }
        const total = range.total ?? rec.declaredSize;
        if (total !== undefined && received > total) {
          throw invalid(`Upload has ${received} bytes, more than the declared total of ${total}.`);
        }
        // "bytes a-*\/*" is the client's single-request form: the end of the body is the end of the object.
        const finished =
          total !== undefined
            ? received === total
            : range.start !== undefined && range.end === undefined && range.total === undefined;
        if (!finished) return { kind: "incomplete", received };
        return { kind: "done", meta: await this.finish(rec, received, verify) };
      });
    } finally {
      if (this.active.get(id) === body) this.active.delete(id);
    }
  }

  /** The outcome of a session that already completed or failed, else undefined. */
  private settled(rec: SessionRecord): PutOutcome | undefined {
    if (rec.final) return { kind: "done", meta: rec.final };
    if (rec.failed)
      throw new GcsError(rec.failed.status, rec.failed.reason as GcsError["reason"], rec.failed.message);
    return undefined;
  }

  /** Appends the request body (minus `skip` bytes already held); false when the client went away mid-body. */
  private async append(id: string, body: Readable, skip: number): Promise<boolean> {
    const size = await this.received(id);
    const existing = this.hashers.get(id);
    // Running hashes are only trusted if they cover exactly the bytes on disk.
    const valid = existing ? existing.size === size : size === 0;
    const hashes = valid ? (existing ?? new HashState()) : new HashState();
    if (valid) this.hashers.set(id, hashes);
    else this.hashers.delete(id);
    const skipper = new SkipBytes(skip);
    try {
      await pipeline(
        body,
        skipper,
        new HashingTransform(hashes),
        createWriteStream(this.partPath(id), { flags: "a" }),
      );
      return true;
    } catch (err) {
      if (body.destroyed || (err as NodeJS.ErrnoException).code === "ERR_STREAM_PREMATURE_CLOSE") {
        // The hashes may have seen bytes that never reached the file; put() re-checks sizes.
        return false;
      }
      throw err;
    } finally {
      this.store.bytesReceived += skipper.seen;
    }
  }

  private async finish(
    rec: SessionRecord,
    size: number,
    verify: (staged: StagedData) => void,
  ): Promise<ObjectMeta> {
    let hashes = this.hashers.get(rec.id);
    if (!hashes || hashes.size !== size) {
      const fresh = new HashState();
      for await (const chunk of createReadStream(this.partPath(rec.id)) as AsyncIterable<Buffer>)
        fresh.update(chunk);
      hashes = fresh;
    }
    this.hashers.delete(rec.id);
    const staged: StagedData = {
      path: this.partPath(rec.id),
      size,
      md5Hash: hashes.md5.digest("base64"),
      crc32c: hashes.crc.base64(),
    };
    try {
      verify(staged);
      const meta = await this.store.commit(rec.bucket, rec.name, staged, rec.fields, rec.pre);
      await writeFile(this.recordPath(rec.id), JSON.stringify({ ...rec, final: meta }));
      return meta;
    } catch (err) {
      if (err instanceof GcsError) {
        const failed = { status: err.status, reason: err.reason, message: err.message };
        await writeFile(this.recordPath(rec.id), JSON.stringify({ ...rec, failed }));
      }
      throw err;
    }
  }
}
