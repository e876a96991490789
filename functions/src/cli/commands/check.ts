// bqx check <id>: the preflight (POST {exportId, check: true}). exportRun tests
// the destination with the export's own credentials and the source with its
// own query; nothing is exported. One line per check, every problem at once.
import { expectAnswer } from "../client.js";
import type { Ctx } from "../context.js";
import { EXIT, type ExitCode } from "../errors.js";
import { statusLine } from "../status-line.js";
import type { Colors } from "../io.js";
import { checkResponse, type CheckResponse } from "../responses.js";
import { visibleLength } from "../table.js";

type Line = CheckResponse["checks"][number];

export async function checkCommand(ctx: Ctx, exportId: string): Promise<ExitCode> {
  const { out } = ctx;
  const status = await statusLine(ctx.io);
  status.set(`${exportId}: checking the destination and the source with the export's own credentials …`);
  let report: CheckResponse;
  try {
    report = expectAnswer(
      await ctx.client().post({ exportId, check: true }),
      checkResponse,
      `checking ${exportId}`,
    );
  } finally {
    status.stop();
  }
  if (out.json) {
    out.emitJson(report);
    return report.ok ? EXIT.ok : EXIT.failed;
  }
  for (const line of reportLines(report, out.c)) out.line(line);
  return report.ok ? EXIT.ok : EXIT.failed;
}

const MARK: Record<string, (c: Colors) => string> = {
  ok: (c) => c.green("✔"),
  failed: (c) => c.red("✗"),
  warning: (c) => c.yellow("!"),
  info: (c) => c.dim("-"),
  skipped: (c) => c.dim("?"),
};

const LABEL: Record<string, string> = {
  "staging-bucket": "staging bucket",
  table: "destination table",
  source: "source query",
};

function label(l: Line): string {
  return l.permission ?? LABEL[l.check] ?? l.check;
}

export function reportLines(report: CheckResponse, c: Colors): string[] {
  const lines = [
    `Checking ${c.bold(report.export)}${report.model ? ` (${report.model}` : ""}${report.destination ? ` → ${report.destination})` : report.model ? ")" : ""} with the export's own credentials; nothing is exported.`,
  ];
  const width = Math.max(...report.checks.map((l) => visibleLength(label(l))));
  for (const l of report.checks) {
    const mark = (MARK[l.status] ?? ((x: Colors) => x.yellow("?")))(c);
    const text =
      l.status === "failed" ? c.red(l.message) : l.status === "warning" ? c.yellow(l.message) : l.message;
    lines.push(`${mark} ${label(l).padEnd(width)}  ${text}`);
    if (l.fix && (l.status === "failed" || l.status === "warning")) {
      lines.push(`  ${" ".repeat(width)}  ${c.bold("fix:")} ${l.fix}`);
    }
  }
  for (const left of report.leftBehind ?? []) lines.push(c.yellow(`! left behind: ${left}`));
  const failed = report.checks.filter((l) => l.status === "failed");
  const warnings = report.checks.filter((l) => l.status === "warning").length;
  if (failed.length === 0) {
    lines.push(
      c.green(
        `✔ ready: nothing the export needs is missing${warnings > 0 ? ` (${warnings} warning${warnings === 1 ? "" : "s"})` : ""}.`,
      ),
    );
  } else {
    const names = failed.map(label).join(", ");
    lines.push(
      c.red(`✗ ${failed.length} problem${failed.length === 1 ? "" : "s"}: ${names}.`) +
        ` Fix ${failed.length === 1 ? "it" : "them"} and run bqx check ${report.export} again.`,
    );
  }
  return lines;
}
