import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import { parse } from 'yaml';
import { type ConfigValue, substitutionCommand } from '../lib/backend-service';
import { loadConfig } from '../lib/config/load';
import { type Substitution, substitutionsCommand } from '../lib/config-delivery';
import { credentialEscapes } from '../lib/render/gateway';
import { ALERT_CONTACT_URL_PLACEHOLDER, GRAFANA_SINGLE_QUOTED_ESCAPES, renderGrafanaAlertFiles } from '../lib/render/grafana-alerts';

/**
 * What Grafana does to a provisioning string (`pkg/services/provisioning/values`): split on `$$`,
 * expand each part (its `$__env{…}`-style expanders, then the environment expander again, which
 * is Go's os.ExpandEnv), join with `$`. A `$` that reaches the expander is eaten with its name.
 */
function grafanaInterpolate(value: string, env: Record<string, string> = {}): string {
  const expandEnv = (part: string) =>
    part.replace(
      /\$(\{([^}]*)\}|([A-Za-z0-9_]+)|([*#$@!?\-0-9]))/g,
      (_, __, braced, plain, special) => env[braced ?? plain ?? special] ?? '',
    );
  return value
    .split('$$')
    .map((part) => expandEnv(expandEnv(part)))
    .join('$');
}

const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:alert-url-AbCdEf';
const VALUE: ConfigValue = {
  placeholder: ALERT_CONTACT_URL_PLACEHOLDER,
  source: { secret: {} as ecs.Secret },
  escapes: GRAFANA_SINGLE_QUOTED_ESCAPES,
  description: 'the alert contact point URL secret',
};

const work = mkdtempSync(join(tmpdir(), 'secret-substitution-'));
/** Every awk this machine has: the system one, and busybox's (the config init image is busybox). */
const AWKS: Array<[string, string]> = [['system awk', process.env.PATH ?? '']];
if (spawnSync('busybox', ['awk', 'BEGIN{}']).status === 0) {
  const bin = join(work, 'busybox-bin');
  mkdirSync(bin);
  symlinkSync(spawnSync('sh', ['-c', 'command -v busybox'], { encoding: 'utf8' }).stdout.trim(), join(bin, 'awk'));
  AWKS.push(['busybox awk', `${bin}:${process.env.PATH}`]);
}

function alertingFile(): string {
  const config = loadConfig([
    { origin: 'test', values: { grafana: { alertContactPoint: { type: 'webhook', urlSecretArn: SECRET_ARN } } } },
  ]);
  return renderGrafanaAlertFiles({
    config,
    deploy: { region: 'eu-west-1', bucketName: 'b', urlSuffix: 'amazonaws.com', availabilityZones: 2 },
  })[0].content;
}

function substitute(path: string, secret: string, file: string): { status: number | null; stderr: string; text: string } {
  writeFileSync(file, alertingFile());
  const result = spawnSync('sh', ['-c', `set -e && ${substitutionCommand(file, 'SECRET_0', VALUE)}`], {
    encoding: 'utf8',
    env: { PATH: path, SECRET_0: secret },
  });
  return { status: result.status, stderr: result.stderr, text: readFileSync(file, 'utf8') };
}

const urlOf = (text: string): string =>
  (parse(text) as { contactPoints: Array<{ receivers: Array<{ settings: { url: string } }> }> }).contactPoints[0].receivers[0].settings.url;

describe.each(AWKS)('the init container writes a secret into a Grafana provisioning file (%s)', (_, path) => {
  const secrets = [
    'https://hooks.example.com/services/T0/B0/xyz',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a literal ${PATH} Grafana must not expand
    "https://hooks.example.com/a?sig=ab$cd&x=it's&y=$HOME&z=${PATH}&w=$$",
    'https://hooks.example.com/trailing-newline\n',
    'https://hooks.example.com/back\\slash"quote&amp=1',
  ];

  test.each(secrets)('Grafana reads back exactly %j (trailing line breaks dropped)', (secret) => {
    const result = substitute(path, secret, join(work, `alerts-${Math.random()}.yaml`));
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.text).not.toContain(ALERT_CONTACT_URL_PLACEHOLDER);
    expect(grafanaInterpolate(urlOf(result.text), { HOME: '/root', PATH: '/bin' })).toBe(secret.replace(/\n+$/, ''));
  });

  test('a secret with a line break inside stops the init container and names the secret', () => {
    const result = substitute(path, 'https://a.example.com/\nx', join(work, 'broken.yaml'));
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('lgtm-fleet: the alert contact point URL secret contains a line break');
  });
});

test('without the escapes, Grafana would eat the `$` (what the substitution prevents)', () => {
  expect(grafanaInterpolate('https://hooks.example.com/a?sig=ab$cd')).toBe('https://hooks.example.com/a?sig=ab');
  expect(grafanaInterpolate('https://hooks.example.com/a?sig=ab$$cd')).toBe('https://hooks.example.com/a?sig=ab$cd');
});

test('placeholders and escapes that cannot be written safely are refused', () => {
  expect(() => substitutionCommand('/f', 'S', { ...VALUE, placeholder: "a'b" })).toThrow(`placeholder "a'b"`);
  expect(() => substitutionCommand('/f', 'S', { ...VALUE, escapes: { ab: 'c' } })).toThrow('escape "ab" must be one character');
});

describe.each(AWKS)("the gateway's credential escapes, written by the init container (%s)", (_, path) => {
  test.each(['current', 'previous'] as const)('%s: awk writes exactly what the nginx tests write in', (key) => {
    const escapes = credentialEscapes(key);
    for (const value of ['0abc9', '.*', 'a\\b"c', '(?:x|', '[a-z0-9]{64}', '$1^+?']) {
      const file = join(work, `nginx-${key}-${Math.random()}.conf`);
      writeFileSync(file, `  "~*^Bearer __X__$" "team-a";\n`);
      const written: ConfigValue = { ...VALUE, placeholder: '__X__', escapes, description: 'a credential' };
      const result = spawnSync('sh', ['-c', `set -e && ${substitutionCommand(file, 'SECRET_0', written)}`], {
        encoding: 'utf8',
        env: { PATH: path, SECRET_0: value },
      });
      expect([value, result.status, result.stderr]).toEqual([value, 0, '']);
      const expected = [...value].map((c) => escapes[c] ?? c).join('');
      expect([value, readFileSync(file, 'utf8')]).toEqual([value, `  "~*^Bearer ${expected}$" "team-a";\n`]);
    }
  });
});

describe.each(AWKS)('one program writes every value of a file (%s)', (_, path) => {
  const values = (escapes: Array<Record<string, string>>): Substitution[] =>
    escapes.map((map, index) => ({
      variable: `VALUE_${index}`,
      value: { ...VALUE, placeholder: `__V${index}__`, escapes: map, description: `value ${index}` },
    }));

  function run(file: string, substitutions: Substitution[], env: Record<string, string>) {
    return spawnSync('sh', ['-c', `set -e && ${substitutionsCommand(file, substitutions)}`], {
      encoding: 'utf8',
      env: { PATH: path, ...env },
    });
  }

  test('each in place of its placeholder, everywhere it is, each with its own escapes', () => {
    const file = join(work, `many-${Math.random()}.conf`);
    writeFileSync(file, 'a __V0__ b __V1__ __V0__\n__V2__\nnone here\n');
    const substitutions = values([{}, { '"': '\\"' }, { '.': '\\.' }]);
    const result = run(file, substitutions, { VALUE_0: 'x"y', VALUE_1: 'q"r', VALUE_2: 'a.b' });
    expect([result.status, result.stderr]).toEqual([0, '']);
    expect(readFileSync(file, 'utf8')).toBe('a x"y b q\\"r x"y\na\\.b\nnone here\n');
    // One escaping function per distinct set of escapes, two here.
    expect(substitutionsCommand(file, substitutions).match(/function esc\d+/g)).toEqual(['function esc0', 'function esc1']);
    expect(substitutionsCommand(file, values([{ '.': 'x' }, { '.': 'x' }])).match(/function esc\d+/g)).toEqual(['function esc0']);
  });

  test('a value with a line break inside stops the task, naming that value; the file is left as it was', () => {
    const file = join(work, `broken-${Math.random()}.conf`);
    writeFileSync(file, '__V0__ __V1__\n');
    const result = run(file, values([{}, {}]), { VALUE_0: 'fine', VALUE_1: 'a\nb' });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('lgtm-fleet: value 1 contains a line break');
    expect(readFileSync(file, 'utf8')).toBe('__V0__ __V1__\n');
  });
});
