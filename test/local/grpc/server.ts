// A gRPC server on loopback for the local emulators: registers the handlers an
// emulator implements and answers every other method of the service (and of the
// Locations/IAMPolicy mixins) with UNIMPLEMENTED naming the method, so a client
// calling something we never built fails loudly instead of hanging or faking success.
import {
  Server,
  status,
  type Metadata,
  type UntypedServiceImplementation,
  type UntypedHandleCall,
  type ServerUnaryCall,
  type sendUnaryData,
} from "@grpc/grpc-js";
import type { PackageDefinition, ServiceDefinition } from "@grpc/proto-loader";
import { loadProtos, MIXIN_PROTO_FILES, MIXIN_SERVICES, protoDirs, serviceDefinition } from "./protos.js";
import { serverCredentials } from "./tls.js";

/** An error that becomes a gRPC status with this code and message. */
export class RpcError extends Error {
  constructor(
    readonly code: status,
    message: string,
  ) {
    super(message);
    this.name = "RpcError";
  }
}

export { status as GrpcStatus };

/** What a handler sees of the call besides its request. */
export interface CallContext {
  metadata: Metadata;
  /** The `authorization` metadata value, if the client sent one. */
  authorization: string | undefined;
  method: string;
}

/**
 * A unary method. Each handler declares the decoded request shape it reads (and validates
 * itself); `never` here lets handlers with any such parameter type share one map.
 */
export type UnaryHandler = (request: never, ctx: CallContext) => unknown;

export interface ServiceBinding {
  /** Fully qualified service name, e.g. "google.cloud.secretmanager.v1.SecretManagerService". */
  service: string;
  /** Implemented methods by their proto name (PascalCase, e.g. "CreateSecret"). */
  handlers: Record<string, UnaryHandler>;
}

export interface RunningGrpcServer {
  host: string;
  port: number;
  /** "127.0.0.1:PORT", what gRPC clients dial. */
  address: string;
  /** Methods that have a handler, as "Service.Method". */
  implemented: string[];
  stop(): Promise<void>;
}

function shortName(fullService: string): string {
  return fullService.split(".").pop() ?? fullService;
}

export function unimplementedMessage(fullService: string, method: string): string {
  return `${shortName(fullService)}.${method} is not implemented by the local emulator`;
}

function wrapUnary(fullService: string, method: string, handler: UnaryHandler): UntypedHandleCall {
  return (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => {
    const auth = call.metadata.get("authorization")[0];
    const ctx: CallContext = {
      metadata: call.metadata,
      authorization: typeof auth === "string" ? auth : auth?.toString("utf8"),
      method: `${shortName(fullService)}.${method}`,
    };
    Promise.resolve()
      .then(() => handler(call.request as never, ctx))
      .then(
        (response) => callback(null, response ?? {}),
        (err: unknown) => {
          if (err instanceof RpcError) {
            callback({ code: err.code, details: err.message });
          } else {
            callback({ code: status.INTERNAL, details: `local emulator error: ${String(err)}` });
          }
        },
      );
  };
}

function unimplemented(fullService: string, method: string): UntypedHandleCall {
  const details = unimplementedMessage(fullService, method);
  // Unary and client-streaming handlers get a callback; server/bidi streams end with an error event.
  const handler = (
    call: { emit(event: "error", err: unknown): boolean },
    callback?: sendUnaryData<unknown>,
  ): void => {
    if (callback) callback({ code: status.UNIMPLEMENTED, details });
    else call.emit("error", { code: status.UNIMPLEMENTED, details });
  };
  return handler as UntypedHandleCall;
}

/** Builds the implementation object of one service: handlers where given, UNIMPLEMENTED elsewhere. */
export function implementService(
  definition: ServiceDefinition,
  fullService: string,
  handlers: Record<string, UnaryHandler>,
): UntypedServiceImplementation {
  const impl: UntypedServiceImplementation = {};
  for (const [method, attrs] of Object.entries(definition)) {
    const handler = handlers[method];
    if (handler && !attrs.requestStream && !attrs.responseStream) {
      impl[method] = wrapUnary(fullService, method, handler);
    } else {
      impl[method] = unimplemented(fullService, method);
    }
  }
  const unknown = Object.keys(handlers).filter((m) => !(m in definition));
  if (unknown.length > 0) throw new Error(`${fullService} has no method(s) ${unknown.join(", ")}`);
  return impl;
}

/**
 * Starts a server on 127.0.0.1 (port 0 = any free port), insecure unless `tls` (loopback
 * test certificate, see tls.ts). `unimplementedServices` answer UNIMPLEMENTED for every method.
 */
export async function startGrpcServer(opts: {
  pkg: PackageDefinition;
  bindings: ServiceBinding[];
  unimplementedServices?: string[];
  port?: number;
  tls?: boolean;
}): Promise<RunningGrpcServer> {
  const server = new Server();
  const implemented: string[] = [];
  const all: ServiceBinding[] = [
    ...opts.bindings,
    ...(opts.unimplementedServices ?? []).map((service) => ({ service, handlers: {} })),
  ];
  for (const { service, handlers } of all) {
    const definition = serviceDefinition(opts.pkg, service);
    server.addService(definition, implementService(definition, service, handlers));
    for (const method of Object.keys(handlers)) implemented.push(`${shortName(service)}.${method}`);
  }
  const host = "127.0.0.1";
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${host}:${opts.port ?? 0}`, serverCredentials(opts.tls ?? false), (err, bound) =>
      err ? reject(err) : resolve(bound),
    );
  });
  return {
    host,
    port,
    address: `${host}:${port}`,
    implemented,
    stop: () =>
      new Promise<void>((resolve) => {
        // Give in-flight calls a moment, then cut whatever is left.
        const timer = setTimeout(() => server.forceShutdown(), 2000);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      }),
  };
}

/**
 * One Google Cloud service from its client package's own protos: the service
 * implemented by `handlers`, and the Locations and IAMPolicy mixins every
 * such service carries answering UNIMPLEMENTED (the local Secret Manager,
 * Scheduler and Cloud Tasks are built so).
 */
export function startCloudService(opts: {
  /** e.g. "@google-cloud/tasks" */
  clientPackage: string;
  /** e.g. "google/cloud/tasks/v2/cloudtasks.proto" */
  protoFile: string;
  /** e.g. "google.cloud.tasks.v2.CloudTasks" */
  service: string;
  handlers: ServiceBinding["handlers"];
  port?: number | undefined;
  tls?: boolean | undefined;
}): Promise<RunningGrpcServer> {
  const pkg = loadProtos([opts.protoFile, ...MIXIN_PROTO_FILES], protoDirs(opts.clientPackage));
  return startGrpcServer({
    pkg,
    ...(opts.port !== undefined ? { port: opts.port } : {}),
    ...(opts.tls !== undefined ? { tls: opts.tls } : {}),
    bindings: [{ service: opts.service, handlers: opts.handlers }],
    unimplementedServices: MIXIN_SERVICES,
  });
}
