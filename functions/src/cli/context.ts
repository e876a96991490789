// What every command gets: where to write, the global options, and exportRun.
import { ExportRunClient } from "./client.js";
import type { CliIo, Output } from "./io.js";

export interface GlobalOptions {
  url?: string;
  json: boolean;
  color: boolean;
}

export interface Ctx {
  out: Output;
  io: CliIo;
  global: GlobalOptions;
  /** exportRun, from --url or BQX_URL (a usage error when neither is set). */
  client(): ExportRunClient;
}

export function makeCtx(io: CliIo, out: Output, global: GlobalOptions): Ctx {
  let client: ExportRunClient | undefined;
  return { io, out, global, client: () => (client ??= ExportRunClient.fromOptions(global.url, io.env)) };
}
