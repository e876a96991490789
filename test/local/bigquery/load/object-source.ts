// Where load jobs read gs:// objects from: the local GCS server's JSON API,
// over HTTP, streamed. Wildcard URIs are expanded by listing the prefix.
import { Readable } from "node:stream";
import type { ReadableStream } from "node:stream/web";
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
    async open(object) {
      const url = `${base}/storage/v1/b/${encodeURIComponent(object.bucket)}/o/${encodeURIComponent(object.name)}?alt=media`;
      // Accept-Encoding: gzip asks for the stored bytes (no decompressive transcoding);
      // compression is detected from the content, as BigQuery does.
      const res = await fetch(url, { headers: { "accept-encoding": "gzip" } });
      if (res.status === 404)
        throw new ApiError("notFound", `Not found: URI gs://${object.bucket}/${object.name}`);
      if (!res.ok || !res.body) {
        throw new ApiError(
          "backendError",
          `Error while reading data: gs://${object.bucket}/${object.name} answered ${res.status}`,
        );
      }
      return Readable.fromWeb(res.body as ReadableStream<Uint8Array>);
    },
  };
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
