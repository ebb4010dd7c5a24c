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

export function renderBlock(b: AlloyBlock, depth: number): string[] {
  const indent = '\t'.repeat(depth);
  const lines = [`${indent}${b.name}${b.label === undefined ? '' : ` ${alloyString(b.label)}`} {`];
  for (const statement of b.body) {
    if ('body' in statement) lines.push(...renderBlock(statement, depth + 1));
    else lines.push(`${indent}\t${statement[0]} = ${statement[1]}`);
  }
  lines.push(`${indent}}`);
  return lines;
}
