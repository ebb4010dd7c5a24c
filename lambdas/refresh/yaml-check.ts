/**
 * A structural check of YAML config files, small enough for the refresh function's bundle: the
 * `yaml` package alone is about 115 KB minified (its CommonJS build does not tree-shake), more than
 * the whole function's budget.
 *
 * It models what the backends' configs use (block mappings and sequences, plain, quoted and block
 * scalars, flow collections, comments, anchors) and reports only definite errors, the ones an edit
 * by hand typically introduces: a tab in the indentation, an indentation that matches no enclosing
 * block, `key:value` without a space, `a: b: c`, a list item where a key is expected, a key given
 * twice in one mapping, an unterminated quoted string or flow collection, a second document.
 * Constructs it does not model (complex `?` keys, flow collections or aliases as keys, content on a
 * `---` line) end the check without a finding: a config is never refused on a guess. The backend
 * itself still validates the file when its new task starts.
 */

export interface YamlFinding {
  /** 1-based line number. */
  readonly line: number;
  readonly message: string;
}

export interface YamlCheckOptions {
  /** The document must be a mapping with at least one key (a config file). @default true */
  readonly requireMapping?: boolean;
}

/** The first definite structural error in `text`, or undefined. */
export function findYamlProblem(text: string, options: YamlCheckOptions = {}): YamlFinding | undefined {
  try {
    new YamlScanner(text.replace(/^\uFEFF/, '').split(/\r\n|\r|\n/), options.requireMapping ?? true).run();
    return undefined;
  } catch (error) {
    if (error instanceof Finding) return { line: error.line, message: error.message };
    if (error instanceof Unsupported) return undefined;
    throw error;
  }
}

class Finding extends Error {
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(message);
  }
}

/** A construct the scanner does not model: the check ends without a finding. */
class Unsupported extends Error {}

interface Block {
  readonly indent: number;
  readonly kind: 'map' | 'seq';
  readonly keys: Set<string>;
  /** A sequence at the same indentation as its parent mapping's key (`key:\n- a`). */
  readonly compact: boolean;
}

type Pending =
  | { readonly kind: 'none' }
  /** After `key:` or `-` with nothing else: the next, more indented line may open the value. */
  | { readonly kind: 'child'; readonly indent: number; readonly allowCompactSequence: boolean }
  /** Inside a `|` or `>` scalar: lines more indented than `indent` are its content. */
  | { readonly kind: 'block-scalar'; readonly indent: number }
  /** After a plain scalar (starting at `line` with `text`): more indented lines continue it. */
  | { readonly kind: 'plain'; readonly indent: number; readonly line: number; readonly text: string };

type Token =
  | { readonly kind: 'dash' }
  | { readonly kind: 'key'; readonly key: string; readonly valueColumn: number }
  | { readonly kind: 'other'; readonly column: number };

