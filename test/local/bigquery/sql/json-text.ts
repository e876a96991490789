// JSON text as BigQuery stores and prints it: object keys sorted (byte
// order), the first of duplicate keys kept, numbers normalized (integers that
// fit 64 bits exact, others as doubles), no insignificant whitespace.
import { BigQueryEngineError } from "../contracts.js";

type JsonNode =
  | { kind: "literal"; text: string }
  | { kind: "array"; items: JsonNode[] }
  | { kind: "object"; entries: [string, JsonNode][] };

// Sticky patterns match at a position without copying the rest of the text.
const STRING_TOKEN = /"(?:[^"\\]|\\.)*"/y;
const SCALAR_TOKEN = /(?:true|false|null|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/y;

/** A small JSON parser that keeps number texts (JS numbers would lose int64 precision). */
function parseJson(text: string): JsonNode {
  let i = 0;
  const ws = () => {
    while (i < text.length && /\s/.test(text[i] as string)) i++;
  };
  const fail = (): never => {
    throw new BigQueryEngineError("internalError", `Invalid JSON in a result: ${text.slice(0, 80)}`, 500);
  };
  const stringToken = (): string => {
    STRING_TOKEN.lastIndex = i;
    const m = STRING_TOKEN.exec(text);
    if (!m) return fail();
    i += m[0].length;
    return m[0];
  };
  const value = (): JsonNode => {
    ws();
    const c = text[i];
    if (c === "{") {
      i++;
      const entries: [string, JsonNode][] = [];
      ws();
      if (text[i] === "}") {
        i++;
        return { kind: "object", entries };
      }
      for (;;) {
        ws();
        const key = JSON.parse(stringToken()) as string;
        ws();
        if (text[i++] !== ":") fail();
        entries.push([key, value()]);
        ws();
        const sep = text[i++];
        if (sep === "}") return { kind: "object", entries };
        if (sep !== ",") fail();
      }
    }
    if (c === "[") {
      i++;
      const items: JsonNode[] = [];
      ws();
      if (text[i] === "]") {
        i++;
        return { kind: "array", items };
      }
      for (;;) {
        items.push(value());
        ws();
        const sep = text[i++];
        if (sep === "]") return { kind: "array", items };
        if (sep !== ",") fail();
      }
    }
    if (c === '"') return { kind: "literal", text: JSON.stringify(JSON.parse(stringToken())) };
    SCALAR_TOKEN.lastIndex = i;
    const m = SCALAR_TOKEN.exec(text);
    if (!m) return fail();
    i += m[0].length;
    return { kind: "literal", text: canonicalNumber(m[0]) };
  };
  const node = value();
  ws();
  if (i !== text.length) fail();
  return node;
}

const INT64_MIN = -(2n ** 63n);
const UINT64_MAX = 2n ** 64n - 1n;

// Integers that fit int64/uint64 stay exact; other numbers are doubles.
function canonicalNumber(text: string): string {
  if (!/^-?\d/.test(text)) return text;
  if (/^-?\d+$/.test(text)) {
    const n = BigInt(text);
    if (n >= INT64_MIN && n <= UINT64_MAX) return n.toString();
  }
  return String(Number(text));
}

function render(node: JsonNode): string {
  switch (node.kind) {
    case "literal":
      return node.text;
    case "array":
      return `[${node.items.map(render).join(",")}]`;
    case "object": {
      // Keys sorted (byte order), the first of duplicate keys kept: as BigQuery stores JSON.
      const seen = new Map<string, JsonNode>();
      for (const [k, v] of node.entries) if (!seen.has(k)) seen.set(k, v);
      const keys = [...seen.keys()].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
      return `{${keys.map((k) => `${JSON.stringify(k)}:${render(seen.get(k) as JsonNode)}`).join(",")}}`;
    }
  }
}

/** BigQuery's canonical text of a JSON value. */
export function canonicalJson(text: string): string {
  return render(parseJson(text));
}
