// Fault hooks for tests: fail the next N calls of a REST method, or make a
// given job finish with an error, with any of BigQuery's reasons.
import { ApiError, type ErrorProto } from "./errors.js";

export interface Fault {
  reason: string;
  message?: string;
  /** Overrides the HTTP status the reason implies (REST faults only). */
  httpStatus?: number;
}

/** REST method names, as in the discovery document: "jobs.insert", "tables.get", "tabledata.list", ... */
export type MethodName = string;

export class Faults {
  private readonly methodFaults = new Map<MethodName, Array<{ remaining: number; fault: Fault }>>();
  private readonly jobFaults = new Map<string, Fault>();

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

  clear(): void {
    this.methodFaults.clear();
    this.jobFaults.clear();
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
