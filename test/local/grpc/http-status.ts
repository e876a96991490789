// How an HTTP answer from a push target reads as a google.rpc.Status code (the
// standard HTTP mapping of google/rpc/code.proto), for the services that report
// their targets' answers as Status: Cloud Scheduler's job status, Cloud Tasks' attempts.
import { GrpcStatus } from "./server.js";

/** google.rpc.Code for an HTTP status, per the standard HTTP mapping. */
export function rpcCodeForHttp(status: number): number {
  if (status >= 200 && status < 300) return GrpcStatus.OK;
  const table: Record<number, number> = {
    400: GrpcStatus.INVALID_ARGUMENT,
    401: GrpcStatus.UNAUTHENTICATED,
    403: GrpcStatus.PERMISSION_DENIED,
    404: GrpcStatus.NOT_FOUND,
    409: GrpcStatus.ABORTED,
    429: GrpcStatus.RESOURCE_EXHAUSTED,
    499: GrpcStatus.CANCELLED,
    500: GrpcStatus.INTERNAL,
    501: GrpcStatus.UNIMPLEMENTED,
    503: GrpcStatus.UNAVAILABLE,
    504: GrpcStatus.DEADLINE_EXCEEDED,
  };
  return table[status] ?? (status < 500 ? GrpcStatus.FAILED_PRECONDITION : GrpcStatus.UNKNOWN);
}
