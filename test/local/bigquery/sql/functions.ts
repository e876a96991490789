// GoogleSQL functions → DuckDB expressions. Only functions listed here run;
// anything else is refused by name, so a query never gets a silently
// different answer from a look-alike DuckDB function.
import { BigQueryEngineError } from "../contracts.js";
import { duckString, isOp, isWord, type Token } from "./tokens.js";
import { duckType } from "./types.js";
import { CANONICAL_JSON, INTEGER_DIVIDE, MODULO } from "./udfs.js";

/** One call site: `NAME(inside)`, with the translator for its argument ranges. */
export interface CallSite {
  name: string;
  tokens: Token[];
  /** Token range inside the parentheses. */
  inside: [number, number];
  /** Top-level comma-separated argument ranges. */
  args: [number, number][];
  sql(range: [number, number]): string;
  /** Set when called as SAFE.NAME; a function that returns NULL instead of failing by itself sets `handled`. */
  safe?: { handled: boolean };
}

type FunctionTranslator = (call: CallSite) => string;

export function unsupported(construct: string): BigQueryEngineError {
  return new BigQueryEngineError("invalidQuery", `The local BigQuery cannot run ${construct} yet`);
}

const argSql = (call: CallSite, n: number): string => {
  const range = call.args[n];
  if (!range) throw new BigQueryEngineError("invalidQuery", `${call.name} expects more arguments`);
  return call.sql(range);
};
const argCount = (call: CallSite, ...allowed: number[]) => {
  if (!allowed.includes(call.args.length))
    throw unsupported(`${call.name} with ${call.args.length} arguments`);
};

/** The argument as a single bare word (a date part like DAY), upper-cased. */
function wordArg(call: CallSite, n: number): string {
  const [s, e] = call.args[n] ?? [0, 0];
  const t = call.tokens[s];
  if (e - s !== 1 || !t || t.kind !== "ident") throw unsupported(`${call.name} with a non-literal date part`);
  return t.value.toUpperCase();
}

/** The argument as a string literal, or undefined when it is an expression. */
function literalArg(call: CallSite, n: number): string | undefined {
  const [s, e] = call.args[n] ?? [0, 0];
  const t = call.tokens[s];
  return e - s === 1 && t?.kind === "string" ? t.value : undefined;
}

/** Same name in DuckDB with the same meaning: the inside is copied (keeps DISTINCT, ORDER BY, *, ...). */
const same =
  (duck: string): FunctionTranslator =>
  (call) =>
    `${duck}(${call.sql(call.inside)})`;

