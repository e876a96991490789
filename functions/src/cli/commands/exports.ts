// bqx exports: the configured exports (GET /), one row each.
import { expectAnswer } from "../client.js";
import type { Ctx } from "../context.js";
import { EXIT, type ExitCode } from "../errors.js";
import { plural, utc } from "../format.js";
import { lineWidth } from "../io.js";
import { exportsResponse, type ExportEntry } from "../responses.js";
import { renderTable } from "../table.js";

export async function exportsCommand(ctx: Ctx): Promise<ExitCode> {
  const { out } = ctx;
  const answer = expectAnswer(await ctx.client().get({}), exportsResponse, "listing the exports");
  if (out.json) {
    out.emitJson(answer);
    return EXIT.ok;
  }
  const exports = [...answer.exports].sort((a, b) => a.id.localeCompare(b.id));
  if (exports.length === 0) {
    out.line("No exports are configured (Terraform's exports map writes them).");
    return EXIT.ok;
  }
  const good = exports.filter((e) => !e.error);
  const rows = good.map((e) => [
    out.c.bold(e.id),
    e.model ?? "-",
    e.teamId === undefined ? "-" : String(e.teamId),
    e.interval ?? "-",
    e.destination ?? "-",
    e.location ?? "-",
    credentialsText(e),
    pausedText(e, out.c),
  ]);
  const width = lineWidth(out.io.stdout);
  for (const line of renderTable(
    ["ID", "MODEL", "TEAM", "INTERVAL", "DESTINATION", "LOCATION", "CREDENTIALS", "PAUSED"],
    rows,
    width,
  )) {
    out.line(line);
  }
  for (const e of exports.filter((x) => x.error)) {
    out.line(out.c.red(`✗ ${e.id}: ${e.error!.code}: ${e.error!.message}`));
  }
  return EXIT.ok;
}

export function credentialsText(e: ExportEntry): string {
  const c = e.credentials;
  if (!c) return "-";
  if (c.mode === "key") return `key ${c.secret ?? ""}`.trim();
  if (c.mode === "impersonate") return `impersonate ${c.serviceAccount ?? ""}`.trim();
  if (c.mode === "function") return "function's own";
  return c.mode;
}

function pausedText(e: ExportEntry, c: Ctx["out"]["c"]): string {
  if (e.paused === undefined) return "-";
  if (e.paused === null) return "no";
  const p = e.paused;
  const parts = [
    p.at ? `since ${utc(p.at)}` : undefined,
    p.by ? `by ${p.by}` : undefined,
    p.failures !== undefined
      ? `after ${plural(Array.isArray(p.failures) ? p.failures.length : p.failures, "failed run")}`
      : undefined,
    p.reason,
  ].filter((x): x is string => x !== undefined && x !== "");
  return c.yellow(`yes${parts.length > 0 ? ` (${parts.join(", ")})` : ""}`);
}
