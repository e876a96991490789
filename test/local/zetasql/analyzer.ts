// GoogleSQL analysis with Google's own ZetaSQL analyzer: the binary shipped in
// @fivetrandevelopers/zetasql, run as a child process and called over gRPC.
// We talk to it directly instead of through the package's client because that
// client is a process-wide singleton and copies the server's output to stdout.
import * as grpc from "@grpc/grpc-js";
import { startZetaSql, type Unary, type ZetaSqlProcess } from "./service.js";

/** BigQuery column types the analyzer catalog understands. */
export type SqlType =
  | "STRING"
  | "INT64"
  | "FLOAT64"
  | "BOOL"
  | "BYTES"
  | "DATE"
  | "DATETIME"
  | "TIME"
  | "TIMESTAMP"
  | "NUMERIC"
  | "BIGNUMERIC"
  | "JSON";

// zetasql/public/type.proto TypeKind numbers.
const TYPE_KIND: Record<SqlType, number> = {
  INT64: 2,
  BOOL: 5,
  FLOAT64: 7,
  STRING: 8,
  BYTES: 9,
  DATE: 10,
  TIMESTAMP: 19,
  TIME: 20,
  DATETIME: 21,
  NUMERIC: 23,
  BIGNUMERIC: 24,
  JSON: 26,
};
const KIND_NAME = new Map<number, SqlType>(Object.entries(TYPE_KIND).map(([k, v]) => [v, k as SqlType]));

export interface CatalogColumn {
  name: string;
  type: SqlType;
}
export interface CatalogTable {
  /** Full path, e.g. "my-project.BatchExports.events"; also reachable as "BatchExports.events". */
  path: string;
  columns: CatalogColumn[];
  /**
   * The name the resolved AST reports for scans of this table, whichever
   * name the statement used (default: path).
   */
  fullName?: string;
}

export interface OutputColumn {
  name: string;
  /** Undefined for types outside SqlType (ARRAY, STRUCT, ...). */
  type: SqlType | undefined;
}

export type Analysis =
  | {
      ok: true;
      statementKind: string;
      outputColumns: OutputColumn[];
      /**
       * The resolved AST (AnyResolvedStatementProto as proto-loader decodes
       * it, oneofs named, int64 as Long-like {low, high}), analysed with
       * prune_unused_columns so each table scan lists only the columns the
       * statement references.
       */
      resolvedStatement: Record<string, unknown>;
    }
  | { ok: false; message: string };

// Language features BigQuery relies on that VERSION_CURRENT does not switch on
// (numbers from zetasql/public/options.proto). Timestamp nanos are left off:
// BigQuery timestamps are microseconds.
const BIGQUERY_FEATURES = [
  1, // ANALYTIC_FUNCTIONS
  2, // TABLESAMPLE
  3, // DISALLOW_GROUP_BY_FLOAT
  6, // DML_UPDATE_WITH_JOIN
  12, // GROUP_BY_ROLLUP
  14, // CREATE_TABLE_PARTITION_BY
  15, // CREATE_TABLE_CLUSTER_BY
  16, // NUMERIC_TYPE
  17, // CREATE_TABLE_NOT_NULL
  18, // CREATE_TABLE_FIELD_ANNOTATIONS
  19, // CREATE_TABLE_AS_SELECT_COLUMN_LIST
  25, // GEOGRAPHY
  31, // NAMED_ARGUMENTS
  41, // BIGNUMERIC_TYPE
  43, // JSON_TYPE
  49, // INTERVAL_TYPE
  56, // PARAMETERIZED_TYPES
  57, // CREATE_TABLE_LIKE
  58, // JSON_ARRAY_FUNCTIONS
  60, // CREATE_TABLE_CLONE
  66, // CREATE_TABLE_COPY
  67, // ALTER_TABLE_RENAME_COLUMN
  68, // JSON_VALUE_EXTRACTION_FUNCTIONS
  73, // RANGE_TYPE
  81, // JSON_LAX_VALUE_EXTRACTION_FUNCTIONS
  93, // JSON_CONSTRUCTOR_FUNCTIONS
  98, // JSON_MUTATOR_FUNCTIONS
];
// Versioned features that BigQuery does not have.
const NOT_IN_BIGQUERY = new Set([
  13031, // V_1_3_DML_RETURNING
]);
const PRODUCT_EXTERNAL = 1;

interface LocalServiceClient extends grpc.Client {
  analyze: Unary;
  getLanguageOptions: Unary;
  formatSql: Unary;
}

/**
 * One analyzer process. Start once per test file or emulator (start-up takes
 * a second or two) and reuse it; `analyze` calls are independent.
 */
export class GoogleSqlAnalyzer {
  private constructor(
    private readonly service: ZetaSqlProcess<LocalServiceClient>,
    private readonly languageOptions: Record<string, unknown>,
  ) {}

