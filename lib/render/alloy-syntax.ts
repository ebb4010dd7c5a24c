/**
 * Writing Alloy configuration syntax: string literals, blocks with labels, lists and objects,
 * one statement per line with tab indentation. Shared by the agent and collector renderers.
 */

/** An Alloy double-quoted string literal. */
export function alloyString(value: string): string {
  let out = '"';
  for (const char of value) {
    const code = char.charCodeAt(0);
    if (char === '\\') out += '\\\\';
    else if (char === '"') out += '\\"';
    else if (char === '\n') out += '\\n';
    else if (char === '\t') out += '\\t';
    else if (code < 0x20 || code === 0x7f) throw new Error(`cannot put control character 0x${code.toString(16)} into an Alloy string`);
    else out += char;
  }
  return `${out}"`;
}

/** An attribute or nested block inside a component. */
export type Statement = readonly [name: string, value: string] | AlloyBlock;

export interface AlloyBlock {
  readonly name: string;
  readonly label?: string;
  readonly body: readonly Statement[];
}

export const block = (name: string, label: string | undefined, ...body: Statement[]): AlloyBlock => ({ name, label, body });
export const list = (items: readonly string[]): string => `[${items.join(', ')}]`;
export const stringList = (items: readonly string[]): string => list(items.map(alloyString));
export const object = (entries: ReadonlyArray<readonly [key: string, value: string]>): string =>
  `{${entries.map(([key, value]) => `${/^[A-Za-z_][A-Za-z0-9_]*$/.test(key) ? key : alloyString(key)} = ${value}`).join(', ')}}`;

/**
 * One block in the form `alloy fmt` prints: a tab per level; an empty body as `{ }` on the header
 * line; the `=` of consecutive attributes aligned with spaces; a blank line before every nested
 * block that follows another statement.
 */
export function renderBlock(b: AlloyBlock, depth: number): string[] {
  const indent = '\t'.repeat(depth);
  const header = `${indent}${b.name}${b.label === undefined ? '' : ` ${alloyString(b.label)}`} {`;
  if (b.body.length === 0) return [`${header} }`];
  const lines = [header];
  let run: Array<readonly [string, string]> = [];
  const flush = () => {
    const width = Math.max(...run.map(([name]) => name.length));
    for (const [name, value] of run) lines.push(`${indent}\t${name.padEnd(width)} = ${value}`);
    run = [];
  };
  b.body.forEach((statement, index) => {
    if ('body' in statement) {
      flush();
      if (index > 0) lines.push('');
      lines.push(...renderBlock(statement, depth + 1));
    } else {
      if (index > 0 && 'body' in b.body[index - 1]) lines.push('');
      run.push(statement);
    }
  });
  flush();
  lines.push(`${indent}}`);
  return lines;
}

/** A whole file in `alloy fmt` form: top-level blocks separated by a blank line. */
export function renderFile(blocks: readonly AlloyBlock[]): string {
  return `${blocks.map((b) => renderBlock(b, 0).join('\n')).join('\n\n')}\n`;
}
