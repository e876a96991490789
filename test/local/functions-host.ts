// Hosts exportRun and finalizeRun on loopback for the local stack, with the
// same handlers index.ts registers with the Functions Framework. exportRun
// takes JSON over HTTP; finalizeRun takes a CloudEvent in binary mode (ce-*
// headers, data as the body), as Eventarc pushes Pub/Sub messages, or in
// structured mode. A finalize that throws answers 500 so the push is retried.
import type { IncomingMessage } from "node:http";
import type { AppDeps } from "../../functions/src/app/deps.js";
import { handleExportRun } from "../../functions/src/handlers/export-run.js";
import { handleFinalizeEvent } from "../../functions/src/handlers/finalize-run.js";
import { readBody, sendJson, startHttpServer, type RunningHttpServer } from "./common/net.js";

export interface FunctionsHost {
  url: string;
  exportRunUrl: string;
  finalizeRunUrl: string;
  /** Finalize deliveries seen, for tests of at-least-once handling. */
  finalizeCalls(): number;
  stop(): Promise<void>;
}

function parseJson(buf: Buffer): unknown {
  if (buf.length === 0) return undefined;
  try {
    return JSON.parse(buf.toString("utf8"));
  } catch {
    return Symbol.for("invalid-json");
  }
}

function cloudEventData(req: IncomingMessage, body: unknown): unknown {
  const type = String(req.headers["content-type"] ?? "");
  if (type.startsWith("application/cloudevents+json") && body && typeof body === "object") {
    return (body as { data?: unknown }).data;
  }
  return body;
}

/** Each function's dependencies, when they differ (their logs, finalizeRun without a Scheduler). */
export interface FunctionDeps {
  exportRun: AppDeps;
  finalizeRun: AppDeps;
}

export async function startFunctionsHost(deps: AppDeps | FunctionDeps, port = 0): Promise<FunctionsHost> {
  const { exportRun, finalizeRun } = "exportRun" in deps ? deps : { exportRun: deps, finalizeRun: deps };
  let finalizeCalls = 0;
  const server: RunningHttpServer = await startHttpServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    const body = parseJson(await readBody(req));
    if (url.pathname === "/exportRun") {
      if (typeof body === "symbol") {
        sendJson(res, 400, {
          error: { code: "INVALID_REQUEST", message: "The body is not valid JSON.", retryable: false },
        });
        return;
      }
      const result = await handleExportRun(
        {
          method: req.method ?? "GET",
          headers: req.headers,
          query: Object.fromEntries(url.searchParams),
          body,
          path: url.pathname,
        },
        exportRun,
      );
      sendJson(res, result.status, result.body);
      return;
    }
    if (url.pathname === "/finalizeRun" && req.method === "POST") {
      finalizeCalls++;
      try {
        await handleFinalizeEvent(cloudEventData(req, body), finalizeRun);
        res.writeHead(204).end();
      } catch (err) {
        sendJson(res, 500, { error: String(err) });
      }
      return;
    }
    sendJson(res, 404, { error: `no function at ${url.pathname}` });
  }, port);
  return {
    url: server.url,
    exportRunUrl: `${server.url}/exportRun`,
    finalizeRunUrl: `${server.url}/finalizeRun`,
    finalizeCalls: () => finalizeCalls,
    stop: () => server.close(),
  };
}
