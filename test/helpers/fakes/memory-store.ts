// An in-memory ObjectStore with GCS's generation semantics: every write gets a
// new generation, a conditional write checks it atomically (CONFLICT when
// another writer got there first), names list in order. Fast enough for
// hundreds of randomized runs; the real adapter is tested against the local
// GCS (test/local/gcs) and end to end.
import type { Readable } from "node:stream";
import { ExportError } from "../../../functions/src/core/errors.js";
import type { ListedObject, ObjectStore, StoredObject } from "../../../functions/src/app/ports.js";

interface Entry {
  data: Buffer;
  generation: number;
  metadata: Record<string, string>;
}

export class MemoryStore implements ObjectStore {
  readonly objects = new Map<string, Entry>();
  private generation = 0;

  constructor(
    readonly bucket = "fake-bucket",
    /** Awaited at every call, so concurrent callers interleave (a seeded scheduler). */
    private readonly yieldPoint: () => Promise<void> = () => Promise.resolve(),
  ) {}

  uri(name: string): string {
    return `gs://${this.bucket}/${name}`;
  }

  /** The object name of one of our gs:// URIs. */
  nameOf(uri: string): string {
    const prefix = `gs://${this.bucket}/`;
    if (!uri.startsWith(prefix)) throw new Error(`not an object of ${this.bucket}: ${uri}`);
    return uri.slice(prefix.length);
  }

  bytes(name: string): Buffer | undefined {
    return this.objects.get(name)?.data;
  }

  async read(name: string): Promise<StoredObject | undefined> {
    await this.yieldPoint();
    const e = this.objects.get(name);
    return e ? { text: e.data.toString("utf8"), generation: String(e.generation) } : undefined;
  }

  async writeIfGeneration(
    name: string,
    text: string,
    ifGeneration: string,
    metadata: Record<string, string> = {},
  ): Promise<string> {
    await this.yieldPoint();
    const current = this.objects.get(name)?.generation ?? 0;
    if (current !== Number(ifGeneration)) {
      throw new ExportError("CONFLICT", `gs://${this.bucket}/${name} was changed by another call.`);
    }
    const generation = ++this.generation;
    this.objects.set(name, { data: Buffer.from(text, "utf8"), generation, metadata: { ...metadata } });
    return String(generation);
  }

  async list(prefix: string, startOffset?: string): Promise<ListedObject[]> {
    await this.yieldPoint();
    return [...this.objects.entries()]
      .filter(([name]) => name.startsWith(prefix) && (startOffset === undefined || name >= startOffset))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([name, e]) => ({ name, metadata: { ...e.metadata } }));
  }

  async upload(name: string, body: Readable): Promise<number> {
    const chunks: Buffer[] = [];
    for await (const chunk of body) chunks.push(Buffer.from(chunk as Uint8Array));
    await this.yieldPoint();
    // Uploads are conditional on absence (ifGenerationMatch: 0), as the adapter's.
    if (this.objects.has(name)) throw new ExportError("CONFLICT", `gs://${this.bucket}/${name} exists.`);
    const data = Buffer.concat(chunks);
    this.objects.set(name, { data, generation: ++this.generation, metadata: {} });
    return data.length;
  }

  async deletePrefix(prefix: string): Promise<number> {
    await this.yieldPoint();
    const names = [...this.objects.keys()].filter((n) => n.startsWith(prefix));
    for (const n of names) this.objects.delete(n);
    return names.length;
  }
}
