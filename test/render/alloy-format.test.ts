import { loadConfig } from '../../lib/config/load';
import { renderAgentConfig } from '../../lib/render/agent';
import { block, renderFile } from '../../lib/render/alloy-syntax';
import { renderCollectorConfig } from '../../lib/render/collector';

/**
 * `alloy fmt` prints Alloy files in one canonical form. The expected text below is what
 * `alloy fmt` (Alloy's own syntax printer) printed for this input, checked with the real program.
 */
const SAMPLE_IN_ALLOY_FMT_FORM = [
  'a.b "x" {',
  '\tk          = 1',
  '\tlonger_key = "v"',
  '',
  '\tinner {',
  '\t\tz = 2',
  '\t}',
  '',
  '\tempty { }',
  '',
  '\tafter = true',
  '\ty     = [1, 2]',
  '}',
  '',
  'c { }',
  '',
  'd "y" {',
  '\tfirst {',
  '\t\tq = {a = 1, "b-c" = 2}',
  '\t}',
  '}',
  '',
].join('\n');

describe('Alloy files are written in alloy fmt form', () => {
  test('aligned attributes, { } for empty bodies, a blank line around nested blocks and between top-level blocks', () => {
    const text = renderFile([
      block(
        'a.b',
        'x',
        ['k', '1'],
        ['longer_key', '"v"'],
        block('inner', undefined, ['z', '2']),
        block('empty', undefined),
        ['after', 'true'],
        ['y', '[1, 2]'],
      ),
      block('c', undefined),
      block('d', 'y', block('first', undefined, ['q', '{a = 1, "b-c" = 2}'])),
    ]);
    expect(text).toBe(SAMPLE_IN_ALLOY_FMT_FORM);
  });

  const config = loadConfig([{ origin: 'test', values: {} }]);
  const endpoints = { metricsUrl: 'http://m:8080/api/v1/push', logsUrl: 'http://l:3100/loki/api/v1/push', tracesUrl: 'http://t:4318' };
  const files = {
    'agent (linux)': renderAgentConfig({ config, tenant: 'aws-rag-ec2', platform: 'linux', endpoints }),
    'agent (windows)': renderAgentConfig({ config, tenant: 'aws-rag-ec2', platform: 'windows', endpoints }),
    collector: renderCollectorConfig({
      config,
      deploy: { region: 'eu-west-1', bucketName: 'b', urlSuffix: 'amazonaws.com', availabilityZones: 2 },
    }),
  };

  test.each(Object.entries(files))('%s: no unaligned attribute run, no two blank lines, one trailing newline', (_, text) => {
    expect(text.endsWith('}\n')).toBe(true);
    expect(text).not.toMatch(/\n\n\n/);
    expect(text).not.toMatch(/\{\n\t*\}/);
    // In each run of consecutive attribute lines at one depth, every `=` is in the same column.
    const lines = text.split('\n');
    let run: string[] = [];
    const check = () => {
      expect(new Set(run.map((line) => line.indexOf(' = '))).size).toBeLessThanOrEqual(1);
      run = [];
    };
    for (const line of lines) {
      if (/^\t*[A-Za-z_][A-Za-z0-9_]* +=/.test(line) && !line.endsWith('{')) run.push(line);
      else check();
    }
    check();
  });
});
