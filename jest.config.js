module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testTimeout: 60000,
  testMatch: ['**/*.test.ts'],
  // Run by jest.iam.config.js after this run: it reads the SDK calls every handler test recorded.
  testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/iam-coverage.test.ts'],
  transform: {
    '^.+\\.tsx?$': ['@swc/jest']
  },
  globalSetup: '<rootDir>/test/support/jest-clear-sdk-calls.ts',
  setupFilesAfterEnv: ['aws-cdk-lib/testhelpers/jest-autoclean', '<rootDir>/test/support/jest-record-sdk-calls.ts'],
};
