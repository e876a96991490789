// The exportRun request: it only names a stored export, never defines one,
// and says what to do with it: run (the scheduled period, or a range),
// backfill a range, cancel a backfill, or check the setup.
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

/** A backfill id: "bf-" and 16 hex digits, derived from the export and its range (core/backfill-plan.ts). */
export const BACKFILL_ID_PATTERN = /^bf-[0-9a-f]{16}$/;

/** Cloud Tasks' own ceiling on a queue's concurrent dispatches. */
export const MAX_BACKFILL_CONCURRENCY = 1000;

const requestSchema = z
  .strictObject({
    exportId: exportIdSchema,
    /** Run: the periods to export (default: the scheduled one). */
    dataInterval: rangeSchema.optional(),
    force: z.boolean().optional(),
    /** Backfill: any range, planned into chunks and fanned out on Cloud Tasks. */
    backfill: rangeSchema.optional(),
    concurrency: z.number().int().min(1).max(MAX_BACKFILL_CONCURRENCY).optional(),
    /** A backfill chunk, as its Cloud Task posts it. */
    chunk: z.number().int().min(0).optional(),
    cancelBackfill: z
      .string()
      .regex(BACKFILL_ID_PATTERN, "a backfill id looks like bf-0123456789abcdef")
      .optional(),
    /** Preflight: test the destination and the source with the export's own credentials; nothing is exported. */
    check: z.literal(true).optional(),
  })
  .superRefine((r, ctx) => {
    const kinds = [
      r.backfill !== undefined && "backfill",
      r.cancelBackfill !== undefined && "cancelBackfill",
      r.check !== undefined && "check",
    ].filter((k): k is string => k !== false);
    if (kinds.length > 1) {
      ctx.addIssue({
        code: "custom",
        path: [kinds[1]!],
        message: `${kinds.join(", ")} cannot be combined: send one per request`,
      });
    }
    const kind = kinds[0];
    if (kind !== undefined) {
      for (const field of ["dataInterval", "force"] as const) {
        if (r[field] !== undefined) {
          ctx.addIssue({
            code: "custom",
            path: [field],
            message: `${field} applies to a run, not to ${kind}`,
          });
        }
      }
    }
    if (r.concurrency !== undefined && kind !== "backfill") {
      ctx.addIssue({ code: "custom", path: ["concurrency"], message: "concurrency applies to a backfill" });
    }
    if (r.chunk !== undefined && kind !== "backfill") {
      ctx.addIssue({ code: "custom", path: ["chunk"], message: "chunk applies to a backfill" });
    }
  });

/** A run request: the export, and the range to export or none (the scheduled period). */
export interface RunRequest {
  kind: "run";
  exportId: string;
  range: Period | undefined;
  force: boolean;
}

/** Plan (or resume) a backfill of `range`; with `chunk`, run that chunk (a Cloud Task's call). */
export interface BackfillRequest {
  kind: "backfill";
  exportId: string;
  range: Period;
  concurrency: number | undefined;
  chunk: number | undefined;
}

export interface CancelBackfillRequest {
  kind: "cancelBackfill";
  exportId: string;
  backfillId: string;
}

export interface CheckRequest {
  kind: "check";
  exportId: string;
}

export type ExportRequest = RunRequest | BackfillRequest | CancelBackfillRequest | CheckRequest;

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
  if (r.backfill !== undefined) {
    return {
      kind: "backfill",
      exportId: r.exportId,
      range: r.backfill,
      concurrency: r.concurrency,
      chunk: r.chunk,
    };
  }
  if (r.cancelBackfill !== undefined) {
    return { kind: "cancelBackfill", exportId: r.exportId, backfillId: r.cancelBackfill };
  }
  if (r.check !== undefined) return { kind: "check", exportId: r.exportId };
  return { kind: "run", exportId: r.exportId, range: r.dataInterval, force: r.force ?? false };
}
