// The members of an NDJSON row's top-level object, in order, each with the
// raw text of its value: what a load needs to keep the first of duplicate
// keys (JSON.parse keeps the last) and to store a JSON column's value from
// its own text. One linear pass; the row has been validated by JSON.parse.

export interface Member {
  key: string;
  /** The value's JSON text, exactly as in the row. */
  raw: string;
}

const WS = new Set([" ", "\t", "\n", "\r"]);

function skipWs(text: string, i: number): number {
  while (i < text.length && WS.has(text[i] as string)) i++;
  return i;
}

/** Index just past the string literal that starts at i (text[i] is '"'). */
function skipString(text: string, i: number): number {
  for (let k = i + 1; k < text.length; k++) {
    const c = text[k];
    if (c === "\\") k++;
    else if (c === '"') return k + 1;
  }
  return text.length;
}

/** Index just past the JSON value that starts at i. */
function skipValue(text: string, i: number): number {
  const c = text[i];
  if (c === '"') return skipString(text, i);
  if (c === "{" || c === "[") {
    let depth = 0;
    for (let k = i; k < text.length; k++) {
      const d = text[k];
      if (d === '"') k = skipString(text, k) - 1;
      else if (d === "{" || d === "[") depth++;
      else if (d === "}" || d === "]") {
        depth--;
        if (depth === 0) return k + 1;
      }
    }
    return text.length;
  }
  let k = i;
  while (k < text.length && !WS.has(text[k] as string) && text[k] !== "," && text[k] !== "}") k++;
  return k;
}

/** The top-level object's members (the row must be a valid JSON object). */
export function objectMembers(text: string): Member[] {
  const members: Member[] = [];
  let i = skipWs(text, 0);
  if (text[i] !== "{") return members;
  i = skipWs(text, i + 1);
  while (i < text.length && text[i] !== "}") {
    const keyEnd = skipString(text, i);
    const key = JSON.parse(text.slice(i, keyEnd)) as string;
    i = skipWs(text, keyEnd);
    i = skipWs(text, i + 1); // past ':'
    const valueEnd = skipValue(text, i);
    members.push({ key, raw: text.slice(i, valueEnd) });
    i = skipWs(text, valueEnd);
    if (text[i] === ",") i = skipWs(text, i + 1);
  }
  return members;
}
