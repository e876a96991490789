// objects.list paging: prefix, delimiter, maxResults (items + prefixes per page,
// as GCS counts them), startOffset/endOffset, and an opaque pageToken that
// resumes after the last entry of the previous page.
import { invalid } from "./errors.js";
import type { ObjectMeta } from "./resources.js";
import { compareNames } from "./store.js";

export interface ListQuery {
  prefix: string;
  delimiter?: string;
  maxResults: number;
  pageToken?: string;
  startOffset?: string;
  endOffset?: string;
  includeTrailingDelimiter?: boolean;
}

export interface ListPage {
  items: ObjectMeta[];
  prefixes: string[];
  nextPageToken?: string;
}

interface Cursor {
  /** Last name or prefix returned. */
  after: string;
  /** True when `after` is a prefix: everything under it was already returned. */
  isPrefix: boolean;
}

const encodeToken = (c: Cursor): string => Buffer.from(JSON.stringify(c)).toString("base64url");

function decodeToken(token: string): Cursor {
  try {
    const c = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as Partial<Cursor>;
    if (typeof c.after === "string" && typeof c.isPrefix === "boolean")
      return { after: c.after, isPrefix: c.isPrefix };
  } catch {
    // fall through
  }
  throw invalid(`Invalid pageToken: ${token}`);
}

/** One page of a listing over `sorted` (objects already filtered by prefix and in byte order). */
export function listPage(sorted: readonly ObjectMeta[], q: ListQuery): ListPage {
  const cursor = q.pageToken ? decodeToken(q.pageToken) : undefined;
  const page: ListPage = { items: [], prefixes: [] };
  let entries = 0;
  let last: Cursor | undefined;
  for (const meta of sorted) {
    const name = meta.name;
    if (!name.startsWith(q.prefix)) continue;
    if (q.startOffset !== undefined && compareNames(name, q.startOffset) < 0) continue;
    if (q.endOffset !== undefined && compareNames(name, q.endOffset) >= 0) continue;
    if (cursor) {
      if (compareNames(name, cursor.after) <= 0) continue;
      if (cursor.isPrefix && name.startsWith(cursor.after)) continue;
    }
    let prefix: string | undefined;
    if (q.delimiter) {
      const idx = name.indexOf(q.delimiter, q.prefix.length);
      if (idx >= 0) prefix = name.slice(0, idx + q.delimiter.length);
    }
    if (prefix !== undefined && last?.isPrefix && last.after === prefix) {
      if (q.includeTrailingDelimiter && name === prefix) page.items.push(meta);
      continue;
    }
    if (entries === q.maxResults) {
      if (last) page.nextPageToken = encodeToken(last);
      break;
    }
    entries++;
    if (prefix !== undefined) {
      page.prefixes.push(prefix);
      last = { after: prefix, isPrefix: true };
      if (q.includeTrailingDelimiter && name === prefix) page.items.push(meta);
    } else {
      page.items.push(meta);
      last = { after: name, isPrefix: false };
    }
  }
  return page;
}
