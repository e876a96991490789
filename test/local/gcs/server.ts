// A local Cloud Storage JSON API server on loopback, for @google-cloud/storage
// used unchanged via `apiEndpoint` (or STORAGE_EMULATOR_HOST). Objects live on
// disk under dataDir and are streamed in and out, never held whole in memory.
//
// Implemented: buckets.insert/get/list/delete; objects.insert (uploadType
// media, multipart, resumable incl. chunked PUTs, status query, cancel),
// objects.get (metadata, alt=media with Range, /download and path-style URLs),
// objects.list (prefix, delimiter, pageToken, maxResults, startOffset, endOffset),
// objects.patch, objects.delete; generation/metageneration preconditions.
// Everything else answers 501 naming the method.
import { mkdir } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Readable } from "node:stream";
import { finished } from "node:stream/promises";
import { readBody, sendJson, startHttpServer } from "../common/net.js";
import { sendMedia } from "./download.js";
import {
  GcsError,
  invalid,
  noSuchBucket,
  noSuchObject,
  notImplemented,
  required,
  sendGcsError,
} from "./errors.js";
import { listPage } from "./listing.js";
import { parseRelated, relatedBoundary } from "./multipart.js";
import { checkPreconditions, parsePreconditions } from "./preconditions.js";
import {
  bucketResource,
  objectResource,
  writableFields,
  type BucketMeta,
  type ObjectMeta,
  type WritableFields,
} from "./resources.js";
import { ResumableSessions } from "./resumable.js";
import { route, type Route } from "./routes.js";
import { GcsStore, type StagedData } from "./store.js";

export type { ObjectMeta, BucketMeta } from "./resources.js";

export interface GcsServerOptions {
  dataDir: string;
  /** 0 or absent: any free port. */
  port?: number;
  /** Project reported for buckets; default "local-project". */
  projectId?: string;
}

export interface GcsServer {
  /** e.g. http://127.0.0.1:PORT — use as `apiEndpoint` or STORAGE_EMULATOR_HOST. */
  url: string;
  port: number;
  dataDir: string;
  projectId: string;
  stop(): Promise<void>;
  /** Stored bytes of the current generation; throws a 404 GcsError if absent. */
  openRead(bucket: string, name: string): Readable;
  /** Current objects under `prefix`, in listing (byte) order; throws a 404 GcsError for a missing bucket. */
  list(bucket: string, prefix?: string): ObjectMeta[];
  /** Current metadata, or undefined if the object does not exist. */
  stat(bucket: string, name: string): ObjectMeta | undefined;
  /** Creates a bucket if it does not exist yet (stack setup). */
  ensureBucket(name: string, location?: string): Promise<BucketMeta>;
  /** Counters for tests: object bytes received from clients since start. */
  stats(): { bytesReceived: number };
}

export const IMPLEMENTED_METHODS = [
  "storage.buckets.insert",
  "storage.buckets.get",
  "storage.buckets.list",
  "storage.buckets.delete",
  "storage.objects.insert (uploadType=media|multipart|resumable)",
  "storage.objects.get (alt=json|media, Range)",
  "storage.objects.list",
  "storage.objects.patch",
  "storage.objects.delete",
] as const;

const MAX_JSON_BYTES = 1 << 20;

function validateObjectName(name: string): void {
  const bytes = Buffer.byteLength(name);
  if (bytes === 0 || bytes > 1024 || /[\r\n]/.test(name))
    throw invalid(`Invalid object name: ${JSON.stringify(name)}`);
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const text = (await readBody(req, MAX_JSON_BYTES)).toString("utf8").trim();
  if (!text) return {};
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed && typeof parsed === "object" && !Array.isArray(parsed))
      return parsed as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw invalid("Parse Error: the request body is not a JSON object");
}

