// An export's operational state, kept apart from its definition: Terraform
// owns exports/<id>.json, the functions own export-state/<id>.json (written
// with generation preconditions). It records whether auto-pause paused the
// export's Cloud Scheduler job, who did it, when and why, when the job was
// seen resumed (runs before that no longer count toward auto-pause), and the
// pause and resume events the run history shows.
import { z } from "zod";
import { parseStoredJson } from "./stored-json.js";

/** Events kept in the document (the oldest are dropped). */
export const MAX_EXPORT_EVENTS = 50;
/** Characters of each failed run's error message kept in the pause's reason. */
export const MAX_FAILURE_MESSAGE = 500;

const failureSchema = z.object({
  run: z.string(),
  period: z.object({ start: z.iso.datetime(), end: z.iso.datetime() }).optional(),
  error: z.object({ code: z.string(), message: z.string() }),
});
export type PauseFailure = z.infer<typeof failureSchema>;

const pauseSchema = z.object({
  at: z.iso.datetime(),
  /** "auto-pause": exportRun paused the job after repeated failures. */
  by: z.string(),
  /** One sentence for people: how many runs failed, and with which error codes. */
  reason: z.string(),
  /** The Scheduler job's full name. */
  job: z.string(),
  /** The failed runs that led to the pause, newest first. */
  failures: z.array(failureSchema),
});
export type PauseRecord = z.infer<typeof pauseSchema>;

const eventSchema = z.discriminatedUnion("event", [
  z.object({
    event: z.literal("paused"),
    at: z.iso.datetime(),
    by: z.string(),
    reason: z.string(),
    job: z.string(),
    failures: z.number().int().min(0),
  }),
  z.object({
    event: z.literal("resumed"),
    at: z.iso.datetime(),
    /** How the resume was noticed, e.g. "a scheduled run arrived". */
    by: z.string(),
    job: z.string(),
  }),
]);
export type ExportEvent = z.infer<typeof eventSchema>;

export const exportStateSchema = z.object({
  version: z.literal(1),
  exportId: z.string(),
  /** Set while the job is paused by auto-pause; null once it is seen resumed. */
  paused: pauseSchema.nullable(),
  /** When the job was last seen resumed: scheduled runs updated before then do not count toward auto-pause. */
  resumedAt: z.iso.datetime().optional(),
  /** Pause and resume events, oldest first. */
  events: z.array(eventSchema),
});
export type ExportState = z.infer<typeof exportStateSchema>;

export function emptyExportState(exportId: string): ExportState {
  return { version: 1, exportId, paused: null, events: [] };
}

export function parseExportState(text: string, objectName: string): ExportState {
  return parseStoredJson(exportStateSchema, text, `Export state ${objectName}`);
}

function withEvent(events: readonly ExportEvent[], event: ExportEvent): ExportEvent[] {
  return [...events, event].slice(-MAX_EXPORT_EVENTS);
}

/** `failures` newest first. */
export function pauseReason(failures: readonly PauseFailure[]): string {
  const counts = new Map<string, number>();
  for (const f of failures) counts.set(f.error.code, (counts.get(f.error.code) ?? 0) + 1);
  const codes = [...counts].map(([code, n]) => (n === 1 ? code : `${code} ×${n}`)).join(", ");
  const latest = failures[0];
  return (
    `The last ${failures.length} scheduled run${failures.length === 1 ? "" : "s"} failed with errors a retry cannot fix (${codes})` +
    (latest ? `; the latest, ${latest.run}: ${latest.error.message}` : ".")
  );
}

export function recordPause(state: ExportState, pause: PauseRecord): ExportState {
  return {
    ...state,
    paused: pause,
    events: withEvent(state.events, {
      event: "paused",
      at: pause.at,
      by: pause.by,
      reason: pause.reason,
      job: pause.job,
      failures: pause.failures.length,
    }),
  };
}

export function recordResume(state: ExportState, at: string, by: string): ExportState {
  return {
    ...state,
    paused: null,
    resumedAt: at,
    events: withEvent(state.events, { event: "resumed", at, by, job: state.paused?.job ?? "" }),
  };
}

/** The export's pause as GET / and `bqx exports` show it (null: not paused). */
export interface PausedView {
  at: string;
  by: string;
  reason: string;
  failures: PauseFailure[];
}

export function pausedView(state: ExportState): PausedView | null {
  const p = state.paused;
  return p ? { at: p.at, by: p.by, reason: p.reason, failures: p.failures } : null;
}
