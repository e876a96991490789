// ClickHouse's error shape over HTTP: "Code: N. DB::Exception: <text>. (NAME) (version V)"
// as the body, X-ClickHouse-Exception-Code as a header, and an HTTP status chosen
// from the code the way ClickHouse's exceptionCodeToHTTPStatus does.

/** Codes this emulator raises itself (numbers as in ClickHouse's ErrorCodes.cpp). */
export const CH_ERROR = {
  BAD_ARGUMENTS: 36,
  NOT_IMPLEMENTED: 48,
  SYNTAX_ERROR: 62,
  UNKNOWN_COMPRESSION_METHOD: 89,
  CANNOT_DECOMPRESS: 271,
  QUERY_IS_TOO_LARGE: 229,
  AUTHENTICATION_FAILED: 516,
  UNKNOWN_EXCEPTION: 1002,
} as const;

const NAME_BY_CODE: ReadonlyMap<number, string> = new Map(
  Object.entries(CH_ERROR).map(([name, code]) => [code, name]),
);

/** The engine version chdb embeds; real servers append it to every error text. */
export const ENGINE_VERSION = "26.7.2.1";

/** An error in ClickHouse's terms: numeric code, symbolic name, message without the envelope. */
export class ClickHouseServerError extends Error {
  readonly code: number;
  readonly type: string;

  constructor(code: number, message: string, type?: string) {
    super(message);
    this.name = "ClickHouseServerError";
    this.code = code;
    this.type = type ?? NAME_BY_CODE.get(code) ?? "UNKNOWN_EXCEPTION";
  }

  /** The body text a ClickHouse server sends for this error. */
  toBody(): string {
    const text = this.message.endsWith(".") ? this.message : `${this.message}.`;
    return `Code: ${this.code}. DB::Exception: ${text} (${this.type}) (version ${ENGINE_VERSION})\n`;
  }
}

// "Code: 62. DB::Exception: <message>. (SYNTAX_ERROR)" possibly after a "Query failed: "
// prefix that chdb adds on its synchronous path. The message is lazy so the name
// is the first parenthesised ALL_CAPS marker after it.
const ENGINE_ERROR_RE =
  /Code: (\d+)\. DB::Exception: ([\s\S]*?)\s*\(([A-Z][A-Z0-9_]{2,})\)\s*(?:\(version [^)]*\))?\s*$/;

/** Converts whatever chdb threw into a ClickHouseServerError, keeping the engine's code and text. */
export function fromEngineError(err: unknown): ClickHouseServerError {
  if (err instanceof ClickHouseServerError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const match = ENGINE_ERROR_RE.exec(message);
  if (match) {
    const [, code, text, type] = match;
    return new ClickHouseServerError(Number(code), (text ?? "").replace(/\.$/, ""), type);
  }
  return new ClickHouseServerError(CH_ERROR.UNKNOWN_EXCEPTION, message);
}

// Sets of codes per HTTP status, transcribed from ClickHouse's
// src/Server/HTTP/exceptionCodeToHTTPStatus.cpp (numbers checked against
// errorCodeToName() in the bundled engine).
const FORBIDDEN = new Set([192, 193, 516, 512, 497]);
const BAD_REQUEST = new Set([
  36, 427, 6, 25, 26, 38, 41, 72, 441, 675, 676, 27, 376, 15, 44, 37, 123, 8, 167, 168, 223, 62, 117, 53, 321,
]);
const NOT_FOUND = new Set([60, 46, 47, 50, 56, 81, 115, 152, 63, 73, 336, 78, 511]);

/** The HTTP status ClickHouse answers for an exception code. */
export function httpStatusForCode(code: number): number {
  if (code === 194) return 401; // REQUIRED_PASSWORD
  if (FORBIDDEN.has(code)) return 403;
  if (BAD_REQUEST.has(code)) return 400;
  if (NOT_FOUND.has(code)) return 404;
  if (code === 229) return 413; // QUERY_IS_TOO_LARGE
  if (code === 48) return 501; // NOT_IMPLEMENTED
  if (code === 209 || code === 76 || code === 439) return 503; // SOCKET_TIMEOUT, CANNOT_OPEN_FILE, CANNOT_SCHEDULE_TASK
  if (code === 381) return 411; // HTTP_LENGTH_REQUIRED
  if (code === 159) return 408; // TIMEOUT_EXCEEDED
  if (code === 779) return 415; // UNSUPPORTED_MEDIA_TYPE
  return 500;
}
