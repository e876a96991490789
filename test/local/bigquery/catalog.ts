// Datasets and tables: metadata kept as JSON in the data directory, data in
// DuckDB (one schema per dataset, one table per table). Implements the
// EmulatorCatalog the query engine uses for DDL.
import { AsyncLocalStorage } from "node:async_hooks";
import { mkdirSync, readFileSync, renameSync, writeFileSync, existsSync } from "node:fs";
import path from "node:path";
import { DuckDBInstance, type DuckDBConnection } from "@duckdb/node-api";
import {
  DUCKDB_TYPES,
  duckdbQuote,
  duckdbSchemaName,
  duckdbTableName,
  type EmulatorCatalog,
  type FieldSchema,
  type TableMeta,
  type TableRef,
} from "./contracts.js";

export interface DatasetMeta {
  projectId: string;
  datasetId: string;
  location: string;
  description?: string;
  friendlyName?: string;
  labels?: Record<string, string>;
  defaultTableExpirationMs?: string;
  creationTime: string;
  lastModifiedTime: string;
}

interface Persisted {
  datasets: DatasetMeta[];
  tables: TableMeta[];
}

const dsKey = (projectId: string, datasetId: string): string => `${projectId}:${datasetId}`;
const tKey = (r: TableRef): string => `${r.projectId}:${r.datasetId}.${r.tableId}`;

/**
 * Serialises DuckDB writes: loads, DML and DDL each run alone. Re-entrant
 * within one async call chain, so a DML run that creates a table through the
 * catalog does not wait on itself.
 */
export class Mutex {
  private tail: Promise<void> = Promise.resolve();
  private readonly holder = new AsyncLocalStorage<Mutex>();
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.holder.getStore() === this) return fn();
    const prev = this.tail;
    let release!: () => void;
    this.tail = new Promise<void>((r) => (release = r));
    await prev;
    try {
      return await this.holder.run(this, fn);
    } finally {
      release();
    }
  }
}

/**
 * TIMESTAMPTZ in UTC. Setting TimeZone needs DuckDB's icu extension, which
 * cannot be downloaded offline; without icu DuckDB already works in UTC.
 */
async function useUtc(connection: DuckDBConnection): Promise<void> {
  try {
    await connection.run("SET TimeZone = 'UTC'");
  } catch {
    // icu not available: DuckDB's built-in time zone handling is UTC.
  }
}

export function columnDdl(f: FieldSchema): string {
  return `${duckdbQuote(f.name)} ${DUCKDB_TYPES[f.type]}${f.mode === "REQUIRED" ? " NOT NULL" : ""}`;
}

export class Catalog implements EmulatorCatalog {
  private readonly datasets = new Map<string, DatasetMeta>();
  private readonly tables = new Map<string, TableMeta>();
  readonly writeLock = new Mutex();

  private constructor(
    readonly instance: DuckDBInstance,
    /** Connection for catalog DDL, loads and reads (the engine gets its own). */
    readonly connection: DuckDBConnection,
    private readonly metadataFile: string,
  ) {}

  static async open(dataDir: string): Promise<Catalog> {
    mkdirSync(dataDir, { recursive: true });
    const instance = await DuckDBInstance.create(path.join(dataDir, "bigquery.duckdb"));
    const connection = await instance.connect();
    await useUtc(connection);
    const catalog = new Catalog(instance, connection, path.join(dataDir, "bigquery-metadata.json"));
    if (existsSync(catalog.metadataFile)) {
      const saved = JSON.parse(readFileSync(catalog.metadataFile, "utf8")) as Persisted;
      for (const d of saved.datasets) catalog.datasets.set(dsKey(d.projectId, d.datasetId), d);
      for (const t of saved.tables) catalog.tables.set(tKey(t.ref), t);
    }
    return catalog;
  }

  /** A new DuckDB connection in UTC (for the query engine). */
  async newConnection(): Promise<DuckDBConnection> {
    const c = await this.instance.connect();
    await useUtc(c);
    return c;
  }

  close(): void {
    this.connection.closeSync();
    this.instance.closeSync();
  }

  private save(): void {
    const data: Persisted = { datasets: [...this.datasets.values()], tables: [...this.tables.values()] };
    const tmp = `${this.metadataFile}.tmp`;
    writeFileSync(tmp, JSON.stringify(data));
    renameSync(tmp, this.metadataFile);
  }

  // --- datasets

