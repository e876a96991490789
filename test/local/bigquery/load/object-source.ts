// Where load jobs read gs:// objects from: the local GCS server's JSON API,
// over HTTP, streamed. Wildcard URIs are expanded by listing the prefix.
import { get, type IncomingMessage } from "node:http";
import { Readable } from "node:stream";
import { ApiError } from "../errors.js";

export interface ObjectInfo {
  bucket: string;
  name: string;
  size: number;
}

export interface ObjectSource {
  /** Objects whose names start with prefix, in name order. */
  list(bucket: string, prefix: string): AsyncIterable<ObjectInfo>;
  /** The object's stored bytes (not decompressed). */
  open(object: ObjectInfo): Promise<Readable>;
}

interface GcsListPage {
  items?: Array<{ name: string; size?: string }>;
  nextPageToken?: string;
}

/** An ObjectSource over a GCS JSON API endpoint (e.g. the local GCS server's url). */
export function gcsObjectSource(baseUrl: string): ObjectSource {
  const base = baseUrl.replace(/\/+$/, "");
  return {
    async *list(bucket, prefix) {
      let pageToken: string | undefined;
      do {
        const q = new URLSearchParams({ prefix });
        if (pageToken) q.set("pageToken", pageToken);
        const res = await fetch(`${base}/storage/v1/b/${encodeURIComponent(bucket)}/o?${q.toString()}`);
        if (res.status === 404) throw new ApiError("notFound", `Not found: URI gs://${bucket}/${prefix}`);
        if (!res.ok)
          throw new ApiError(
            "backendError",
            `Error while reading data: listing gs://${bucket} answered ${res.status}`,
          );
        const page = (await res.json()) as GcsListPage;
        for (const item of page.items ?? []) yield { bucket, name: item.name, size: Number(item.size ?? 0) };
        pageToken = page.nextPageToken;
      } while (pageToken);
    },
    open(object) {
      const url = `${base}/storage/v1/b/${encodeURIComponent(object.bucket)}/o/${encodeURIComponent(object.name)}?alt=media`;
      return Promise.resolve(Readable.from(resumableBody(url, `gs://${object.bucket}/${object.name}`)));
    },
  };
}

const READ_ATTEMPTS = 4;

function httpGet(url: string, headers: Record<string, string>): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = get(url, { headers }, resolve);
    req.once("error", reject);
  });
}

/**
 * The object's stored bytes (node:http does not decompress, so gzip is
 * detected from the content, as BigQuery does). A connection lost mid-object
 * is resumed with a Range request from the last byte received.
 */
async function* resumableBody(url: string, uri: string): AsyncGenerator<Buffer> {
  let offset = 0;
  let failures = 0;
  for (;;) {
    let res: IncomingMessage | undefined;
    try {
      res = await httpGet(url, offset > 0 ? { range: `bytes=${offset}-` } : {});
      if (res.statusCode === 404) throw new ApiError("notFound", `Not found: URI ${uri}`);
      const expected = offset > 0 ? 206 : 200;
      if (res.statusCode !== expected) {
        throw new ApiError(
          "backendError",
          `Error while reading data: ${uri} answered HTTP ${res.statusCode ?? 0}`,
        );
      }
      for await (const chunk of res as AsyncIterable<Buffer>) {
        offset += chunk.length;
        yield chunk;
      }
      if (!res.complete) throw new Error("connection closed before the whole object was read");
      return;
    } catch (err) {
      if (err instanceof ApiError) throw err;
      failures++;
      if (failures >= READ_ATTEMPTS) {
        throw new ApiError(
          "backendError",
          `Error while reading data: ${uri}: ${err instanceof Error ? err.message : String(err)}`,
        );
      }
    } finally {
      res?.destroy();
    }
  }
}

export interface GsUri {
  bucket: string;
  name: string;
}

export function parseGsUri(uri: string): GsUri {
  const m = /^gs:\/\/([^/]+)\/(.+)$/.exec(uri);
  if (!m?.[1] || !m[2])
    throw new ApiError(
      "invalid",
      `Invalid source URI: ${uri}. Source URIs must be of the form gs://bucket/object.`,
    );
  return { bucket: m[1], name: m[2] };
}

/**
 * Expands the job's sourceUris: each may hold one '*' wildcard in the object
 * name, matching any characters. A URI that matches nothing fails the job
 * with notFound, as BigQuery does.
 */
export async function resolveSourceUris(source: ObjectSource, uris: string[]): Promise<ObjectInfo[]> {
  const out: ObjectInfo[] = [];
  for (const uri of uris) {
    const { bucket, name } = parseGsUri(uri);
    const stars = name.split("*").length - 1;
    if (stars > 1)
      throw new ApiError("invalid", `Invalid source URI: ${uri}. Only one wildcard is allowed per URI.`);
    const prefix = stars === 1 ? name.slice(0, name.indexOf("*")) : name;
    const pattern =
      stars === 1
        ? new RegExp(
            `^${name
              .split("*")
              .map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))
              .join(".*")}$`,
            "s",
          )
        : undefined;
    let found = 0;
    for await (const obj of source.list(bucket, prefix)) {
      if (pattern ? pattern.test(obj.name) : obj.name === name) {
        out.push(obj);
        found++;
      }
    }
    if (found === 0) throw new ApiError("notFound", `Not found: URI ${uri}`);
  }
  return out;
}
