// Finds and loads the .proto files shipped inside the official client packages,
// so the emulators speak exactly the wire format the installed clients use.
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { existsSync, readFileSync } from "node:fs";
import { loadSync, type PackageDefinition, type ServiceDefinition } from "@grpc/proto-loader";

const require = createRequire(import.meta.url);

/** Root directory of an installed package: walks up from its entry point to its own package.json. */
export function packageRoot(name: string, from?: string): string {
  const req = from ? createRequire(from) : require;
  let dir = dirname(req.resolve(name));
  for (;;) {
    const manifest = join(dir, "package.json");
    if (existsSync(manifest) && packageName(manifest) === name) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`cannot find the package root of ${name}`);
    dir = parent;
  }
}

function packageName(manifest: string): unknown {
  const parsed: unknown = JSON.parse(readFileSync(manifest, "utf8"));
  return typeof parsed === "object" && parsed !== null && "name" in parsed ? parsed.name : undefined;
}

/** `build/protos` of a Google client package, and of the google-gax it uses (google/api, iam, location...). */
export function protoDirs(clientPackage: string): string[] {
  const client = packageRoot(clientPackage);
  const gax = packageRoot("google-gax", join(client, "package.json"));
  return [join(client, "build", "protos"), join(gax, "build", "protos")];
}

/** Decoding options: camelCase fields, enums as names, 64-bit ints as strings, bytes as Buffer. */
const LOAD_OPTIONS = {
  keepCase: false,
  longs: String,
  enums: String,
  bytes: Buffer,
  defaults: false,
  oneofs: true,
} as const;

export function loadProtos(files: string[], includeDirs: string[]): PackageDefinition {
  return loadSync(files, { ...LOAD_OPTIONS, includeDirs });
}

/** The service definition for a fully qualified name such as "google.cloud.scheduler.v1.CloudScheduler". */
export function serviceDefinition(pkg: PackageDefinition, fullName: string): ServiceDefinition {
  const def = pkg[fullName];
  if (!def || !isService(def)) throw new Error(`${fullName} is not a service in the loaded protos`);
  return def;
}

function isService(def: PackageDefinition[string]): def is ServiceDefinition {
  // Message and enum entries carry a `format` field; service definitions are maps of methods.
  return !("format" in def);
}

/** The mixin services the generated clients construct helpers for (Locations, IAMPolicy). */
export const MIXIN_PROTO_FILES = ["google/cloud/location/locations.proto", "google/iam/v1/iam_policy.proto"];
export const MIXIN_SERVICES = ["google.cloud.location.Locations", "google.iam.v1.IAMPolicy"];
