// Buckets and objects on disk. Layout under dataDir:
//   buckets/<bucket>/bucket.json
//   buckets/<bucket>/objects/<sha256(name)>.json         current metadata (the commit point)
//   buckets/<bucket>/objects/<sha256(name)>.<gen>.data   bytes of that generation
//   tmp/                                                 uploads being received
// Object names may be 1024 bytes with any characters, hence the hashed file names.
// Metadata is also indexed in memory (rebuilt from disk on start) so listing is cheap.
import { createHash, randomUUID } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, readdir, readFile, rename, rm, unlink, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { Transform, type Readable, type TransformCallback } from "node:stream";
import { pipeline } from "node:stream/promises";
import { Crc32c } from "../common/crc32c.js";
import { GcsError, invalid, noSuchBucket, noSuchObject } from "./errors.js";
import { KeyedLock } from "./keyed-lock.js";
import { checkPreconditions, type Preconditions } from "./preconditions.js";
import type { BucketMeta, ObjectMeta, WritableFields } from "./resources.js";

/** Bytes received into a temp file, with the hashes computed while they streamed in. */
export interface StagedData {
  path: string;
  size: number;
  md5Hash: string;
  crc32c: string;
}

/** Running size, CRC32C and MD5 of bytes seen so far (may span several requests). */
export class HashState {
  readonly crc = new Crc32c();
  readonly md5 = createHash("md5");
  size = 0;
  update(chunk: Buffer): void {
    this.crc.update(chunk);
    this.md5.update(chunk);
    this.size += chunk.length;
  }
}

/** Passes bytes through unchanged while feeding them to a HashState. */
export class HashingTransform extends Transform {
  constructor(readonly state: HashState = new HashState()) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.state.update(chunk);
    cb(null, chunk);
  }
}

interface BucketEntry {
  meta: BucketMeta;
  objects: Map<string, ObjectMeta>;
}

const nameKey = (name: string): string => createHash("sha256").update(name).digest("hex");

/** GCS bucket naming rules (the subset that matters here): 3-63 of [a-z0-9._-], alphanumeric at both ends, not "goog…". */
export function isValidBucketName(name: string): boolean {
  return /^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$/.test(name) && !name.startsWith("goog") && !name.includes("..");
}

/** Byte-wise (UTF-8) order, the order GCS lists in. */
export const compareNames = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));

export class GcsStore {
  private readonly buckets = new Map<string, BucketEntry>();
  private readonly locks = new KeyedLock();
  private lastGeneration = 0n;
  /** Object bytes that arrived in upload requests since start (including resent bytes a session already held). */
  bytesReceived = 0;

  private constructor(readonly dataDir: string) {}

  static async open(dataDir: string): Promise<GcsStore> {
    const store = new GcsStore(dataDir);
    // Whatever is in tmp/ belongs to uploads that never completed (a crash or kill): drop it.
    await rm(store.tmpDir, { recursive: true, force: true });
    await mkdir(store.tmpDir, { recursive: true });
    await mkdir(join(dataDir, "buckets"), { recursive: true });
    await store.load();
    return store;
  }

  get tmpDir(): string {
    return join(this.dataDir, "tmp");
  }

  private bucketDir(bucket: string): string {
    return join(this.dataDir, "buckets", bucket);
  }

  private metaPath(bucket: string, name: string): string {
    return join(this.bucketDir(bucket), "objects", `${nameKey(name)}.json`);
  }

  dataPath(meta: Pick<ObjectMeta, "bucket" | "name" | "generation">): string {
    return join(this.bucketDir(meta.bucket), "objects", `${nameKey(meta.name)}.${meta.generation}.data`);
  }

  private async load(): Promise<void> {
    for (const bucket of await readdir(join(this.dataDir, "buckets"))) {
      const dir = this.bucketDir(bucket);
      let meta: BucketMeta;
      try {
        meta = JSON.parse(await readFile(join(dir, "bucket.json"), "utf8")) as BucketMeta;
      } catch {
        continue; // a bucket whose creation never completed
      }
      const objects = new Map<string, ObjectMeta>();
      const files = await readdir(join(dir, "objects"));
      for (const file of files) {
        if (!file.endsWith(".json")) continue;
        const obj = JSON.parse(await readFile(join(dir, "objects", file), "utf8")) as ObjectMeta;
        objects.set(obj.name, obj);
        if (BigInt(obj.generation) > this.lastGeneration) this.lastGeneration = BigInt(obj.generation);
      }
      // Data files no metadata points at: a crash between the data rename and the metadata write.
      const live = new Set([...objects.values()].map((m) => basename(this.dataPath(m))));
      for (const file of files) {
        if (file.endsWith(".data") && !live.has(file))
          await unlink(join(dir, "objects", file)).catch(() => undefined);
      }
      this.buckets.set(bucket, { meta, objects });
    }
  }

