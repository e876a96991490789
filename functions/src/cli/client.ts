// exportRun over HTTP: the same endpoint Cloud Scheduler calls, with an ID
// token (auth.ts). Transport trouble (no such host, refused connection, a
// page that is not exportRun, a refused token) is a CliError with exit code
// 2; exportRun's own answers, errors included, go back to the command.
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import type { z } from "zod";
import { authHeaders, type HeadersSource } from "./auth.js";
import { CliError, EXIT, usageError } from "./errors.js";
import { firstLine } from "./format.js";
import { errorResponse, type ErrorBody } from "./responses.js";

export interface Answer {
  status: number;
  body: unknown;
}

const URL_FIX = "check --url or BQX_URL (terraform -chdir=infra output -raw export_run_url)";
/** GETs answer at once; a POST of a run may stage a whole period first (up to the function's timeout). */
const GET_TIMEOUT_MS = 60_000;
const POST_TIMEOUT_MS = 60 * 60_000;

export class ExportRunClient {
  private readonly headers: HeadersSource;

  constructor(
    readonly url: URL,
    env: Record<string, string | undefined>,
  ) {
    this.headers = authHeaders(url, env);
  }

  static fromOptions(
    urlOption: string | undefined,
    env: Record<string, string | undefined>,
  ): ExportRunClient {
    const text = urlOption ?? env.BQX_URL;
    if (!text) {
      throw usageError(
        "which exportRun? no --url and no BQX_URL",
        "export BQX_URL=$(terraform -chdir=infra output -raw export_run_url), or the line `npm run stack` prints",
      );
    }
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      throw usageError(`${JSON.stringify(text)} is not a URL`, URL_FIX);
    }
    if (url.protocol !== "https:" && url.protocol !== "http:") {
      throw usageError(`${text} is not an http(s) URL`, URL_FIX);
    }
    return new ExportRunClient(url, env);
  }

  get(query: Record<string, string>): Promise<Answer> {
    const url = new URL(this.url);
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
    return this.send("GET", url, undefined);
  }

  post(body: Record<string, unknown>): Promise<Answer> {
    return this.send("POST", this.url, body);
  }

  private async send(method: string, url: URL, body: unknown): Promise<Answer> {
    const auth = await this.headers();
    let res: RawResponse;
    try {
      res = await request(url, {
        method,
        headers: {
          Accept: "application/json",
          ...auth,
          ...(body ? { "Content-Type": "application/json" } : {}),
        },
        body: body ? JSON.stringify(body) : undefined,
        timeoutMs: method === "GET" ? GET_TIMEOUT_MS : POST_TIMEOUT_MS,
      });
    } catch (err) {
      throw usageError(`cannot reach exportRun at ${this.url.href}: ${networkReason(err)}`, URL_FIX);
    }
    let text = res.text;
    const type = res.contentType;
    let json: unknown;
    if (/json/i.test(type)) {
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
    }
    // exportRun's errors are {"error": {"code": "<CODE>", …}}; any other failure
    // (an HTML page, Google's front end, another API's {"error": {"code": 404}})
    // means the URL or the token is wrong, not the request.
    const foreign = json === undefined || json === null || typeof json !== "object";
    const otherApiError = !foreign && "error" in (json as object) && !errorResponse.safeParse(json).success;
    if (foreign || otherApiError) {
      if (!foreign) text = googleMessage(json) ?? text;
      if (res.status === 401 || res.status === 403) {
        throw usageError(
          `exportRun refused the request (HTTP ${res.status}${this.describe(text)})`,
          "call it as someone with roles/run.invoker on the service (README, Deploy step 6); or set BQX_ID_TOKEN=$(gcloud auth print-identity-token)",
        );
      }
      throw usageError(
        `${this.url.href} answered HTTP ${res.status} ${type.split(";")[0] || "without a content type"}, not exportRun${this.describe(text)}`,
        URL_FIX,
      );
    }
    return { status: res.status, body: json };
  }

  private describe(text: string): string {
    const plain = text
      .replace(/<[^>]*>/g, " ")
      .replace(/\s+/g, " ")
      .trim();
    return plain ? `: ${firstLine(plain, 120)}` : "";
  }
}

/** The message of a Google API error body ({"error": {"code": 404, "message": "…"}}). */
function googleMessage(json: unknown): string | undefined {
  const message = (json as { error?: { message?: unknown } }).error?.message;
  return typeof message === "string" ? message : undefined;
}

function networkReason(err: unknown): string {
  const code = (err as { code?: unknown }).code;
  if (typeof code === "string") return code;
  return err instanceof Error ? err.message : String(err);
}

interface RawResponse {
  status: number;
  contentType: string;
  text: string;
}

/**
 * One HTTP(S) exchange with node:http, not fetch: fetch (undici) gives up on
 * an answer whose headers take over 5 minutes, and a POST that stages a large
 * period answers only when its load job is started.
 */
function request(
  url: URL,
  opts: { method: string; headers: Record<string, string>; body: string | undefined; timeoutMs: number },
): Promise<RawResponse> {
  const send = url.protocol === "https:" ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(
      url,
      {
        method: opts.method,
        headers: {
          ...opts.headers,
          ...(opts.body !== undefined ? { "Content-Length": String(Buffer.byteLength(opts.body)) } : {}),
        },
        signal: AbortSignal.timeout(opts.timeoutMs),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", reject);
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            contentType: String(res.headers["content-type"] ?? ""),
            text: Buffer.concat(chunks).toString("utf8"),
          }),
        );
      },
    );
    req.on("error", (err) =>
      reject(
        err.name === "AbortError" ? Object.assign(new Error("no answer in time"), { code: "TIMEOUT" }) : err,
      ),
    );
    req.end(opts.body);
  });
}

/** exportRun's error body, if the answer is one. */
export function errorOf(answer: Answer): ErrorBody | undefined {
  const parsed = errorResponse.safeParse(answer.body);
  return parsed.success ? parsed.data.error : undefined;
}

/**
 * An answer that must be a success of the given shape. An error answer
 * becomes a CliError: exit 2 for what the caller got wrong (400, 404),
 * exit 1 for what failed on the server.
 */
export function expectAnswer<T extends z.ZodType>(answer: Answer, schema: T, what: string): z.infer<T> {
  const error = errorOf(answer);
  if (answer.status >= 400 || error) {
    const message = error ? `${error.code}: ${error.message}` : `HTTP ${answer.status}`;
    const exit =
      answer.status === 400 || answer.status === 404 || answer.status === 405 ? EXIT.usage : EXIT.failed;
    throw new CliError(
      `${what} failed: ${message}`,
      exit,
      error?.retryable ? "a transient failure: try again" : undefined,
    );
  }
  const parsed = schema.safeParse(answer.body);
  if (!parsed.success) {
    throw usageError(
      `${what}: the answer is not what bqx expects (${firstLine(parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; "), 160)})`,
      "is the URL exportRun's, and the same version as this bqx?",
    );
  }
  return parsed.data;
}
