import * as path from 'node:path';
import { loadSampleEvent, sqsRecord } from '../fixtures';
import { type HandlerRun, runHandlerProcess } from '../handler-process';
import { TEST_ENV } from './fake-aws';

/**
 * The real handler entry, run by handler-harness.ts in a child Node process (see there why), with
 * the environment a deployed function gets. Covers what the logic tests cannot: settings read at
 * module load, the middy chain, the logger's Lambda context and the metrics flush.
 */
const HARNESS = path.join(__dirname, 'handler-harness.ts');

function runHandler(env: Record<string, string>, event: unknown): HandlerRun {
  return runHandlerProcess(HARNESS, 'lgtm-fleet-enroll', env, event);
}

describe('enroll handler entry', () => {
  test('processes an SQS batch through middy with the Lambda context in logs and metrics flushed', () => {
    const running = sqsRecord(loadSampleEvent('ec2-instance-running.json'));
    const malformed = sqsRecord('not json');
    // The harness's dead-letter queue refuses messages, so the malformed record must come back as a failure.
    const run = runHandler(TEST_ENV, { Records: [running, malformed] });

    expect(run.stderr).not.toMatch(/EnvironmentError/);
    expect(run.status).toBe(0);
    expect(run.result).toEqual({
      response: { batchItemFailures: [{ itemIdentifier: malformed.messageId }] },
      sendCommands: [
        expect.objectContaining({
          DocumentName: 'LgtmFleet-InstallAlloy-Linux',
          InstanceIds: ['i-0abcd1111ef223344'],
          Parameters: expect.objectContaining({ AgentConfig: ['// agent config team-a linux v4'], Tenant: ['team-a'] }),
        }),
      ],
      sqsCalls: 1,
    });

    const sent = run.jsonLines.find((line) => line.message === 'install command sent');
    expect(sent).toMatchObject({
      level: 'INFO',
      service: 'lgtm-fleet-enroll',
      function_name: 'LgtmFleet-Enroll',
      function_request_id: 'request-from-harness',
      cold_start: true,
      commandId: 'command-from-harness',
    });

    const emf = run.jsonLines.filter((line) => '_aws' in line);
    const namespaces = emf.map(
      (line) => (line._aws as { CloudWatchMetrics: Array<{ Namespace: string }> }).CloudWatchMetrics[0]?.Namespace,
    );
    expect(new Set(namespaces)).toEqual(new Set(['LgtmFleet']));
    expect(emf).toContainEqual(expect.objectContaining({ ColdStart: 1, function_name: 'LgtmFleet-Enroll' }));
    expect(emf).toContainEqual(
      expect.objectContaining({ service: 'lgtm-fleet-enroll', EventsReceived: 2, InstancesEnrolled: 1, MalformedEvents: 1 }),
    );
  });

  test('a missing variable fails the cold start with its name', () => {
    const { QUEUE_URL: _missing, ...env } = TEST_ENV;

    const run = runHandler(env, { Records: [] });

    expect(run.status).toBe(1);
    expect(run.stderr).toContain('EnvironmentError: environment variable QUEUE_URL is missing or empty');
    expect(run.result).toBeUndefined();
  });
});
