// The local BigQuery's query engine: every statement is analysed by ZetaSQL
// against the tables it names (so what BigQuery rejects is rejected here with
// BigQuery's message), then translated to DuckDB and run on the catalog's tables.
import type { DuckDBConnection } from "@duckdb/node-api";
import {
  GoogleSqlAnalyzer,
  type Analysis,
  type CatalogTable,
  type OutputColumn,
} from "../../zetasql/analyzer.js";
import {
  BigQueryEngineError,
  duckdbTableName,
  type DmlStats,
  type EmulatorCatalog,
  type FieldSchema,
  type PrepareOptions,
  type PreparedStatement,
  type QueryEngine,
  type QueryEngineDeps,
  type StatementResult,
  type TableMeta,
  type TableRef,
} from "../contracts.js";
import { measureBytes } from "./bytes-processed.js";
import { toCell } from "./cells.js";
import { parseDdl, type DdlPlan } from "./ddl.js";
import { translateDml, type DmlTranslation } from "./dml.js";
import { unsupported } from "./functions.js";
import { bindParams, type BoundParams } from "./params.js";
import { readPath, resolveTable, tableNotFound, uniqueRefs, refKey } from "./tables.js";
import { isOp, tokenize, type Token } from "./tokens.js";
import { partitionKeySql, partitioningOf } from "./partitions.js";
import { scanPlan, type ScanPlan } from "./scan-plan.js";
import { registerUdfs } from "./udfs.js";
import { collectCteNames, translateRange, type TranslateContext } from "./translate.js";

export async function createQueryEngine(deps: QueryEngineDeps): Promise<QueryEngine> {
  // BigQuery computes TIMESTAMP functions in UTC unless told otherwise. The
  // setting needs DuckDB's icu extension; without it DuckDB works in UTC anyway.
  await deps.connection.run("SET TimeZone = 'UTC'").catch(() => undefined);
  await registerUdfs(deps.connection);
  const analyzer = await GoogleSqlAnalyzer.start();
  return {
    prepare: (sql, options) => prepare(deps, analyzer, sql, options),
    close: () => analyzer.stop(),
  };
}

/** Datasets a statement may name: the first parts of every dotted path, plus the default dataset. */
function candidateDatasets(tokens: Token[], options: PrepareOptions): [string, string][] {
  const found = new Map<string, [string, string]>();
  const add = (p: string, d: string) => found.set(`${p}:${d}`, [p, d]);
  if (options.defaultDataset) add(options.defaultDataset.projectId, options.defaultDataset.datasetId);
  for (let k = 0; k < tokens.length; k++) {
    const t = tokens[k] as Token;
    if ((t.kind !== "ident" && t.kind !== "quoted") || isOp(tokens[k - 1], ".")) continue;
    const path = readPath(tokens, k);
    if (!path || path.parts.length < 2) continue;
    add(options.projectId, path.parts[0] as string);
    if (path.parts.length >= 3) add(path.parts[0] as string, path.parts[1] as string);
  }
  return [...found.values()];
}

/**
 * The tables a statement may name, for the analyzer. Each is registered under
 * its full name, which the resolved AST reports for its scans whichever name
 * the statement used.
 */
function analyzerCatalog(catalog: EmulatorCatalog, tokens: Token[], options: PrepareOptions): CatalogTable[] {
  const tables: CatalogTable[] = [];
  const def = options.defaultDataset;
  for (const [p, d] of candidateDatasets(tokens, options)) {
    if (!catalog.datasetExists(p, d)) continue;
    for (const meta of catalog.listTables(p, d)) {
      const columns = meta.fields.map((f) => ({ name: f.name, type: f.type }));
      const fullName = fullTableName(meta.ref);
      tables.push({ path: fullName, columns, fullName });
      if (def && def.projectId === p && def.datasetId === d) {
        tables.push({ path: meta.ref.tableId, columns, fullName });
      }
    }
  }
  return tables;
}

function fullTableName(ref: TableRef): string {
  return `${ref.projectId}.${ref.datasetId}.${ref.tableId}`;
}

/** The table behind a full name (dataset and table IDs have no dots; project IDs may). */
function tableByFullName(catalog: EmulatorCatalog, fullName: string): TableMeta | undefined {
  const parts = fullName.split(".");
  if (parts.length < 3) return undefined;
  const tableId = parts.pop() as string;
  const datasetId = parts.pop() as string;
  return catalog.getTable({ projectId: parts.join("."), datasetId, tableId });
}

