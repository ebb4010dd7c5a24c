import { parseDocument } from 'yaml';
import { findYamlProblem } from '../../../lambdas/refresh/yaml-check';
import { isJsonConfig } from '../../../lambdas/shared/config-files';
import { RENDERED } from './fake-aws';

/**
 * The structural check against the `yaml` package (not bundled into the function, but fine as an
 * oracle here): it must never refuse what the parser accepts as a mapping, and it should catch the
 * mistakes people make by hand.
 */
function parserVerdict(text: string): 'ok' | 'error' {
  const document = parseDocument(text);
  if (document.errors.length > 0) return 'error';
  return document.contents?.constructor.name === 'YAMLMap' && (document.contents as { items: unknown[] }).items.length > 0 ? 'ok' : 'error';
}

const VALID: Record<string, string> = {
  'block scalars with indicators and content that looks like YAML':
    'a: 1\nb:\n  c: |\n    text: here\n    - not a list\n\n    more\n  d: >-\n    folded\n  e: |+2\n      indented\n',
  'compact and nested sequences': 'list:\n- a\n- b: 1\n  c: 2\n- - x\n  - y\nnext: 1\n',
  'anchors, aliases and merge keys': 'anchors:\n  base: &base\n    x: 1\n  derived:\n    <<: *base\n    y: 2\n  list: [*x, 2]\n',
  'quoted keys, URLs, colons without a space':
    '"quoted key": 1\n\'single\': 2\nurl: http://example.com:8080/path\nwin: C:\\temp\nratio: a:b\n',
  'multi-line flow collections with quoted brackets': 'flow: {a: 1, b: [1, 2,\n  3], c: "x]"}\nf2: [\n  "a,b",\n  \'c]\'\n]\n',
  'directives and document markers': '%YAML 1.2\n---\na: 1\n...\n',
  comments: '---\n# comment\na: 1 # trailing\nb: "x" # c\n\n   # indented comment\nc: 2\n',
  'multi-line plain value': 'multi: this is\n  a long value\n  over lines\nnext: 1\n',
  'multi-line quoted value': 'q: "line one\n  line two"\nr: 1\n',
  'nulls and tags': 'empty:\nnull_val: ~\nk: !!str 1\nt: !custom\n  a: 1\n',
  'empty sequence items': 'a:\n  - 1\n  -   2\n  -\n    x: 1\n',
  'regexes and percentages': 'regex: "^(a|b)$"\nreg2: ^a[0-9]+$\npct: 10%\n',
  'CRLF line ends': 'a: 1\r\nb: 2\r\n',
  'a value on the line after its key': 'a:\n  value on its own line\nb: 2\n',
  'Grafana data source with escaped regex':
    'apiVersion: 1\ndatasources:\n  - name: Loki\n    jsonData:\n      derivedFields:\n        - matcherRegex: "traceID=(\\\\w+)"\n          url: "$${__value.raw}"\n',
};

const INVALID: Array<[string, string, number, RegExp]> = [
  ['a tab in the indentation', 'a: 1\nb:\n\tc: 2\n', 3, /tab character in the indentation/],
  ['a key without a space after the colon', 'a:value\nb: 1\n', 1, /"a:" needs a space after the colon/],
  ['a key without a space, under a parent key', 'server:\n  port:3200\n  grpc: 1\n', 2, /"port:" needs a space after the colon/],
  ['a duplicate key', 'a:\n  b: 1\n  b: 2\n', 3, /the key "b" appears twice/],
  ['an unterminated quoted string', 'a: "unterminated\nb: 1\n', 1, /unterminated double-quoted string/],
  ['an indentation between two levels', 'a:\n    b: 1\n  c: 2\n', 3, /bad indentation: 2 spaces match no enclosing block/],
  ['a second document', 'a: 1\n---\nb: 2\n', 2, /second YAML document/],
  ['a nested mapping on one line', 'a: b: c\n', 1, /a value contains ": "/],
  ['a list item where a key belongs', 'a: 1\n- b\n', 2, /a list item "- " where a "key:" is expected/],
  ['an unclosed flow sequence', 'a: [1, 2\nb: 1\n', 1, /unclosed "\["/],
  ['a mismatched bracket', 'a: {x: 1]\n', 1, /mismatched "\]"/],
  ['text after a quoted value', "a: 'it's'\n", 1, /unexpected text after a quoted value/],
  ['a list starting on its key line', 'a: - b\n', 1, /a list cannot start on the same line as its key/],
  ['a key among list items', 'a:\n  - x\n  y: 1\n', 3, /expected a list item/],
  ['a reserved indicator', 'a: @x\n', 1, /cannot start with "@"/],
  ['a bad block scalar header', 'a: |x\n  t\n', 1, /bad block scalar header/],
  ['a top-level list instead of settings', '- a\n- b\n', 1, /must be a mapping of settings/],
  ['only comments', '# nothing here\n\n', 1, /no settings/],
];

