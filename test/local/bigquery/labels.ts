// Label rules (jobs, tables, datasets): at most 64 labels; keys 1-63 chars
// and values 0-63 chars of lowercase letters, international characters,
// digits, underscores and dashes; keys start with a lowercase letter or an
// international character.
import { ApiError } from "./errors.js";

const KEY = /^[\p{Ll}\p{Lo}][\p{Ll}\p{Lo}\p{N}_-]{0,62}$/u;
const VALUE = /^[\p{Ll}\p{Lo}\p{N}_-]{0,63}$/u;

export function validateLabels(labels: unknown): asserts labels is Record<string, string> {
  if (typeof labels !== "object" || labels === null || Array.isArray(labels))
    throw new ApiError("invalid", "Labels must be a map of strings.");
  const entries = Object.entries(labels as Record<string, unknown>);
  if (entries.length > 64)
    throw new ApiError("invalid", `Too many labels: ${entries.length}. At most 64 labels are allowed.`);
  for (const [k, v] of entries) {
    if (!KEY.test(k)) {
      throw new ApiError(
        "invalid",
        `Label key "${k}" has invalid characters or length. Keys must start with a lowercase letter or international character, contain only lowercase letters, international characters, numbers, underscores and dashes, and be at most 63 characters long.`,
      );
    }
    if (typeof v !== "string" || !VALUE.test(v)) {
      throw new ApiError(
        "invalid",
        `Label value "${String(v)}" of key "${k}" has invalid characters or length. Values may contain only lowercase letters, international characters, numbers, underscores and dashes, and be at most 63 characters long.`,
      );
    }
  }
}