/** ZetaSQL's "msg [at 1:8]" in BigQuery's shape "msg at [1:8]"; a missing table becomes notFound. */
function rejection(message: string, catalog: EmulatorCatalog, options: PrepareOptions): BigQueryEngineError {
  const missing = /^Table not found: (.+?) \[at \d+:\d+\]$/.exec(message);
  if (missing) {
    const path = readPath(tokenize(missing[1] as string), 0);
    if (path) {
      const ref = resolveTable(path.parts, options);
      return tableNotFound(ref, catalog.datasetExists(ref.projectId, ref.datasetId));
    }
  }
  return new BigQueryEngineError("invalidQuery", message.replace(/ \[at (\d+:\d+)\]$/, " at [$1]"));
}

async function analyse(
  deps: QueryEngineDeps,
  analyzer: GoogleSqlAnalyzer,
  sql: string,
  tokens: Token[],
  options: PrepareOptions,
  params: BoundParams,
): Promise<Extract<Analysis, { ok: true }>> {
  const analysis = await analyzer.analyze(
    sql,
    analyzerCatalog(deps.catalog, tokens, options),
    Object.fromEntries(params.types),
  );
  if (!analysis.ok) throw rejection(analysis.message, deps.catalog, options);
  return analysis;
}

async function prepare(
  deps: QueryEngineDeps,
  analyzer: GoogleSqlAnalyzer,
  sql: string,
  options: PrepareOptions,
): Promise<PreparedStatement> {
  const params = bindParams(options.params);
  let tokens: Token[];
  try {
    tokens = tokenize(sql);
  } catch (err) {
    // Prefer the analyzer's own wording for malformed SQL.
    await analyse(deps, analyzer, sql, [], options, params);
    throw err;
  }
  const analysis = await analyse(deps, analyzer, sql, tokens, options, params);
  const end = isOp(tokens[tokens.length - 1], ";") ? tokens.length - 1 : tokens.length;
  const tableOf = (fullName: string) => tableByFullName(deps.catalog, fullName);
  const plan: ScanPlan = scanPlan(analysis.resolvedStatement, {
    partitionColumn: (fullName) => {
      const meta = tableOf(fullName);
      return meta ? partitioningOf(meta)?.column.name : undefined;
    },
    params: new Map(
      [...params.types].map(([name, type]) => [name, { type, value: params.values[name] ?? null }]),
    ),
  });
  const measure = () => measureBytes({ connection: deps.connection, table: tableOf }, plan);
  const ctx: TranslateContext = {
    projectId: options.projectId,
    defaultDataset: options.defaultDataset,
    cteNames: collectCteNames(tokens),
    params: params.types,
    reads: [],
  };
  // Only the parameters the statement uses are bound (DuckDB rejects extras).
  const used = new Set(tokens.filter((t) => t.kind === "param").map((t) => t.value.toLowerCase()));
  const values = Object.fromEntries(Object.entries(params.values).filter(([name]) => used.has(name)));
  const run = (text: string) => runDuckdb(deps.connection, text, values);

  switch (analysis.statementKind) {
    case "Query": {
      const duckdbSql = translateRange(tokens, 0, end, ctx);
      requireTables(deps.catalog, ctx.reads);
      const schema = resultSchema(analysis.outputColumns);
      return {
        statementType: "SELECT",
        reads: uniqueRefs(ctx.reads),
        writes: [],
        creates: [],
        drops: [],
        duckdbSql,
        measure,
        async run() {
          const rows = await (await run(duckdbSql)).getRows();
          return {
            statementType: "SELECT",
            schema,
            rows: rows.map((row) => schema.map((f, i) => toCell(f.type, row[i] ?? null))),
          };
        },
      };
    }
    case "Insert":
    case "Update":
    case "Delete":
    case "Merge": {
      const dml = translateDml(tokens, end, ctx);
      requireTables(deps.catalog, [dml.target, ...ctx.reads]);
      const reads = uniqueRefs([...(dml.readsTarget ? [dml.target] : []), ...ctx.reads]);
      return {
        statementType: dml.statementType,
        reads,
        writes: [dml.target],
        creates: [],
        drops: [],
        duckdbSql: dml.sql,
        measure,
        async run(runOptions) {
          // A commit check runs the statement in a transaction it can roll back.
          const transaction = runOptions?.beforeCommit !== undefined;
          if (transaction) await run("BEGIN TRANSACTION");
          try {
            if (dml.duplicateMatchSql) {
              const dup = await (await run(dml.duplicateMatchSql)).getRows();
              if (dup.length > 0) {
                throw new BigQueryEngineError(
                  "invalidQuery",
                  "UPDATE/MERGE must match at most one source row for each target row",
                );
              }
            }
            const outcome = await runDml(deps, dml, values);
            const stats = outcome.dmlStats;
            const numDmlAffectedRows = stats.insertedRowCount + stats.updatedRowCount + stats.deletedRowCount;
            const result: StatementResult = {
              statementType: dml.statementType,
              numDmlAffectedRows,
              target: dml.target,
              dmlStats: stats,
              rewrittenPartitions: outcome.rewrittenPartitions,
            };
            runOptions?.beforeCommit?.(result);
            if (transaction) await run("COMMIT");
            if (numDmlAffectedRows > 0) deps.catalog.touchTable(dml.target);
            return result;
          } catch (err) {
            if (transaction) await deps.connection.run("ROLLBACK").catch(() => undefined);
            throw err;
          }
        },
      };
    }
    // The analyzer reports every CREATE as one kind; parseDdl accepts only tables.
    case "CreateStatementNode":
    case "Drop": {
      const plan = parseDdl(tokens, end, options);
      let columns: OutputColumn[] = [];
      if (plan.kind === "CREATE_TABLE" && plan.asQuery) {
        // The CREATE's analysis does not list the query's columns: analyse the query alone.
        const first = tokens[plan.asQuery[0]] as Token;
        const last = tokens[plan.asQuery[1] - 1] as Token;
        const query = sql.slice(first.offset, last.offset + last.text.length);
        columns = (await analyse(deps, analyzer, query, tokens, options, params)).outputColumns;
      }
      requireTables(deps.catalog, ctx.reads);
      return { ...ddlStatement(deps, plan, columns, tokens, ctx, run), measure };
    }
    default:
      throw unsupported(`${analysis.statementKind} statements`);
  }
}

