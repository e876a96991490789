// How bqx reaches exportRun: ID tokens (none on loopback, BQX_ID_TOKEN as
// given), and transport trouble as one line with exit code 2.
import { createServer } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { audienceOf, authHeaders, isLoopback } from "../../functions/src/cli/auth.js";
import { bqx, fakeExportRun, type FakeServer } from "./harness.js";

let server: FakeServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const { port } = s.address() as { port: number };
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

const exportsBody = { exports: [] };

describe("authentication", () => {
  it("sends no token to a loopback URL (the local stack, or gcloud run services proxy)", async () => {
    server = await fakeExportRun(() => ({ status: 200, body: exportsBody }));
    const r = await bqx(["--url", server.url, "exports"], { env: { BQX_ID_TOKEN: "" } });
    expect(r.code).toBe(0);
    expect(server.requests[0]!.headers.authorization).toBeUndefined();
  });

  it("uses BQX_ID_TOKEN as given for any other URL", async () => {
    const headers = await authHeaders(new URL("https://bqx-export-run-abc-uc.a.run.app/"), {
      BQX_ID_TOKEN: "token-123\n",
    })();
    expect(headers).toEqual({ Authorization: "Bearer token-123" });
  });

  it("knows loopback hosts and the token's audience", () => {
    expect(
      ["http://127.0.0.1:8080/x", "http://localhost:1/", "http://[::1]:9/"].map((u) =>
        isLoopback(new URL(u)),
      ),
    ).toEqual([true, true, true]);
    expect(isLoopback(new URL("https://127.0.0.1.example.com/"))).toBe(false);
    expect(audienceOf(new URL("https://f-abc-uc.a.run.app/?export=x"))).toBe("https://f-abc-uc.a.run.app");
    expect(audienceOf(new URL("https://us-central1-p.cloudfunctions.net/bqx-export-run"))).toBe(
      "https://us-central1-p.cloudfunctions.net/bqx-export-run",
    );
  });
});

describe("transport errors: one line naming the fix, exit code 2", () => {
  it("a URL nothing answers on", async () => {
    const port = await closedPort();
    const r = await bqx(["--url", `http://127.0.0.1:${port}/exportRun`, "exports"]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/cannot reach exportRun at .*ECONNREFUSED \(fix: check --url or BQX_URL/);
  });

  it("a refused token (Cloud Run's own 403 page)", async () => {
    server = await fakeExportRun(() => ({
      status: 403,
      contentType: "text/html; charset=UTF-8",
      body: "<html><head><title>403 Forbidden</title></head><body><h1>Error: Forbidden</h1><h2>Your client does not have permission to get URL <code>/</code> from this server.</h2></body></html>",
    }));
    const r = await bqx(["--url", server.url, "runs", "events-hourly"]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toContain("exportRun refused the request (HTTP 403: 403 Forbidden Error: Forbidden");
    expect(r.stderr).toContain("roles/run.invoker");
  });

  it("a URL that is not exportRun", async () => {
    server = await fakeExportRun(() => ({ status: 404, contentType: "text/plain", body: "Not Found" }));
    const r = await bqx(["--url", server.url, "check", "events-hourly"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/answered HTTP 404 text\/plain, not exportRun: Not Found/);
  });

  it("another Google API's JSON error is not taken for exportRun's", async () => {
    server = await fakeExportRun(() => ({
      status: 403,
      body: {
        error: { code: 403, message: "The caller does not have permission", status: "PERMISSION_DENIED" },
      },
    }));
    const r = await bqx(["--url", server.url, "runs", "events-hourly"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      "exportRun refused the request (HTTP 403: The caller does not have permission)",
    );
  });

  it("no URL at all", async () => {
    const r = await bqx(["exports"], { env: { BQX_URL: undefined } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("no --url and no BQX_URL");
  });

  it("an answer of the wrong shape", async () => {
    server = await fakeExportRun(() => ({ status: 200, body: { hello: "world" } }));
    const r = await bqx(["--url", server.url, "exports"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("the answer is not what bqx expects (exports:");
  });
});

describe("exportRun's own errors", () => {
  it("an unknown export is a usage error (exit 2), a server failure is exit 1", async () => {
    server = await fakeExportRun((req) =>
      req.url.searchParams.get("export") === "nope"
        ? {
            status: 404,
            body: { error: { code: "EXPORT_NOT_FOUND", message: "No export nope", retryable: false } },
          }
        : { status: 503, body: { error: { code: "UNAVAILABLE", message: "GCS is down", retryable: true } } },
    );
    const missing = await bqx(["--url", server.url, "runs", "nope"]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("EXPORT_NOT_FOUND: No export nope");
    const down = await bqx(["--url", server.url, "runs", "other"]);
    expect(down.code).toBe(1);
    expect(down.stderr).toContain("UNAVAILABLE: GCS is down (fix: a transient failure: try again)");
  });

  it("usage errors from the command line itself exit 2", async () => {
    const r = await bqx(["runs"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("missing required argument 'id'");
    const help = await bqx(["run", "--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("Examples:");
  });
});
