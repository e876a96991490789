// An in-memory EmulatorCatalog over a DuckDB connection, for exercising the
// query engine without the REST server (which has its own catalog).
import type { DuckDBConnection } from "@duckdb/node-api";
import {
  DUCKDB_TYPES,
  duckdbQuote,
  duckdbSchemaName,
  duckdbTableName,
  type EmulatorCatalog,
  type TableMeta,
  type TableRef,
} from "../contracts.js";

const key = (ref: TableRef) => `${ref.projectId}:${ref.datasetId}.${ref.tableId}`;

export class MemoryCatalog implements EmulatorCatalog {
  private readonly datasets = new Set<string>();
  private readonly tables = new Map<string, TableMeta>();

  constructor(private readonly connection: DuckDBConnection) {}

  async createDataset(projectId: string, datasetId: string): Promise<void> {
    await this.connection.run(
      `CREATE SCHEMA IF NOT EXISTS ${duckdbQuote(duckdbSchemaName(projectId, datasetId))}`,
    );
    this.datasets.add(`${projectId}:${datasetId}`);
  }

  datasetExists(projectId: string, datasetId: string): boolean {
    return this.datasets.has(`${projectId}:${datasetId}`);
  }

  getTable(ref: TableRef): TableMeta | undefined {
    return this.tables.get(key(ref));
  }

  listTables(projectId: string, datasetId: string): TableMeta[] {
    return [...this.tables.values()].filter(
      (t) => t.ref.projectId === projectId && t.ref.datasetId === datasetId,
    );
  }

  async createTable(meta: Omit<TableMeta, "creationTime" | "lastModifiedTime">): Promise<void> {
    if (!this.datasetExists(meta.ref.projectId, meta.ref.datasetId)) {
      throw new Error(`Dataset ${meta.ref.projectId}:${meta.ref.datasetId} does not exist`);
    }
    const columns = meta.fields.map(
      (f) => `${duckdbQuote(f.name)} ${DUCKDB_TYPES[f.type]}${f.mode === "REQUIRED" ? " NOT NULL" : ""}`,
    );
    await this.connection.run(`CREATE TABLE ${duckdbTableName(meta.ref)} (${columns.join(", ")})`);
    const now = String(Date.now());
    this.tables.set(key(meta.ref), { ...meta, creationTime: now, lastModifiedTime: now });
  }

  async dropTable(ref: TableRef): Promise<void> {
    await this.connection.run(`DROP TABLE IF EXISTS ${duckdbTableName(ref)}`);
    this.tables.delete(key(ref));
  }

  touchTable(ref: TableRef): void {
    const meta = this.tables.get(key(ref));
    if (meta) meta.lastModifiedTime = String(Date.now());
  }
}