/** Checks X-Goog-Hash (or resource crc32c/md5Hash) the client sent against what was received. */
function verifyHashes(claimed: { crc32c?: string; md5?: string }, staged: StagedData): void {
  if (claimed.crc32c !== undefined && claimed.crc32c !== staged.crc32c) {
    throw invalid(`Provided CRC32C "${claimed.crc32c}" doesn't match calculated CRC32C "${staged.crc32c}".`);
  }
  if (claimed.md5 !== undefined && claimed.md5 !== staged.md5Hash) {
    throw invalid(
      `Provided MD5 hash "${claimed.md5}" doesn't match calculated MD5 hash "${staged.md5Hash}".`,
    );
  }
}

function hashHeader(req: IncomingMessage): { crc32c?: string; md5?: string } {
  const out: { crc32c?: string; md5?: string } = {};
  const header = req.headers["x-goog-hash"];
  for (const part of (Array.isArray(header) ? header.join(",") : (header ?? "")).split(",")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === "crc32c") out.crc32c = value;
    if (key === "md5") out.md5 = value;
  }
  return out;
}

/** Lets an unread request body drain so the error response reaches the client. */
async function discardBody(req: IncomingMessage): Promise<void> {
  if (req.complete || req.destroyed) return;
  req.resume();
  await finished(req).catch(() => undefined);
}

