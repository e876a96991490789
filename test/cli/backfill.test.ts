// bqx backfill against a fake exportRun that speaks the backfill contract:
// POST {exportId, backfill, concurrency?} → 202 {backfill: {id, chunks, …}};
// GET ?export=&backfill= → progress; POST {exportId, cancelBackfill} → the backfill.
// The real server side is tested end to end where it lives.
import { afterEach, describe, expect, it } from "vitest";
import { bqx, fakeExportRun, type FakeServer } from "./harness.js";

const BID = "bf-0123456789abcdef";

function progress(step: number, total = 4, failed = 0) {
  const completed = Math.min(step, total - failed);
  const done = completed + failed >= total;
  return {
    backfill: {
      id: BID,
      state: done ? (failed > 0 ? "FAILED" : "COMPLETED") : "RUNNING",
      chunks: {
        total,
        pending: Math.max(0, total - completed - failed - 1),
        running: done ? 0 : 1,
        completed,
        failed,
      },
      rows: completed * 1000,
      bytes: completed * 250_000,
      rowsPerSecond: 500,
      etaSeconds: done ? 0 : (total - completed) * 2,
      failedChunks:
        failed > 0
          ? [{ chunk: 2, error: { code: "LOAD_FAILED", message: "bad row", retryable: false } }]
          : [],
    },
  };
}

let server: FakeServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** A server whose backfill advances one chunk per progress GET. */
async function backfillServer(opts: { failed?: number } = {}) {
  let polls = 0;
  server = await fakeExportRun((req) => {
    if (req.method === "POST") {
      const body = req.body as Record<string, unknown>;
      if (body.cancelBackfill) return { status: 200, body: { ...progress(polls), cancelled: true } };
      return {
        status: 202,
        // The shape handlers/export-run.ts answers with.
        body: {
          backfill: {
            id: BID,
            export: "events-hourly",
            state: "RUNNING",
            chunks: 4,
            periodsPerChunk: [24, 24, 24, 24],
            estimatedRows: 4000,
            concurrency: 3,
            progress: `?export=events-hourly&backfill=${BID}`,
          },
        },
      };
    }
    if (req.url.searchParams.get("backfill") === BID)
      return { status: 200, body: progress(polls++, 4, opts.failed) };
    return {
      status: 404,
      body: { error: { code: "INVALID_REQUEST", message: "unknown", retryable: false } },
    };
  });
  return server;
}

describe("bqx backfill", () => {
  it("posts the range and follows it with periodic plain lines when not on a terminal", async () => {
    const s = await backfillServer();
    const r = await bqx([
      "--url",
      s.url,
      "backfill",
      "events-hourly",
      "--start",
      "2026-10-01",
      "--end",
      "2026-10-05T00:00:00+00:00",
      "--concurrency",
      "3",
    ]);
    expect(r.code).toBe(0);
    expect(s.requests[0]!.body).toEqual({
      exportId: "events-hourly",
      backfill: { start: "2026-10-01T00:00:00Z", end: "2026-10-05T00:00:00Z" },
      concurrency: 3,
    });
    const lines = r.stderr.trim().split("\n");
    expect(lines[0]).toContain(`Backfill ${BID} of events-hourly`);
    expect(lines[0]).toContain("4 chunks of 24 periods, about 4,000 rows");
    const progressLines = lines.filter((l) => l.startsWith(`backfill ${BID}`));
    expect(progressLines.map((l) => /(\d)\/4 chunks done/.exec(l)?.[1])).toEqual(["0", "1", "2", "3", "4"]);
    expect(progressLines[1]).toMatch(/1,000 rows, 500 rows\/s, ETA 6s/);
    expect(r.stderr).not.toContain("\x1b[");
    expect(r.stdout).toContain(`✔ backfill ${BID} of events-hourly: COMPLETED, 4/4 chunks done; 4,000 rows`);
  });

  it("exits 1 and names each failed chunk", async () => {
    const s = await backfillServer({ failed: 1 });
    const r = await bqx([
      "--url",
      s.url,
      "backfill",
      "events-hourly",
      "--start",
      "2026-10-01",
      "--end",
      "2026-10-05",
    ]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("✗ backfill");
    expect(r.stdout).toContain("chunk 2: LOAD_FAILED: bad row");
  });

  it("Ctrl-C detaches without cancelling and says how to re-attach", async () => {
    const s = await backfillServer();
    const r = await bqx(
      ["--url", s.url, "backfill", "events-hourly", "--start", "2026-10-01", "--end", "2026-10-05"],
      {
        interruptAfterSleeps: 2,
      },
    );
    expect(r.code).toBe(130);
    expect(r.stderr).toContain(`Re-attach: bqx backfill attach events-hourly ${BID}`);
    expect(s.requests.some((q) => (q.body as { cancelBackfill?: string } | undefined)?.cancelBackfill)).toBe(
      false,
    );
  });

  it("attach follows again; --json prints the final progress", async () => {
    const s = await backfillServer();
    const r = await bqx(["--url", s.url, "--json", "backfill", "attach", "events-hourly", BID]);
    expect(r.code).toBe(0);
    expect(
      s.requests.every((q) => q.method === "GET" && q.url.searchParams.get("export") === "events-hourly"),
    ).toBe(true);
    const out = JSON.parse(r.stdout) as ReturnType<typeof progress>;
    expect(out.backfill).toMatchObject({ id: BID, state: "COMPLETED", chunks: { total: 4, completed: 4 } });
    expect(r.stderr).toBe("");
  });

  it("--no-wait returns once planned, with the attach command", async () => {
    const s = await backfillServer();
    const r = await bqx([
      "--url",
      s.url,
      "backfill",
      "start",
      "events-hourly",
      "--start",
      "2026-10-01",
      "--end",
      "2026-10-05",
      "--no-wait",
    ]);
    expect(r.code).toBe(0);
    expect(s.requests).toHaveLength(1);
    expect(r.stdout).toContain(`bqx backfill attach events-hourly ${BID}`);
  });

  it("status shows one snapshot; cancel posts cancelBackfill", async () => {
    const s = await backfillServer();
    const status = await bqx(["--url", s.url, "backfill", "status", "events-hourly", BID]);
    expect(status.code).toBe(0);
    expect(status.stdout).toContain(
      `backfill ${BID} of events-hourly: RUNNING, 0/4 chunks done, 1 running, 3 pending`,
    );
    const cancel = await bqx(["--url", s.url, "backfill", "cancel", "events-hourly", BID]);
    expect(cancel.code).toBe(0);
    expect(s.requests.at(-1)!.body).toEqual({ exportId: "events-hourly", cancelBackfill: BID });
    expect(cancel.stdout).toContain(`cancel requested for backfill ${BID}`);
  });

  it("refuses a backwards range and an unparsable time before asking the server", async () => {
    const s = await backfillServer();
    const backwards = await bqx([
      "--url",
      s.url,
      "backfill",
      "e",
      "--start",
      "2026-10-05",
      "--end",
      "2026-10-01",
    ]);
    expect(backwards.code).toBe(2);
    expect(backwards.stderr.trim().split("\n")).toHaveLength(1);
    const noZone = await bqx([
      "--url",
      s.url,
      "backfill",
      "e",
      "--start",
      "2026-10-01T10:00",
      "--end",
      "2026-10-02",
    ]);
    expect(noZone.code).toBe(2);
    expect(noZone.stderr).toContain("fix: write e.g. 2026-11-25");
    expect(s.requests).toHaveLength(0);
  });
});
