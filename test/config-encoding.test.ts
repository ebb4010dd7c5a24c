import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Template } from 'aws-cdk-lib/assertions';
import { decodeConfig, encodeConfig, isEncodedConfig } from '../lambdas/shared/config-files';
import { splitIntoParts, writeConfigCommands } from '../lib/backend-service';
import { renderGrafanaDashboardFiles } from '../lib/render/grafana-dashboards';
import { resourcesOf, synthStack, testConfig } from './helpers';

/** Every parameter value of a template, with CloudFormation functions flattened to text. */
function parameterValues(template: Template): Array<{ name: string; value: string; tier: string }> {
  return Object.values(resourcesOf(template, 'AWS::SSM::Parameter')).map((p) => ({
    name: String(p.Properties.Name),
    value: typeof p.Properties.Value === 'string' ? p.Properties.Value : JSON.stringify(p.Properties.Value),
    tier: String(p.Properties.Tier),
  }));
}

const CONFIGURATIONS: Array<[string, Record<string, unknown>]> = [
  ['default', {}],
  ['efs, collector off', { storage: { durability: 'efs' }, collector: { enabled: false } }],
  [
    'twenty tenants and a contact point secret',
    {
      tenants: {
        allowed: Array.from({ length: 20 }, (_, i) => `tenant-${i}`),
        ec2Default: 'tenant-0',
        cloudwatchMetrics: 'tenant-1',
        cloudwatchLogs: 'tenant-2',
      },
      grafana: {
        alertContactPoint: { type: 'slack', urlSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:alert-url-AbCdEf' },
      },
    },
  ],
];

describe.each(CONFIGURATIONS)('Parameter Store accepts every value (%s)', (_, values) => {
  const { template } = synthStack(values);
  const parameters = parameterValues(template);

  test('no parameter value contains "{{" (PutParameter: "Parameter value can\'t nest another parameter")', () => {
    expect(parameters.length).toBeGreaterThan(10);
    expect(parameters.filter((p) => p.value.includes('{{')).map((p) => p.name)).toEqual([]);
  });

  test('the files that hold "{{" are stored encoded and decode to what was rendered', () => {
    const encoded = parameters.filter((p) => isEncodedConfig(p.value));
    expect(encoded.length).toBeGreaterThanOrEqual(1);
    for (const p of encoded) expect(decodeConfig(p.value)).toContain('{{');
  });
});

test('dashboards are stored encoded, each decoding to its rendered JSON', () => {
  const { template } = synthStack({});
  const stored = new Map(parameterValues(template).map((p) => [p.name, p.value]));
  const rendered = renderGrafanaDashboardFiles({
    config: testConfig({}),
    deploy: { region: 'eu-west-1', bucketName: 'b', urlSuffix: 'amazonaws.com', availabilityZones: 2 },
  }).filter((f) => f.fileName.endsWith('.json'));
  expect(rendered.length).toBeGreaterThan(5);
  for (const file of rendered) {
    const value = stored.get(`/LgtmFleet/config/grafana/${file.key}`);
    expect([file.key, value === undefined ? 'missing' : decodeConfig(value)]).toEqual([file.key, file.content]);
  }
});

/** busybox when this machine has it (the config init image is busybox), else the system's tools. */
function shells(): Array<[string, string]> {
  const list: Array<[string, string]> = [['system tools', process.env.PATH ?? '']];
  if (spawnSync('busybox', ['true']).status === 0) {
    const bin = join(mkdtempSync(join(tmpdir(), 'busybox-')), 'bin');
    mkdirSync(bin);
    const busybox = spawnSync('sh', ['-c', 'command -v busybox'], { encoding: 'utf8' }).stdout.trim();
    for (const tool of ['sh', 'printf', 'head', 'base64', 'gunzip', 'cp', 'rm']) symlinkSync(busybox, join(bin, tool));
    list.push(['busybox', bin]);
  }
  return list;
}

describe.each(shells())('the init container writes an encoded file (%s)', (_, path) => {
  // Random text does not compress: its encoding spans several parameters.
  const file = `{"legendFormat":"{{tenant}}","text":"한국어 ${randomBytes(9000).toString('hex')}"}`;

  test.each([
    ['stored encoded, in several parts', encodeConfig(file), true],
    ['stored encoded, one part', encodeConfig('{"a":"{{b}}"}'), true],
    ['put back as plain text by hand', file, true],
    ['never encoded', file, false],
  ])('%s', (__, stored, encoded) => {
    const parts = splitIntoParts(stored);
    if (__ === 'stored encoded, in several parts') expect(parts.length).toBeGreaterThan(1);
    const target = join(mkdtempSync(join(tmpdir(), 'init-')), 'dashboard.json');
    const env: Record<string, string> = { PATH: path };
    parts.forEach((part, i) => {
      env[`CONFIG_${i}`] = part;
    });
    const commands = writeConfigCommands(
      target,
      parts.map((_p, i) => `"$CONFIG_${i}"`),
      encoded,
    );
    const result = spawnSync('sh', ['-c', ['set -e', ...commands].join(' && ')], { encoding: 'utf8', env });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(readFileSync(target, 'utf8')).toBe(stored === file ? file : decodeConfig(stored));
  });
});
