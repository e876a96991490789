// Aligned columns, as gcloud and bq print them: an upper-case header, two
// spaces between columns, no borders. Widths ignore colour codes.

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;]*m/g;

export function visibleLength(text: string): number {
  return [...text.replace(ANSI, "")].length;
}

function pad(text: string, width: number): string {
  return text + " ".repeat(Math.max(0, width - visibleLength(text)));
}

/**
 * Renders rows under headers. The last column is not padded (no trailing
 * blanks); `maxWidth` (a terminal's columns) cuts each line, never a pipe's.
 */
export function renderTable(headers: string[], rows: string[][], maxWidth?: number): string[] {
  const widths = headers.map((h, i) =>
    Math.max(visibleLength(h), ...rows.map((r) => visibleLength(r[i] ?? ""))),
  );
  const render = (cells: string[]) => {
    const text = cells
      .map((cell, i) => (i === cells.length - 1 ? cell : pad(cell, widths[i]!)))
      .join("  ")
      .trimEnd();
    return maxWidth !== undefined ? cut(text, maxWidth) : text;
  };
  return [render(headers), ...rows.map(render)];
}

/** Cuts a line to `width` visible characters, keeping colour codes balanced by a reset. */
function cut(text: string, width: number): string {
  if (visibleLength(text) <= width) return text;
  const reset = ANSI.test(text) ? "\x1b[0m" : "";
  ANSI.lastIndex = 0;
  let out = "";
  let seen = 0;
  // eslint-disable-next-line no-control-regex
  for (const part of text.split(/(\x1b\[[0-9;]*m)/)) {
    if (part.startsWith("\x1b[")) {
      out += part;
      continue;
    }
    for (const ch of part) {
      if (seen >= width - 1) return `${out}…${reset}`;
      out += ch;
      seen++;
    }
  }
  return out;
}
