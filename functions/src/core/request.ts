// The exportRun request: it only names a stored export, never defines one.
// Parsed once at the edge into typed values (Dates, a checked range), so
// nothing downstream re-parses or re-checks them. The range's alignment to
// the export's interval is checked where the definition is known
// (periods.splitIntoPeriods), once.
import { z } from "zod";
import { exportIdSchema, issuesError, requestIssues } from "./definition.js";
import type { Period } from "./periods.js";

const isoWithZone = z.iso.datetime({
  offset: true,
  message: "must be an ISO 8601 timestamp with a time zone, e.g. 2026-11-25T10:00:00Z",
});

/** [start, end) as Dates, start before end. */
const rangeSchema = z
  .strictObject({ start: isoWithZone, end: isoWithZone })
  .transform((r) => ({ start: new Date(r.start), end: new Date(r.end) }))
  .refine((r) => r.start.getTime() < r.end.getTime(), {
    path: ["start"],
    message: "must be before end",
  });

const requestSchema = z.strictObject({
  exportId: exportIdSchema,
  dataInterval: rangeSchema.optional(),
  force: z.boolean().default(false),
});

/** A run request: the export, and the range to export or none (the scheduled period). */
export interface RunRequest {
  kind: "run";
  exportId: string;
  range: Period | undefined;
  force: boolean;
}

export type ExportRequest = RunRequest;

const INLINE_DEFINITION =
  'inline export definitions are not accepted: exports are defined server-side (Terraform\'s exports map writes exports/<id>.json); send {"exportId": "<id>"}';

/**
 * Parses an exportRun body. Throws INVALID_REQUEST listing the problems
 * (bounded) as "path: message" and in `details.issues`.
 */
export function parseExportRequest(body: unknown): ExportRequest {
  const result = requestSchema.safeParse(body);
  if (!result.success) {
    const issues = requestIssues(result.error, (path) =>
      path.length === 1 && path[0] === "export" ? INLINE_DEFINITION : "unknown field",
    );
    throw issuesError("INVALID_REQUEST", "Invalid exportRun request", issues, result.error);
  }
  const r = result.data;
  return { kind: "run", exportId: r.exportId, range: r.dataInterval, force: r.force };
}
