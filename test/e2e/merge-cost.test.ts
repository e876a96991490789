// What a deduplicated run's MERGE costs: it is bounded to the staged rows'
// timestamps, so BigQuery reads only those partitions of the final table,
// whatever its size. Measured with the local BigQuery's bytes processed,
// which follow BigQuery's on-demand rules (columns read × partitions kept).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventsInsertMergeSql } from "../../functions/src/core/destination-sql.js";
import { quoteTable, type TableRef } from "../../functions/src/core/identifiers.js";
import type { Period } from "../../functions/src/core/periods.js";
import {
  callExportRun,
  interval,
  runExport,
  waitForRun,
  destinationOf,
  waitForBackfill,
} from "../helpers/stack-helpers.js";
import { generateSampleData } from "../local/clickhouse/sample-data.js";
import { startLocalStack, type Destination, type LocalStack } from "../local/stack.js";

const DAY = 86_400_000;
const LOOKBACK_DAYS = 7;
const END = new Date("2026-11-25T00:00:00Z");
const RANGE: Period = { start: new Date(END.getTime() - 60 * DAY), end: END };
const HOUR: Period = { start: new Date(END.getTime() - 3_600_000), end: END };

let stack: LocalStack;
let dest: Destination;
let final: TableRef;

async function dryRunBytes(sql: string): Promise<number> {
  const [job] = await stack.adminBigQuery().createQueryJob({ query: sql, dryRun: true, useLegacySql: false });
  return Number(job.metadata.statistics.query.totalBytesProcessed);
}

beforeAll(async () => {
  stack = await startLocalStack({ backfillRowsPerChunk: 1_000_000 });
  dest = await stack.createDestination({ datasetId: "Cost" });
  const sample = await generateSampleData(stack.clickhouse, {
    events: 6000,
    teams: 1,
    firstTeamId: 50,
    seed: 11,
    start: RANGE.start,
    end: RANGE.end,
    lateFraction: 0.2,
  });
  const definition = {
    id: "cost-dedup",
    model: "events",
    teamId: sample.teams[0]!.teamId,
    interval: "hour",
    deduplicate: true,
    destination: destinationOf(stack, dest, "events"),
  };
  final = { projectId: stack.projectId, datasetId: dest.datasetId, tableId: "events" };
  // 60 days of partitions, by a backfill (one chunk).
  await stack.registerExport(definition);
  const planned = await callExportRun(stack, { exportId: definition.id, backfill: interval(RANGE) });
  expect(planned.status, JSON.stringify(planned.body)).toBe(202);
  const done = await waitForBackfill(stack, definition.id, planned.body.backfill.id as string);
  expect(done.state).toBe("COMPLETED");
  // Then the scheduled run of the last hour, deduplicated.
  const res = await runExport(stack, definition, { dataInterval: interval(HOUR) });
  expect([200, 202]).toContain(res.status);
});

afterAll(async () => {
  await stack?.stop();
});

describe("a deduplicated run's MERGE", () => {
  it(`reads at most lookback + 2 = ${LOOKBACK_DAYS + 2} of the table's 60 daily partitions`, async () => {
    const run = await waitForRun(stack, "cost-dedup", HOUR);
    expect(run.state).toBe("COMPLETED");
    expect(run.timestampBounds).toBeDefined();
    const processed = run.mergeBytesProcessed!;
    expect(processed).toBeGreaterThan(0);
    // What the MERGE reads of the final table, per day: uuid and timestamp.
    const perDay: number[] = [];
    for (let d = 0; d < 60; d++) {
      const from = new Date(RANGE.start.getTime() + d * DAY).toISOString();
      const to = new Date(RANGE.start.getTime() + (d + 1) * DAY).toISOString();
      perDay.push(
        await dryRunBytes(
          `SELECT uuid, timestamp FROM ${quoteTable(final)} WHERE timestamp >= TIMESTAMP '${from}' AND timestamp < TIMESTAMP '${to}'`,
        ),
      );
    }
    expect(perDay.filter((b) => b > 0).length).toBeGreaterThanOrEqual(58);
    const largest = [...perDay]
      .sort((a, b) => b - a)
      .slice(0, LOOKBACK_DAYS + 2)
      .reduce((a, b) => a + b, 0);
    const wholeTable = perDay.reduce((a, b) => a + b, 0);
    // The run's rows, as its stage held them: what the MERGE reads besides the final table.
    const stageBytes = await dryRunBytes(
      `SELECT * FROM ${quoteTable(final)} WHERE timestamp >= TIMESTAMP '${run.timestampBounds!.min}' AND timestamp <= TIMESTAMP '${run.timestampBounds!.max}' AND bq_ingested_timestamp = (SELECT MAX(bq_ingested_timestamp) FROM ${quoteTable(final)})`,
    );
    expect(processed).toBeLessThanOrEqual(largest + stageBytes);
    expect(processed).toBeLessThan(wholeTable / 3);

    // Before: the same MERGE without bounds reads the uuid column of every partition.
    const stage = { ...final, tableId: "events_cost_probe" };
    await stack.adminBigQuery().query({
      query: `CREATE TABLE ${quoteTable(stage)} AS SELECT * FROM ${quoteTable(final)} WHERE timestamp >= TIMESTAMP '${run.timestampBounds!.min}' AND timestamp <= TIMESTAMP '${run.timestampBounds!.max}'`,
      useLegacySql: false,
    });
    const unbounded = await dryRunBytes(eventsInsertMergeSql(final, stage));
    const bounded = await dryRunBytes(eventsInsertMergeSql(final, stage, run.timestampBounds));
    console.log(
      `MERGE bytes processed over 60 daily partitions: unbounded ${unbounded}, bounded ${bounded}, the run's own ${processed} (whole table uuid+timestamp ${wholeTable})`,
    );
    expect(bounded).toBeLessThan(unbounded);
  });
});
