// What the store keeps per bucket and object, and how it is rendered as the
// JSON API's storage#bucket / storage#object resources.

export interface BucketMeta {
  name: string;
  projectId: string;
  location: string;
  storageClass: string;
  metageneration: string;
  timeCreated: string;
  updated: string;
  labels?: Record<string, string>;
}

export interface ObjectMeta {
  bucket: string;
  name: string;
  /** Decimal string, strictly increasing across all writes of this server. */
  generation: string;
  metageneration: string;
  size: number;
  md5Hash: string;
  crc32c: string;
  contentType: string;
  contentEncoding?: string;
  contentDisposition?: string;
  contentLanguage?: string;
  cacheControl?: string;
  /** Custom metadata (x-goog-meta-*). */
  metadata?: Record<string, string>;
  storageClass: string;
  timeCreated: string;
  updated: string;
}

/** Fields a client may set on upload or patch. */
export interface WritableFields {
  contentType?: string;
  contentEncoding?: string;
  contentDisposition?: string;
  contentLanguage?: string;
  cacheControl?: string;
  metadata?: Record<string, string>;
}

const WRITABLE_STRING_FIELDS = [
  "contentType",
  "contentEncoding",
  "contentDisposition",
  "contentLanguage",
  "cacheControl",
] as const;

/** Picks the writable fields out of a client's JSON resource (unknown fields are ignored, as GCS does for read-only ones). */
export function writableFields(body: unknown): WritableFields {
  const out: WritableFields = {};
  if (!body || typeof body !== "object") return out;
  const rec = body as Record<string, unknown>;
  for (const key of WRITABLE_STRING_FIELDS) {
    const v = rec[key];
    if (typeof v === "string") out[key] = v;
  }
  const md = rec["metadata"];
  if (md && typeof md === "object") {
    const custom: Record<string, string> = {};
    for (const [k, v] of Object.entries(md as Record<string, unknown>)) {
      if (v !== null && v !== undefined) custom[k] = typeof v === "string" ? v : JSON.stringify(v);
    }
    out.metadata = custom;
  }
  return out;
}

function objectPath(bucket: string, name: string): string {
  return `b/${encodeURIComponent(bucket)}/o/${encodeURIComponent(name)}`;
}

export function etagOf(meta: ObjectMeta): string {
  return Buffer.from(`${meta.generation}/${meta.metageneration}`).toString("base64");
}

export function objectResource(meta: ObjectMeta, baseUrl: string): Record<string, unknown> {
  const path = objectPath(meta.bucket, meta.name);
  return {
    kind: "storage#object",
    id: `${meta.bucket}/${meta.name}/${meta.generation}`,
    selfLink: `${baseUrl}/storage/v1/${path}`,
    mediaLink: `${baseUrl}/download/storage/v1/${path}?generation=${meta.generation}&alt=media`,
    name: meta.name,
    bucket: meta.bucket,
    generation: meta.generation,
    metageneration: meta.metageneration,
    contentType: meta.contentType,
    ...(meta.contentEncoding !== undefined && { contentEncoding: meta.contentEncoding }),
    ...(meta.contentDisposition !== undefined && { contentDisposition: meta.contentDisposition }),
    ...(meta.contentLanguage !== undefined && { contentLanguage: meta.contentLanguage }),
    ...(meta.cacheControl !== undefined && { cacheControl: meta.cacheControl }),
    storageClass: meta.storageClass,
    size: String(meta.size),
    md5Hash: meta.md5Hash,
    crc32c: meta.crc32c,
    etag: etagOf(meta),
    timeCreated: meta.timeCreated,
    updated: meta.updated,
    timeStorageClassUpdated: meta.timeCreated,
    ...(meta.metadata !== undefined && { metadata: meta.metadata }),
  };
}

export function bucketResource(meta: BucketMeta, baseUrl: string): Record<string, unknown> {
  return {
    kind: "storage#bucket",
    id: meta.name,
    selfLink: `${baseUrl}/storage/v1/b/${encodeURIComponent(meta.name)}`,
    name: meta.name,
    projectNumber: "0",
    metageneration: meta.metageneration,
    location: meta.location,
    locationType: "multi-region",
    storageClass: meta.storageClass,
    etag: Buffer.from(`${meta.name}/${meta.metageneration}`).toString("base64"),
    timeCreated: meta.timeCreated,
    updated: meta.updated,
    ...(meta.labels !== undefined && { labels: meta.labels }),
  };
}