describe('findYamlProblem', () => {
  test.each(Object.entries(VALID))('accepts %s', (_, text) => {
    expect(parserVerdict(text)).toBe('ok');
    expect(findYamlProblem(text)).toBeUndefined();
  });

  test.each(INVALID)('refuses %s, naming the line', (_, text, line, message) => {
    expect(parserVerdict(text)).toBe('error');
    const problem = findYamlProblem(text);
    expect(problem?.line).toBe(line);
    expect(problem?.message).toMatch(message);
  });

  test('every YAML file the stack renders passes', () => {
    const yamlFiles = [...RENDERED].filter(([name]) => /^\/lgtm\/config\/(?:mimir|loki|tempo|grafana\/)/.test(name) && !isJsonConfig(name));
    expect(yamlFiles.length).toBeGreaterThanOrEqual(6);
    for (const [name, content] of yamlFiles) {
      expect({ name, problem: findYamlProblem(content) }).toEqual({ name, problem: undefined });
    }
  });

  test('constructs it does not model end the check without a finding', () => {
    expect(findYamlProblem('? complex key\n: value\n')).toBeUndefined();
    expect(findYamlProblem('[a, b]: flow key\n')).toBeUndefined();
  });

  test('never refuses what the parser accepts: 20,000 random edits of the rendered configs', () => {
    const documents = [...RENDERED]
      .filter(([name]) => /^\/lgtm\/config\/(?:mimir|loki|tempo|grafana\/)/.test(name) && !isJsonConfig(name))
      .map(([, content]) => content);
    let seed = 7;
    const random = (limit: number): number => {
      seed = (seed * 1_103_515_245 + 12_345) & 0x7fffffff;
      return seed % limit;
    };
    const inserts = [' ', '  ', ':', ': ', '"', "'", '\t', '- ', '[', '{', ']', '\n', '#', '|', '&a ', '*a'];
    const falseRefusals: string[] = [];
    let caught = 0;
    let parserErrors = 0;
    for (let run = 0; run < 20_000; run++) {
      let text = documents[random(documents.length)] as string;
      for (let edit = 0, edits = 1 + random(2); edit < edits; edit++) {
        const at = random(text.length);
        const kind = random(inserts.length + 2);
        if (kind === inserts.length) text = text.slice(0, at) + text.slice(at + 1);
        else if (kind === inserts.length + 1) {
          const lines = text.split('\n');
          lines.splice(random(lines.length), 0, lines[random(lines.length)] as string);
          text = lines.join('\n');
        } else text = text.slice(0, at) + inserts[kind] + text.slice(at);
      }
      const verdict = parserVerdict(text);
      const problem = findYamlProblem(text);
      if (verdict === 'error') parserErrors++;
      if (problem && verdict === 'ok') falseRefusals.push(`${JSON.stringify(problem)}\n${text}`);
      if (problem && verdict === 'error') caught++;
    }
    expect(falseRefusals.slice(0, 3)).toEqual([]);
    // Most real errors are caught; the rest are left to the backend's own validation.
    expect(caught / parserErrors).toBeGreaterThan(0.95);
  });
});
