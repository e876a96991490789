// Values as people read them in a terminal: counts with separators, bytes in
// binary units, durations, periods in UTC; and the times people type.
import { usageError } from "./errors.js";

export function count(n: number | undefined): string {
  return n === undefined ? "-" : n.toLocaleString("en-US");
}

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB"];
export function bytes(n: number | undefined): string {
  if (n === undefined) return "-";
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${n} B` : `${value.toFixed(value < 10 ? 1 : 0)} ${UNITS[unit]}`;
}

/** 0s, 14s, 3m 05s, 2h 01m. */
export function duration(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms) || ms < 0) return "-";
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, "0")}m`;
}

/** "2026-11-25 10:00:00" in UTC, seconds dropped when zero. */
export function utc(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const text = d
    .toISOString()
    .replace("T", " ")
    .replace(/\.\d{3}Z$/, "");
  return text.endsWith(":00") ? text.slice(0, -3) : text;
}

/** "2026-11-25 10:00–11:00" (same day) or "2026-11-25 00:00–2026-11-26 00:00". */
export function period(p: { start: string; end: string } | undefined): string {
  if (!p) return "-";
  const start = utc(p.start);
  const end = utc(p.end);
  const sameDay = start.slice(0, 10) === end.slice(0, 10);
  return `${start}–${sameDay ? end.slice(11) : end}`;
}

/**
 * A time typed on the command line, as exportRun wants it (ISO 8601, UTC,
 * whole seconds): a date ("2026-11-25", midnight UTC) or a date and time with
 * a zone ("2026-11-25T10:00Z", "2026-11-25T12:00:00+02:00"). A time without a
 * zone is refused rather than guessed.
 */
export function parseTime(option: string, text: string): string {
  const dateOnly = /^\d{4}-\d{2}-\d{2}$/.test(text);
  const withZone = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/i.test(text);
  if (!dateOnly && !withZone) {
    throw usageError(
      `${option} ${JSON.stringify(text)} is not a date or a time with a zone`,
      `write e.g. 2026-11-25 (midnight UTC) or 2026-11-25T10:00:00Z`,
    );
  }
  const d = new Date(dateOnly ? `${text}T00:00:00Z` : text.replace(" ", "T"));
  if (Number.isNaN(d.getTime())) throw usageError(`${option} ${JSON.stringify(text)} is not a valid time`);
  return d.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** The first line of a message, at most `max` characters. */
export function firstLine(text: string, max = 200): string {
  const line = text.split("\n", 1)[0] ?? "";
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${count(n)} ${n === 1 ? one : many}`;
}
