/**
 * `npm test`'s main Jest run. Two things keep it short on a 2-core machine:
 * - Jest's default is one worker per core but one (here: a single worker); the test files are
 *   independent, so every core runs one.
 * - The slow checks of the project's own tooling (SLOW_CHECKS) run in CI (`CI=true`) and with
 *   `npm run test:full`, not in the default loop.
 */
const SLOW_CHECKS = [
  // The background template-validation worker, against the synthesized templates of every option.
  '<rootDir>/test/synth-speed/template-validation.test.ts',
  // cfn-lint over synthesized templates (a Python process per template).
  '<rootDir>/test/cfn-lint.test.ts',
];
/** A slow check named on the command line runs whatever the setting. */
const named = process.argv.some((arg) => SLOW_CHECKS.some((check) => arg.includes(check.replace('<rootDir>/', ''))));
const full = process.env.CI === 'true' || process.env.LGTM_FULL_TESTS === '1' || named;
if (!full) {
  console.error('Skipping the slow tooling checks (template validation, cfn-lint): CI runs them, or `npm run test:full`.');
}

module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testTimeout: 60000,
  testMatch: ['**/*.test.ts'],
  maxWorkers: '100%',
  // Run by jest.iam.config.js after this run: it reads the SDK calls every handler test recorded.
  testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/iam-coverage.test.ts', ...(full ? [] : SLOW_CHECKS)],
  transform: {
    '^.+\\.tsx?$': ['@swc/jest'],
  },
  globalSetup: '<rootDir>/test/support/jest-clear-sdk-calls.ts',
  setupFilesAfterEnv: ['aws-cdk-lib/testhelpers/jest-autoclean', '<rootDir>/test/support/jest-record-sdk-calls.ts'],
};
