// The export definition, as a zod schema with the types inferred from it.
// Definitions are stored resources (exports/<id>.json, written by Terraform
// or registerExport), checked when written and when read. One parse reports
// every problem, each with its dotted path, so a definition is fixed in one go.
import { createHash } from "node:crypto";
import { z } from "zod";
import { ExportError } from "./errors.js";
import { identifierProblem, type IdentifierKind } from "./identifiers.js";
import { MODELS } from "./models.js";
import { EXPORT_ID_PATTERN } from "./names.js";
import { INTERVALS } from "./periods.js";

// BigQuery locations: the multi-regions US and EU (any case, as BigQuery
// accepts them), or a region such as "europe-west2" or "northamerica-northeast1".
const LOCATION = /^(?:[Uu][Ss]|[Ee][Uu]|[a-z]+-[a-z]+[0-9]{1,2})$/;
// A Secret Manager secret version: projects/<id or number>/secrets/<name>/versions/<n|latest>.
const KEY_SECRET =
  /^projects\/(?:[a-z][a-z0-9-]{4,28}[a-z0-9]|[0-9]{1,20})\/secrets\/[A-Za-z0-9_-]{1,255}\/versions\/(?:latest|[1-9][0-9]{0,18})$/;

/**
 * The seed's configuration form asks for bare IDs; people paste the
 * fully-qualified forms (`project-123:dataset:MyExportTable`,
 * `project-123.dataset.MyExportTable`, `project-123:my-dataset`) anyway.
 * Recognise them and name the part to keep.
 */
function qualifiedNameProblem(kind: "dataset" | "table", value: string): string | undefined {
  if (!/[:.]/.test(value)) return undefined;
  const last = value.split(/[:.]/).pop() ?? "";
  const shape = kind === "table" ? "fully-qualified table name" : "fully-qualified dataset name";
  let message = `${JSON.stringify(value)} looks like a ${shape}; use only the ${kind} ID, e.g. ${last}`;
  const lastProblem = last === "" ? `a ${kind} ID must not be empty` : identifierProblem(kind, last);
  if (lastProblem && kind === "dataset" && last !== "") {
    // The seed's own example, my-dataset, is not a valid BigQuery dataset ID.
    message += ` (but BigQuery dataset IDs contain only letters, digits and underscores, so e.g. ${last.replace(/[^A-Za-z0-9_]/g, "_")})`;
  } else if (lastProblem) {
    message += ` (but note: ${lastProblem})`;
  }
  return message;
}

function bigQueryId(kind: IdentifierKind) {
  return z.string().superRefine((value, ctx) => {
    const problem = kind === "project" ? undefined : qualifiedNameProblem(kind, value);
    const message = problem ?? identifierProblem(kind, value);
    if (message) ctx.addIssue({ code: "custom", message });
  });
}

export const exportIdSchema = z
  .string()
  .regex(
    EXPORT_ID_PATTERN,
    "an export id has 1 to 29 lowercase letters, digits or hyphens, starts with a letter and does not end with a hyphen",
  );

const eventNames = z.array(z.string().min(1, "an event name must not be empty").max(400)).default([]);

// A service account's email: name@project.iam.gserviceaccount.com, or a
// Google-managed default account (…@appspot.gserviceaccount.com,
// …-compute@developer.gserviceaccount.com).
const SERVICE_ACCOUNT = /^[a-z0-9][a-z0-9._-]{0,99}@[a-z0-9][a-z0-9.-]{0,99}\.gserviceaccount\.com$/;

export const destinationSchema = z
  .strictObject({
    projectId: bigQueryId("project"),
    datasetId: bigQueryId("dataset"),
    tableId: bigQueryId("table"),
    location: z
      .string()
      .regex(LOCATION, 'a BigQuery location is "US", "EU" or a region such as "europe-west2"'),
    /** The seed's JSON key of the destination service account, in Secret Manager. */
    keySecret: z
      .string()
      .regex(
        KEY_SECRET,
        'a key secret is a Secret Manager version name, "projects/<project>/secrets/<name>/versions/<version or latest>"',
      )
      .optional(),
    /**
     * Keyless: the service account the function impersonates (IAM Credentials
     * generateAccessToken; the function's account needs
     * roles/iam.serviceAccountTokenCreator on it).
     */
    impersonate: z
      .string()
      .regex(
        SERVICE_ACCOUNT,
        "impersonate is a service account's email, e.g. bq-exporter@my-project.iam.gserviceaccount.com",
      )
      .optional(),
  })
  .superRefine((d, ctx) => {
    if (d.keySecret !== undefined && d.impersonate !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["impersonate"],
        message:
          "set keySecret or impersonate, not both: a destination acts in BigQuery one way (impersonate is the keyless one)",
      });
    }
  });

/** How a destination acts in BigQuery. */
export type Credentials =
  { mode: "impersonate"; serviceAccount: string } | { mode: "key"; secret: string } | { mode: "function" };

export function credentialsOf(dest: z.infer<typeof destinationSchema>): Credentials {
  if (dest.impersonate !== undefined) return { mode: "impersonate", serviceAccount: dest.impersonate };
  if (dest.keySecret !== undefined) return { mode: "key", secret: dest.keySecret };
  return { mode: "function" };
}

/** Loosely typed view for cross-field checks, which also run when other fields failed. */
interface LooseExport {
  model?: unknown;
  deduplicate?: unknown;
  includeEvents?: unknown;
  excludeEvents?: unknown;
}

function stringList(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === "string") : [];
}

