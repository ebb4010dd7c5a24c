import { spawnSync } from 'node:child_process';
import { recordChildProcess } from '../support/sdk-call-records';
import { REPO_ROOT } from './fixtures';

/**
 * Running a real handler entry in a child Node process (each handler-harness.ts mocks the AWS
 * clients there and, through harness/entry.ts, prints its report after {@link RESULT_MARKER}),
 * with the environment a deployed function gets. Covers what the logic tests cannot: settings
 * read at module load, the middy chain, the logger's Lambda context and the metrics flush. The AWS
 * SDK commands the child sends are recorded for the test that started it, as if it had sent them
 * itself.
 */

/** Prefix of the line on which a harness prints its JSON report. */
export const RESULT_MARKER = 'HARNESS_RESULT ';

export interface HandlerRun {
  readonly status: number | null;
  readonly stderr: string;
  /** The harness's report, if it got that far. */
  readonly result: Record<string, unknown> | undefined;
  /** Every JSON line written (Powertools logs INFO to stdout, WARN and ERROR to stderr). */
  readonly jsonLines: Record<string, unknown>[];
  /** The embedded-metric-format documents among them. */
  readonly emf: Record<string, unknown>[];
}

export function runHandlerProcess(harness: string, serviceName: string, env: Record<string, string>, event: unknown): HandlerRun {
  const recording = recordChildProcess();
  const child = spawnSync(process.execPath, ['--import', 'tsx', harness], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    timeout: 60_000,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      AWS_REGION: 'ap-northeast-2',
      // Set by Lambda; Powertools reports a cold start only for on-demand environments.
      AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      POWERTOOLS_SERVICE_NAME: serviceName,
      POWERTOOLS_METRICS_NAMESPACE: 'LgtmFleet',
      POWERTOOLS_LOG_LEVEL: 'INFO',
      ...env,
      ...recording.env,
      HARNESS_EVENT: JSON.stringify(event),
    },
  });
  recording.collect();
  const stdout = child.stdout.split('\n');
  const resultLine = stdout.find((line) => line.startsWith(RESULT_MARKER));
  const jsonLines = [...stdout, ...child.stderr.split('\n')].flatMap((line) => {
    try {
      return line.startsWith('{') ? [JSON.parse(line) as Record<string, unknown>] : [];
    } catch {
      return [];
    }
  });
  return {
    status: child.status,
    stderr: child.stderr,
    result: resultLine ? (JSON.parse(resultLine.slice(RESULT_MARKER.length)) as Record<string, unknown>) : undefined,
    jsonLines,
    emf: jsonLines.filter((line) => '_aws' in line),
  };
}
