import { resolveConfig } from '../../../bin/config-source';
import { checkConfig, findAlloyProblem } from '../../../lambdas/refresh/checks';
import { fileFormat } from '../../../lambdas/refresh/targets';
import { decodeConfig, ENCODED_CONFIG_PREFIX, encodeConfig, mustEncodeConfig } from '../../../lambdas/shared/config-files';
import { renderAgentConfig } from '../../../lib/render/agent';
import { ALLOY_CONFIG, RENDERED } from './fake-aws';

const string = (value: string) => ({ value, type: 'String' });

describe('checkConfig', () => {
  test('empty and whitespace-only values are refused for every format', () => {
    for (const format of ['yaml', 'alloy', 'text'] as const) {
      expect(checkConfig(string(''), format, 8192)).toEqual({ ok: false, reason: 'empty', detail: 'the value is empty' });
      expect(checkConfig(string(' \n\t\n'), format, 8192)).toMatchObject({ ok: false, reason: 'empty' });
    }
  });

  test('the size limit counts UTF-8 bytes, not characters', () => {
    const value = `# ${'한'.repeat(3000)}\na: 1\n`;
    expect(value.length).toBeLessThan(8192);
    expect(checkConfig(string(value), 'yaml', 8192)).toEqual({
      ok: false,
      reason: 'too-large',
      detail: `the value is ${Buffer.byteLength(value)} bytes, over the 8192-byte limit`,
    });
    expect(checkConfig(string('a: 1\n'), 'yaml', 5)).toEqual({ ok: true });
    expect(checkConfig(string('a: 1\n'), 'yaml', 4)).toMatchObject({ ok: false, reason: 'too-large' });
  });

  test('YAML problems are reported with their line', () => {
    expect(checkConfig(string('a: 1\nb:\n\tc: 2\n'), 'yaml', 8192)).toEqual({
      ok: false,
      reason: 'invalid-yaml',
      detail: 'line 3, column 1: Tabs are not allowed as indentation',
    });
  });

  test('a format without a syntax check only gets the generic checks', () => {
    expect(checkConfig(string('{{{ not checked'), 'text', 8192)).toEqual({ ok: true });
  });

  test('SecureString is refused before its ciphertext is looked at', () => {
    expect(checkConfig({ value: 'AQICAH…', type: 'SecureString' }, 'yaml', 8192)).toMatchObject({ ok: false, reason: 'unsupported-type' });
  });
});

describe('findAlloyProblem', () => {
  const endpoints = { metricsUrl: 'http://ingest/api/v1/push', logsUrl: 'http://ingest/loki/api/v1/push', tracesUrl: 'http://ingest' };

  test('every agent config the stack renders, and the collector config, pass', () => {
    const config = resolveConfig({});
    for (const tenant of config.tenants.allowed) {
      for (const platform of ['linux', 'windows'] as const) {
        const rendered = renderAgentConfig({ config, tenant, platform, endpoints });
        expect({ tenant, platform, problem: findAlloyProblem(rendered) }).toEqual({ tenant, platform, problem: undefined });
      }
    }
    const collector = [...RENDERED].find(([name]) => name.endsWith('/config/collector'))?.[1];
    if (collector !== undefined) expect(findAlloyProblem(collector)).toBeUndefined();
    expect(findAlloyProblem(ALLOY_CONFIG)).toBeUndefined();
  });

  test('brackets inside strings, raw strings and comments do not count', () => {
    const text = [
      '// a comment with { and [',
      '/* a block comment',
      '   with } */',
      'loki.process "x" {',
      '  stage.regex { expression = "^(?P<level>[a-z]+) {" }',
      '  stage.template { template = `{{ .Value }} }` }',
      '}',
    ].join('\n');
    expect(findAlloyProblem(text)).toBeUndefined();
  });

  test.each([
    ['an unclosed block', 'a "b" {\n  c = 1\n', 'line 1: "{" is never closed'],
    ['a stray closing brace', 'a "b" {\n}\n}\n', 'line 3: "}" without a matching opening bracket'],
    ['crossed brackets', 'a = [1, 2}\n', 'line 1: "}" closes "[" opened on line 1'],
    ['a string running past its line', 'a = "open\nb = 1\n', 'line 1: unterminated string (a "..." string ends on its line)'],
    ['an unterminated raw string', 'a = `open\n', 'line 1: unterminated raw string "`"'],
    ['an unterminated block comment', 'a = 1\n/* open\n', 'line 2: unterminated block comment "/*"'],
    ['only comments', '// nothing\n/* at all */\n', 'line 1: no configuration, only comments'],
  ])('refuses %s', (_, text, expected) => {
    const problem = findAlloyProblem(text);
    expect(problem && `line ${problem.line}: ${problem.message}`).toBe(expected);
  });
});

