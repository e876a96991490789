// Maps an HTTP request to a GCS JSON API method. Paths are accepted with the
// /storage/v1 prefix (apiEndpoint) and without it (the client uses
// STORAGE_EMULATOR_HOST verbatim as its base URL), plus /upload, /download and
// path-style GET /<bucket>/<object>. Methods we recognise but do not serve are
// named so the 501 can say which one.

export type Route =
  | { method: "buckets.list" }
  | { method: "buckets.insert" }
  | { method: "buckets.get"; bucket: string }
  | { method: "buckets.delete"; bucket: string }
  | { method: "objects.list"; bucket: string }
  | { method: "objects.get"; bucket: string; object: string; forceMedia: boolean }
  | { method: "objects.delete"; bucket: string; object: string }
  | { method: "objects.patch"; bucket: string; object: string }
  | { method: "objects.insert"; bucket: string }
  | { method: "objects.upload"; bucket: string } // PUT/DELETE on a resumable session URI
  | { method: "unimplemented"; name: string };

function decode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** Route for `verb` on a raw (still percent-encoded) path. */
export function route(verb: string, rawPath: string): Route {
  const segs = rawPath.split("/").slice(1);
  const notMatched = (): Route => ({ method: "unimplemented", name: `${verb} ${rawPath}` });

  // The discovery document's upload paths: /upload/storage/v1/b/{bucket}/o for
  // simple and multipart uploads, /resumable/upload/storage/v1/b/{bucket}/o for
  // resumable ones (storage v1 `mediaUpload.protocols`; the Google Cloud SDK's
  // generated client uses the latter for uploads above its resumable threshold).
  const upload = segs[0] === "resumable" ? segs.slice(1) : segs;
  if (upload[0] === "upload" && upload[1] === "storage" && upload[2] === "v1") {
    if (upload[3] === "b" && upload[4] !== undefined && upload[5] === "o" && upload.length === 6) {
      const bucket = decode(upload[4]);
      if (verb === "POST") return { method: "objects.insert", bucket };
      if (verb === "PUT" || verb === "DELETE") return { method: "objects.upload", bucket };
    }
    return notMatched();
  }
  if (segs[0] === "download" && segs[1] === "storage" && segs[2] === "v1") {
    if (
      segs[3] === "b" &&
      segs[4] !== undefined &&
      segs[5] === "o" &&
      segs[6] !== undefined &&
      segs.length === 7
    ) {
      if (verb === "GET" || verb === "HEAD") {
        return { method: "objects.get", bucket: decode(segs[4]), object: decode(segs[6]), forceMedia: true };
      }
    }
    return notMatched();
  }
  let api: string[] | undefined;
  if (segs[0] === "storage" && segs[1] === "v1") api = segs.slice(2);
  else if (segs[0] === "b" || segs[0] === "projects" || segs[0] === "channels") api = segs;
  if (api) return apiRoute(verb, api) ?? notMatched();

  // Path-style media download: GET /<bucket>/<object...>
  if ((verb === "GET" || verb === "HEAD") && segs.length >= 2 && segs[0] && segs.slice(1).join("/")) {
    return {
      method: "objects.get",
      bucket: decode(segs[0]),
      object: decode(segs.slice(1).join("/")),
      forceMedia: true,
    };
  }
  return notMatched();
}

const un = (name: string): Route => ({ method: "unimplemented", name: `storage.${name}` });

function apiRoute(verb: string, s: string[]): Route | undefined {
  const [root, bucketSeg, kind, objectSeg, ...rest] = s;
  if (root === "channels" && bucketSeg === "stop") return un("channels.stop");
  if (root === "projects") {
    if (kind === "serviceAccount") return un("projects.serviceAccount.get");
    if (kind === "hmacKeys") return un("projects.hmacKeys");
    return undefined;
  }
  if (root !== "b") return undefined;
  if (bucketSeg === undefined || bucketSeg === "") {
    if (verb === "GET") return { method: "buckets.list" };
    if (verb === "POST") return { method: "buckets.insert" };
    return undefined;
  }
  const bucket = decode(bucketSeg);
  if (kind === undefined) {
    if (verb === "GET") return { method: "buckets.get", bucket };
    if (verb === "DELETE") return { method: "buckets.delete", bucket };
    if (verb === "PATCH") return un("buckets.patch");
    if (verb === "PUT") return un("buckets.update");
    return undefined;
  }
  if (kind === "o") {
    if (objectSeg === undefined || objectSeg === "") {
      if (verb === "GET") return { method: "objects.list", bucket };
      if (verb === "POST") return { method: "objects.insert", bucket };
      return undefined;
    }
    if (objectSeg === "watch" && rest.length === 0 && verb === "POST") return un("objects.watchAll");
    const object = decode(objectSeg);
    if (rest.length === 0) {
      if (verb === "GET" || verb === "HEAD")
        return { method: "objects.get", bucket, object, forceMedia: false };
      if (verb === "DELETE") return { method: "objects.delete", bucket, object };
      if (verb === "PATCH") return { method: "objects.patch", bucket, object };
      if (verb === "PUT") return un("objects.update");
      return undefined;
    }
    const [sub] = rest;
    if (sub === "compose") return un("objects.compose");
    if (sub === "copyTo") return un("objects.copy");
    if (sub === "rewriteTo") return un("objects.rewrite");
    if (sub === "moveTo") return un("objects.move");
    if (sub === "restore") return un("objects.restore");
    if (sub === "acl") return un("objectAccessControls");
    return undefined;
  }
  if (kind === "iam") {
    if (objectSeg === "testPermissions") return un("buckets.testIamPermissions");
    return un(verb === "PUT" ? "buckets.setIamPolicy" : "buckets.getIamPolicy");
  }
  const bucketSubs: Record<string, string> = {
    acl: "bucketAccessControls",
    defaultObjectAcl: "defaultObjectAccessControls",
    notificationConfigs: "notifications",
    lockRetentionPolicy: "buckets.lockRetentionPolicy",
    managedFolders: "managedFolders",
    anywhereCaches: "anywhereCaches",
    operations: "operations",
  };
  const sub = bucketSubs[kind];
  return sub ? un(sub) : undefined;
}