export async function startGcsServer(opts: GcsServerOptions): Promise<GcsServer> {
  await mkdir(opts.dataDir, { recursive: true });
  const projectId = opts.projectId ?? "local-project";
  const store = await GcsStore.open(opts.dataDir);
  const sessions = await ResumableSessions.open(store, opts.dataDir);
  let fallbackBase = "";

  const requireBucket = (bucket: string): BucketMeta => {
    const meta = store.getBucket(bucket);
    if (!meta) throw noSuchBucket();
    return meta;
  };

  async function stageAndCommit(
    bucket: string,
    name: string,
    source: Readable,
    fields: WritableFields,
    query: URLSearchParams,
    claimed: { crc32c?: string; md5?: string },
  ): Promise<ObjectMeta> {
    const pre = parsePreconditions(query);
    const staged = await store.stage(source);
    try {
      verifyHashes(claimed, staged);
    } catch (err) {
      await store.discardStaged(staged);
      throw err;
    }
    return store.commit(bucket, name, staged, fields, pre);
  }

  async function insert(
    req: IncomingMessage,
    res: ServerResponse,
    bucket: string,
    q: URLSearchParams,
    base: string,
  ) {
    requireBucket(bucket);
    const uploadType = q.get("uploadType");
    if (uploadType === "media") {
      const name = q.get("name");
      if (!name) throw required("Required parameter: name");
      validateObjectName(name);
      const fields: WritableFields = {
        contentType: req.headers["content-type"] ?? "application/octet-stream",
      };
      const encoding = q.get("contentEncoding");
      if (encoding) fields.contentEncoding = encoding;
      const meta = await stageAndCommit(bucket, name, req, fields, q, hashHeader(req));
      sendJson(res, 200, objectResource(meta, base));
      return;
    }
    if (uploadType === "multipart") {
      const boundary = relatedBoundary(req.headers["content-type"]);
      if (!boundary)
        throw invalid("Multipart upload requires a multipart/related Content-Type with a boundary");
      const part = await parseRelated(req, boundary);
      let resource: Record<string, unknown>;
      try {
        resource = JSON.parse(part.metadata.toString("utf8") || "{}") as Record<string, unknown>;
      } catch {
        throw invalid("Parse Error: the metadata part is not JSON");
      }
      const name = q.get("name") ?? (typeof resource["name"] === "string" ? resource["name"] : undefined);
      if (!name) throw required("Required parameter: name");
      validateObjectName(name);
      const fields = writableFields(resource);
      fields.contentType ??= part.mediaContentType ?? "application/octet-stream";
      const claimed = hashHeader(req);
      if (typeof resource["crc32c"] === "string") claimed.crc32c = resource["crc32c"];
      if (typeof resource["md5Hash"] === "string") claimed.md5 = resource["md5Hash"];
      const meta = await stageAndCommit(bucket, name, part.media, fields, q, claimed);
      sendJson(res, 200, objectResource(meta, base));
      return;
    }
    if (uploadType === "resumable") {
      const resource = await readJson(req);
      const name = q.get("name") ?? (typeof resource["name"] === "string" ? resource["name"] : undefined);
      if (!name) throw required("Required parameter: name");
      validateObjectName(name);
      const fields = writableFields(resource);
      const headerType = req.headers["x-upload-content-type"];
      if (fields.contentType === undefined && typeof headerType === "string") fields.contentType = headerType;
      const pre = parsePreconditions(q);
      // GCS checks preconditions when the session starts, and again when it completes.
      checkPreconditions(pre, store.findObject(bucket, name));
      const declared = req.headers["x-upload-content-length"];
      const rec = await sessions.create({
        bucket,
        name,
        fields,
        pre,
        ...(typeof declared === "string" && /^\d+$/.test(declared) && { declaredSize: Number(declared) }),
      });
      const location =
        `${base}/upload/storage/v1/b/${encodeURIComponent(bucket)}/o?uploadType=resumable` +
        `&name=${encodeURIComponent(name)}&upload_id=${rec.id}`;
      res.writeHead(200, { location, "content-length": "0" });
      res.end();
      return;
    }
    throw invalid(
      uploadType === null
        ? "Upload requests must include an uploadType URL parameter (media, multipart or resumable)"
        : `Invalid uploadType: ${uploadType}`,
    );
  }

  async function uploadSession(req: IncomingMessage, res: ServerResponse, q: URLSearchParams, base: string) {
    const id = q.get("upload_id");
    if (!id) throw required("Required parameter: upload_id");
    if (req.method === "DELETE") {
      await discardBody(req);
      await sessions.cancel(id);
      res.writeHead(499, { "content-length": "0" });
      res.end();
      return;
    }
    const outcome = await sessions.put(id, req.headers["content-range"], req, (staged) =>
      verifyHashes(hashHeader(req), staged),
    );
    switch (outcome.kind) {
      case "aborted":
        return; // the client is gone; what arrived is kept for a resume
      case "incomplete": {
        const headers: Record<string, string> = { "content-length": "0" };
        if (outcome.received > 0) headers["range"] = `bytes=0-${outcome.received - 1}`;
        res.writeHead(308, headers);
        res.end();
        return;
      }
      case "done":
        sendJson(res, 200, objectResource(outcome.meta, base));
        return;
    }
  }

  async function dispatch(
    req: IncomingMessage,
    res: ServerResponse,
    r: Route,
    q: URLSearchParams,
    base: string,
  ) {
    switch (r.method) {
      case "buckets.insert": {
        if (!q.get("project")) throw required("Required parameter: project");
        const body = await readJson(req);
        const name = body["name"];
        if (typeof name !== "string" || !name) throw required("Required");
        const now = new Date().toISOString();
        const meta = await store.createBucket({
          name,
          projectId: q.get("project") ?? projectId,
          location: typeof body["location"] === "string" ? body["location"].toUpperCase() : "US",
          storageClass: typeof body["storageClass"] === "string" ? body["storageClass"] : "STANDARD",
          metageneration: "1",
          timeCreated: now,
          updated: now,
          ...(isRecord(body["labels"]) && { labels: body["labels"] as Record<string, string> }),
        });
        sendJson(res, 200, bucketResource(meta, base));
        return;
      }
      case "buckets.get":
        sendJson(res, 200, bucketResource(requireBucket(r.bucket), base));
        return;
      case "buckets.list": {
        if (!q.get("project")) throw required("Required parameter: project");
        const prefix = q.get("prefix") ?? "";
        const items = store.listBuckets().filter((b) => b.name.startsWith(prefix));
        sendJson(res, 200, {
          kind: "storage#buckets",
          ...(items.length > 0 && { items: items.map((b) => bucketResource(b, base)) }),
        });
        return;
      }
      case "buckets.delete":
        await store.deleteBucket(r.bucket);
        res.writeHead(204);
        res.end();
        return;
      case "objects.list": {
        requireBucket(r.bucket);
        if (q.get("matchGlob") !== null)
          throw notImplemented("objects.list with matchGlob is not implemented by the local GCS server");
        const maxRaw = q.get("maxResults");
        if (maxRaw !== null && !/^\d+$/.test(maxRaw))
          throw invalid(`Invalid value for maxResults: ${maxRaw}`);
        const maxResults = maxRaw === null || Number(maxRaw) === 0 ? 1000 : Math.min(Number(maxRaw), 1000);
        const prefix = q.get("prefix") ?? "";
        const page = listPage(store.listObjects(r.bucket, prefix), {
          prefix,
          maxResults,
          ...(q.get("delimiter") && { delimiter: q.get("delimiter")! }),
          ...(q.get("pageToken") && { pageToken: q.get("pageToken")! }),
          ...(q.get("startOffset") && { startOffset: q.get("startOffset")! }),
          ...(q.get("endOffset") && { endOffset: q.get("endOffset")! }),
          includeTrailingDelimiter: q.get("includeTrailingDelimiter") === "true",
        });
        sendJson(res, 200, {
          kind: "storage#objects",
          ...(page.nextPageToken !== undefined && { nextPageToken: page.nextPageToken }),
          ...(page.prefixes.length > 0 && { prefixes: page.prefixes }),
          ...(page.items.length > 0 && { items: page.items.map((m) => objectResource(m, base)) }),
        });
        return;
      }
      case "objects.get": {
        const meta = store.getObject(r.bucket, r.object);
        const generation = q.get("generation");
        if (generation !== null && generation !== meta.generation) throw noSuchObject(r.bucket, r.object);
        checkPreconditions(parsePreconditions(q), meta);
        if (r.forceMedia || q.get("alt") === "media") {
          await sendMedia(req, res, meta, store.dataPath(meta));
        } else {
          sendJson(res, 200, objectResource(meta, base));
        }
        return;
      }
      case "objects.delete":
        await store.deleteObject(r.bucket, r.object, parsePreconditions(q), q.get("generation") ?? undefined);
        res.writeHead(204);
        res.end();
        return;
      case "objects.patch": {
        const fields = writableFields(await readJson(req));
        const meta = await store.patchObject(
          r.bucket,
          r.object,
          fields,
          parsePreconditions(q),
          q.get("generation") ?? undefined,
        );
        sendJson(res, 200, objectResource(meta, base));
        return;
      }
      case "objects.insert":
        await insert(req, res, r.bucket, q, base);
        return;
      case "objects.upload":
        await uploadSession(req, res, q, base);
        return;
      case "unimplemented":
        throw notImplemented(
          r.name.startsWith("storage.")
            ? `Method ${r.name} is not implemented by the local GCS server (it implements: ${IMPLEMENTED_METHODS.join(", ")})`
            : `No method of the local GCS server matches ${r.name}`,
        );
    }
  }

  const http = await startHttpServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://local");
    const base = req.headers.host ? `http://${req.headers.host}` : fallbackBase;
    try {
      await dispatch(req, res, route(req.method ?? "GET", url.pathname), url.searchParams, base);
    } catch (err) {
      if (res.destroyed || req.socket.destroyed) return; // client went away mid-request
      await discardBody(req);
      if (!(err instanceof GcsError)) console.error("local GCS: unexpected error", err);
      sendGcsError(res, err);
    }
  }, opts.port ?? 0);
  fallbackBase = http.url;

  return {
    url: http.url,
    port: http.port,
    dataDir: opts.dataDir,
    projectId,
    stop: () => http.close(),
    openRead: (bucket, name) => store.openData(store.getObject(bucket, name)),
    list: (bucket, prefix = "") => store.snapshot(bucket, prefix),
    stat: (bucket, name) => {
      const meta = store.findObject(bucket, name);
      return meta && { ...meta };
    },
    stats: () => ({ bytesReceived: store.bytesReceived }),
    ensureBucket: async (name, location = "US") => {
      const existing = store.getBucket(name);
      if (existing) return existing;
      const now = new Date().toISOString();
      return store.createBucket({
        name,
        projectId,
        location,
        storageClass: "STANDARD",
        metageneration: "1",
        timeCreated: now,
        updated: now,
      });
    },
  };
}
