// Errors shaped like the GCS JSON API's:
// {"error":{"code":404,"message":"No such object: b/o","errors":[{"message":...,"domain":"global","reason":"notFound"}]}}
import type { ServerResponse } from "node:http";
import { sendJson } from "../common/net.js";

export type GcsReason =
  | "notFound"
  | "conflict"
  | "conditionNotMet"
  | "notModified"
  | "invalid"
  | "required"
  | "badRequest"
  | "requestedRangeNotSatisfiable"
  | "notImplemented"
  | "backendError";

export class GcsError extends Error {
  constructor(
    readonly status: number,
    readonly reason: GcsReason,
    message: string,
  ) {
    super(message);
    this.name = "GcsError";
  }

  toJSON(): {
    error: { code: number; message: string; errors: { message: string; domain: string; reason: string }[] };
  } {
    return {
      error: {
        code: this.status,
        message: this.message,
        errors: [{ message: this.message, domain: "global", reason: this.reason }],
      },
    };
  }
}

export const noSuchObject = (bucket: string, name: string): GcsError =>
  new GcsError(404, "notFound", `No such object: ${bucket}/${name}`);

export const noSuchBucket = (): GcsError =>
  new GcsError(404, "notFound", "The specified bucket does not exist.");

export const conditionNotMet = (): GcsError =>
  new GcsError(412, "conditionNotMet", "At least one of the pre-conditions you specified did not hold.");

export const invalid = (message: string): GcsError => new GcsError(400, "invalid", message);

export const required = (message = "Required"): GcsError => new GcsError(400, "required", message);

export const notImplemented = (message: string): GcsError => new GcsError(501, "notImplemented", message);

/** Sends `err` as a GCS error body; anything that is not a GcsError becomes a 500 backendError. */
export function sendGcsError(res: ServerResponse, err: unknown): void {
  const gcs = err instanceof GcsError ? err : new GcsError(500, "backendError", String(err));
  if (res.headersSent) {
    res.destroy(gcs);
    return;
  }
  if (gcs.status === 304) {
    res.writeHead(304);
    res.end();
    return;
  }
  sendJson(res, gcs.status, gcs.toJSON());
}
