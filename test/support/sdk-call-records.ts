import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve, sep } from 'node:path';

/**
 * The AWS SDK commands the handler tests send, kept per test file so that test/iam-coverage.test.ts
 * can compare them with each function's role in a second Jest run (Jest runs test files in
 * parallel, in no fixed order, so no test of the first run can see them all).
 *
 * The mocks of test/support/sdk-call-recorder.ts add each call here as it is sent (a mock's own
 * history is cleared by resetHistory() and reset()); test/support/jest-record-sdk-calls.ts writes
 * them to {@link RECORD_DIR} when a test file ends, and test/support/jest-clear-sdk-calls.ts
 * empties that folder when a run starts. Handler entries run in a child process (see
 * test/lambdas/handler-process.ts) hand their calls to the test that started them through
 * {@link recordChildProcess}.
 */

const REPO_ROOT = resolve(__dirname, '..', '..');

/** Where the first Jest run leaves the calls of each handler test file (gitignored). */
export const RECORD_DIR = join(REPO_ROOT, '.jest', 'sdk-calls');

/** Names the file in which a handler harness's process leaves its calls for the test that started it. */
const CHILD_RECORD_VARIABLE = 'SDK_CALL_RECORD_FILE';

/** One AWS SDK command sent through a mocked client. */
export interface SdkCall {
  /** The Lambda whose tests created the mock: `<name>` of the test/lambdas/<name>/ file that called mockClient. */
  readonly handler: string;
  /** Class name of the client, e.g. `SSMClient`. */
  readonly client: string;
  /** Class name of the command, e.g. `SendCommandCommand`. */
  readonly command: string;
}

export interface RecordedCall extends SdkCall {
  /** How many times it was sent. */
  readonly count: number;
}

/** The record written for one test file. */
export interface TestFileRecord {
  /** Path from the repository root, e.g. `test/lambdas/enroll/handler.test.ts`. */
  readonly testFile: string;
  /** When the record was written (milliseconds since the epoch). */
  readonly writtenAt: number;
  readonly calls: readonly RecordedCall[];
}

/** Calls of this test file (Jest gives each test file its own module registry) or of this harness process. */
const calls = new Map<string, RecordedCall>();

export function recordCall({ handler, client, command }: SdkCall, count = 1): void {
  const key = `${handler} ${client} ${command}`;
  calls.set(key, { handler, client, command, count: (calls.get(key)?.count ?? 0) + count });
}

export function recordedCalls(): RecordedCall[] {
  return [...calls.values()];
}

/**
 * Writes the calls of the test file at `testPath`. Only test files under test/lambdas/ are
 * written: a command counts as sent by a handler when a handler test sent it, not when a test of
 * the test tooling did.
 */
export function writeTestFileRecord(testPath: string): void {
  const testFile = relative(REPO_ROOT, testPath).split(sep).join('/');
  if (!testFile.startsWith('test/lambdas/') || calls.size === 0) return;
  mkdirSync(RECORD_DIR, { recursive: true });
  const record = { testFile, calls: recordedCalls() };
  writeFileSync(join(RECORD_DIR, `${testFile.replaceAll('/', '__')}.json`), `${JSON.stringify(record, null, 2)}\n`);
}

export function readTestFileRecords(): TestFileRecord[] {
  if (!existsSync(RECORD_DIR)) return [];
  return readdirSync(RECORD_DIR)
    .filter((name) => name.endsWith('.json'))
    .map((name) => {
      const path = join(RECORD_DIR, name);
      const { testFile, calls } = JSON.parse(readFileSync(path, 'utf8')) as Omit<TestFileRecord, 'writtenAt'>;
      return { testFile, writtenAt: statSync(path).mtimeMs, calls };
    });
}

/** Removes every record, so that a run's records cannot mix with an earlier run's. */
export function clearTestFileRecords(): void {
  rmSync(RECORD_DIR, { recursive: true, force: true });
}

/**
 * For a child process about to run a handler harness: `env` to add to its environment, and
 * `collect()` to call once it has ended, which adds the calls it sent to this test file's.
 */
export function recordChildProcess(): { env: Record<string, string>; collect(): void } {
  const folder = mkdtempSync(join(tmpdir(), 'lgtm-sdk-calls-'));
  const file = join(folder, 'calls.json');
  return {
    env: { [CHILD_RECORD_VARIABLE]: file },
    collect: () => {
      try {
        if (!existsSync(file)) return;
        for (const call of JSON.parse(readFileSync(file, 'utf8')) as RecordedCall[]) recordCall(call, call.count);
      } finally {
        rmSync(folder, { recursive: true, force: true });
      }
    },
  };
}

// In a harness process started through recordChildProcess: leave the calls for the parent test,
// on success and failure alike ('exit' also follows process.exit()).
const childRecordFile = process.env[CHILD_RECORD_VARIABLE];
if (childRecordFile) process.once('exit', () => writeFileSync(childRecordFile, JSON.stringify(recordedCalls())));