  getDataset(projectId: string, datasetId: string): DatasetMeta | undefined {
    return this.datasets.get(dsKey(projectId, datasetId));
  }
  datasetExists(projectId: string, datasetId: string): boolean {
    return this.datasets.has(dsKey(projectId, datasetId));
  }
  listDatasets(projectId: string): DatasetMeta[] {
    return [...this.datasets.values()]
      .filter((d) => d.projectId === projectId)
      .sort((a, b) => a.datasetId.localeCompare(b.datasetId));
  }
  async createDataset(meta: DatasetMeta): Promise<void> {
    await this.writeLock.run(async () => {
      await this.connection.run(
        `CREATE SCHEMA IF NOT EXISTS ${duckdbQuote(duckdbSchemaName(meta.projectId, meta.datasetId))}`,
      );
    });
    this.datasets.set(dsKey(meta.projectId, meta.datasetId), meta);
    this.save();
  }
  updateDataset(meta: DatasetMeta): void {
    this.datasets.set(dsKey(meta.projectId, meta.datasetId), meta);
    this.save();
  }
  async deleteDataset(projectId: string, datasetId: string): Promise<void> {
    for (const t of this.listTables(projectId, datasetId)) this.tables.delete(tKey(t.ref));
    this.datasets.delete(dsKey(projectId, datasetId));
    await this.writeLock.run(async () => {
      await this.connection.run(
        `DROP SCHEMA IF EXISTS ${duckdbQuote(duckdbSchemaName(projectId, datasetId))} CASCADE`,
      );
    });
    this.save();
  }

  // --- tables

  /** The table, unless missing or past its expirationTime (expired tables are dropped lazily). */
  getTable(ref: TableRef): TableMeta | undefined {
    const t = this.tables.get(tKey(ref));
    if (t?.expirationTime !== undefined && Number(t.expirationTime) <= Date.now()) return undefined;
    return t;
  }
  listTables(projectId: string, datasetId: string): TableMeta[] {
    return [...this.tables.values()]
      .filter((t) => t.ref.projectId === projectId && t.ref.datasetId === datasetId)
      .filter((t) => t.expirationTime === undefined || Number(t.expirationTime) > Date.now())
      .sort((a, b) => a.ref.tableId.localeCompare(b.ref.tableId));
  }

  async createTable(meta: Omit<TableMeta, "creationTime" | "lastModifiedTime">): Promise<void> {
    const now = String(Date.now());
    const expired = this.tables.get(tKey(meta.ref));
    await this.writeLock.run(async () => {
      if (expired) await this.connection.run(`DROP TABLE IF EXISTS ${duckdbTableName(meta.ref)}`);
      const cols = meta.fields.map(columnDdl).join(", ");
      await this.connection.run(`CREATE TABLE ${duckdbTableName(meta.ref)} (${cols})`);
    });
    this.tables.set(tKey(meta.ref), { ...meta, creationTime: now, lastModifiedTime: now });
    this.save();
  }

  async dropTable(ref: TableRef): Promise<void> {
    this.tables.delete(tKey(ref));
    this.save();
    await this.writeLock.run(async () => {
      await this.connection.run(`DROP TABLE IF EXISTS ${duckdbTableName(ref)}`);
    });
  }

  touchTable(ref: TableRef): void {
    const t = this.tables.get(tKey(ref));
    if (!t) return;
    t.lastModifiedTime = String(Date.now());
    this.save();
  }

  /**
   * Replaces metadata (patch/update, schema updates of loads): new columns are
   * added to the DuckDB table, REQUIRED columns relaxed to NULLABLE lose NOT NULL.
   */
  async updateTable(meta: TableMeta, addedFields: FieldSchema[]): Promise<void> {
    const before = this.tables.get(tKey(meta.ref));
    const relaxed = meta.fields.filter(
      (f) =>
        (f.mode ?? "NULLABLE") === "NULLABLE" &&
        before?.fields.some((b) => b.name === f.name && b.mode === "REQUIRED"),
    );
    if (addedFields.length > 0 || relaxed.length > 0) {
      await this.writeLock.run(async () => {
        for (const f of addedFields) {
          await this.connection.run(
            `ALTER TABLE ${duckdbTableName(meta.ref)} ADD COLUMN ${columnDdl({ ...f, mode: "NULLABLE" })}`,
          );
        }
        for (const f of relaxed) {
          await this.connection.run(
            `ALTER TABLE ${duckdbTableName(meta.ref)} ALTER COLUMN ${duckdbQuote(f.name)} DROP NOT NULL`,
          );
        }
      });
    }
    this.tables.set(tKey(meta.ref), { ...meta, lastModifiedTime: String(Date.now()) });
    this.save();
  }

  /** Number of rows (tables.get numRows). */
  async countRows(ref: TableRef): Promise<number> {
    const reader = await this.connection.runAndReadAll(`SELECT count(*) FROM ${duckdbTableName(ref)}`);
    return Number(reader.getRows()[0]?.[0] ?? 0);
  }
}
