import { parse } from 'yaml';
import { fileFormat, serviceFormat } from '../../../lambdas/refresh/targets';
import { findYamlProblem } from '../../../lambdas/refresh/yaml-check';
import { RENDERED } from './fake-aws';

/** The rendered files the refresh function checks as YAML (Mimir, Loki, Tempo, Grafana's provisioning files). */
const RENDERED_YAML = [...RENDERED].filter(([name]) => {
  const [, , kind, service] = name.split('/');
  return kind === 'config' && service !== undefined && fileFormat(name, serviceFormat(service)) === 'yaml';
});

const VALID: Record<string, string> = {
  'block scalars with indicators and content that looks like YAML':
    'a: 1\nb:\n  c: |\n    text: here\n    - not a list\n\n    more\n  d: >-\n    folded\n  e: |+2\n      indented\n',
  'compact and nested sequences': 'list:\n- a\n- b: 1\n  c: 2\n- - x\n  - y\nnext: 1\n',
  'anchors, aliases and merge keys': 'anchors:\n  base: &base\n    x: 1\n  derived:\n    <<: *base\n    y: 2\n  list: [&x 1, *x, 2]\n',
  'two merge keys in one mapping': 'a: &a {x: 1}\nb: &b {y: 2}\nc:\n  <<: *a\n  <<: *b\n',
  'a merge of a list of mappings': 'a: &a {x: 1}\nlist: &list [{y: 1}]\nc:\n  <<: [*a, {z: 1}]\nd:\n  <<: *list\n',
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
  'a byte order mark': '\uFEFFa: 1\n',
  'a value on the line after its key': 'a:\n  value on its own line\nb: 2\n',
  'Grafana data source with escaped regex':
    'apiVersion: 1\ndatasources:\n  - name: Loki\n    jsonData:\n      derivedFields:\n        - matcherRegex: "traceID=(\\\\w+)"\n          url: "$${__value.raw}"\n',
  'complex and flow keys': '? complex key\n: value\n[a, b]: flow key\n',
};

/** Name, text, then the line, column and message of the finding. */
const INVALID: Array<[string, string, number, number, RegExp]> = [
  ['a tab in the indentation', 'a: 1\nb:\n\tc: 2\n', 3, 1, /^Tabs are not allowed as indentation$/],
  ['a key without a space after the colon', 'a:value\nb: 1\n', 1, 1, /"a:" needs a space after the colon$/],
  ['a key without a space, under a parent key', 'server:\n  port:3200\n  grpc: 1\n', 2, 3, /"port:" needs a space after the colon$/],
  ['a key without a space, in a list item', 'a:\n  - x:1\n    y: 2\n', 2, 5, /"x:" needs a space after the colon$/],
  ['a duplicate key', 'a:\n  b: 1\n  b: 2\n', 3, 3, /^Map keys must be unique$/],
  ['a duplicate key in a flow mapping', 'a: {b: 1, b: 2}\n', 1, 11, /^Map keys must be unique$/],
  // The parser finds the string unclosed where the file ends.
  ['an unterminated quoted string', 'a: "unterminated\nb: 1\n', 2, 5, /^Missing closing "quote \(at the end of the file\)$/],
  ['an unterminated single-quoted string', "a: 'x\n", 1, 6, /^Missing closing 'quote \(at the end of the file\)$/],
  ['an indentation between two levels', 'a:\n    b: 1\n  c: 2\n', 3, 1, /^All mapping items must start at the same column$/],
  ['a second document', 'a: 1\n---\nb: 2\n', 2, 1, /^a second YAML document \("---"\): the file must hold one$/],
  ['a second document after an end marker', 'a: 1\n...\n---\nb: 2\n', 3, 1, /^a second YAML document/],
  ['a nested mapping on one line', 'a: b: c\n', 1, 4, /^Nested mappings are not allowed in compact mappings$/],
  ['a list item where a key belongs', 'a: 1\n- b\n', 2, 1, /^Implicit keys need to be on a single line$/],
  // The sequence opened on line 1 runs into line 2, which is not indented enough to continue it.
  [
    'an unclosed flow sequence',
    'a: [1, 2\nb: 1\n',
    2,
    1,
    /^Flow sequence in block collection must be sufficiently indented and end with a \]$/,
  ],
  ['an unclosed flow mapping', 'a: {b: 1\n', 1, 9, /^Flow map .* end with a } \(at the end of the file\)$/],
  ['a mismatched bracket', 'a: {x: 1]\n', 1, 9, /^Flow map in block collection must be sufficiently indented and end with a }$/],
  ['text after a quoted value', "a: 'it's'\n", 1, 8, /^Unexpected scalar at node end$/],
  ['a list starting on its key line', 'a: - b\n', 1, 4, /^Unexpected block-seq-ind on same line with key$/],
  ['a key among list items', 'a:\n  - x\n  y: 1\n', 3, 1, /^All mapping items must start at the same column$/],
  ['a reserved indicator', 'a: @x\n', 1, 4, /^Plain value cannot start with reserved character @$/],
  ['a bad block scalar header', 'a: |x\n  t\n', 1, 5, /^Block scalar header includes extra characters: \|x$/],
  // YAML requires an anchor before its alias, and the backends' parsers refuse an unknown one.
  [
    'an alias without its anchor',
    'anchors:\n  base: &base\n    x: 1\n  derived:\n    <<: *base\n    y: 2\n  list: [*x, 2]\n',
    7,
    10,
    /^the alias \*x has no anchor &x before it$/,
  ],
  ['a merge of a value that is not a mapping', 'base: &base 1\nderived:\n  <<: *base\n', 3, 3, /^a merge "<<" takes a mapping/],
  ['a top-level list instead of settings', '- a\n- b\n', 1, 1, /^the file must be a mapping of settings/],
  ['a plain value instead of settings', 'a:value\n', 1, 1, /^the file must be a mapping of settings/],
  ['an empty mapping', '{}\n', 1, 1, /^the file must be a mapping of settings/],
  ['only comments', '# nothing here\n\n', 1, 1, /^no settings: the file has only comments or blank lines$/],
  ['only a document marker', '---\n# nothing\n', 1, 1, /^no settings/],
];

