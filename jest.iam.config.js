/**
 * The second Jest run of `npm test`: test/iam-coverage.test.ts compares each function's role with
 * the AWS SDK commands its handler tests sent, which every test file of the first run (jest.config.js)
 * recorded, so it can only start once that run has ended.
 */
const { testEnvironment, roots, testTimeout, transform } = require('./jest.config.js');

module.exports = {
  testEnvironment,
  roots,
  testTimeout,
  transform,
  testMatch: ['<rootDir>/test/iam-coverage.test.ts'],
  setupFilesAfterEnv: ['aws-cdk-lib/testhelpers/jest-autoclean'],
};
