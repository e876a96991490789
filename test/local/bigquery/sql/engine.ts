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
  type EmulatorCatalog,
  type FieldSchema,
  type PrepareOptions,
  type PreparedStatement,
  type QueryEngine,
  type QueryEngineDeps,
  type StatementResult,
  type TableRef,
} from "../contracts.js";
import { toCell } from "./cells.js";
import { parseDdl, type DdlPlan } from "./ddl.js";
import { translateDml } from "./dml.js";
import { unsupported } from "./functions.js";
import { bindParams, type BoundParams } from "./params.js";
import { readPath, resolveTable, tableNotFound, uniqueRefs, refKey } from "./tables.js";
import { isOp, tokenize, type Token } from "./tokens.js";
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

function analyzerCatalog(catalog: EmulatorCatalog, tokens: Token[], options: PrepareOptions): CatalogTable[] {
  const tables: CatalogTable[] = [];
  const def = options.defaultDataset;
  for (const [p, d] of candidateDatasets(tokens, options)) {
    if (!catalog.datasetExists(p, d)) continue;
    for (const meta of catalog.listTables(p, d)) {
      const columns = meta.fields.map((f) => ({ name: f.name, type: f.type }));
      tables.push({ path: `${p}.${d}.${meta.ref.tableId}`, columns });
      if (def && def.projectId === p && def.datasetId === d) tables.push({ path: meta.ref.tableId, columns });
    }
  }
  return tables;
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
        async run() {
          if (dml.duplicateMatchSql) {
            const dup = await (await run(dml.duplicateMatchSql)).getRows();
            if (dup.length > 0) {
              throw new BigQueryEngineError(
                "invalidQuery",
                "UPDATE/MERGE must match at most one source row for each target row",
              );
            }
          }
          const result = await run(dml.sql);
          const numDmlAffectedRows = Number(result.rowsChanged);
          if (numDmlAffectedRows > 0) deps.catalog.touchTable(dml.target);
          return { statementType: dml.statementType, numDmlAffectedRows, target: dml.target };
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
      return ddlStatement(deps, plan, columns, tokens, ctx, run);
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
): PreparedStatement {
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
  return {
    statementType: "CREATE_TABLE",
    reads: uniqueRefs(ctx.reads),
    writes: [],
    creates: [plan.ref],
    drops: [],
    duckdbSql: insertSql ?? `CREATE TABLE ${duckdbTableName(plan.ref)}`,
    async run(): Promise<StatementResult> {
      const { ref } = plan;
      if (!catalog.datasetExists(ref.projectId, ref.datasetId)) throw tableNotFound(ref, false);
      if (catalog.getTable(ref)) {
        if (plan.ifNotExists) return { statementType: "CREATE_TABLE", target: ref };
        if (!plan.orReplace) {
          throw new BigQueryEngineError("duplicate", `Already Exists: Table ${refKey(ref)}`, 409);
        }
        await catalog.dropTable(ref);
      }
      await catalog.createTable(table);
      if (insertSql) await run(insertSql);
      return { statementType: "CREATE_TABLE", target: ref };
    },
  };
}

// DuckDB errors in our translated SQL (parser, binder, catalog) are the
// emulator's bugs; errors about the data (conversion, range) are the query's.
async function runDuckdb(connection: DuckDBConnection, sql: string, values: Record<string, string | null>) {
  try {
    return Object.keys(values).length > 0 ? await connection.run(sql, values) : await connection.run(sql);
  } catch (err) {
    const message = err instanceof Error ? (err.message.split("\n")[0] ?? "") : String(err);
    if (/^(Parser|Binder|Catalog|Not implemented|Internal) Error/.test(message)) {
      throw new BigQueryEngineError(
        "internalError",
        `The local BigQuery could not run its DuckDB translation: ${message}`,
        500,
      );
    }
    throw new BigQueryEngineError("invalidQuery", message.replace(/^[A-Za-z ]+ Error: /, ""));
  }
}
