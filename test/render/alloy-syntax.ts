/**
 * A small reader for the Alloy subset the renderers emit (one statement per line), plus a
 * structural checker: balanced delimiters, terminated strings, known component kinds and
 * dotted block names, unique component IDs, every reference pointing at an existing
 * component's export, every exporting component consumed, and only known stdlib functions.
 * Shared by the agent and collector renderer tests.
 */

export interface Node {
  readonly name: string;
  readonly label?: string;
  readonly attrs: Map<string, string>;
  readonly blocks: Node[];
}

/** Component kinds the renderers may use, each with the exports other components may reference. */
export const KNOWN_COMPONENTS: Record<string, readonly string[]> = {
  'prometheus.exporter.unix': ['targets'],
  'prometheus.exporter.windows': ['targets'],
  'prometheus.exporter.self': ['targets'],
  'discovery.relabel': ['output'],
  'discovery.dns': ['targets'],
  'prometheus.scrape': [],
  'prometheus.remote_write': ['receiver'],
  'loki.relabel': ['receiver', 'rules'],
  'loki.source.journal': [],
  'loki.source.windowsevent': [],
  'loki.write': ['receiver'],
  'otelcol.receiver.otlp': [],
  'otelcol.processor.resourcedetection': ['input'],
  'otelcol.processor.batch': ['input'],
  'otelcol.exporter.otlphttp': ['input'],
  'otelcol.auth.bearer': ['handler'],
  'prometheus.exporter.cloudwatch': ['targets'],
  'prometheus.exporter.memcached': ['targets'],
  'otelcol.storage.file': ['handler'],
  'otelcol.receiver.awscloudwatch': [],
  'otelcol.exporter.loki': ['input'],
  'loki.process': ['receiver'],
};
/** Nested blocks whose names contain a dot (`loki.process` stages); any other dotted block name is a typo. */
const KNOWN_DOTTED_BLOCKS = new Set([
  'stage.json',
  'stage.regex',
  'stage.labels',
  'stage.structured_metadata',
  'stage.label_drop',
  'stage.static_labels',
  'stage.output',
]);
const KNOWN_FUNCTIONS = new Set(['sys.env', 'coalesce', 'array.concat']);
const KNOWN_CONSTANTS = new Set(['constants.hostname']);

