// Fault hooks for tests: make the local BigQuery fail the way BigQuery does,
// on demand. Reach them as `server.faults` (BigQueryServer).
//
//   failNext(method, count, fault)
//     The next `count` calls of a REST method ("jobs.insert", "tables.get",
//     "jobs.getQueryResults", ...) answer with the fault's HTTP error.
//
//   failJob(jobId, fault)
//     The job with this id, when it runs, ends DONE with the fault as its
//     errorResult.
//
//   failNextStatementOn(table, fault)
//     The next query job (SELECT, DML or DDL) whose statement reads or
//     writes `table` ends DONE with the fault as its errorResult, without
//     running; jobs.query and jobs.getQueryResults then answer with its HTTP
//     error. The presets build the two failures a caller must tell apart:
//       Faults.backendError()          retryable 5xx: backendError, HTTP 503
//                                      ("Error encountered during execution.
//                                      Retrying may solve the problem.")
//       Faults.concurrentUpdate(table) BigQuery's DML conflict after its own
//                                      reruns: invalidQuery, HTTP 400, "Could
//                                      not serialize access to table
//                                      P:D.T due to concurrent update"
//     Several calls queue up, one per statement, in order.
//
//   clear()
//     Drops every pending fault.
//
// A Fault is { reason, message?, httpStatus? }: `reason` is one of BigQuery's
// error reasons (backendError, rateLimitExceeded, quotaExceeded,
// invalidQuery, ...); the message defaults to BigQuery's wording for it.
import type { TableRef } from "./contracts.js";
import { concurrentUpdateError } from "./dml-concurrency.js";
import { ApiError, type ErrorProto } from "./errors.js";

export interface Fault {
  reason: string;
  message?: string;
  /** Overrides the HTTP status the reason implies (REST faults only). */
  httpStatus?: number;
}

/** REST method names, as in the discovery document: "jobs.insert", "tables.get", "tabledata.list", ... */
export type MethodName = string;

const tableKey = (t: TableRef): string => `${t.projectId}:${t.datasetId}.${t.tableId}`;

export class Faults {
  private readonly methodFaults = new Map<MethodName, Array<{ remaining: number; fault: Fault }>>();
  private readonly jobFaults = new Map<string, Fault>();
  private readonly statementFaults = new Map<string, Fault[]>();

  /** A retryable server error, as BigQuery reports a failed execution. */
  static backendError(): Fault {
    return { reason: "backendError", message: defaultMessage("backendError") };
  }

  /** The error a mutating DML statement ends with when it keeps conflicting with concurrent DML. */
  static concurrentUpdate(table: TableRef): Fault {
    const err = concurrentUpdateError(table);
    return { reason: err.reason, message: err.message };
  }

  /** The next `count` calls of `method` answer with the fault's error. */
  failNext(method: MethodName, count: number, fault: Fault): void {
    const list = this.methodFaults.get(method) ?? [];
    list.push({ remaining: count, fault });
    this.methodFaults.set(method, list);
  }

  /** The job with this id (when it runs) finishes DONE with this errorResult. */
  failJob(jobId: string, fault: Fault): void {
    this.jobFaults.set(jobId, fault);
  }

  /** The next query job whose statement reads or writes `table` finishes DONE with this errorResult. */
  failNextStatementOn(table: TableRef, fault: Fault): void {
    const list = this.statementFaults.get(tableKey(table)) ?? [];
    list.push(fault);
    this.statementFaults.set(tableKey(table), list);
  }

  clear(): void {
    this.methodFaults.clear();
    this.jobFaults.clear();
    this.statementFaults.clear();
  }

  /** Throws the pending fault for a method call, if any. */
  check(method: MethodName): void {
    const list = this.methodFaults.get(method);
    const head = list?.[0];
    if (!list || !head) return;
    head.remaining--;
    if (head.remaining <= 0) list.shift();
    throw new ApiError(head.fault.reason, head.fault.message ?? defaultMessage(head.fault.reason), {
      ...(head.fault.httpStatus !== undefined ? { httpStatus: head.fault.httpStatus } : {}),
    });
  }

  /** The errorResult a job must end with, if a fault targets it (consumed). */
  takeJobFault(jobId: string): ErrorProto | undefined {
    const f = this.jobFaults.get(jobId);
    if (!f) return undefined;
    this.jobFaults.delete(jobId);
    return { reason: f.reason, message: f.message ?? defaultMessage(f.reason) };
  }

  /** The error a statement on these tables must end with, if a fault targets one of them (consumed). */
  takeStatementFault(tables: TableRef[]): ApiError | undefined {
    for (const t of tables) {
      const f = this.statementFaults.get(tableKey(t))?.shift();
      if (f) return new ApiError(f.reason, f.message ?? defaultMessage(f.reason));
    }
    return undefined;
  }
}

function defaultMessage(reason: string): string {
  switch (reason) {
    case "rateLimitExceeded":
      return "Exceeded rate limits: too many api requests per user per method for this user_method. For more information, see https://cloud.google.com/bigquery/docs/troubleshoot-quotas";
    case "quotaExceeded":
      return "Quota exceeded: Your table exceeded quota for imports or query appends per table. For more information, see https://cloud.google.com/bigquery/docs/troubleshoot-quotas";
    case "backendError":
      return "Error encountered during execution. Retrying may solve the problem.";
    case "internalError":
      return "An internal error occurred and the request could not be completed.";
    default:
      return `Injected fault: ${reason}`;
  }
}
