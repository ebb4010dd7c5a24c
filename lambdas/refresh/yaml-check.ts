import type { YAMLError } from 'yaml';

/**
 * The YAML syntax check of a config file before it is rolled out: the `yaml` package's parser
 * (YAML 1.2 with `<<` merge keys, as the backends' Go parsers read them), reporting its own errors
 * with their positions. The backend still validates the settings themselves when its new task starts.
 */

export interface YamlFinding {
  /** 1-based line number. */
  readonly line: number;
  /** 1-based column. */
  readonly column: number;
  readonly message: string;
}

export interface YamlCheckOptions {
  /** The document must be a mapping with at least one key (a config file). @default true */
  readonly requireMapping?: boolean;
}

/**
 * The `yaml` package, required at the first check rather than at module load: many of the function's
 * invocations (deployment and command status events, agents' Alloy files) parse no YAML, and loading
 * the parser is a large part of the handler's own cold start (`npm run bench`, module load).
 */
let yamlPackage: typeof import('yaml') | undefined;
const yaml = (): typeof import('yaml') => (yamlPackage ??= require('yaml') as typeof import('yaml'));

/** The usual cause of an implicit key over two lines in a hand-edited file: a value glued to its key (`port:3200`). */
const GLUED_KEY = /^[ \t]*(?:- +)?([^\s:#'"[\]{}]+):[^\s:]/;

/** The first YAML error in `text`, or undefined. */
export function findYamlProblem(text: string, options: YamlCheckOptions = {}): YamlFinding | undefined {
  const { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, visit } = yaml();
  const lineCounter = new LineCounter();
  const at = (offset: number, message: string): YamlFinding => {
    const { line, col } = lineCounter.linePos(offset);
    return { line, column: col, message };
  };
  // Duplicate keys are errors (`uniqueKeys`, on by default); with `merge`, `<<` merges rather than being a key.
  const document = parseDocument(text, { lineCounter, merge: true, prettyErrors: false });

  const [error] = document.errors;
  if (error !== undefined) {
    // An unclosed quote or bracket is found where the file ends: point at its last character.
    const end = text.trimEnd().length;
    const finding = at(Math.min(error.pos[0], end), readableMessage(error, error.pos[0] >= end));
    const glued = error.code === 'MULTILINE_IMPLICIT_KEY' && GLUED_KEY.exec(text.split(/\r\n|\r|\n/)[finding.line - 1] ?? '');
    return glued ? { ...finding, message: `${finding.message}: "${glued[1]}:" needs a space after the colon` } : finding;
  }

  // The parser leaves aliases and merges to the conversion of the document to data, where a reader
  // of the file (the backends' Go parsers too) refuses an unknown anchor and a merge of a non-mapping.
  let unresolved: YamlFinding | undefined;
  const target = (node: unknown): unknown => (isAlias(node) ? node.resolve(document) : node);
  visit(document, {
    Alias(_, alias) {
      if (alias.resolve(document) !== undefined) return undefined;
      unresolved = at(alias.range?.[0] ?? 0, `the alias *${alias.source} has no anchor &${alias.source} before it`);
      return visit.BREAK;
    },
    Pair(_, pair) {
      // With `merge`, the parser reads a `<<` key as a symbol.
      if (!isScalar(pair.key) || typeof pair.key.value !== 'symbol') return undefined;
      const value = target(pair.value);
      if ((isSeq(value) ? value.items : [value]).every((source) => isMap(target(source)))) return undefined;
      unresolved = at(pair.key.range?.[0] ?? 0, 'a merge "<<" takes a mapping, an alias of one, or a list of those');
      return visit.BREAK;
    },
  });
  if (unresolved !== undefined || !(options.requireMapping ?? true)) return unresolved;

  const { contents } = document;
  if (contents === null || (contents.range[0] === contents.range[1] && !isMap(contents))) {
    return at(0, 'no settings: the file has only comments or blank lines');
  }
  if (!isMap(contents) || contents.items.length === 0)
    return at(contents.range[0], 'the file must be a mapping of settings ("key: value")');
  return undefined;
}

function readableMessage(error: YAMLError, atEnd: boolean): string {
  // The parser's own wording for this one speaks to a programmer (use parseAllDocuments).
  if (error.code === 'MULTIPLE_DOCS') return 'a second YAML document ("---"): the file must hold one';
  return atEnd ? `${error.message} (at the end of the file)` : error.message;
}
