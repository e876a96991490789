// Generation and metageneration preconditions (ifGenerationMatch & co.).
// Writes that fail one answer 412; reads failing a *NotMatch answer 304, as GCS does.
import { conditionNotMet, GcsError, invalid } from "./errors.js";
import type { ObjectMeta } from "./resources.js";

export interface Preconditions {
  ifGenerationMatch?: string;
  ifGenerationNotMatch?: string;
  ifMetagenerationMatch?: string;
  ifMetagenerationNotMatch?: string;
}

const NAMES = [
  "ifGenerationMatch",
  "ifGenerationNotMatch",
  "ifMetagenerationMatch",
  "ifMetagenerationNotMatch",
] as const;

/** Reads the four preconditions from a query string; a value that is not a non-negative integer is a 400. */
export function parsePreconditions(query: URLSearchParams): Preconditions {
  const out: Preconditions = {};
  for (const key of NAMES) {
    const raw = query.get(key);
    if (raw === null) continue;
    if (!/^\d+$/.test(raw)) throw invalid(`Invalid argument: ${key}=${raw}`);
    out[key] = BigInt(raw).toString();
  }
  return out;
}

export function hasPreconditions(p: Preconditions): boolean {
  return NAMES.some((k) => p[k] !== undefined);
}

/**
 * Checks `p` against the current object (undefined = absent). `ifGenerationMatch=0`
 * means "only if absent". For reads, a failed *NotMatch is 304 Not Modified.
 */
export function checkPreconditions(
  p: Preconditions,
  current: ObjectMeta | undefined,
  mode: "read" | "write",
): void {
  const gen = current?.generation ?? "0";
  if (p.ifGenerationMatch !== undefined && p.ifGenerationMatch !== gen) throw conditionNotMet();
  if (p.ifMetagenerationMatch !== undefined) {
    if (!current || current.metageneration !== p.ifMetagenerationMatch) throw conditionNotMet();
  }
  const notMatchFailed =
    (p.ifGenerationNotMatch !== undefined && p.ifGenerationNotMatch === gen) ||
    (p.ifMetagenerationNotMatch !== undefined && current?.metageneration === p.ifMetagenerationNotMatch);
  if (notMatchFailed) {
    throw mode === "read" ? new GcsError(304, "notModified", "Not Modified") : conditionNotMet();
  }
}
