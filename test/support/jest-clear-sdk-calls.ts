import { clearTestFileRecords } from './sdk-call-records';

/**
 * Jest global setup of jest.config.js: a run starts with no recorded SDK calls, so that
 * test/iam-coverage.test.ts never reads calls that tests of an earlier run sent.
 */
export default function clearSdkCallRecords(): void {
  clearTestFileRecords();
}