  static async start(): Promise<GoogleSqlAnalyzer> {
    const service = await startZetaSql<LocalServiceClient>({ defaults: true, oneofs: true });
    const base = (await service.call("getLanguageOptions", {
      maximumFeatures: true,
      languageVersion: "VERSION_CURRENT",
    })) as { enabledLanguageFeatures: (string | number)[] };
    const features = new Set<number>();
    for (const f of base.enabledLanguageFeatures) {
      const n = typeof f === "number" ? f : Number.NaN;
      if (!Number.isNaN(n) && !NOT_IN_BIGQUERY.has(n)) features.add(n);
    }
    if (features.size === 0) {
      // proto-loader gave enum names: resolve them through the proto's enum.
      const enumType = service.definition["zetasql.LanguageFeature"] as {
        type: { value: { name: string; number: number }[] };
      };
      const byName = new Map(enumType.type.value.map((v) => [v.name, v.number]));
      for (const f of base.enabledLanguageFeatures) {
        const n = byName.get(String(f));
        if (n !== undefined && !NOT_IN_BIGQUERY.has(n)) features.add(n);
      }
    }
    for (const f of BIGQUERY_FEATURES) features.add(f);
    const languageOptions = {
      productMode: PRODUCT_EXTERNAL,
      enabledLanguageFeatures: [...features],
      supportedStatementKinds: [],
    };
    return new GoogleSqlAnalyzer(service, languageOptions);
  }

  /**
   * Analyses one statement against the given tables. `params` declares the
   * named query parameters (@name) the statement may use, with their types.
   */
  async analyze(
    sql: string,
    tables: CatalogTable[],
    params: Record<string, SqlType> = {},
  ): Promise<Analysis> {
    const request = {
      sqlStatement: sql,
      simpleCatalog: buildCatalog(tables, this.languageOptions),
      options: {
        languageOptions: this.languageOptions,
        errorMessageMode: 1, // ERROR_MESSAGE_ONE_LINE
        defaultTimezone: "UTC",
        // Scans list only referenced columns, as BigQuery reads (and bills) only those.
        pruneUnusedColumns: true,
        parameterMode: 0, // PARAMETER_NAMED
        queryParameters: Object.entries(params).map(([name, type]) => ({
          name,
          type: { typeKind: TYPE_KIND[type] },
        })),
      },
    };
    try {
      const res = (await this.service.call("analyze", request)) as {
        resolvedStatement?: Record<string, unknown>;
      };
      return {
        ok: true,
        ...describeStatement(res.resolvedStatement),
        resolvedStatement: res.resolvedStatement ?? {},
      };
    } catch (err) {
      const e = err as grpc.ServiceError;
      if (e.code === grpc.status.INVALID_ARGUMENT) return { ok: false, message: e.details };
      throw err;
    }
  }

  stop(): Promise<void> {
    return this.service.stop();
  }
}

interface CatalogProto {
  name: string;
  table: unknown[];
  catalog: CatalogProto[];
  builtinFunctionOptions?: unknown;
}

// Tables are registered under nested catalogs (project → dataset → table) so
// `p.d.t`, `p`.`d`.`t` and d.t all resolve, and under the flat quoted form
// `p.d.t`, as BigQuery accepts each of them.
function buildCatalog(tables: CatalogTable[], languageOptions: Record<string, unknown>): CatalogProto {
  const root: CatalogProto = {
    name: "",
    table: [],
    catalog: [],
    builtinFunctionOptions: { languageOptions },
  };
  const child = (parent: CatalogProto, name: string): CatalogProto => {
    let c = parent.catalog.find((x) => x.name === name);
    if (!c) {
      c = { name, table: [], catalog: [] };
      parent.catalog.push(c);
    }
    return c;
  };
  const tableProto = (name: string, t: CatalogTable) => ({
    name,
    fullName: t.fullName ?? t.path,
    column: t.columns.map((c) => ({ name: c.name, type: { typeKind: TYPE_KIND[c.type] } })),
  });
  for (const t of tables) {
    const parts = t.path.split(".");
    root.table.push(tableProto(t.path, t));
    if (parts.length === 3) {
      const [p, d, n] = parts as [string, string, string];
      child(child(root, p), d).table.push(tableProto(n, t));
      child(root, d).table.push(tableProto(n, t));
      root.table.push(tableProto(`${d}.${n}`, t));
    } else if (parts.length === 2) {
      const [d, n] = parts as [string, string];
      child(root, d).table.push(tableProto(n, t));
    }
  }
  return root;
}

function describeStatement(stmt: Record<string, unknown> | undefined): {
  statementKind: string;
  outputColumns: OutputColumn[];
} {
  if (!stmt) return { statementKind: "unknown", outputColumns: [] };
  const key = Object.keys(stmt).find((k) => k.endsWith("Node") && stmt[k]) ?? "unknown";
  const statementKind = key.replace(/^resolved/, "").replace(/StmtNode$/, "");
  const node = stmt[key] as {
    outputColumnList?: { name: string; column?: { type?: { typeKind?: unknown } } }[];
  };
  const outputColumns = (node?.outputColumnList ?? []).map((c) => {
    const kind = c.column?.type?.typeKind;
    return { name: c.name, type: typeof kind === "number" ? KIND_NAME.get(kind) : kindFromName(kind) };
  });
  return { statementKind, outputColumns };
}

function kindFromName(kind: unknown): SqlType | undefined {
  if (typeof kind !== "string") return undefined;
  const name = kind.replace(/^TYPE_/, "");
  const mapped = name === "DOUBLE" ? "FLOAT64" : name;
  return mapped in TYPE_KIND ? (mapped as SqlType) : undefined;
}
