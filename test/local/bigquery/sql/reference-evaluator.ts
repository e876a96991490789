// Google's reference implementation of GoogleSQL, as an oracle for tests: the
// ZetaSQL binary (the one the analyzer runs) also evaluates constant
// expressions. Tests compare the DuckDB translation's answers with its answers.
import type * as grpc from "@grpc/grpc-js";
import { startZetaSql, type Unary, type ZetaSqlProcess } from "../../zetasql/service.js";
import type { Cell } from "../contracts.js";
import type { SqlType } from "../../zetasql/analyzer.js";
import { canonicalJson } from "./json-text.js";

// Feature names (zetasql/public/options.proto) BigQuery has beyond VERSION_CURRENT's set.
const EXTRA_FEATURES = [
  "FEATURE_ANALYTIC_FUNCTIONS",
  "FEATURE_NUMERIC_TYPE",
  "FEATURE_NAMED_ARGUMENTS",
  "FEATURE_JSON_TYPE",
  "FEATURE_JSON_ARRAY_FUNCTIONS",
  "FEATURE_JSON_VALUE_EXTRACTION_FUNCTIONS",
  "FEATURE_JSON_CONSTRUCTOR_FUNCTIONS",
];

interface ValueProto {
  int64Value?: string;
  uint64Value?: string;
  boolValue?: boolean;
  doubleValue?: number;
  stringValue?: string;
  dateValue?: number;
  timestampValue?: { seconds?: string; nanos?: number };
  jsonValue?: string;
  value?: string;
}

type Client = grpc.Client & {
  evaluate: Unary;
  evaluateQuery: Unary;
  evaluateModify: Unary;
  formatSql: Unary;
  getLanguageOptions: Unary;
};

/** A table given to the reference implementation, with its rows as Cells. */
export interface ReferenceTable {
  name: string;
  columns: { name: string; type: SqlType }[];
  rows: Cell[][];
  /** Column indexes of the primary key (needed to follow UPDATE/DELETE/MERGE). */
  primaryKey?: number[];
}

export type RowChange = { operation: "INSERT" | "UPDATE" | "DELETE"; row: Cell[]; oldKey: Cell[] };

export class ReferenceEvaluator {
  private constructor(
    private readonly service: ZetaSqlProcess<Client>,
    private readonly client: Client,
    private readonly languageOptions: unknown,
  ) {}

  static async start(): Promise<ReferenceEvaluator> {
    const service = await startZetaSql<Client>({ longs: String, enums: String, oneofs: true });
    const base = (await service.call("getLanguageOptions", {
      maximumFeatures: true,
      languageVersion: "VERSION_CURRENT",
    })) as { enabledLanguageFeatures: string[] };
    const languageOptions = {
      productMode: "PRODUCT_EXTERNAL",
      enabledLanguageFeatures: [...base.enabledLanguageFeatures, ...EXTRA_FEATURES],
    };
    return new ReferenceEvaluator(service, service.client, languageOptions);
  }

  /** Evaluates a constant expression; resolves to its Cell, or rejects with ZetaSQL's error message. */
  async evaluate(expression: string): Promise<Cell> {
    const res = await new Promise<{ value?: ValueProto }>((resolve, reject) =>
      this.client.evaluate(
        { sql: expression, options: { languageOptions: this.languageOptions, defaultTimezone: "UTC" } },
        (err, r) => (err ? reject(new Error(err.details)) : resolve(r as { value?: ValueProto })),
      ),
    );
    return toCell(res.value);
  }

  private call(method: "evaluateQuery" | "evaluateModify", request: unknown): Promise<unknown> {
    return new Promise((resolve, reject) =>
      this.client[method](request, (err, r) => (err ? reject(new Error(err.details)) : resolve(r))),
    );
  }