/**
 * The oracle: the `yaml` package's full load (errors thrown, aliases and merges resolved) gives a
 * mapping with at least one key. The check parses without converting to data, so the two can differ.
 */
function loads(text: string): boolean {
  try {
    const value: unknown = parse(text, { merge: true, logLevel: 'error' });
    return typeof value === 'object' && value !== null && !Array.isArray(value) && Object.keys(value).length > 0;
  } catch {
    return false;
  }
}

describe('findYamlProblem', () => {
  test.each(Object.entries(VALID))('accepts %s', (_, text) => {
    expect(findYamlProblem(text)).toBeUndefined();
  });

  test.each(INVALID)('refuses %s, naming the line and column', (_, text, line, column, message) => {
    expect(loads(text)).toBe(false);
    expect(findYamlProblem(text)).toEqual({ line, column, message: expect.stringMatching(message) });
  });

  test('without requireMapping, any single document passes', () => {
    for (const text of ['- a\n- b\n', 'a:value\n', '# nothing here\n', '']) {
      expect(findYamlProblem(text, { requireMapping: false })).toBeUndefined();
    }
    expect(findYamlProblem('a: 1\n---\nb: 2\n', { requireMapping: false })?.line).toBe(2);
    expect(findYamlProblem('- *x\n', { requireMapping: false })?.message).toMatch(/no anchor &x/);
  });

  test('every YAML file the stack renders from the default config passes', () => {
    expect(RENDERED_YAML.map(([name]) => name)).toEqual(
      expect.arrayContaining(['/lgtm/config/mimir', '/lgtm/config/loki', '/lgtm/config/tempo', '/lgtm/config/grafana/alerting']),
    );
    for (const [name, content] of RENDERED_YAML) {
      expect({ name, problem: findYamlProblem(content) }).toEqual({ name, problem: undefined });
    }
  });

  test('agrees with a full load on 2,000 random edits of the rendered configs, with one-line messages inside the file', () => {
    const documents = RENDERED_YAML.map(([, content]) => content);
    let seed = 7;
    const random = (limit: number): number => {
      seed = (seed * 1_103_515_245 + 12_345) & 0x7fffffff;
      return seed % limit;
    };
    const inserts = [' ', '  ', ':', ': ', '"', "'", '\t', '- ', '[', '{', ']', '\n', '#', '|', '&a ', '*a', '<<: '];
    const disagreements: string[] = [];
    let refused = 0;
    for (let run = 0; run < 2_000; run++) {
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
      const problem = findYamlProblem(text);
      if (problem) refused++;
      const lineCount = text.split(/\r\n|\r|\n/).length;
      const wellFormed =
        !problem || (problem.line >= 1 && problem.line <= lineCount && problem.column >= 1 && /^[^\n]+$/.test(problem.message));
      if ((problem === undefined) !== loads(text) || !wellFormed) disagreements.push(`${JSON.stringify(problem)}\n${text}`);
    }
    expect(disagreements.slice(0, 3)).toEqual([]);
    // The edits break a good share of the files, so both verdicts are exercised.
    expect(refused).toBeGreaterThan(500);
    expect(refused).toBeLessThan(1_900);
  });
});
