import { spawnSync } from 'node:child_process';

/**
 * Set (to `1`) by `.ci/run`, which installs ShellCheck: the lint tests are then mandatory and
 * fail when ShellCheck is missing. Elsewhere they are skipped with a notice.
 */
export const REQUIRE_SHELLCHECK_ENV = 'LGTM_REQUIRE_SHELLCHECK';

/** Whether `shellcheck` runs on this machine. */
export function shellcheckAvailable(): boolean {
  const version = spawnSync('shellcheck', ['--version'], { encoding: 'utf8' });
  return !version.error && version.status === 0;
}

/**
 * `test` when ShellCheck is installed (or required), otherwise `test.skip` with a notice on the
 * console, so a fresh clone without ShellCheck still passes and says what it did not check.
 */
export function shellcheckTest(name: string, fn: () => void): void {
  if (shellcheckAvailable()) {
    test(name, fn);
  } else if (process.env[REQUIRE_SHELLCHECK_ENV] === '1') {
    test(name, () => {
      throw new Error(`shellcheck is not installed but ${REQUIRE_SHELLCHECK_ENV}=1: apt-get install -y shellcheck`);
    });
  } else {
    console.warn(`NOTICE: shellcheck is not installed; skipped "${name}" (apt-get install -y shellcheck to run it)`);
    test.skip(name, fn);
  }
}