/**
 * BigQuery table names are case-sensitive; the analyzer's catalog lookup is
 * not, so a reference that only matched ignoring case is a missing table.
 */
function requireTables(catalog: EmulatorCatalog, refs: TableRef[]): void {
  for (const ref of refs) {
    if (!catalog.getTable(ref)) {
      throw tableNotFound(ref, catalog.datasetExists(ref.projectId, ref.datasetId));
    }
  }
}

function resultSchema(
  columns: OutputColumn[],
): (FieldSchema & { type: NonNullable<OutputColumn["type"]> })[] {
  let anonymous = 0;
  return columns.map((c) => {
    if (!c.type) throw unsupported(`results with ARRAY, STRUCT or other non-scalar columns (${c.name})`);
    // BigQuery names unnamed columns f0_, f1_, ... in order.
    const name = c.name.startsWith("$col") ? `f${anonymous++}_` : c.name;
    return { name, type: c.type, mode: "NULLABLE" as const };
  });
}

function ddlStatement(
  deps: QueryEngineDeps,
  plan: DdlPlan,
  outputColumns: OutputColumn[],
  tokens: Token[],
  ctx: TranslateContext,
  run: (sql: string) => Promise<{ rowsChanged: number | bigint }>,
): Omit<PreparedStatement, "measure"> {
  const { catalog } = deps;
  if (plan.kind === "DROP_TABLE") {
    return {
      statementType: "DROP_TABLE",
      reads: [],
      writes: [],
      creates: [],
      drops: [plan.ref],
      duckdbSql: `DROP TABLE ${duckdbTableName(plan.ref)}`,
      async run(): Promise<StatementResult> {
        if (catalog.getTable(plan.ref)) await catalog.dropTable(plan.ref);
        else if (!plan.ifExists) {
          throw tableNotFound(plan.ref, catalog.datasetExists(plan.ref.projectId, plan.ref.datasetId));
        }
        return { statementType: "DROP_TABLE", target: plan.ref };
      },
    };
  }
  const table = plan.table;
  let insertSql: string | undefined;
  if (plan.asQuery) {
    table.fields = resultSchema(outputColumns);
    insertSql = `INSERT INTO ${duckdbTableName(plan.ref)} ${translateRange(tokens, plan.asQuery[0], plan.asQuery[1], ctx)}`;
  }
  // BigQuery reports CREATE TABLE ... AS SELECT as its own statement type.
  const statementType = plan.asQuery ? "CREATE_TABLE_AS_SELECT" : "CREATE_TABLE";
  return {
    statementType,
    reads: uniqueRefs(ctx.reads),
    writes: [],
    creates: [plan.ref],
    drops: [],
    duckdbSql: insertSql ?? `CREATE TABLE ${duckdbTableName(plan.ref)}`,
    async run(): Promise<StatementResult> {
      const { ref } = plan;
      if (!catalog.datasetExists(ref.projectId, ref.datasetId)) throw tableNotFound(ref, false);
      if (catalog.getTable(ref)) {
        if (plan.ifNotExists) return { statementType, target: ref };
        if (!plan.orReplace) {
          throw new BigQueryEngineError("duplicate", `Already Exists: Table ${refKey(ref)}`, 409);
        }
        await catalog.dropTable(ref);
      }
      await catalog.createTable(table);
      if (insertSql) await run(insertSql);
      return { statementType, target: ref };
    },
  };
}

