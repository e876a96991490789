// Runs bqx in-process against a fake exportRun on loopback: captured
// stdout/stderr, an environment, and a Ctrl-C the test can press.
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { runCli } from "../../functions/src/cli/main.js";
import type { CliIo, OutStream } from "../../functions/src/cli/io.js";

export interface Captured {
  stdout: string;
  stderr: string;
  code: number;
}

export interface FakeIoOptions {
  env?: Record<string, string | undefined>;
  /** Called on each sleep (after the first `sleepsBeforeInterrupt`, Ctrl-C is pressed). */
  interruptAfterSleeps?: number;
}

class Capture implements OutStream {
  text = "";
  isTTY = false;
  write(s: string): boolean {
    this.text += s;
    return true;
  }
}

/** Runs `bqx <argv>` with a fake io; sleeps take no time (the fake server moves on per request). */
export async function bqx(argv: string[], opts: FakeIoOptions = {}): Promise<Captured> {
  const stdout = new Capture();
  const stderr = new Capture();
  const handlers = new Set<() => void>();
  let sleeps = 0;
  const io: CliIo = {
    stdout,
    stderr,
    env: { BQX_POLL_MS: "10", ...opts.env },
    now: () => new Date(),
    sleep: async (_ms, signal) => {
      sleeps++;
      if (opts.interruptAfterSleeps !== undefined && sleeps >= opts.interruptAfterSleeps) {
        for (const h of [...handlers]) h();
      }
      if (signal?.aborted) return;
      await new Promise((r) => setImmediate(r));
    },
    onInterrupt: (h) => {
      handlers.add(h);
      return () => handlers.delete(h);
    },
  };
  const code = await runCli(argv, io);
  return { stdout: stdout.text, stderr: stderr.text, code };
}

export interface Recorded {
  method: string;
  url: URL;
  body: unknown;
  headers: IncomingMessage["headers"];
}

export type Route = (req: Recorded) => { status: number; body: unknown; contentType?: string };

export interface FakeServer {
  url: string;
  requests: Recorded[];
  close(): Promise<void>;
}

export async function fakeExportRun(route: Route): Promise<FakeServer> {
  const requests: Recorded[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      const recorded: Recorded = {
        method: req.method ?? "GET",
        url: new URL(req.url ?? "/", "http://127.0.0.1"),
        body: text ? JSON.parse(text) : undefined,
        headers: req.headers,
      };
      requests.push(recorded);
      const answer = route(recorded);
      const type = answer.contentType ?? "application/json";
      res.writeHead(answer.status, { "Content-Type": type });
      res.end(type.includes("json") ? JSON.stringify(answer.body) : String(answer.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/exportRun`,
    requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