  private request(sql: string, tables: ReferenceTable[]) {
    return {
      sql,
      options: { languageOptions: this.languageOptions, defaultTimezone: "UTC" },
      simpleCatalog: {
        name: "",
        table: tables.map((t) => ({
          name: t.name,
          column: t.columns.map((c) => ({ name: c.name, type: { typeKind: TYPE_KINDS[c.type] } })),
          primaryKeyColumnIndex: t.primaryKey ?? [],
        })),
        builtinFunctionOptions: { languageOptions: this.languageOptions },
      },
      tableContent: Object.fromEntries(
        tables.map((t) => [
          t.name,
          {
            tableData: {
              row: t.rows.map((r) => ({
                cell: r.map((v, i) => toValue((t.columns[i] as { type: SqlType }).type, v)),
              })),
            },
          },
        ]),
      ),
    };
  }

  /** Runs a query over the given tables; resolves to its rows. */
  async query(sql: string, tables: ReferenceTable[]): Promise<Cell[][]> {
    const res = (await this.call("evaluateQuery", this.request(sql, tables))) as {
      content?: { tableData?: { row?: { cell?: ValueProto[] }[] } };
    };
    return (res.content?.tableData?.row ?? []).map((r) => (r.cell ?? []).map(toCell));
  }

  /** Runs a DML statement; resolves to the rows it inserted, updated or deleted. */
  async modify(sql: string, tables: ReferenceTable[]): Promise<RowChange[]> {
    const res = (await this.call("evaluateModify", this.request(sql, tables))) as {
      content?: { operation?: string; cell?: ValueProto[]; oldPrimaryKey?: ValueProto[] }[];
    };
    return (res.content ?? []).map((r) => ({
      operation: r.operation as RowChange["operation"],
      row: (r.cell ?? []).map(toCell),
      oldKey: (r.oldPrimaryKey ?? []).map(toCell),
    }));
  }

  stop(): Promise<void> {
    return this.service.stop();
  }
}

const TYPE_KINDS: Partial<Record<SqlType, string>> = {
  INT64: "TYPE_INT64",
  STRING: "TYPE_STRING",
  BOOL: "TYPE_BOOL",
  FLOAT64: "TYPE_DOUBLE",
  TIMESTAMP: "TYPE_TIMESTAMP",
  DATE: "TYPE_DATE",
  JSON: "TYPE_JSON",
};

function toValue(type: SqlType, cell: Cell): ValueProto {
  if (cell === null) return {};
  switch (type) {
    case "INT64":
      return { int64Value: String(cell) };
    case "STRING":
      return { stringValue: String(cell) };
    case "JSON":
      return { jsonValue: String(cell) };
    case "BOOL":
      return { boolValue: Boolean(cell) };
    case "FLOAT64":
      return { doubleValue: Number(cell) };
    case "TIMESTAMP": {
      const micros = BigInt(String(cell));
      const seconds = micros / 1_000_000n - (micros % 1_000_000n < 0n ? 1n : 0n);
      return {
        timestampValue: { seconds: String(seconds), nanos: Number(micros - seconds * 1_000_000n) * 1000 },
      };
    }
    case "DATE":
      return { dateValue: Math.round(Date.parse(`${String(cell)}T00:00:00Z`) / 86_400_000) };
    case "BYTES":
    case "DATETIME":
    case "TIME":
    case "NUMERIC":
    case "BIGNUMERIC":
      throw new Error(`The reference evaluator tests do not handle ${type} cells`);
  }
}

function toCell(v: ValueProto | undefined): Cell {
  switch (v?.value) {
    case undefined:
      return null;
    case "int64Value":
      return String(v.int64Value);
    case "uint64Value":
      return String(v.uint64Value);
    case "boolValue":
      return v.boolValue ?? null;
    case "doubleValue":
      return v.doubleValue ?? null;
    case "stringValue":
      return v.stringValue ?? null;
    case "jsonValue":
      return canonicalJson(v.jsonValue ?? "null");
    case "dateValue":
      return new Date((v.dateValue ?? 0) * 86_400_000).toISOString().slice(0, 10);
    case "timestampValue": {
      const seconds = BigInt(v.timestampValue?.seconds ?? "0");
      return String(seconds * 1_000_000n + BigInt(Math.trunc((v.timestampValue?.nanos ?? 0) / 1000)));
    }
    default:
      throw new Error(`The reference evaluator returned a ${v?.value}, which the tests do not compare`);
  }
}
