import { writeTestFileRecord } from './sdk-call-records';

/**
 * Jest setup (setupFilesAfterEnv of jest.config.js): when a test file ends, writes the AWS SDK
 * commands its handler tests sent, for test/iam-coverage.test.ts.
 */
afterAll(() => {
  writeTestFileRecord(expect.getState().testPath ?? '');
});