describe('per-file formats', () => {
  test('JSON files are checked as JSON, parts of a split file only as text', () => {
    expect(fileFormat('/LgtmFleet/config/grafana/dashboard-fleet.json', 'yaml')).toBe('json');
    expect(fileFormat('/LgtmFleet/config/grafana/dashboard-fleet.json/part-2', 'yaml')).toBe('text');
    expect(fileFormat('/LgtmFleet/config/grafana/tenant-a', 'yaml')).toBe('yaml');
    expect(checkConfig({ value: '{"a":1', type: 'String' }, 'json', 8192)).toMatchObject({ ok: false, reason: 'invalid-json' });
    expect(checkConfig({ value: '{"a":1}', type: 'String' }, 'json', 8192)).toEqual({ ok: true });
    expect(checkConfig({ value: '{"a":', type: 'String' }, 'text', 8192)).toEqual({ ok: true });
  });
});

describe('files stored encoded (they contain "{{", which Parameter Store refuses)', () => {
  const dashboard = JSON.stringify({ title: 'x', panels: [{ legendFormat: '{{tenant}}' }] });

  test('are decoded before their format is checked', () => {
    expect(checkConfig(string(encodeConfig(dashboard)), 'json', 8192)).toEqual({ ok: true });
    expect(checkConfig(string(encodeConfig('{"title": ')), 'json', 8192)).toMatchObject({ ok: false, reason: 'invalid-json' });
    expect(checkConfig(string(encodeConfig('a: [1\n')), 'yaml', 8192)).toMatchObject({ ok: false, reason: 'invalid-yaml' });
  });

  test('a value that starts like gzip+base64 but does not decode is refused, naming the encoding', () => {
    const corrupt = `${encodeConfig(dashboard).slice(0, 20)}AAAA`;
    expect(checkConfig(string(corrupt), 'json', 8192)).toMatchObject({ ok: false, reason: 'invalid-encoding' });
  });

  test('a plain value put there by hand is checked as it is, and parts are not decoded alone', () => {
    expect(checkConfig(string(dashboard), 'json', 8192)).toEqual({ ok: true });
    expect(checkConfig(string(encodeConfig(dashboard).slice(0, 30)), 'text', 8192)).toEqual({ ok: true });
  });

  test('encoding holds no "{{", is the same on every run, and decodes to the file', () => {
    const encoded = encodeConfig(dashboard);
    expect(encoded).not.toContain('{{');
    expect(encoded.startsWith(ENCODED_CONFIG_PREFIX)).toBe(true);
    expect(encodeConfig(dashboard)).toBe(encoded);
    // The header's OS byte is "unknown", whatever machine synthesized it.
    expect(Buffer.from(encoded, 'base64')[9]).toBe(255);
    expect(decodeConfig(encoded)).toBe(dashboard);
    expect(mustEncodeConfig(dashboard)).toBe(true);
    expect(mustEncodeConfig('a: {b: 1}')).toBe(false);
  });
});
