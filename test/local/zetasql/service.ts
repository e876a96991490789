// The ZetaSQL local service: Google's analyzer and reference evaluator, the
// binary shipped in @fivetrandevelopers/zetasql, run as a child process and
// reached over gRPC. Shared by the analyzer and the reference evaluator.
import { spawn, type ChildProcess } from "node:child_process";
import { createRequire } from "node:module";
import path from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { freePort } from "../common/net.js";

const require = createRequire(import.meta.url);
const LIB = path.join(path.dirname(require.resolve("@fivetrandevelopers/zetasql")), "zetasql");
const BINARY = path.join(LIB, process.arch === "arm64" ? "remote_server_arm.so" : "remote_server.so");

export type Unary = (req: unknown, cb: (err: grpc.ServiceError | null, res: unknown) => void) => void;

export interface ZetaSqlProcess<C extends grpc.Client> {
  client: C;
  /** The loaded proto package definition (enum lookups). */
  definition: protoLoader.PackageDefinition;
  call(method: keyof C & string, request: unknown): Promise<unknown>;
  stop(): Promise<void>;
}

/**
 * Starts the service on a free port and waits until it answers. `protoOptions`
 * choose how the caller wants enums and 64-bit numbers decoded.
 */
export async function startZetaSql<C extends grpc.Client>(
  protoOptions: protoLoader.Options,
): Promise<ZetaSqlProcess<C>> {
  const port = await freePort();
  const child: ChildProcess = spawn(BINARY, ["127.0.0.1", String(port)], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const definition = protoLoader.loadSync("local_service.proto", {
    ...protoOptions,
    includeDirs: [path.join(LIB, "protos")],
  });
  const pkg = grpc.loadPackageDefinition(definition) as unknown as {
    zetasql: { local_service: { ZetaSqlLocalService: new (...a: unknown[]) => C } };
  };
  const client = new pkg.zetasql.local_service.ZetaSqlLocalService(
    `127.0.0.1:${port}`,
    grpc.credentials.createInsecure(),
    { "grpc.max_send_message_length": 256 << 20, "grpc.max_receive_message_length": 256 << 20 },
  );
  const call = (method: keyof C & string, request: unknown) =>
    new Promise<unknown>((resolve, reject) => {
      (client[method] as unknown as Unary).call(client, request, (err, res) =>
        err ? reject(err) : resolve(res),
      );
    });
  const stop = async () => {
    client.close();
    if (child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once("exit", () => resolve());
      child.kill("SIGKILL");
    });
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      await call("formatSql" as keyof C & string, { sql: "SELECT 1" });
      return { client, definition, call, stop };
    } catch (err) {
      if (child.exitCode !== null || Date.now() > deadline) {
        await stop();
        throw new Error(`The ZetaSQL service did not start (${String(err)}): ${stderr}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}