/** `text` with the contents of every string literal removed, or a problem if a string never ends. */
export function blankStrings(text: string): { code: string; problems: string[] } {
  let code = '';
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    if (inString) {
      if (char === '\\') {
        if (!/["\\ntr]/.test(text[i + 1] ?? '')) return { code, problems: [`bad escape \\${text[i + 1]} at offset ${i}`] };
        i++;
      } else if (char === '"') {
        inString = false;
        code += '"';
      } else if (char === '\n') {
        return { code, problems: [`string not terminated before offset ${i}`] };
      }
    } else {
      if (char === '"') inString = true;
      code += char;
    }
  }
  return inString ? { code, problems: ['string not terminated at end of file'] } : { code, problems: [] };
}

export function structuralProblems(text: string): string[] {
  const { code, problems } = blankStrings(text);
  if (problems.length > 0) return problems;

  const pairs: Record<string, string> = { '}': '{', ']': '[', ')': '(' };
  const stack: string[] = [];
  for (const char of code) {
    if ('{[('.includes(char)) stack.push(char);
    else if (char in pairs && stack.pop() !== pairs[char]) return [`unbalanced "${char}"`];
  }
  if (stack.length > 0) return [`${stack.length} unclosed delimiter(s)`];
  if (/\/\/|\/\*|#/.test(code)) problems.push('comments are not allowed in the output');

  // Top-level statements are component headers only; record them.
  const ids = new Set<string>();
  const exportsById = new Map<string, readonly string[]>();
  let depth = 0;
  const bodyLines: string[] = [];
  for (const line of code.split('\n')) {
    if (depth === 0 && line.trim() !== '') {
      const header = /^([a-z_]+(?:\.[a-z_]+)+) "" \{( \})?$/.exec(line);
      const labelMatch = /^[a-z_.]+ "([^"\\]*)"/.exec(text.split('\n')[bodyLines.length] ?? '');
      if (!header || !labelMatch) {
        problems.push(`unexpected top-level line: ${line}`);
      } else if (!(header[1] in KNOWN_COMPONENTS)) {
        problems.push(`unknown component ${header[1]}`);
      } else {
        const id = `${header[1]}.${labelMatch[1]}`;
        if (!/^[a-z_][a-z0-9_]*$/.test(labelMatch[1])) problems.push(`bad label in ${id}`);
        if (ids.has(id)) problems.push(`duplicate component ${id}`);
        ids.add(id);
        exportsById.set(id, KNOWN_COMPONENTS[header[1]]);
      }
      bodyLines.push('');
    } else {
      // A nested block header names a block, not a component export.
      const nested = /^(\s*)([a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)+)( "")? \{( \})?$/.exec(line);
      if (nested && !KNOWN_DOTTED_BLOCKS.has(nested[2])) problems.push(`unknown block ${nested[2]}`);
      bodyLines.push(nested ? `${nested[1]}{` : line);
    }
    for (const char of line) {
      if (char === '{') depth++;
      else if (char === '}') depth--;
    }
  }

  const body = bodyLines.join('\n');
  const referenced = new Set<string>();
  for (const match of body.matchAll(/\b[a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)+\b/g)) {
    const name = match[0];
    const followedByCall = body[(match.index ?? 0) + name.length] === '(';
    if (followedByCall ? KNOWN_FUNCTIONS.has(name) : KNOWN_CONSTANTS.has(name)) continue;
    const parts = name.split('.');
    const id = parts.slice(0, -1).join('.');
    const exported = parts[parts.length - 1];
    if (!exportsById.has(id)) problems.push(`reference to missing component ${id} (${name})`);
    else if (!exportsById.get(id)?.includes(exported)) problems.push(`${id} has no export "${exported}"`);
    referenced.add(id);
  }
  for (const match of body.matchAll(/\b([a-z_][a-z0-9_.]*)\(/g)) {
    if (!KNOWN_FUNCTIONS.has(match[1])) problems.push(`unknown function ${match[1]}()`);
  }
  for (const [id, exported] of exportsById) {
    if (exported.length > 0 && !referenced.has(id)) problems.push(`${id} is never used`);
  }
  return problems;
}

/** Reads the one-statement-per-line output into a tree; throws on anything else. */
export function parse(text: string): Node[] {
  const root: Node = { name: '', attrs: new Map(), blocks: [] };
  const stack = [root];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const open = /^\s*([a-z_][a-z0-9_.]*)(?: "((?:[^"\\]|\\.)*)")? \{( \})?$/.exec(line);
    // `alloy fmt` aligns the `=` of consecutive attributes with spaces.
    const attr = /^\s*([a-z_][a-z0-9_]*) += (.+)$/.exec(line);
    if (open) {
      const node: Node = { name: open[1], label: open[2], attrs: new Map(), blocks: [] };
      stack[stack.length - 1].blocks.push(node);
      // `name { }`: an empty block opens and closes on one line.
      if (open[3] === undefined) stack.push(node);
    } else if (/^\s*\}$/.test(line)) {
      stack.pop();
    } else if (attr) {
      stack[stack.length - 1].attrs.set(attr[1], attr[2]);
    } else {
      throw new Error(`cannot read line: ${line}`);
    }
  }
  return root.blocks;
}

export function component(nodes: readonly Node[], name: string, label: string): Node {
  const found = nodes.find((n) => n.name === name && n.label === label);
  if (!found) throw new Error(`no ${name} "${label}" in [${nodes.map((n) => `${n.name}.${n.label}`).join(', ')}]`);
  return found;
}

export function child(node: Node, name: string): Node {
  const found = node.blocks.find((n) => n.name === name);
  if (!found) throw new Error(`no ${name} block in ${node.name}`);
  return found;
}

export function attr(node: Node, name: string): string {
  const value = node.attrs.get(name);
  if (value === undefined) throw new Error(`no attribute ${name} in ${node.name}`);
  return value;
}

/** The `key = value` pairs of a one-line Alloy object such as `{a = "x", "B-C" = sys.env("D")}`. */
export function objectEntries(value: string): Record<string, string> {
  expect(value.startsWith('{') && value.endsWith('}')).toBe(true);
  const entries: Record<string, string> = {};
  for (const match of value.slice(1, -1).matchAll(/("[^"]*"|[A-Za-z_][A-Za-z0-9_]*) = ("(?:[^"\\]|\\.)*"|sys\.env\("[A-Z_]+"\))/g)) {
    entries[match[1].replace(/^"|"$/g, '')] = match[2];
  }
  return entries;
}
