// Helpers for end-to-end tests on the local stack: seed ClickHouse, call
// exportRun as Cloud Scheduler or a person would, wait for runs to settle and
// read what landed in BigQuery.
import type { ExportDefinitionInput } from "../../functions/src/core/definition.js";
import { parseManifest, type RunManifest } from "../../functions/src/core/manifest.js";
import { manifestObject } from "../../functions/src/core/names.js";
import type { Period } from "../../functions/src/core/periods.js";
import type { LocalStack } from "../local/stack.js";

/** Inserts rows (objects in ClickHouse's JSONEachRow input form) into a PostHog table. */
export async function insertRows(stack: LocalStack, table: string, rows: readonly object[]): Promise<void> {
  if (rows.length === 0) return;
  const body = rows.map((r) => JSON.stringify(r)).join("\n");
  // Keep bad escape sequences (lone surrogates) as the source holds them.
  await stack.clickhouse.exec(
    `INSERT INTO posthog.${table} SETTINGS input_format_json_throw_on_bad_escape_sequence = 0 FORMAT JSONEachRow\n${body}`,
  );
}

export interface CallResult {
  status: number;
  body: any;
}

/** POSTs an exportRun body; `scheduleTime` adds the Cloud Scheduler headers. */
export async function callExportRun(
  stack: LocalStack,
  /** Usually { exportId, dataInterval?, force? }; anything else to test rejections. */
  body: unknown,
  scheduleTime?: Date,
): Promise<CallResult> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (scheduleTime) {
    headers["x-cloudscheduler"] = "true";
    headers["x-cloudscheduler-scheduletime"] = scheduleTime.toISOString();
  }
  const res = await fetch(stack.functions.exportRunUrl, {
    method: "POST",
    headers,
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

/**
 * Stores `definition` (as Terraform would) and runs it by id: POSTs
 * {"exportId": definition.id, ...request}.
 */
export async function runExport(
  stack: LocalStack,
  definition: ExportDefinitionInput | ({ id: string } & Record<string, unknown>),
  request: Record<string, unknown> = {},
  scheduleTime?: Date,
): Promise<CallResult> {
  await stack.registerExport(definition);
  return callExportRun(stack, { exportId: definition.id, ...request }, scheduleTime);
}

/**
 * An export's destination on the local stack: the stack's project, the
 * destination's dataset and location, `tableId`, and the destination's
 * credentials (its key secret, the account to impersonate, or neither).
 */
export function destinationOf(
  stack: LocalStack,
  dest: { datasetId: string; location?: string; credentials?: { keySecret?: string; impersonate?: string } },
  tableId: string,
): {
  projectId: string;
  datasetId: string;
  tableId: string;
  location: string;
  keySecret?: string;
  impersonate?: string;
} {
  return {
    projectId: stack.projectId,
    datasetId: dest.datasetId,
    tableId,
    location: dest.location ?? "US",
    ...dest.credentials,
  };
}

export function interval(period: Period): { start: string; end: string } {
  return { start: period.start.toISOString(), end: period.end.toISOString() };
}

export async function readManifest(
  stack: LocalStack,
  exportId: string,
  period: Period,
): Promise<RunManifest | undefined> {
  const found = await stack.deps.store.read(manifestObject(exportId, period));
  return found ? parseManifest(found.text, exportId) : undefined;
}

/** Waits until the run is COMPLETED or FAILED (audit events are delivered asynchronously). */
export async function waitForRun(
  stack: LocalStack,
  exportId: string,
  period: Period,
  timeoutMs = 30_000,
): Promise<RunManifest> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const m = await readManifest(stack, exportId, period);
    if (m && (m.state === "COMPLETED" || m.state === "FAILED")) return m;
    if (Date.now() > deadline) {
      throw new Error(
        `run ${exportId} ${interval(period).start} did not settle: ${m ? m.state : "no manifest"}`,
      );
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Every row of a destination table, as the BigQuery client returns them. */
export async function tableRows(
  stack: LocalStack,
  datasetId: string,
  tableId: string,
): Promise<Record<string, any>[]> {
  const [rows] = await stack.adminBigQuery().dataset(datasetId).table(tableId).getRows();
  return rows as Record<string, any>[];
}

export async function query(stack: LocalStack, sql: string): Promise<Record<string, any>[]> {
  const [rows] = await stack.adminBigQuery().query({ query: sql, useLegacySql: false });
  return rows as Record<string, any>[];
}

/** GET ?export=<id>&backfill=<id>: the backfill's progress. */
export async function backfillProgress(
  stack: LocalStack,
  exportId: string,
  backfillId: string,
): Promise<any> {
  const url = `${stack.functions.exportRunUrl}?export=${exportId}&backfill=${backfillId}`;
  // A kept-alive socket the host closed while the poller slept resets the next request
  // (seen on a loaded machine): ask again on a fresh one.
  const res = await fetch(url).catch(() => fetch(url, { headers: { connection: "close" } }));
  if (res.status !== 200) throw new Error(`backfill progress answered ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { backfill: unknown }).backfill;
}

/** Waits until the backfill is in one of `until` with no chunk running, and returns its progress. */
export async function waitForBackfill(
  stack: LocalStack,
  exportId: string,
  backfillId: string,
  until = ["COMPLETED", "FAILED"],
  timeoutMs = 120_000,
): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const p = await backfillProgress(stack, exportId, backfillId);
    if (until.includes(p.state) && p.chunks.running === 0) return p;
    if (Date.now() > deadline) throw new Error(`backfill ${backfillId} did not settle: ${JSON.stringify(p)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
