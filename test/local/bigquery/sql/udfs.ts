// DuckDB functions the translation calls where SQL alone cannot match
// BigQuery: canonical JSON text (keys sorted, first duplicate kept, numbers
// normalized), as BigQuery stores and prints JSON.
import type { DuckDBVarCharVector } from "@duckdb/node-api";
import { DuckDBScalarFunction, VARCHAR, type DuckDBConnection } from "@duckdb/node-api";
import { canonicalJson } from "./json-text.js";

export const CANONICAL_JSON = "bq_canonical_json";
export const DIVIDE = "bq_divide";
export const INTEGER_DIVIDE = "bq_div";
export const MODULO = "bq_mod";

export async function registerUdfs(connection: DuckDBConnection): Promise<void> {
  // Division that fails on zero, with BigQuery's message (a temporary macro: per connection).
  await connection.run(
    `CREATE OR REPLACE TEMP MACRO ${DIVIDE}(a, b) AS CASE WHEN b = 0 THEN error('division by zero: ' || CAST(a AS VARCHAR) || ' / ' || CAST(b AS VARCHAR)) ELSE a / b END`,
  );
  await connection.run(
    `CREATE OR REPLACE TEMP MACRO ${INTEGER_DIVIDE}(a, b) AS CASE WHEN b = 0 THEN error('division by zero: ' || CAST(a AS VARCHAR) || ' / ' || CAST(b AS VARCHAR)) ELSE a // b END`,
  );
  await connection.run(
    `CREATE OR REPLACE TEMP MACRO ${MODULO}(a, b) AS CASE WHEN b = 0 THEN error('division by zero: ' || CAST(a AS VARCHAR) || ' / ' || CAST(b AS VARCHAR)) ELSE a % b END`,
  );
  try {
    connection.registerScalarFunction(
      DuckDBScalarFunction.create({
        name: CANONICAL_JSON,
        mainFunction: (_info, input, output) => {
          const column = input.getColumnVector(0) as DuckDBVarCharVector;
          const out = output as DuckDBVarCharVector;
          for (let row = 0; row < input.rowCount; row++) {
            const text = column.getItem(row);
            out.setItem(row, text === null ? null : canonicalJson(text));
          }
          out.flush();
        },
        returnType: VARCHAR,
        parameterTypes: [VARCHAR],
      }),
    );
  } catch (err) {
    // A second engine on the same database finds the function already there.
    if (!/already exists/i.test(String(err))) throw err;
  }
}
