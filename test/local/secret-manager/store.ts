// The state and rules of the local Secret Manager: secrets, numbered versions,
// version states, payload checksums, and the real service's error statuses/messages.
import { randomBytes } from "node:crypto";
import { RpcError, GrpcStatus } from "../grpc/server.js";
import { toTimestamp, type Timestamp } from "../grpc/wellknown.js";
import { crc32c } from "../common/crc32c.js";

export type VersionState = "ENABLED" | "DISABLED" | "DESTROYED";

interface StoredVersion {
  number: number;
  createTime: Date;
  destroyTime?: Date;
  state: VersionState;
  data?: Buffer;
  clientChecksum: boolean;
  etag: string;
}

interface StoredSecret {
  name: string;
  createTime: Date;
  labels: Record<string, string>;
  replication: unknown;
  etag: string;
  versions: StoredVersion[];
  nextVersion: number;
}

/** Secret and SecretVersion as the proto messages (camelCase, enums as names). */
export interface SecretMessage {
  name: string;
  createTime: Timestamp;
  labels: Record<string, string>;
  replication: unknown;
  etag: string;
}

export interface SecretVersionMessage {
  name: string;
  createTime: Timestamp;
  destroyTime?: Timestamp;
  state: VersionState;
  etag: string;
  clientSpecifiedPayloadChecksum: boolean;
  replicationStatus: { automatic: Record<string, never> };
}

const PARENT = /^projects\/[^/]+(?:\/locations\/[^/]+)?$/;
const SECRET_ID = /^[A-Za-z0-9_-]{1,255}$/;
const SECRET = /^(projects\/[^/]+(?:\/locations\/[^/]+)?)\/secrets\/([A-Za-z0-9_-]{1,255})$/;
const VERSION =
  /^(projects\/[^/]+(?:\/locations\/[^/]+)?\/secrets\/[A-Za-z0-9_-]{1,255})\/versions\/(latest|[1-9][0-9]*)$/;

function invalidName(name: string): RpcError {
  return new RpcError(GrpcStatus.INVALID_ARGUMENT, `Resource ID [${name}] is not in a valid format.`);
}

/** Splits and validates "projects/p[/locations/l]/secrets/s". */
export function parseSecretName(name: string): { parent: string; secretId: string } {
  const m = SECRET.exec(name);
  if (!m?.[1] || !m[2]) throw invalidName(name);
  return { parent: m[1], secretId: m[2] };
}

/** Splits and validates "…/secrets/s/versions/(latest|N)". */
export function parseVersionName(name: string): { secret: string; version: "latest" | number } {
  const m = VERSION.exec(name);
  if (!m?.[1] || !m[2]) throw invalidName(name);
  return { secret: m[1], version: m[2] === "latest" ? "latest" : Number(m[2]) };
}

/** The project of a resource name, where project-level grants sit. */
export function projectOf(name: string): string {
  return name.split("/").slice(0, 2).join("/");
}

function newEtag(): string {
  return `"${randomBytes(7).toString("hex")}"`;
}

export class SecretStore {
  private readonly secrets = new Map<string, StoredSecret>();

  constructor(private readonly now: () => Date = () => new Date()) {}

  createSecret(
    parent: string,
    secretId: string,
    secret: { labels?: Record<string, string>; replication?: unknown },
  ): SecretMessage {
    if (!PARENT.test(parent)) throw invalidName(parent);
    if (!SECRET_ID.test(secretId)) {
      throw new RpcError(
        GrpcStatus.INVALID_ARGUMENT,
        `Secret ID [${secretId}] is invalid: it must be 1-255 characters of letters, digits, '_' or '-'.`,
      );
    }
    // Global secrets need a replication policy; regional ones (…/locations/…) must not have one.
    const replicated = hasReplication(secret.replication);
    const regional = parent.includes("/locations/");
    if (!regional && !replicated)
      throw new RpcError(GrpcStatus.INVALID_ARGUMENT, "Secret.replication must be provided.");
    if (regional && replicated)
      throw new RpcError(GrpcStatus.INVALID_ARGUMENT, "Secret.replication should not be provided.");
    const name = `${parent}/secrets/${secretId}`;
    if (this.secrets.has(name))
      throw new RpcError(GrpcStatus.ALREADY_EXISTS, `Secret [${name}] already exists.`);
    const stored: StoredSecret = {
      name,
      createTime: this.now(),
      labels: { ...(secret.labels ?? {}) },
      replication: secret.replication ?? {},
      etag: newEtag(),
      versions: [],
      nextVersion: 1,
    };
    this.secrets.set(name, stored);
    return secretMessage(stored);
  }

  getSecret(name: string): SecretMessage {
    return secretMessage(this.requireSecret(name));
  }

