// Generation and metageneration preconditions (ifGenerationMatch & co.).
// A failed *Match answers 412, a failed *NotMatch 304, as the JSON API documents.
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
 * Checks `p` against the current object (undefined = absent). As documented for
 * the JSON API: a failed *Match is 412 Precondition Failed, a failed *NotMatch is
 * 304 Not Modified; `ifGenerationMatch=0` means "only if absent", and a *NotMatch
 * on an absent object fails (412, there being nothing "not modified").
 */
export function checkPreconditions(p: Preconditions, current: ObjectMeta | undefined): void {
  const gen = current?.generation ?? "0";
  if (p.ifGenerationMatch !== undefined && p.ifGenerationMatch !== gen) throw conditionNotMet();
  if (p.ifMetagenerationMatch !== undefined && current?.metageneration !== p.ifMetagenerationMatch) {
    throw conditionNotMet();
  }
  const notMatch = p.ifGenerationNotMatch !== undefined || p.ifMetagenerationNotMatch !== undefined;
  if (notMatch && !current) throw conditionNotMet();
  if (
    (p.ifGenerationNotMatch !== undefined && p.ifGenerationNotMatch === gen) ||
    (p.ifMetagenerationNotMatch !== undefined && current?.metageneration === p.ifMetagenerationNotMatch)
  ) {
    throw new GcsError(304, "notModified", "Not Modified");
  }
}
