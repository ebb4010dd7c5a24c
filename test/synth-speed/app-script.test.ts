import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { shellcheckTest } from '../support/shellcheck';

const ROOT = join(__dirname, '..', '..');

describe('lib/synth-speed/app.sh, the command cdk.json runs', () => {
  test('is what cdk.json runs', () => {
    expect((JSON.parse(readFileSync(join(ROOT, 'cdk.json'), 'utf8')) as { app: string }).app).toBe('sh lib/synth-speed/app.sh');
  });

  shellcheckTest('passes shellcheck as a POSIX sh script', () => {
    const result = spawnSync('shellcheck', ['--shell=sh', '--severity=style', join(ROOT, 'lib', 'synth-speed', 'app.sh')], {
      encoding: 'utf8',
    });
    expect(result.stdout + result.stderr).toBe('');
    expect(result.status).toBe(0);
  });

  test('fails when the type-check fails, and dates the build info to when the check started', () => {
    const script = readFileSync(join(ROOT, 'lib', 'synth-speed', 'app.sh'), 'utf8');
    expect(script).toMatch(/if wait "\$typecheck"; then[\s\S]*touch -r "\$started" "\$build_info"[\s\S]*else\s+exit 1/);
    expect(script).toContain(
      JSON.parse(readFileSync(join(ROOT, 'bin', 'tsconfig.json'), 'utf8')).compilerOptions.tsBuildInfoFile.replace('../', ''),
    );
  });
});