const NONE: Pending = { kind: 'none' };
/** `:` that ends an implicit key or marks a nested mapping: followed by a space or the end of the text. */
const MAPPING_INDICATOR = /:(?:[ \t]|$)/;
const BLOCK_SCALAR_HEADER = /^[|>](?:[1-9][+-]?|[+-][1-9]?)?[ \t]*(?:#.*)?$/;

class YamlScanner {
  private readonly stack: Block[] = [];
  private pending: Pending = NONE;
  private seenContent = false;
  private documentEnded = false;

  constructor(
    private readonly lines: readonly string[],
    private readonly requireMapping: boolean,
  ) {}

  run(): void {
    for (let index = 0; index < this.lines.length; index++) {
      index = this.line(index);
    }
    if (this.requireMapping && !this.seenContent) {
      throw new Finding(1, 'no settings: the file has only comments or blank lines');
    }
  }

  /** Handles one line; returns the index of the last line consumed (a multi-line scalar consumes more). */
  private line(index: number): number {
    const raw = this.lines[index] as string;
    const lineNo = index + 1;

    if (this.pending.kind === 'block-scalar') {
      if (raw.trim() === '' || spaces(raw) > this.pending.indent) return index;
      this.pending = NONE;
    }
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return index;

    const indent = spaces(raw);
    const text = raw.slice(indent);

    if (indent === 0 && /^(?:---|\.\.\.)(?:[ \t]|$)/.test(text)) return this.documentMarker(text, lineNo, index);
    if (indent === 0 && text.startsWith('%') && !this.seenContent) return index;
    if (this.documentEnded) throw new Finding(lineNo, 'content after the document end marker "..."');

    if (this.pending.kind === 'plain') {
      if (indent > this.pending.indent && !text.startsWith('\t')) {
        if (MAPPING_INDICATOR.test(stripComment(text))) {
          // Usually the value above is a key missing the space after its colon (`port:3200`).
          const glued = notAKey(this.pending.text, '');
          if (glued !== '') throw new Finding(this.pending.line, glued);
          throw new Finding(lineNo, 'a "key: value" inside a multi-line value: check the indentation, or quote the value');
        }
        return index;
      }
      this.pending = NONE;
    }
    if (text.startsWith('\t')) throw new Finding(lineNo, 'a tab character in the indentation (YAML indents with spaces only)');

    this.seenContent = true;
    const token = this.classify(raw, indent, lineNo);

    if (this.pending.kind === 'child') {
      const parent = this.pending;
      this.pending = NONE;
      if (indent > parent.indent) return this.openChild(token, raw, indent, index, parent.indent);
      if (indent === parent.indent && parent.allowCompactSequence && token.kind === 'dash') {
        this.stack.push(block(indent, 'seq', true));
        return this.entry(token, raw, indent, index);
      }
    }

    if (this.stack.length === 0) {
      if (token.kind === 'other') {
        if (this.requireMapping) throw new Finding(lineNo, notAKey(text, 'the file must be a mapping of settings ("key: value")'));
        return this.value(raw, indent, index, -1, false);
      }
      this.stack.push(block(indent, token.kind === 'dash' ? 'seq' : 'map', false));
      if (this.requireMapping && token.kind === 'dash') throw new Finding(lineNo, 'the file must be a mapping of settings ("key: value")');
      return this.entry(token, raw, indent, index);
    }

    while (
      this.stack.length > 0 &&
      (this.top().indent > indent || (this.top().indent === indent && this.top().compact && token.kind !== 'dash'))
    ) {
      this.stack.pop();
    }
    const container = this.stack.at(-1);
    if (container === undefined || container.indent !== indent) {
      throw new Finding(lineNo, `bad indentation: ${indent} spaces match no enclosing block`);
    }
    if (container.kind === 'map' && token.kind !== 'key') {
      throw new Finding(
        lineNo,
        token.kind === 'dash' ? 'a list item "- " where a "key:" is expected' : notAKey(text, 'expected "key: value" at this indentation'),
      );
    }
    if (container.kind === 'seq' && token.kind !== 'dash') {
      throw new Finding(lineNo, 'expected a list item "- " at this indentation');
    }
    return this.entry(token, raw, indent, index);
  }

  private documentMarker(text: string, lineNo: number, index: number): number {
    const rest = stripComment(text.slice(3)).trim();
    if (text.startsWith('...')) {
      this.documentEnded = true;
      return index;
    }
    if (this.seenContent || this.documentEnded) {
      throw new Finding(lineNo, 'a second YAML document ("---"): only the first would be read');
    }
    if (rest !== '') throw new Unsupported();
    this.stack.length = 0;
    this.pending = NONE;
    return index;
  }

  /** The first token of a line that opens the pending value (more indented than its key or dash). */
  private openChild(token: Token, raw: string, column: number, index: number, parentIndent: number): number {
    if (token.kind === 'other') return this.value(raw, column, index, parentIndent, false);
    this.stack.push(block(column, token.kind === 'dash' ? 'seq' : 'map', false));
    return this.entry(token, raw, column, index);
  }

  /** A `- ` item or a `key:` at `column`, whose block is already on top of the stack. */
  private entry(token: Token, raw: string, column: number, index: number): number {
    const lineNo = index + 1;
    if (token.kind === 'dash') {
      let next = column + 1;
      while (raw[next] === ' ') next++;
      if (next >= raw.length || raw[next] === '#') {
        this.pending = { kind: 'child', indent: column, allowCompactSequence: false };
        return index;
      }
      if (raw[next] === '\t') throw new Unsupported();
      const inner = this.classify(raw, next, lineNo);
      if (inner.kind === 'other') return this.value(raw, next, index, column, false);
      this.stack.push(block(next, inner.kind === 'dash' ? 'seq' : 'map', false));
      return this.entry(inner, raw, next, index);
    }
    if (token.kind === 'key') {
      const container = this.top();
      if (token.key !== '<<' && container.keys.has(token.key)) {
        throw new Finding(lineNo, `the key ${displayKey(token.key)} appears twice in the same mapping`);
      }
      container.keys.add(token.key);
      return this.value(raw, token.valueColumn, index, column, true);
    }
    return this.value(raw, token.column, index, column, false);
  }

  /** A value starting at `column` (possibly empty), belonging to a key or dash at `parentIndent`. */
  private value(raw: string, column: number, index: number, parentIndent: number, afterKey: boolean): number {
    const lineNo = index + 1;
    let start = skipBlanks(raw, column);
    // Anchors and tags: `key: &name value`, `key: !!str 1`.
    while (raw[start] === '&' || raw[start] === '!') {
      start = skipBlanks(raw, skipNonBlank(raw, start));
    }
    const text = raw.slice(start);
    if (text === '' || text.startsWith('#')) {
      this.pending = { kind: 'child', indent: parentIndent, allowCompactSequence: afterKey };
      return index;
    }
    const first = text[0];
    if (first === '|' || first === '>') {
      if (!BLOCK_SCALAR_HEADER.test(text)) throw new Finding(lineNo, `bad block scalar header ${JSON.stringify(text.trim())}`);
      this.pending = { kind: 'block-scalar', indent: parentIndent };
      return index;
    }
    if (first === '"' || first === "'") {
      const end = scanQuoted(this.lines, index, start);
      this.expectLineEnd(end.line, end.column, 'a quoted value');
      return end.line;
    }
    if (first === '[' || first === '{') {
      const end = scanFlow(this.lines, index, start);
      const rest = (this.lines[end.line] as string).slice(end.column).trimStart();
      if (rest.startsWith(':')) throw new Unsupported();
      this.expectLineEnd(end.line, end.column, 'a flow collection');
      return end.line;
    }
    if (first === '*') {
      this.expectLineEnd(index, skipNonBlank(raw, start), 'an alias');
      return index;
    }
    if ('@`,]}%'.includes(first as string)) {
      throw new Finding(lineNo, `a plain value cannot start with "${first}": quote it`);
    }
    if (/^[-?](?:[ \t]|$)/.test(text)) {
      if (first === '?') throw new Unsupported();
      throw new Finding(lineNo, afterKey ? 'a list cannot start on the same line as its key' : 'a list item where a value is expected');
    }
    if (MAPPING_INDICATOR.test(stripComment(text))) {
      throw new Finding(lineNo, 'a value contains ": ": quote it, or put the nested key on its own line');
    }
    this.pending = { kind: 'plain', indent: parentIndent, line: lineNo, text };
    return index;
  }

  private expectLineEnd(index: number, column: number, what: string): void {
    const rest = (this.lines[index] as string).slice(column).trim();
    if (rest !== '' && !rest.startsWith('#')) {
      throw new Finding(index + 1, `unexpected text after ${what}: ${JSON.stringify(rest.slice(0, 40))}`);
    }
    // A comment right after the closing character needs a space before it.
    if (rest.startsWith('#') && !/^[ \t]/.test((this.lines[index] as string).slice(column))) {
      throw new Finding(index + 1, `a comment needs a space before "#" after ${what}`);
    }
  }

  private classify(raw: string, column: number, lineNo: number): Token {
    let start = column;
    const text = raw.slice(start);
    if (/^-(?:[ \t]|$)/.test(text)) return { kind: 'dash' };
    if (/^\?(?:[ \t]|$)/.test(text)) throw new Unsupported();
    // `: value` is a value for an empty key (complex `? key` lines end the check before this).
    if (/^:(?:[ \t]|$)/.test(text)) return { kind: 'key', key: '', valueColumn: start + 1 };
    if (text.startsWith('&') || text.startsWith('!')) {
      while (raw[start] === '&' || raw[start] === '!') start = skipBlanks(raw, skipNonBlank(raw, start));
      const inner = this.classify(raw, start, lineNo);
      return inner.kind === 'key' ? inner : { kind: 'other', column };
    }
    const first = raw[start];
    if (first === '"' || first === "'") {
      const end = scanQuotedOnLine(raw, start);
      if (end === undefined) return { kind: 'other', column };
      const after = skipBlanks(raw, end);
      if (raw[after] === ':' && (after + 1 >= raw.length || raw[after + 1] === ' ' || raw[after + 1] === '\t')) {
        return { kind: 'key', key: raw.slice(start, end), valueColumn: after + 1 };
      }
      return { kind: 'other', column };
    }
    // A flow collection or an alias as a key (`[a, b]: c`, `*x : c`) is not modelled.
    if (first === '[' || first === '{') {
      const end = flowEndOnLine(raw, start);
      if (end !== undefined && /^[ \t]*:(?:[ \t]|$)/.test(raw.slice(end))) throw new Unsupported();
      return { kind: 'other', column };
    }
    if (first === '*') {
      if (/^\*[^\s,[\]{}]+[ \t]*:(?:[ \t]|$)/.test(text)) throw new Unsupported();
      return { kind: 'other', column };
    }
    if (first !== undefined && ',]}%'.includes(first))
      throw new Finding(lineNo, `a plain key or value cannot start with "${first}": quote it`);
    const body = stripComment(text);
    const match = MAPPING_INDICATOR.exec(body);
    if (match === null) return { kind: 'other', column };
    const key = body.slice(0, match.index).trim();
    if (key === '') throw new Unsupported();
    return { kind: 'key', key, valueColumn: start + match.index + 1 };
  }

  private top(): Block {
    return this.stack.at(-1) as Block;
  }
}

function block(indent: number, kind: Block['kind'], compact: boolean): Block {
  return { indent, kind, keys: new Set(), compact };
}

function spaces(line: string): number {
  let count = 0;
  while (line[count] === ' ') count++;
  return count;
}

function skipBlanks(text: string, from: number): number {
  let index = from;
  while (text[index] === ' ' || text[index] === '\t') index++;
  return index;
}

function skipNonBlank(text: string, from: number): number {
  let index = from;
  while (index < text.length && text[index] !== ' ' && text[index] !== '\t') index++;
  return index;
}

/** The text before a comment: `#` at the start or after a blank starts one (outside quoted scalars, which callers handle first). */
function stripComment(text: string): string {
  const match = /(?:^|[ \t])#/.exec(text);
  return match === null ? text : text.slice(0, match.index);
}

/** A message for a line where a key was expected, naming the usual mistake (`key:value`) when it is that. */
function notAKey(text: string, fallback: string): string {
  const glued = /^([^\s:#'"]+):\S/.exec(text);
  return glued === null ? fallback : `"${glued[1]}:" needs a space after the colon (or quote the value)`;
}

function displayKey(key: string): string {
  return JSON.stringify(key.length > 60 ? `${key.slice(0, 57)}...` : key);
}

interface Position {
  readonly line: number;
  /** Column just after the closing character. */
  readonly column: number;
}

/** The end of a flow collection that closes on the same line, or undefined. */
function flowEndOnLine(line: string, start: number): number | undefined {
  try {
    const end = scanFlow([line], 0, start);
    return end.column;
  } catch {
    return undefined;
  }
}

/** The end of a quoted scalar on one line, or undefined when it does not close there. */
function scanQuotedOnLine(line: string, start: number): number | undefined {
  const quote = line[start];
  for (let index = start + 1; index < line.length; index++) {
    const char = line[index];
    if (quote === '"' && char === '\\') {
      index++;
    } else if (char === quote) {
      if (quote === "'" && line[index + 1] === "'") index++;
      else return index + 1;
    }
  }
  return undefined;
}

/** The end of a quoted scalar that may span lines. */
function scanQuoted(lines: readonly string[], startLine: number, startColumn: number): Position {
  const quote = (lines[startLine] as string)[startColumn];
  let column = startColumn + 1;
  for (let index = startLine; index < lines.length; index++) {
    const line = lines[index] as string;
    for (; column < line.length; column++) {
      const char = line[column];
      if (quote === '"' && char === '\\') {
        column++;
      } else if (char === quote) {
        if (quote === "'" && line[column + 1] === "'") column++;
        else return { line: index, column: column + 1 };
      }
    }
    column = 0;
  }
  throw new Finding(startLine + 1, `unterminated ${quote === '"' ? 'double' : 'single'}-quoted string`);
}

const CLOSING: Readonly<Record<string, string>> = { '[': ']', '{': '}' };

/** The end of a flow collection (`[...]`, `{...}`) that may span lines. */
function scanFlow(lines: readonly string[], startLine: number, startColumn: number): Position {
  const open: string[] = [];
  let previous = '';
  let index = startLine;
  let column = startColumn;
  while (index < lines.length) {
    const line = lines[index] as string;
    const char = line[column];
    if (char === undefined || (char === '#' && (column === 0 || line[column - 1] === ' ' || line[column - 1] === '\t'))) {
      index++;
      column = 0;
      continue;
    }
    // A quote opens a quoted scalar only where a scalar starts; inside a plain scalar it is a character.
    if ((char === '"' || char === "'") && (previous === '' || '[{,:'.includes(previous))) {
      const end = scanQuoted(lines, index, column);
      index = end.line;
      column = end.column;
      previous = char;
      continue;
    }
    if (char === '[' || char === '{') {
      open.push(char);
    } else if (char === ']' || char === '}') {
      const expected = open.pop();
      if (expected === undefined || CLOSING[expected] !== char) {
        throw new Finding(index + 1, `mismatched "${char}" in a flow collection`);
      }
      if (open.length === 0) return { line: index, column: column + 1 };
    }
    if (char !== ' ' && char !== '\t') previous = char;
    column++;
  }
  throw new Finding(startLine + 1, `unclosed "${open[0] ?? '['}" (flow collection)`);
}