  listSecrets(parent: string): SecretMessage[] {
    if (!PARENT.test(parent)) throw invalidName(parent);
    return [...this.secrets.values()]
      .filter((s) => parseSecretName(s.name).parent === parent)
      .map(secretMessage);
  }

  deleteSecret(name: string): void {
    this.requireSecret(name);
    this.secrets.delete(name);
  }

  /** Adds version N+1; a given dataCrc32c must match the data (Castagnoli), as the service checks. */
  addVersion(secretName: string, data: Buffer, dataCrc32c?: string | number): SecretVersionMessage {
    const secret = this.requireSecret(secretName);
    if (dataCrc32c !== undefined && dataCrc32c !== null && Number(dataCrc32c) !== crc32c(data)) {
      throw new RpcError(
        GrpcStatus.INVALID_ARGUMENT,
        "Checksum mismatch: data_crc32c does not match the payload data.",
      );
    }
    const version: StoredVersion = {
      number: secret.nextVersion++,
      createTime: this.now(),
      state: "ENABLED",
      data: Buffer.from(data),
      clientChecksum: dataCrc32c !== undefined && dataCrc32c !== null,
      etag: newEtag(),
    };
    secret.versions.push(version);
    return versionMessage(secret.name, version);
  }

  getVersion(name: string): SecretVersionMessage {
    const { secret, version } = this.resolveVersion(name);
    return versionMessage(secret.name, version);
  }

  listVersions(secretName: string): SecretVersionMessage[] {
    const secret = this.requireSecret(secretName);
    return [...secret.versions].reverse().map((v) => versionMessage(secret.name, v));
  }

  /** The payload of an ENABLED version; "latest" is the highest-numbered version whatever its state. */
  access(name: string): { name: string; payload: { data: Buffer; dataCrc32c: string } } {
    const { secret, version } = this.resolveVersion(name);
    const versionName = `${secret.name}/versions/${version.number}`;
    if (version.state !== "ENABLED" || !version.data) {
      throw new RpcError(
        GrpcStatus.FAILED_PRECONDITION,
        `Secret Version [${versionName}] is in ${version.state} state.`,
      );
    }
    return { name: versionName, payload: { data: version.data, dataCrc32c: String(crc32c(version.data)) } };
  }

  setState(name: string, state: VersionState): SecretVersionMessage {
    const { secret, version } = this.resolveVersion(name);
    if (version.state === "DESTROYED") {
      // Destruction is terminal.
      throw new RpcError(
        GrpcStatus.FAILED_PRECONDITION,
        `Secret Version [${secret.name}/versions/${version.number}] is in DESTROYED state.`,
      );
    }
    version.state = state;
    version.etag = newEtag();
    if (state === "DESTROYED") {
      delete version.data;
      version.destroyTime = this.now();
    }
    return versionMessage(secret.name, version);
  }

  private requireSecret(name: string): StoredSecret {
    parseSecretName(name);
    const secret = this.secrets.get(name);
    if (!secret) throw new RpcError(GrpcStatus.NOT_FOUND, `Secret [${name}] not found.`);
    return secret;
  }

  private resolveVersion(name: string): { secret: StoredSecret; version: StoredVersion } {
    const parsed = parseVersionName(name);
    const secret = this.secrets.get(parsed.secret);
    if (!secret || (parsed.version === "latest" && secret.versions.length === 0)) {
      throw new RpcError(GrpcStatus.NOT_FOUND, `Secret [${parsed.secret}] not found or has no versions.`);
    }
    const version =
      parsed.version === "latest"
        ? secret.versions.at(-1)
        : secret.versions.find((v) => v.number === parsed.version);
    if (!version) throw new RpcError(GrpcStatus.NOT_FOUND, `Secret Version [${name}] not found.`);
    return { secret, version };
  }
}

function hasReplication(replication: unknown): boolean {
  if (typeof replication !== "object" || replication === null) return false;
  const r = replication as { automatic?: unknown; userManaged?: unknown };
  return Boolean(r.automatic ?? r.userManaged);
}

function secretMessage(s: StoredSecret): SecretMessage {
  return {
    name: s.name,
    createTime: toTimestamp(s.createTime),
    labels: { ...s.labels },
    replication: s.replication,
    etag: s.etag,
  };
}

function versionMessage(secretName: string, v: StoredVersion): SecretVersionMessage {
  return {
    name: `${secretName}/versions/${v.number}`,
    createTime: toTimestamp(v.createTime),
    ...(v.destroyTime ? { destroyTime: toTimestamp(v.destroyTime) } : {}),
    state: v.state,
    etag: v.etag,
    clientSpecifiedPayloadChecksum: v.clientChecksum,
    replicationStatus: { automatic: {} },
  };
}
