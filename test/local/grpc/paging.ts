// List pagination shared by the emulators: opaque page tokens over a stable ordering.
import { RpcError, GrpcStatus } from "./server.js";

export function paginate<T>(
  items: readonly T[],
  pageSize: number | undefined,
  pageToken: string | undefined,
  maxPageSize: number,
): { page: T[]; nextPageToken: string } {
  const size = pageSize && pageSize > 0 ? Math.min(pageSize, maxPageSize) : maxPageSize;
  let offset = 0;
  if (pageToken) {
    const decoded = /^offset:(\d+)$/.exec(Buffer.from(pageToken, "base64url").toString("utf8"));
    if (!decoded?.[1]) throw new RpcError(GrpcStatus.INVALID_ARGUMENT, `Invalid page token: ${pageToken}`);
    offset = Number(decoded[1]);
  }
  const page = items.slice(offset, offset + size);
  const next = offset + size;
  return {
    page,
    nextPageToken: next < items.length ? Buffer.from(`offset:${next}`, "utf8").toString("base64url") : "",
  };
}
