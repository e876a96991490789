// Shared by the benchmark modes (run.ts, backfill.ts): number formatting, the
// machine line printed at the top of every run, a plain-text table.
import { cpus, loadavg, totalmem } from "node:os";

export const MiB = 2 ** 20;

export const fmt = (n: number, digits = 0) =>
  n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });

export const loadAverage = () =>
  loadavg()
    .map((l) => l.toFixed(1))
    .join(" ");

/** Node, platform, cores, RAM and the load average now: read every number below with it. */
export function machineLine(): string {
  const cpu = cpus();
  return `Node ${process.version} ${process.platform}/${process.arch}; ${cpu.length} × ${cpu[0]?.model ?? "?"}; ${fmt(totalmem() / 2 ** 30, 1)} GiB RAM; load average ${loadAverage()}`;
}

/** Columns padded to their widest cell; the first `leftColumns` left-aligned, the rest right-aligned. */
export function formatTable(header: string[], lines: string[][], leftColumns = 1): string {
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] ?? "").length)));
  const show = (cells: string[]) =>
    cells
      .map((c, i) => (i < leftColumns ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [show(header), widths.map((w) => "-".repeat(w)).join("  "), ...lines.map(show)].join("\n");
}

/** A number flag's value; "2_000_000" spelled with underscores is fine. */
export function benchNumber(text: string): number {
  return Number(text.replace(/_/g, ""));
}

/** Peak RSS and heap of this process, sampled every 50 ms until stopped. */
export function memorySampler() {
  let rssPeak = process.memoryUsage().rss;
  let heapPeak = process.memoryUsage().heapUsed;
  const timer = setInterval(() => {
    const m = process.memoryUsage();
    rssPeak = Math.max(rssPeak, m.rss);
    heapPeak = Math.max(heapPeak, m.heapUsed);
  }, 50);
  return {
    peak: () => ({ rss: rssPeak, heap: heapPeak }),
    stop: () => clearInterval(timer),
  };
}