// GoogleSQL JSONPath ($.a, $."a.b", $['a'], $[0]) → DuckDB's ($.a, $."a.b", $[0]).
function jsonPath(call: CallSite, n: number): string {
  if (!call.args[n]) return "'$'";
  const literal = literalArg(call, n);
  if (literal === undefined) return argSql(call, n);
  if (!literal.startsWith("$")) {
    throw new BigQueryEngineError("invalidQuery", `Invalid JSONPath: ${literal}`);
  }
  let out = "$";
  const re =
    /\.([A-Za-z0-9_$@-]+)|\."((?:[^"\\]|\\.)*)"|\['((?:[^'\\]|\\.)*)'\]|\["((?:[^"\\]|\\.)*)"\]|\[(\d+)\]/y;
  re.lastIndex = 1;
  while (re.lastIndex < literal.length) {
    const m = re.exec(literal);
    if (!m) throw unsupported(`the JSONPath ${literal}`);
    if (m[1] !== undefined) out += `.${m[1]}`;
    else if (m[5] !== undefined) out += `[${m[5]}]`;
    else out += `."${(m[2] ?? m[3] ?? m[4] ?? "").replace(/\\(.)/g, "$1")}"`;
  }
  return duckString(out);
}

/** JSON_VALUE: a scalar as STRING, NULL for objects and arrays (unlike json_extract_string). */
const jsonValue: FunctionTranslator = (call) => {
  argCount(call, 1, 2);
  const doc = argSql(call, 0);
  const path = jsonPath(call, 1);
  return `(CASE WHEN json_type(${doc}, ${path}) IN ('OBJECT', 'ARRAY') THEN NULL ELSE json_extract_string(${doc}, ${path}) END)`;
};

const jsonQuery: FunctionTranslator = (call) => {
  argCount(call, 1, 2);
  return `json_extract(${argSql(call, 0)}, ${jsonPath(call, 1)})`;
};

// DuckDB's json_type names → BigQuery's JSON_TYPE names.
const jsonType: FunctionTranslator = (call) => {
  argCount(call, 1);
  return `(CASE json_type(${argSql(call, 0)}) WHEN 'OBJECT' THEN 'object' WHEN 'ARRAY' THEN 'array' WHEN 'VARCHAR' THEN 'string' WHEN 'BOOLEAN' THEN 'boolean' WHEN 'NULL' THEN 'null' WHEN 'BIGINT' THEN 'number' WHEN 'UBIGINT' THEN 'number' WHEN 'DOUBLE' THEN 'number' WHEN 'HUGEINT' THEN 'number' END)`;
};

// Interval units for TIMESTAMP_ADD/SUB and TIMESTAMP_DIFF, in microseconds.
const TIMESTAMP_UNITS: Record<string, { fn: string; micros: number }> = {
  MICROSECOND: { fn: "to_microseconds", micros: 1 },
  MILLISECOND: { fn: "to_milliseconds", micros: 1_000 },
  SECOND: { fn: "to_seconds", micros: 1_000_000 },
  MINUTE: { fn: "to_minutes", micros: 60_000_000 },
  HOUR: { fn: "to_hours", micros: 3_600_000_000 },
  DAY: { fn: "to_days", micros: 86_400_000_000 },
};
const DATE_UNITS: Record<string, (n: string) => string> = {
  DAY: (n) => `to_days(${n})`,
  WEEK: (n) => `to_days(7 * (${n}))`,
  MONTH: (n) => `to_months(${n})`,
  QUARTER: (n) => `to_months(3 * (${n}))`,
  YEAR: (n) => `to_years(${n})`,
};

/** Reads `INTERVAL <expr> <PART>` from argument n. */
function intervalArg(call: CallSite, n: number): { amount: string; part: string } {
  const [s, e] = call.args[n] ?? [0, 0];
  const part = call.tokens[e - 1];
  if (!isWord(call.tokens[s], "INTERVAL") || e - s < 3 || part?.kind !== "ident") {
    throw unsupported(`${call.name} without an INTERVAL <n> <part> argument`);
  }
  return { amount: `CAST(${call.sql([s + 1, e - 1])} AS BIGINT)`, part: part.value.toUpperCase() };
}

const timestampShift =
  (sign: "+" | "-"): FunctionTranslator =>
  (call) => {
    argCount(call, 2);
    const { amount, part } = intervalArg(call, 1);
    const unit = TIMESTAMP_UNITS[part];
    if (!unit) throw unsupported(`${call.name} with date part ${part}`);
    return `(${argSql(call, 0)} ${sign} ${unit.fn}(${amount}))`;
  };

const dateShift =
  (sign: "+" | "-"): FunctionTranslator =>
  (call) => {
    argCount(call, 2);
    const { amount, part } = intervalArg(call, 1);
    const unit = DATE_UNITS[part];
    if (!unit) throw unsupported(`${call.name} with date part ${part}`);
    return `CAST(${argSql(call, 0)} ${sign} ${unit(amount)} AS DATE)`;
  };

// Whole units between two timestamps, truncated toward zero (BigQuery counts
// elapsed units; DuckDB's date_diff counts boundaries crossed).
const timestampDiff: FunctionTranslator = (call) => {
  argCount(call, 3);
  const part = wordArg(call, 2);
  const unit = TIMESTAMP_UNITS[part];
  if (!unit) throw unsupported(`TIMESTAMP_DIFF with date part ${part}`);
  return `((epoch_us(${argSql(call, 0)}) - epoch_us(${argSql(call, 1)})) // ${unit.micros})`;
};

const dateDiff: FunctionTranslator = (call) => {
  argCount(call, 3);
  const part = wordArg(call, 2);
  if (part !== "DAY") throw unsupported(`DATE_DIFF with date part ${part}`);
  return `(CAST(${argSql(call, 0)} AS DATE) - CAST(${argSql(call, 1)} AS DATE))`;
};

// Truncation parts; BigQuery's WEEK starts on Sunday, DuckDB's week on Monday.
function truncate(part: string, value: string, fnName: string): string {
  const simple = [
    "MICROSECOND",
    "MILLISECOND",
    "SECOND",
    "MINUTE",
    "HOUR",
    "DAY",
    "MONTH",
    "QUARTER",
    "YEAR",
  ];
  if (simple.includes(part)) return `date_trunc('${part.toLowerCase()}', ${value})`;
  if (part === "ISOWEEK") return `date_trunc('week', ${value})`;
  if (part === "ISOYEAR") return `date_trunc('isoyear', ${value})`;
  if (part === "WEEK") return `(date_trunc('week', ${value} + INTERVAL 1 DAY) - INTERVAL 1 DAY)`;
  throw unsupported(`${fnName} with date part ${part}`);
}

const timestampTrunc: FunctionTranslator = (call) => {
  argCount(call, 2, 3);
  if (call.args.length === 3 && literalArg(call, 2)?.toUpperCase() !== "UTC") {
    throw unsupported(`${call.name} with a time zone other than UTC`);
  }
  return truncate(wordArg(call, 1), argSql(call, 0), call.name);
};

const dateTrunc: FunctionTranslator = (call) => {
  argCount(call, 2);
  return `CAST(${truncate(wordArg(call, 1), argSql(call, 0), call.name)} AS DATE)`;
};

// FORMAT_TIMESTAMP/FORMAT_DATE: only format elements whose output is the same in both engines.
const FORMAT_ELEMENTS: Record<string, string> = {
  Y: "%Y",
  m: "%m",
  d: "%d",
  H: "%H",
  M: "%M",
  S: "%S",
  y: "%y",
  b: "%b",
  B: "%B",
  a: "%a",
  A: "%A",
  j: "%j",
  p: "%p",
  I: "%I",
  F: "%Y-%m-%d",
  T: "%H:%M:%S",
  "%": "%%",
};
const formatTime: FunctionTranslator = (call) => {
  argCount(call, 2, 3);
  const format = literalArg(call, 0);
  if (format === undefined) throw unsupported(`${call.name} with a non-literal format`);
  if (call.args.length === 3 && literalArg(call, 2)?.toUpperCase() !== "UTC") {
    throw unsupported(`${call.name} with a time zone other than UTC`);
  }
  const duckFormat = format.replace(/%(.)/g, (_m, c: string) => {
    const mapped = FORMAT_ELEMENTS[c];
    if (!mapped) throw unsupported(`${call.name} with format element %${c}`);
    return mapped;
  });
  return `strftime(${argSql(call, 1)}, ${duckString(duckFormat)})`;
};

const EXTRACT_PARTS: Record<string, (v: string) => string> = {
  YEAR: (v) => `extract(year FROM ${v})`,
  MONTH: (v) => `extract(month FROM ${v})`,
  DAY: (v) => `extract(day FROM ${v})`,
  HOUR: (v) => `extract(hour FROM ${v})`,
  MINUTE: (v) => `extract(minute FROM ${v})`,
  SECOND: (v) => `extract(second FROM ${v})`,
  QUARTER: (v) => `extract(quarter FROM ${v})`,
  DAYOFYEAR: (v) => `extract(doy FROM ${v})`,
  // BigQuery: 1 = Sunday; DuckDB dow: 0 = Sunday.
  DAYOFWEEK: (v) => `(extract(dow FROM ${v}) + 1)`,
  ISOWEEK: (v) => `extract(week FROM ${v})`,
  ISOYEAR: (v) => `extract(isoyear FROM ${v})`,
  // DuckDB counts these within the minute; BigQuery within the second.
  MILLISECOND: (v) => `(extract(millisecond FROM ${v}) % 1000)`,
  MICROSECOND: (v) => `(extract(microsecond FROM ${v}) % 1000000)`,
  DATE: (v) => `CAST(${v} AS DATE)`,
};
const extract: FunctionTranslator = (call) => {
  const [s, e] = call.inside;
  const part = call.tokens[s];
  if (part?.kind !== "ident" || !isWord(call.tokens[s + 1], "FROM")) throw unsupported("this EXTRACT form");
  for (let k = s + 2; k < e; k++)
    if (isWord(call.tokens[k], "AT")) throw unsupported("EXTRACT ... AT TIME ZONE");
  const mapped = EXTRACT_PARTS[part.value.toUpperCase()];
  if (!mapped) throw unsupported(`EXTRACT(${part.value.toUpperCase()} ...)`);
  return mapped(call.sql([s + 2, e]));
};

/** CAST(x AS type) and SAFE_CAST; the type is translated, FORMAT clauses refused. */
const cast =
  (duck: "CAST" | "TRY_CAST"): FunctionTranslator =>
  (call) => {
    const [s, e] = call.inside;
    let as = -1;
    for (let k = s; k < e; k++) {
      const t = call.tokens[k] as Token;
      if (isOp(t, "(", "[")) {
        let depth = 0;
        for (; k < e; k++) {
          if (isOp(call.tokens[k], "(", "[")) depth++;
          if (isOp(call.tokens[k], ")", "]")) depth--;
          if (depth === 0) break;
        }
      } else if (isWord(t, "AS")) as = k;
    }
    if (as < 0) throw new BigQueryEngineError("invalidQuery", `${call.name} needs AS <type>`);
    const typeTokens = call.tokens.slice(as + 1, e);
    if (typeTokens.some((t) => isWord(t, "FORMAT"))) throw unsupported(`${call.name} ... FORMAT`);
    const value = call.sql([s, as]);
    const target = duckType(typeTokens);
    if (target === "BIGINT") {
      // BigQuery rounds FLOAT64 half away from zero; DuckDB's cast rounds half to even.
      return `(CASE typeof(${value}) WHEN 'DOUBLE' THEN ${duck}(round(TRY_CAST(${value} AS DOUBLE)) AS BIGINT) ELSE ${duck}(${value} AS BIGINT) END)`;
    }
    if (target === "VARCHAR") {
      // BigQuery prints a TIMESTAMP's fraction in groups of three digits, and 1.0 as "1".
      return `(CASE typeof(${value}) WHEN 'TIMESTAMP WITH TIME ZONE' THEN ${timestampText(`TRY_CAST(${value} AS TIMESTAMPTZ)`, " ", "+00")} WHEN 'DOUBLE' THEN regexp_replace(${duck}(${value} AS VARCHAR), '\\.0$', '') ELSE ${duck}(${value} AS VARCHAR) END)`;
    }
    return `${duck}(${value} AS ${target})`;
  };

/** A TIMESTAMPTZ as BigQuery prints it: seconds, then .mmm or .mmmmmm when not zero. */
export function timestampText(ts: string, separator: " " | "T", zone: "+00" | "Z"): string {
  const micros = `((epoch_us(${ts}) % 1000000 + 1000000) % 1000000)`;
  const fraction = `(CASE WHEN ${micros} = 0 THEN '' WHEN ${micros} % 1000 = 0 THEN '.' || lpad(CAST(${micros} // 1000 AS VARCHAR), 3, '0') ELSE '.' || lpad(CAST(${micros} AS VARCHAR), 6, '0') END)`;
  return `(strftime(${ts}, '%Y-%m-%d${separator}%H:%M:%S') || ${fraction} || '${zone}')`;
}

// TO_JSON_STRING: canonical JSON; TIMESTAMPs in RFC 3339; INT64 beyond 2^53 quoted, as BigQuery does.
const toJsonString: FunctionTranslator = (call) => {
  argCount(call, 1);
  const value = argSql(call, 0);
  return `COALESCE(CASE typeof(${value})
    WHEN 'TIMESTAMP WITH TIME ZONE' THEN '"' || ${timestampText(`TRY_CAST(${value} AS TIMESTAMPTZ)`, "T", "Z")} || '"'
    WHEN 'BIGINT' THEN (CASE WHEN abs(TRY_CAST(${value} AS BIGINT)) > 9007199254740992 THEN '"' || CAST(${value} AS VARCHAR) || '"' ELSE CAST(${value} AS VARCHAR) END)
    ELSE ${CANONICAL_JSON}(CAST(to_json(${value}) AS VARCHAR)) END, 'null')`;
};

/** NULL if any argument is NULL, as BigQuery's GREATEST/LEAST (DuckDB's skip NULLs). */
const nullStrict =
  (duck: string): FunctionTranslator =>
  (call) => {
    const args = call.args.map((r) => call.sql(r));
    return `(CASE WHEN ${args.map((a) => `(${a}) IS NULL`).join(" OR ")} THEN NULL ELSE ${duck}(${args.join(", ")}) END)`;
  };

// BigQuery SUBSTR: position 0 means 1; a negative position counts from the end
// and is clamped to the start (DuckDB returns less for both).
const substr: FunctionTranslator = (call) => {
  argCount(call, 2, 3);
  const str = argSql(call, 0);
  const pos = argSql(call, 1);
  const start = `(CASE WHEN (${pos}) = 0 THEN 1 WHEN (${pos}) < 0 THEN greatest(length(${str}) + (${pos}) + 1, 1) ELSE (${pos}) END)`;
  const len = call.args.length === 3 ? `, ${argSql(call, 2)}` : "";
  return `substring(${str}, ${start}${len})`;
};

const concat: FunctionTranslator = (call) => `(${call.args.map((r) => `(${call.sql(r)})`).join(" || ")})`;

const date: FunctionTranslator = (call) => {
  if (call.args.length === 1) return `CAST(${argSql(call, 0)} AS DATE)`;
  if (call.args.length === 3) return `make_date(${call.args.map((r) => call.sql(r)).join(", ")})`;
  throw unsupported(`DATE with ${call.args.length} arguments`);
};

const timestamp: FunctionTranslator = (call) => {
  if (call.args.length === 2 && literalArg(call, 1)?.toUpperCase() === "UTC") {
    return `CAST(${argSql(call, 0)} AS TIMESTAMPTZ)`;
  }
  argCount(call, 1);
  return `CAST(${argSql(call, 0)} AS TIMESTAMPTZ)`;
};

/** Capturing groups in a literal regular expression (REGEXP_EXTRACT returns the first, or the match). */
function captureGroups(pattern: string): number {
  let groups = 0;
  for (let i = 0; i < pattern.length; i++) {
    if (pattern[i] === "\\") i++;
    else if (pattern[i] === "(" && pattern[i + 1] !== "?") groups++;
  }
  return groups;
}

const regexpExtract: FunctionTranslator = (call) => {
  argCount(call, 2);
  const pattern = literalArg(call, 1);
  if (pattern === undefined) throw unsupported("REGEXP_EXTRACT with a non-literal pattern");
  const groups = captureGroups(pattern);
  if (groups > 1) {
    throw new BigQueryEngineError(
      "invalidQuery",
      "Regular expressions passed into extraction functions must not have more than 1 capturing group",
    );
  }
  const str = argSql(call, 0);
  const re = argSql(call, 1);
  // DuckDB returns '' when nothing matches; BigQuery returns NULL.
  return `(CASE WHEN regexp_matches(${str}, ${re}) THEN regexp_extract(${str}, ${re}, ${groups}) END)`;
};

const regexpReplace: FunctionTranslator = (call) => {
  argCount(call, 3);
  return `regexp_replace(${argSql(call, 0)}, ${argSql(call, 1)}, ${argSql(call, 2)}, 'g')`;
};

const pad =
  (duck: "lpad" | "rpad"): FunctionTranslator =>
  (call) => {
    argCount(call, 2, 3);
    const fill = call.args.length === 3 ? argSql(call, 2) : "' '";
    return `${duck}(${argSql(call, 0)}, ${argSql(call, 1)}, ${fill})`;
  };

// GoogleSQL LOG(x) is the natural logarithm; DuckDB's log(x) is base 10.
const log: FunctionTranslator = (call) => {
  argCount(call, 1, 2);
  if (call.args.length === 1) return `ln(${argSql(call, 0)})`;
  return `(ln(${argSql(call, 0)}) / ln(${argSql(call, 1)}))`;
};

/** PARSE_TIMESTAMP / PARSE_DATE with the format elements both engines read alike. */
const parseTime =
  (type: "TIMESTAMPTZ" | "DATE"): FunctionTranslator =>
  (call) => {
    argCount(call, 2);
    const format = literalArg(call, 0);
    if (format === undefined) throw unsupported(`${call.name} with a non-literal format`);
    const duckFormat = format.replace(/%(.)/g, (_m, c: string) => {
      const mapped = FORMAT_ELEMENTS[c];
      if (!mapped || c === "j" || c === "a" || c === "A")
        throw unsupported(`${call.name} with format element %${c}`);
      return mapped;
    });
    return `CAST(strptime(${argSql(call, 1)}, ${duckString(duckFormat)}) AS ${type})`;
  };

const noArgs =
  (duck: string): FunctionTranslator =>
  (call) => {
    argCount(call, 0);
    return duck;
  };

const FUNCTIONS: Record<string, FunctionTranslator> = {
  // Aggregates
  COUNT: same("count"),
  SUM: same("sum"),
  MIN: same("min"),
  MAX: same("max"),
  AVG: same("avg"),
  COUNTIF: same("count_if"),
  LOGICAL_AND: same("bool_and"),
  LOGICAL_OR: same("bool_or"),
  STRING_AGG: same("string_agg"),
  ANY_VALUE: same("any_value"),
  STDDEV: same("stddev_samp"),
  STDDEV_SAMP: same("stddev_samp"),
  STDDEV_POP: same("stddev_pop"),
  VARIANCE: same("var_samp"),
  VAR_SAMP: same("var_samp"),
  VAR_POP: same("var_pop"),
  // Exact where BigQuery estimates: an allowed answer for an approximate aggregate.
  APPROX_COUNT_DISTINCT: (call) => `count(DISTINCT ${call.sql(call.inside)})`,
  // Analytic
  ROW_NUMBER: same("row_number"),
  RANK: same("rank"),
  DENSE_RANK: same("dense_rank"),
  PERCENT_RANK: same("percent_rank"),
  CUME_DIST: same("cume_dist"),
  NTILE: same("ntile"),
  LAG: same("lag"),
  LEAD: same("lead"),
  FIRST_VALUE: same("first_value"),
  LAST_VALUE: same("last_value"),
  // Conditionals
  IF: (call) => {
    argCount(call, 3);
    return `(CASE WHEN ${argSql(call, 0)} THEN ${argSql(call, 1)} ELSE ${argSql(call, 2)} END)`;
  },
  IFNULL: (call) => {
    argCount(call, 2);
    return `COALESCE(${argSql(call, 0)}, ${argSql(call, 1)})`;
  },
  COALESCE: same("COALESCE"),
  NULLIF: same("NULLIF"),
  GREATEST: nullStrict("greatest"),
  LEAST: nullStrict("least"),
  CAST: cast("CAST"),
  SAFE_CAST: cast("TRY_CAST"),
  // JSON
  JSON_VALUE: jsonValue,
  JSON_EXTRACT_SCALAR: jsonValue,
  JSON_QUERY: jsonQuery,
  JSON_EXTRACT: jsonQuery,
  JSON_TYPE: jsonType,
  PARSE_JSON: (call) => {
    argCount(call, 1);
    return `CAST(${CANONICAL_JSON}(CAST(json(${argSql(call, 0)}) AS VARCHAR)) AS JSON)`;
  },
  TO_JSON_STRING: toJsonString,
  // Strings
  LOWER: same("lower"),
  UPPER: same("upper"),
  LENGTH: same("length"),
  CHAR_LENGTH: same("length"),
  CONCAT: concat,
  SUBSTR: substr,
  SUBSTRING: substr,
  STARTS_WITH: same("starts_with"),
  ENDS_WITH: same("suffix"),
  STRPOS: same("strpos"),
  REPLACE: same("replace"),
  TRIM: same("trim"),
  LTRIM: same("ltrim"),
  RTRIM: same("rtrim"),
  REVERSE: same("reverse"),
  REGEXP_CONTAINS: same("regexp_matches"),
  REGEXP_EXTRACT: regexpExtract,
  REGEXP_REPLACE: regexpReplace,
  LEFT: same("left"),
  RIGHT: same("right"),
  LPAD: pad("lpad"),
  RPAD: pad("rpad"),
  STRING: (call) => {
    argCount(call, 1);
    return `(CASE typeof(${argSql(call, 0)}) WHEN 'TIMESTAMP WITH TIME ZONE' THEN ${timestampText(`TRY_CAST(${argSql(call, 0)} AS TIMESTAMPTZ)`, " ", "+00")} ELSE CAST(${argSql(call, 0)} AS VARCHAR) END)`;
  },
  // Math
  ABS: same("abs"),
  SIGN: same("sign"),
  ROUND: same("round"),
  FLOOR: same("floor"),
  CEIL: same("ceil"),
  CEILING: same("ceil"),
  SQRT: same("sqrt"),
  LN: same("ln"),
  LOG: log,
  LOG10: same("log10"),
  EXP: same("exp"),
  TRUNC: same("trunc"),
  IS_NAN: same("isnan"),
  IS_INF: same("isinf"),
  POW: same("pow"),
  POWER: same("pow"),
  // Both fail on a zero divisor, as in BigQuery (DuckDB returns NULL).
  MOD: (call) => {
    argCount(call, 2);
    if (call.safe) call.safe.handled = true;
    return call.safe
      ? `(${argSql(call, 0)} % ${argSql(call, 1)})`
      : `${MODULO}(${argSql(call, 0)}, ${argSql(call, 1)})`;
  },
  DIV: (call) => {
    argCount(call, 2);
    if (call.safe) call.safe.handled = true;
    return call.safe
      ? `(${argSql(call, 0)} // ${argSql(call, 1)})`
      : `${INTEGER_DIVIDE}(${argSql(call, 0)}, ${argSql(call, 1)})`;
  },
  SAFE_DIVIDE: (call) => {
    argCount(call, 2);
    return `(CASE WHEN (${argSql(call, 1)}) = 0 THEN NULL ELSE ${argSql(call, 0)} / ${argSql(call, 1)} END)`;
  },
  // Time (the session time zone is UTC)
  CURRENT_TIMESTAMP: noArgs("current_timestamp"),
  CURRENT_DATE: noArgs("current_date"),
  TIMESTAMP_ADD: timestampShift("+"),
  TIMESTAMP_SUB: timestampShift("-"),
  DATE_ADD: dateShift("+"),
  DATE_SUB: dateShift("-"),
  TIMESTAMP_DIFF: timestampDiff,
  DATE_DIFF: dateDiff,
  TIMESTAMP_TRUNC: timestampTrunc,
  DATE_TRUNC: dateTrunc,
  FORMAT_TIMESTAMP: formatTime,
  FORMAT_DATE: formatTime,
  PARSE_TIMESTAMP: parseTime("TIMESTAMPTZ"),
  PARSE_DATE: parseTime("DATE"),
  UNIX_DATE: (call) => {
    argCount(call, 1);
    return `(CAST(${argSql(call, 0)} AS DATE) - DATE '1970-01-01')`;
  },
  DATE_FROM_UNIX_DATE: (call) => {
    argCount(call, 1);
    return `CAST(DATE '1970-01-01' + to_days(CAST(${argSql(call, 0)} AS BIGINT)) AS DATE)`;
  },
  LAST_DAY: (call) => {
    argCount(call, 1);
    return `last_day(${argSql(call, 0)})`;
  },
  EXTRACT: extract,
  DATE: date,
  TIMESTAMP: timestamp,
  UNIX_MICROS: same("epoch_us"),
  UNIX_MILLIS: (call) => `floor(epoch_us(${argSql(call, 0)}) / 1000)::BIGINT`,
  UNIX_SECONDS: (call) => `floor(epoch_us(${argSql(call, 0)}) / 1000000)::BIGINT`,
  TIMESTAMP_MICROS: (call) => `make_timestamptz(CAST(${argSql(call, 0)} AS BIGINT))`,
  TIMESTAMP_MILLIS: (call) => `make_timestamptz(CAST(${argSql(call, 0)} AS BIGINT) * 1000)`,
  TIMESTAMP_SECONDS: (call) => `make_timestamptz(CAST(${argSql(call, 0)} AS BIGINT) * 1000000)`,
  GENERATE_UUID: noArgs("CAST(gen_random_uuid() AS VARCHAR)"),
};

/** The DuckDB text of a GoogleSQL function call; throws for functions outside the supported set. */
export function translateCall(call: CallSite): string {
  const fn = FUNCTIONS[call.name];
  if (!fn) throw unsupported(`the function ${call.name}`);
  return fn(call);
}

/** Functions BigQuery also accepts without parentheses. */
export const NILADIC: Record<string, string> = {
  CURRENT_TIMESTAMP: "current_timestamp",
  CURRENT_DATE: "current_date",
};

/** The supported function names, for documentation and tests. */
export const SUPPORTED_FUNCTIONS: readonly string[] = Object.keys(FUNCTIONS).sort();
