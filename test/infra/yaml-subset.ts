// A strict parser for the YAML subset cloudbuild.yaml uses: block mappings,
// block sequences (of scalars or mappings), plain / single-quoted /
// double-quoted scalars, comments. Anything else (anchors, flow collections,
// block scalars, tabs, multi-document streams, duplicate keys) is an error
// rather than a guess, so the test never reads something YAML would not.

export type YamlValue = string | YamlValue[] | { [key: string]: YamlValue };

interface Line {
  no: number;
  indent: number;
  text: string;
}

export class YamlSubsetError extends Error {}

function fail(line: Line | undefined, message: string): never {
  throw new YamlSubsetError(line ? `line ${line.no}: ${message}` : message);
}

/** Removes a trailing comment (a # preceded by whitespace, outside quotes). */
function stripComment(text: string): string {
  let quote: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      if (c === "\\" && quote === '"') i++;
      else if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'") {
      quote = c;
    } else if (c === "#" && (i === 0 || /\s/.test(text[i - 1] ?? ""))) {
      return text.slice(0, i).trimEnd();
    }
  }
  if (quote) throw new YamlSubsetError(`unterminated quoted scalar: ${text}`);
  return text.trimEnd();
}

function scalar(raw: string, line: Line): string {
  const s = raw.trim();
  if (s.startsWith('"')) {
    if (!s.endsWith('"') || s.length < 2) fail(line, `bad double-quoted scalar ${s}`);
    try {
      return JSON.parse(s) as string;
    } catch {
      fail(line, `unsupported escape in ${s}`);
    }
  }
  if (s.startsWith("'")) {
    if (!s.endsWith("'") || s.length < 2) fail(line, `bad single-quoted scalar ${s}`);
    return s.slice(1, -1).replace(/''/g, "'");
  }
  if (s === "") fail(line, "empty value");
  if (/^[[{&*!|>%@`]/.test(s)) fail(line, `unsupported YAML construct: ${s}`);
  if (/:\s|\s#/.test(s) || s.endsWith(":")) fail(line, `ambiguous plain scalar: ${s}`);
  return s;
}

/** Splits "key: value" (key plain or quoted). */
function keyValue(text: string, line: Line): [string, string] | undefined {
  const m = /^("(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[A-Za-z0-9_$.\-/]+):(?:\s+(.*))?$/.exec(text);
  if (!m) return undefined;
  return [scalar(m[1] ?? "", line), m[2] ?? ""];
}

export function parseYamlSubset(source: string): YamlValue {
  const lines: Line[] = [];
  source.split(/\r?\n/).forEach((raw, idx) => {
    if (raw.includes("\t")) fail({ no: idx + 1, indent: 0, text: raw }, "tabs are not allowed");
    const text = stripComment(raw);
    if (text.trim() === "") return;
    if (text.trim() === "---" || text.trim() === "...") {
      fail({ no: idx + 1, indent: 0, text }, "document markers are not supported");
    }
    lines.push({ no: idx + 1, indent: text.length - text.trimStart().length, text: text.trim() });
  });
  let pos = 0;

  function parseNode(indent: number): YamlValue {
    const first = lines[pos];
    if (!first || first.indent !== indent) fail(first, `expected content at indent ${indent}`);
    return first.text.startsWith("- ") || first.text === "-" ? parseSequence(indent) : parseMapping(indent);
  }

  function parseValueAfterKey(rest: string, line: Line, indent: number): YamlValue {
    if (rest !== "") return scalar(rest, line);
    const next = lines[pos];
    if (!next || next.indent <= indent) fail(line, "a key without a value");
    return parseNode(next.indent);
  }

  function parseMapping(indent: number, seed?: { key: string; value: YamlValue }): Record<string, YamlValue> {
    const out: Record<string, YamlValue> = {};
    if (seed) out[seed.key] = seed.value;
    while (pos < lines.length) {
      const line = lines[pos] as Line;
      if (line.indent < indent) break;
      if (line.indent > indent) fail(line, "unexpected indentation");
      if (line.text.startsWith("- ")) break;
      const kv = keyValue(line.text, line);
      if (!kv) fail(line, `expected "key: value", got ${line.text}`);
      const [key, rest] = kv;
      if (Object.hasOwn(out, key)) fail(line, `duplicate key ${key}`);
      pos++;
      out[key] = parseValueAfterKey(rest, line, indent);
    }
    return out;
  }

  function parseSequence(indent: number): YamlValue[] {
    const out: YamlValue[] = [];
    while (pos < lines.length) {
      const line = lines[pos] as Line;
      if (line.indent < indent) break;
      if (line.indent > indent) fail(line, "unexpected indentation");
      if (!line.text.startsWith("- ")) break;
      const item = line.text.slice(2).trim();
      const itemIndent = indent + 2 + (line.text.slice(2).length - line.text.slice(2).trimStart().length);
      pos++;
      const kv = keyValue(item, line);
      if (kv) {
        // "- key: value" starts a mapping whose other keys align with "key".
        const [key, rest] = kv;
        const value = parseValueAfterKey(rest, line, itemIndent);
        out.push(parseMapping(itemIndent, { key, value }));
      } else {
        out.push(scalar(item, line));
      }
    }
    return out;
  }

  if (lines.length === 0) throw new YamlSubsetError("empty document");
  const root = parseNode(0);
  if (pos !== lines.length) fail(lines[pos], "unexpected content");
  return root;
}
