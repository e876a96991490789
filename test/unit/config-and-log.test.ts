import { describe, expect, it } from "vitest";
import { loadConfig } from "../../functions/src/config.js";
import { createLogger } from "../../functions/src/log.js";

const minimal = { BQX_STAGING_BUCKET: "my-bucket", BQX_CLICKHOUSE_URL: "https://ch.example.com:8443" };

describe("loadConfig", () => {
  it("applies defaults", () => {
    const c = loadConfig(minimal);
    expect(c).toMatchObject({
      stagingBucket: "my-bucket",
      clickhouse: { url: "https://ch.example.com:8443", user: "default", password: "", database: "posthog" },
      logLevel: "INFO",
      partBytes: 256 * 1024 * 1024,
      staleAfterMs: 3_600_000,
      endpoints: {},
    });
  });

  it("reports every problem at once, naming the variable", () => {
    expect(() => loadConfig({ BQX_STAGING_BUCKET: "gs://my-bucket", BQX_LOG_LEVEL: "LOUD" })).toThrow(
      /BQX_STAGING_BUCKET: .*not a gs:\/\/ URL.*BQX_CLICKHOUSE_URL.*BQX_LOG_LEVEL/,
    );
  });
});

describe("logger", () => {
  it("writes Cloud Logging JSON lines with severity, message and run fields", () => {
    const lines: string[] = [];
    createLogger("INFO", (l) => lines.push(l))
      .child({ export: "e", run: "r" })
      .info("staged", { rows: 3 });
    expect(JSON.parse(lines[0]!)).toMatchObject({
      severity: "INFO",
      message: "staged",
      export: "e",
      run: "r",
      rows: 3,
    });
  });

  it("never writes secrets, however deep", () => {
    const lines: string[] = [];
    createLogger("DEBUG", (l) => lines.push(l)).info("x", {
      password: "hunter2",
      nested: { private_key: "-----BEGIN", headers: { authorization: "Bearer abc" } },
    });
    expect(lines[0]).not.toMatch(/hunter2|BEGIN|Bearer abc/);
  });

  it("drops lines below its level", () => {
    const lines: string[] = [];
    createLogger("WARNING", (l) => lines.push(l)).info("quiet");
    expect(lines).toEqual([]);
  });
});