  /** Microseconds since the epoch, like GCS generations, but never repeating. */
  private nextGeneration(): string {
    const now = BigInt(Date.now()) * 1000n;
    this.lastGeneration = now > this.lastGeneration ? now : this.lastGeneration + 1n;
    return this.lastGeneration.toString();
  }

  // ---- buckets ----

  getBucket(name: string): BucketMeta | undefined {
    return this.buckets.get(name)?.meta;
  }

  listBuckets(): BucketMeta[] {
    return [...this.buckets.values()].map((b) => b.meta).sort((a, b) => compareNames(a.name, b.name));
  }

  private requireBucket(name: string): BucketEntry {
    const entry = this.buckets.get(name);
    if (!entry) throw noSuchBucket();
    return entry;
  }

  async createBucket(meta: BucketMeta): Promise<BucketMeta> {
    if (!isValidBucketName(meta.name)) throw invalid(`Invalid bucket name: '${meta.name}'`);
    return this.locks.run(`bucket\0${meta.name}`, async () => {
      if (this.buckets.has(meta.name)) {
        throw new GcsError(
          409,
          "conflict",
          "Your previous request to create the named bucket succeeded and you already own it.",
        );
      }
      const dir = this.bucketDir(meta.name);
      await mkdir(join(dir, "objects"), { recursive: true });
      await writeAtomically(join(dir, "bucket.json"), JSON.stringify(meta), this.tmpDir);
      this.buckets.set(meta.name, { meta, objects: new Map() });
      return meta;
    });
  }

  async deleteBucket(name: string): Promise<void> {
    await this.locks.run(`bucket\0${name}`, async () => {
      const entry = this.requireBucket(name);
      if (entry.objects.size > 0)
        throw new GcsError(409, "conflict", "The bucket you tried to delete is not empty.");
      this.buckets.delete(name);
      await rm(this.bucketDir(name), { recursive: true, force: true });
    });
  }

  // ---- objects ----

  /** Current metadata of an object; throws 404 for a missing bucket, returns undefined for a missing object. */
  findObject(bucket: string, name: string): ObjectMeta | undefined {
    return this.requireBucket(bucket).objects.get(name);
  }

  getObject(bucket: string, name: string): ObjectMeta {
    const meta = this.findObject(bucket, name);
    if (!meta) throw noSuchObject(bucket, name);
    return meta;
  }

  /** All current objects of a bucket whose names start with `prefix`, in listing order. */
  listObjects(bucket: string, prefix = ""): ObjectMeta[] {
    const out: ObjectMeta[] = [];
    for (const meta of this.requireBucket(bucket).objects.values()) {
      if (meta.name.startsWith(prefix)) out.push(meta);
    }
    return out.sort((a, b) => compareNames(a.name, b.name));
  }

  /** Copies, so callers outside the store cannot alter its index. */
  snapshot(bucket: string, prefix = ""): ObjectMeta[] {
    return this.listObjects(bucket, prefix).map((m) => ({
      ...m,
      ...(m.metadata && { metadata: { ...m.metadata } }),
    }));
  }

  /** A new temp file path on the same filesystem as the objects (so commit is a rename). */
  tempPath(): string {
    return join(this.tmpDir, `${randomUUID()}.part`);
  }

  /** Streams `source` into a temp file, hashing on the way; the temp file is removed on failure. */
  async stage(source: Readable): Promise<StagedData> {
    const path = this.tempPath();
    const hashes = new HashState();
    try {
      await pipeline(source, new HashingTransform(hashes), createWriteStream(path));
    } catch (err) {
      await unlink(path).catch(() => undefined);
      throw err;
    } finally {
      this.bytesReceived += hashes.size;
    }
    return { path, size: hashes.size, md5Hash: hashes.md5.digest("base64"), crc32c: hashes.crc.base64() };
  }

