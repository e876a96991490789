// Pieces of the local BigQuery that decide behaviour on their own: the log
// filter language of sinks, timestamp parsing of loads, and line positions
// of streamed gzip NDJSON.
import { Readable } from "node:stream";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { parseLogFilter } from "../logging/filter.js";
import { ndjsonLines, sniffGzip } from "./load/ndjson.js";
import { gcsObjectSource } from "./load/object-source.js";
import { parseTimestampMicros } from "./load/values.js";
import { startHttpServer } from "../common/net.js";

const entry = {
  resource: { type: "bigquery_project" },
  severity: "INFO",
  protoPayload: {
    metadata: {
      "@type": "type.googleapis.com/google.cloud.audit.BigQueryAuditMetadata",
      jobChange: { after: "DONE", job: { jobConfig: { labels: { bqx_export: "events-hourly" } } } },
    },
  },
};

describe("log filter", () => {
  const matches = (filter: string) => parseLogFilter(filter).matches(entry);

  it("compares paths with quoted segments, and tests presence with :*", () => {
    expect(
      matches('protoPayload.metadata."@type"="type.googleapis.com/google.cloud.audit.BigQueryAuditMetadata"'),
    ).toBe(true);
    expect(matches("protoPayload.metadata.jobChange.job.jobConfig.labels.bqx_export:*")).toBe(true);
    expect(matches("protoPayload.metadata.jobChange.job.jobConfig.labels.bqx_run:*")).toBe(false);
    expect(matches('protoPayload.metadata.jobChange.after="RUNNING"')).toBe(false);
  });

  it("joins lines with an implicit AND, and binds OR tighter than AND", () => {
    expect(matches('resource.type="bigquery_project"\nprotoPayload.metadata.jobChange.after="DONE"')).toBe(
      true,
    );
    expect(matches('resource.type="bigquery_project"\nseverity="ERROR"')).toBe(false);
    // a AND b OR c  ==  a AND (b OR c)
    expect(matches('severity="ERROR" AND severity="INFO" OR resource.type="bigquery_project"')).toBe(false);
    expect(matches('(severity="ERROR" AND severity="INFO") OR resource.type="bigquery_project"')).toBe(true);
  });

  it("supports NOT, != on missing fields, and : as a substring test", () => {
    expect(matches('NOT severity="ERROR"')).toBe(true);
    expect(matches('missing.field!="x"')).toBe(true);
    expect(matches('missing.field="x"')).toBe(false);
    expect(matches('protoPayload.metadata.jobChange.job.jobConfig.labels.bqx_export:"hourly"')).toBe(true);
  });

  it("rejects malformed filters", () => {
    expect(() => parseLogFilter('resource.type="unterminated')).toThrow();
    expect(() => parseLogFilter("(resource.type=x")).toThrow();
  });
});

describe("load timestamps", () => {
  const iso = (text: string) => {
    const m = parseTimestampMicros(text);
    return m === undefined ? undefined : `${new Date(Number(m / 1000n)).toISOString()}+${m % 1000n}us`;
  };

  it("accepts BigQuery's formats with microseconds, zones and offsets", () => {
    expect(iso("2026-11-25 10:00:00.123456 UTC")).toBe("2026-11-25T10:00:00.123Z+456us");
    expect(iso("2026-11-25T10:00:00.123456Z")).toBe("2026-11-25T10:00:00.123Z+456us");
    expect(iso("2026/11/25 10:00")).toBe("2026-11-25T10:00:00.000Z+0us");
    expect(iso("2026-11-25T12:30:00+02:30")).toBe("2026-11-25T10:00:00.000Z+0us");
    expect(iso("2026-11-25")).toBe("2026-11-25T00:00:00.000Z+0us");
  });

  it("rejects what is not a timestamp", () => {
    expect(iso("2026-02-30 10:00:00")).toBeUndefined();
    expect(iso("25/11/2026 10:00")).toBeUndefined();
    expect(iso("2026-11-25 25:00:00")).toBeUndefined();
    expect(iso("yesterday")).toBeUndefined();
  });
});

describe("NDJSON streaming", () => {
  it("yields lines with their byte positions across chunk boundaries, gzip detected by content", async () => {
    const text = '{"a":"é"}\n\n{"b":2}\r\n{"c":3}';
    const gz = gzipSync(text);
    const chunks = [gz.subarray(0, 5), gz.subarray(5, 11), gz.subarray(11)];
    const sniffed = await sniffGzip(Readable.from(chunks));
    expect(sniffed.gzip).toBe(true);
    const lines = [];
    for await (const l of ndjsonLines(sniffed.stream, sniffed.gzip)) lines.push(l);
    expect(lines.map((l) => [l.position, l.text])).toEqual([
      [0, '{"a":"é"}'],
      [11, ""],
      [12, '{"b":2}'],
      [21, '{"c":3}'],
    ]);
    const plain = await sniffGzip(Readable.from([Buffer.from(text)]));
    expect(plain.gzip).toBe(false);
  });
});

describe("reading gs:// objects", () => {
  it("resumes with a Range request when the connection drops mid-object", async () => {
    const data = Buffer.from(Array.from({ length: 5000 }, (_, i) => `{"n":${i}}`).join("\n"));
    const ranges: string[] = [];
    const flaky = await startHttpServer((req, res) => {
      const range = req.headers.range;
      ranges.push(range ?? "");
      if (!range) {
        // Send part of the object, then lose the connection.
        res.writeHead(200, { "content-length": String(data.length) });
        res.write(data.subarray(0, 20000), () => res.destroy());
        return;
      }
      const start = Number(/^bytes=(\d+)-$/.exec(range)?.[1]);
      res.writeHead(206, { "content-length": String(data.length - start) });
      res.end(data.subarray(start));
    });
    try {
      const stream = await gcsObjectSource(flaky.url).open({ bucket: "b", name: "o", size: data.length });
      const chunks: Buffer[] = [];
      for await (const c of stream) chunks.push(c as Buffer);
      expect(Buffer.concat(chunks).equals(data)).toBe(true);
      expect(ranges[0]).toBe("");
      expect(ranges[1]).toMatch(/^bytes=\d+-$/);
    } finally {
      await flaky.close();
    }
  });
});