export const exportDefinitionSchema = z
  .strictObject({
    id: exportIdSchema,
    model: z.enum(MODELS),
    teamId: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
    interval: z.enum(INTERVALS),
    destination: destinationSchema,
    // PostHog's BigQuery export defaults use_json_type to false (STRING
    // columns); we keep that so tables created by either load unchanged.
    useJsonType: z.boolean().default(false),
    includeEvents: eventNames,
    excludeEvents: eventNames,
    deduplicate: z.boolean().default(false),
    /**
     * exportRun pauses the export's Cloud Scheduler job after this many
     * scheduled runs in a row failed for reasons a retry cannot fix; unset:
     * the interval's default (core/auto-pause.ts).
     */
    autoPauseAfter: z
      .number()
      .int("autoPauseAfter is a whole number of failed runs")
      .min(1, "autoPauseAfter is at least 1 (a failed run)")
      .optional(),
  })
  .superRefine(
    (value, ctx) => {
      if (typeof value !== "object" || value === null) return;
      const v = value as LooseExport;
      if (v.deduplicate === true && v.model === "persons") {
        ctx.addIssue({
          code: "custom",
          path: ["deduplicate"],
          message: "deduplicate applies only to the events model (persons are always merged)",
        });
      }
      const include = stringList(v.includeEvents);
      const exclude = stringList(v.excludeEvents);
      if (v.model === "persons") {
        for (const [name, list] of [
          ["includeEvents", include],
          ["excludeEvents", exclude],
        ] as const) {
          if (list.length > 0) {
            ctx.addIssue({
              code: "custom",
              path: [name],
              message: `${name} applies only to the events model`,
            });
          }
        }
      }
      const overlap = include.filter((e) => exclude.includes(e));
      if (overlap.length > 0) {
        ctx.addIssue({
          code: "custom",
          path: ["excludeEvents"],
          message: `events both included and excluded: ${[...new Set(overlap)].map((e) => JSON.stringify(e)).join(", ")}`,
        });
      }
    },
    // Run even when other fields failed, so one parse reports everything.
    { when: () => true },
  );

export type ExportDefinition = z.infer<typeof exportDefinitionSchema>;
export type Destination = ExportDefinition["destination"];
/** What a definition's author writes: defaulted fields are optional. */
export type ExportDefinitionInput = z.input<typeof exportDefinitionSchema>;

export interface RequestIssue {
  /** Dotted path of the offending field, e.g. "destination.datasetId"; "" for the value itself. */
  path: string;
  message: string;
}

/** At most this many problems are spelled out in a message; the rest are counted. */
export const MAX_LISTED_ISSUES = 8;
/** Field names from a request are cut to this length in messages (a body can hold any key). */
const MAX_PATH_CHARS = 80;

function dotted(path: readonly PropertyKey[]): string {
  const text = path
    .map((p) => (typeof p === "number" ? `[${p}]` : String(p)))
    .join(".")
    .replace(/\.\[/g, "[");
  return text.length > MAX_PATH_CHARS ? `${text.slice(0, MAX_PATH_CHARS)}…` : text;
}

/**
 * zod issues as path/message pairs; unknown keys become one issue per key.
 * `unknownKey` may word an unknown key specially (e.g. an inline definition).
 */
export function requestIssues(
  error: z.ZodError,
  unknownKey: (path: PropertyKey[]) => string = () => "unknown field",
): RequestIssue[] {
  const out: RequestIssue[] = [];
  for (const issue of error.issues) {
    if (issue.code === "unrecognized_keys") {
      for (const key of issue.keys) {
        out.push({ path: dotted([...issue.path, key]), message: unknownKey([...issue.path, key]) });
      }
    } else if (issue.code === "invalid_type" && issue.message.endsWith("received undefined")) {
      out.push({ path: dotted(issue.path), message: `required (${issue.expected})` });
    } else {
      out.push({ path: dotted(issue.path), message: issue.message });
    }
  }
  return out;
}

/**
 * "what: path: message; path: message" with at most MAX_LISTED_ISSUES listed
 * and the rest counted, so a body with a million unknown keys gets a short
 * answer. `details.issues` is bounded the same way.
 */
export function issuesError(
  code: "INVALID_REQUEST" | "INVALID_DEFINITION",
  what: string,
  issues: RequestIssue[],
  cause: unknown,
  fix = "",
): ExportError {
  const listed = issues.slice(0, MAX_LISTED_ISSUES);
  const lines = listed.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message));
  const more = issues.length - listed.length;
  if (more > 0) lines.push(`and ${more} more problem${more === 1 ? "" : "s"}`);
  return new ExportError(code, `${what}: ${lines.join("; ")}.${fix}`, {
    details: { issues: listed, ...(more > 0 ? { moreIssues: more } : {}) },
    cause,
  });
}

/**
 * Reads a stored export definition (`source` names where it came from, e.g.
 * "gs://bucket/exports/events-hourly.json"). Throws INVALID_DEFINITION naming
 * the object and every bad field.
 */
export function parseExportDefinition(value: unknown, source: string): ExportDefinition {
  const result = exportDefinitionSchema.safeParse(value);
  if (result.success) return result.data;
  throw issuesError(
    "INVALID_DEFINITION",
    `Export definition ${source} is invalid`,
    requestIssues(result.error),
    result.error,
    " Fix the export in Terraform's exports map and apply it again.",
  );
}

/** JSON with object keys sorted, so equal definitions have equal text. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

/**
 * A short fingerprint of a definition (defaults filled): equal for equal
 * definitions however their keys are ordered. Runs record it, so the run
 * history shows where an export's definition changed.
 */
export function definitionHash(def: ExportDefinition): string {
  return createHash("sha256").update(canonicalJson(def)).digest("hex").slice(0, 12);
}
