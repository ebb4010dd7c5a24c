import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveConfig } from '../../bin/config-source';

const root = join(__dirname, '..', '..');

function writeJson(content: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'lgtm-config-'));
  const file = join(dir, 'config.json');
  writeFileSync(file, content);
  return file;
}

describe('resolveConfig', () => {
  test('no sources gives the defaults', () => {
    expect(resolveConfig({}).stackName).toBe('LgtmFleet');
  });

  test('cdk.json context, then the config file, later wins', () => {
    const file = writeJson(JSON.stringify({ retention: { metricsDays: 90 } }));
    const config = resolveConfig({ inline: { retention: { metricsDays: 30, logsDays: 7 } }, file });
    expect(config.retention).toMatchObject({ metricsDays: 90, logsDays: 7 });
  });

  test('inline context given as a JSON string on the command line', () => {
    expect(resolveConfig({ inline: '{"stackName":"Lgtm2"}' }).stackName).toBe('Lgtm2');
  });

  test('a missing file is named', () => {
    expect(() => resolveConfig({ file: '/nonexistent/prod.json' })).toThrow(/cannot read config file \/nonexistent\/prod\.json: ENOENT/);
  });

  test('a file that is not JSON is named', () => {
    const file = writeJson('{ nope');
    expect(() => resolveConfig({ file })).toThrow(/config file .*config\.json is not valid JSON/);
  });

  test('a bad value in the file is reported with the file name', () => {
    const file = writeJson(JSON.stringify({ tenants: { allowed: ['bad tenant!'] } }));
    expect(() => resolveConfig({ file })).toThrow(/from .*config\.json\)[\s\S]*tenants\.allowed\[0\]: .*"bad tenant!"/);
  });
});

describe('the CDK app entry point', () => {
  test('a bad tenant fails synth with a message naming the tenant field, and no stack trace', () => {
    const file = writeJson(JSON.stringify({ tenants: { allowed: ['bad tenant!'] } }));
    const result = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'bin', 'lgtm-fleet.ts')], {
      cwd: root,
      env: { ...process.env, CDK_CONTEXT_JSON: JSON.stringify({ config: file }) },
      encoding: 'utf8',
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('tenants.allowed[0]');
    expect(result.stderr).toContain('"bad tenant!"');
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });
});
