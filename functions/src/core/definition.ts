// The export definition and the exportRun request body, as zod schemas with
// the types inferred from them. One parse reports every problem, each with its
// dotted path, so a Scheduler body or CLI call can be fixed in one go.
import { z } from "zod";
import { ExportError, isExportError } from "./errors.js";
import { identifierProblem, type IdentifierKind } from "./identifiers.js";
import { MODELS } from "./models.js";
import { EXPORT_ID_PATTERN } from "./names.js";
import { checkRange, INTERVALS, type Interval, type Period } from "./periods.js";

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

const eventNames = z.array(z.string().min(1, "an event name must not be empty").max(400)).default([]);

export const destinationSchema = z.strictObject({
  projectId: bigQueryId("project"),
  datasetId: bigQueryId("dataset"),
  tableId: bigQueryId("table"),
  location: z
    .string()
    .regex(LOCATION, 'a BigQuery location is "US", "EU" or a region such as "europe-west2"'),
  keySecret: z
    .string()
    .regex(
      KEY_SECRET,
      'a key secret is a Secret Manager version name, "projects/<project>/secrets/<name>/versions/<version or latest>"',
    )
    .optional(),
});

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
    id: z
      .string()
      .regex(
        EXPORT_ID_PATTERN,
        "an export id has 1 to 29 lowercase letters, digits or hyphens, starts with a letter and does not end with a hyphen",
      ),
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
/** What callers may send: defaulted fields are optional. */
export type ExportDefinitionInput = z.input<typeof exportDefinitionSchema>;

const isoWithZone = z.iso.datetime({
  offset: true,
  message: "must be an ISO 8601 timestamp with a time zone, e.g. 2026-11-25T10:00:00Z",
});

export const exportRunRequestSchema = z
  .strictObject({
    export: exportDefinitionSchema,
    dataInterval: z.strictObject({ start: isoWithZone, end: isoWithZone }).optional(),
    force: z.boolean().optional(),
  })
  .superRefine(
    (value, ctx) => {
      // The interval's order and alignment, reported with the other problems
      // when both timestamps and the export's interval are readable.
      if (typeof value !== "object" || value === null) return;
      const loose = value as {
        export?: { interval?: unknown };
        dataInterval?: { start?: unknown; end?: unknown };
      };
      const interval = loose.export?.interval;
      const { start, end } = loose.dataInterval ?? {};
      if (typeof start !== "string" || typeof end !== "string") return;
      if (!(INTERVALS as readonly unknown[]).includes(interval)) return;
      if (!isoWithZone.safeParse(start).success || !isoWithZone.safeParse(end).success) return;
      try {
        checkRange(new Date(start), new Date(end), interval as Interval);
      } catch (err) {
        if (!isExportError(err)) throw err;
        const field = err.details?.["field"];
        const path = field === "dataInterval.end" ? ["dataInterval", "end"] : ["dataInterval", "start"];
        ctx.addIssue({ code: "custom", path, message: err.message.replace(/^dataInterval\.\w+ /, "") });
      }
    },
    { when: () => true },
  );

export type ExportRunRequest = z.infer<typeof exportRunRequestSchema>;
export type ExportRunRequestInput = z.input<typeof exportRunRequestSchema>;

export interface RequestIssue {
  /** Dotted path of the offending field, e.g. "export.destination.datasetId"; "" for the body itself. */
  path: string;
  message: string;
}

function dotted(path: readonly PropertyKey[]): string {
  return path
    .map((p) => (typeof p === "number" ? `[${p}]` : String(p)))
    .join(".")
    .replace(/\.\[/g, "[");
}

/** zod issues as path/message pairs; unknown keys become one issue per key. */
export function requestIssues(error: z.ZodError): RequestIssue[] {
  const out: RequestIssue[] = [];
  for (const issue of error.issues) {
    if (issue.code === "unrecognized_keys") {
      for (const key of issue.keys) {
        out.push({ path: dotted([...issue.path, key]), message: "unknown field" });
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
 * Parses an exportRun body. Throws INVALID_REQUEST listing every problem as
 * "path: message" in the message and as `details.issues`.
 */
export function parseExportRunRequest(body: unknown): ExportRunRequest {
  const result = exportRunRequestSchema.safeParse(body);
  if (result.success) return result.data;
  const issues = requestIssues(result.error);
  const lines = issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message));
  throw new ExportError("INVALID_REQUEST", `Invalid export request: ${lines.join("; ")}.`, {
    details: { issues },
    cause: result.error,
  });
}

/** Parses an export definition alone (CLI, Terraform-generated bodies). */
export function parseExportDefinition(value: unknown): ExportDefinition {
  const result = exportDefinitionSchema.safeParse(value);
  if (result.success) return result.data;
  const issues = requestIssues(result.error);
  const lines = issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message));
  throw new ExportError("INVALID_REQUEST", `Invalid export definition: ${lines.join("; ")}.`, {
    details: { issues },
    cause: result.error,
  });
}

/**
 * The explicit period of a request, checked against the export's interval
 * (INVALID_INTERVAL when misaligned), or undefined for a scheduled run.
 */
export function requestedPeriod(request: ExportRunRequest): Period | undefined {
  if (!request.dataInterval) return undefined;
  return checkRange(
    new Date(request.dataInterval.start),
    new Date(request.dataInterval.end),
    request.export.interval,
  );
}