/**
 * Runs a DML statement, counting what it did per action (DmlStatistics) and
 * noting the target partitions in which it updated or deleted rows. UPDATE,
 * DELETE and MERGE return one small row per changed row (its action and
 * partition), read chunk by chunk.
 */
async function runDml(
  deps: QueryEngineDeps,
  dml: DmlTranslation,
  values: Record<string, string | null>,
): Promise<{ dmlStats: DmlStats; rewrittenPartitions: string[] }> {
  const dmlStats: DmlStats = { insertedRowCount: 0, updatedRowCount: 0, deletedRowCount: 0 };
  if (dml.statementType === "INSERT") {
    const result = await runDuckdb(deps.connection, dml.sql, values);
    dmlStats.insertedRowCount = Number(result.rowsChanged);
    return { dmlStats, rewrittenPartitions: [] };
  }
  const meta = deps.catalog.getTable(dml.target);
  const partitioning = meta ? partitioningOf(meta) : undefined;
  const key = partitioning ? partitionKeySql(partitioning, dml.targetQualifier) : "NULL";
  const action = dml.statementType === "MERGE" ? "merge_action" : `'${dml.statementType}'`;
  const result = await streamDuckdb(deps.connection, `${dml.sql} RETURNING ${action}, ${key}`, values);
  const rewritten = new Set<string>();
  for (;;) {
    const chunk = await result.fetchChunk();
    if (!chunk || chunk.rowCount === 0) break;
    for (const [act, start] of chunk.getRows()) {
      if (act === "INSERT") {
        dmlStats.insertedRowCount++;
        continue;
      }
      if (act === "UPDATE") dmlStats.updatedRowCount++;
      else dmlStats.deletedRowCount++;
      rewritten.add(!partitioning ? "" : start === null ? "__NULL__" : String(start));
    }
  }
  return { dmlStats, rewrittenPartitions: [...rewritten] };
}

async function streamDuckdb(
  connection: DuckDBConnection,
  sql: string,
  values: Record<string, string | null>,
) {
  try {
    return Object.keys(values).length > 0
      ? await connection.stream(sql, values)
      : await connection.stream(sql);
  } catch (err) {
    throw duckdbError(err);
  }
}

// DuckDB errors in our translated SQL (parser, binder, catalog) are the
// emulator's bugs; errors about the data (conversion, range) are the query's.
async function runDuckdb(connection: DuckDBConnection, sql: string, values: Record<string, string | null>) {
  try {
    return Object.keys(values).length > 0 ? await connection.run(sql, values) : await connection.run(sql);
  } catch (err) {
    throw duckdbError(err);
  }
}

function duckdbError(err: unknown): BigQueryEngineError {
  const message = err instanceof Error ? (err.message.split("\n")[0] ?? "") : String(err);
  if (/^(Parser|Binder|Catalog|Not implemented|Internal) Error/.test(message)) {
    return new BigQueryEngineError(
      "internalError",
      `The local BigQuery could not run its DuckDB translation: ${message}`,
      500,
    );
  }
  return new BigQueryEngineError("invalidQuery", message.replace(/^[A-Za-z ]+ Error: /, ""));
}
