// The two functions as the Functions Framework runs them: the request
// translation from the framework's Express request (or CloudEvent) to the
// handlers. index.ts registers these factories for production; the local stack
// registers the same factories and serves them with the framework itself, so
// body parsing, limits, error pages and CloudEvent decoding are production's.
//
// What the framework hands an HTTP function as `req.body` depends on the
// Content-Type (functions-framework 5, server.js: body-parser json, text,
// urlencoded, then raw for everything else): application/json → the parsed
// value (a body that is not JSON, or a JSON scalar, never reaches us: the
// framework answers its own HTML 400); text/* or no type → a string;
// application/x-www-form-urlencoded → an object of the form's fields; anything
// else → a Buffer. A Buffer and a form object are objects too, so exportRun
// refuses every POST that is not application/json before reading its body,
// with one short JSON error naming the Content-Type it got. A JSON body that
// is not an object (an array) is the handler's to refuse.
import type {
  CloudEvent,
  CloudEventFunction,
  HttpFunction,
  Request,
} from "@google-cloud/functions-framework";
import { toExportError } from "../core/errors.js";
import type { AppDeps } from "../app/deps.js";
import { createLogger } from "../log.js";
import { handleExportRun, type HttpResult } from "./export-run.js";
import { handleFinalizeEvent } from "./finalize-run.js";

/** A Content-Type is quoted back at most this long (it is the caller's text). */
const MAX_QUOTED_HEADER = 100;

/** The exportRun HTTP function; `getDeps` is called per request (it may throw on bad configuration). */
export function exportRunFunction(getDeps: () => AppDeps): HttpFunction {
  return async (req, res) => {
    let deps: AppDeps;
    try {
      deps = getDeps();
    } catch (err) {
      const e = toExportError(err);
      createLogger().error("exportRun is misconfigured", { error: e.toJSON() });
      res.status(500).json({ error: e.toJSON() });
      return;
    }
    const refused = req.method === "POST" ? refuseBody(req) : undefined;
    const result =
      refused ??
      (await handleExportRun(
        { method: req.method, headers: req.headers, query: req.query, body: req.body, path: req.path },
        deps,
      ));
    res.status(result.status).json(result.body);
  };
}

/** The finalizeRun CloudEvent function: a throw answers 500, so Pub/Sub redelivers. */
export function finalizeRunFunction(getDeps: () => AppDeps): CloudEventFunction<unknown> {
  return async (event: CloudEvent<unknown>) => {
    await handleFinalizeEvent(event.data, getDeps());
  };
}

/** A 415 for a body that is not application/json; else undefined. */
function refuseBody(req: Request): HttpResult | undefined {
  const contentType = req.headers["content-type"];
  const mediaType = (contentType ?? "").split(";")[0]!.trim().toLowerCase();
  if (mediaType !== "application/json") {
    const got = contentType === undefined ? "no Content-Type" : `Content-Type: ${quoted(contentType)}`;
    return refusal(
      415,
      `exportRun takes a JSON object sent with Content-Type: application/json; this request has ${got}.`,
    );
  }
  return undefined;
}

function quoted(value: string): string {
  return value.length <= MAX_QUOTED_HEADER ? value : `${value.slice(0, MAX_QUOTED_HEADER)}…`;
}

function refusal(status: number, message: string): HttpResult {
  return { status, body: { error: { code: "INVALID_REQUEST", message, retryable: false } } };
}