  async discardStaged(staged: StagedData): Promise<void> {
    await unlink(staged.path).catch(() => undefined);
  }

  /**
   * Makes staged bytes the new generation of bucket/name if `pre` holds at that
   * moment; the check and the switch happen under one per-name lock. The staged
   * file is consumed (renamed or removed) either way.
   */
  async commit(
    bucket: string,
    name: string,
    staged: StagedData,
    fields: WritableFields,
    pre: Preconditions,
  ): Promise<ObjectMeta> {
    try {
      return await this.locks.run(`object\0${bucket}\0${name}`, async () => {
        const entry = this.requireBucket(bucket);
        const current = entry.objects.get(name);
        checkPreconditions(pre, current);
        const now = new Date().toISOString();
        const meta: ObjectMeta = {
          bucket,
          name,
          generation: this.nextGeneration(),
          metageneration: "1",
          size: staged.size,
          md5Hash: staged.md5Hash,
          crc32c: staged.crc32c,
          contentType: fields.contentType ?? "application/octet-stream",
          ...withoutUndefined({
            contentEncoding: fields.contentEncoding,
            contentDisposition: fields.contentDisposition,
            contentLanguage: fields.contentLanguage,
            cacheControl: fields.cacheControl,
            metadata: fields.metadata,
          }),
          storageClass: entry.meta.storageClass,
          timeCreated: now,
          updated: now,
        };
        await rename(staged.path, this.dataPath(meta));
        await writeAtomically(this.metaPath(bucket, name), JSON.stringify(meta), this.tmpDir);
        entry.objects.set(name, meta);
        // Open readers of the old generation keep their file handle; the name goes now.
        if (current) await unlink(this.dataPath(current)).catch(() => undefined);
        return meta;
      });
    } finally {
      await unlink(staged.path).catch(() => undefined);
    }
  }

  async deleteObject(bucket: string, name: string, pre: Preconditions, generation?: string): Promise<void> {
    await this.locks.run(`object\0${bucket}\0${name}`, async () => {
      const entry = this.requireBucket(bucket);
      const current = entry.objects.get(name);
      if (!current || (generation !== undefined && generation !== current.generation)) {
        throw noSuchObject(bucket, name);
      }
      checkPreconditions(pre, current);
      await unlink(this.metaPath(bucket, name));
      entry.objects.delete(name);
      await unlink(this.dataPath(current)).catch(() => undefined);
    });
  }

  /** Updates metadata in place (same generation, metageneration + 1). */
  async patchObject(
    bucket: string,
    name: string,
    fields: WritableFields,
    pre: Preconditions,
    generation?: string,
  ): Promise<ObjectMeta> {
    return this.locks.run(`object\0${bucket}\0${name}`, async () => {
      const entry = this.requireBucket(bucket);
      const current = entry.objects.get(name);
      if (!current || (generation !== undefined && generation !== current.generation)) {
        throw noSuchObject(bucket, name);
      }
      checkPreconditions(pre, current);
      const { metadata, ...plain } = fields;
      const next: ObjectMeta = {
        ...current,
        ...plain,
        metageneration: String(Number(current.metageneration) + 1),
        updated: new Date().toISOString(),
      };
      // Patch semantics for custom metadata: keys merge; GCS removes a key set to null (dropped by writableFields).
      if (metadata !== undefined) next.metadata = { ...current.metadata, ...metadata };
      await writeAtomically(this.metaPath(bucket, name), JSON.stringify(next), this.tmpDir);
      entry.objects.set(name, next);
      return next;
    });
  }

  /** Streams the stored bytes of `meta` (inclusive byte range when given). */
  openData(meta: ObjectMeta, range?: { start: number; end: number }): Readable {
    return createReadStream(this.dataPath(meta), range ?? {});
  }
}

function withoutUndefined<T extends object>(obj: T): Partial<T> {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Write-then-rename, so a reader or a crash never sees half a file. */
async function writeAtomically(path: string, text: string, tmpDir: string): Promise<void> {
  const tmp = join(tmpDir, `${randomUUID()}.tmp`);
  await writeFile(tmp, text);
  await rename(tmp, path);
}
