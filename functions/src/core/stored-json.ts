// The documents the product keeps in its bucket (run manifests, backfills,
// export state) are read back through one check: JSON, then their schema. A
// document that fails is an INTERNAL error naming the object: only the
// product writes them, so it means a bug or a hand edit.
import type { z } from "zod";
import { ExportError } from "./errors.js";

export function parseStoredJson<S extends z.ZodType>(schema: S, text: string, what: string): z.infer<S> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new ExportError("INTERNAL", `${what} is not JSON.`, { cause });
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw new ExportError("INTERNAL", `${what} is malformed: ${parsed.error.message}`);
  return parsed.data;
}
