// Credentials the way ClickHouse's HTTP handler reads them: X-ClickHouse-User /
// X-ClickHouse-Key headers, else HTTP Basic, else ?user=&password= (mixing Basic
// with URL parameters is refused); no credentials at all means user "default"
// with an empty password.
import { timingSafeEqual } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";
import { CH_ERROR, ClickHouseServerError } from "./errors.js";

export interface Credentials {
  user: string;
  password: string;
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function invalid(message: string): ClickHouseServerError {
  return new ClickHouseServerError(CH_ERROR.AUTHENTICATION_FAILED, `Invalid authentication: ${message}`);
}

/** Reads the credentials of a request; throws AUTHENTICATION_FAILED on a malformed mix. */
export function readCredentials(headers: IncomingHttpHeaders, params: URLSearchParams): Credentials {
  const headerUser = header(headers, "x-clickhouse-user") ?? "";
  const headerKey = header(headers, "x-clickhouse-key") ?? "";
  if (headerUser !== "" || headerKey !== "") {
    if (header(headers, "authorization") !== undefined || params.has("user") || params.has("password")) {
      throw invalid(
        "it is not allowed to use X-ClickHouse HTTP headers and other authentication methods simultaneously",
      );
    }
    return { user: headerUser || "default", password: headerKey };
  }
  const authorization = header(headers, "authorization");
  if (authorization !== undefined) {
    if (params.has("user") || params.has("password")) {
      throw invalid(
        "it is not allowed to use Authorization HTTP header and authentication via parameters simultaneously",
      );
    }
    const space = authorization.indexOf(" ");
    const scheme = space < 0 ? authorization : authorization.slice(0, space);
    if (scheme.toLowerCase() !== "basic") {
      throw invalid(`'${scheme}' HTTP Authorization scheme is not supported`);
    }
    const decoded = Buffer.from(authorization.slice(space + 1).trim(), "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    const user = colon < 0 ? decoded : decoded.slice(0, colon);
    return { user: user || "default", password: colon < 0 ? "" : decoded.slice(colon + 1) };
  }
  return { user: params.get("user") || "default", password: params.get("password") ?? "" };
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Throws ClickHouse's AUTHENTICATION_FAILED (516, HTTP 403) unless the credentials match. */
export function checkCredentials(given: Credentials, expected: Credentials): void {
  // Compare both before deciding so the answer does not reveal which part was wrong.
  const userOk = sameText(given.user, expected.user);
  const passwordOk = sameText(given.password, expected.password);
  if (!userOk || !passwordOk) {
    throw new ClickHouseServerError(
      CH_ERROR.AUTHENTICATION_FAILED,
      `${given.user}: Authentication failed: password is incorrect, or there is no user with such name`,
    );
  }
}
