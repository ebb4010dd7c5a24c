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
  return runHandlerProcess(HARNESS, 'lgtm-fleet-refresh', env, event);
}

describe('refresh handler entry', () => {
  test('processes an SQS batch through middy with the Lambda context in logs and metrics flushed', () => {
    const update = sqsRecord(loadSampleEvent('parameter-store-change-update.json'));
    const malformed = sqsRecord('not json');

    const run = runHandler(TEST_ENV, { Records: [update, malformed] });

    expect(run.stderr).not.toMatch(/EnvironmentError/);
    expect(run.status).toBe(0);
    expect(run.result).toEqual({
      response: { batchItemFailures: [] },
      sendCommands: [
        expect.objectContaining({
          DocumentName: 'lgtm-install-alloy-linux',
          Targets: [
            { Key: 'tag:lgtm:agent-tenant', Values: ['aws-rag-ec2'] },
            { Key: 'tag:lgtm:agent-platform', Values: ['linux'] },
          ],
          Parameters: expect.objectContaining({ Action: ['reload'], ConfigVersion: ['6'] }),
          MaxConcurrency: '10%',
          MaxErrors: '1',
        }),
      ],
      published: [expect.objectContaining({ DetailType: 'Config Refresh Started', Source: 'lgtm-fleet', EventBusName: 'lgtm' })],
      deadLetters: [malformed.messageId],
    });

    const sent = run.jsonLines.find((line) => line.message === 'refresh command sent');
    expect(sent).toMatchObject({
      level: 'INFO',
      service: 'lgtm-fleet-refresh',
      function_name: 'lgtm-Refresh',
      function_request_id: 'request-from-harness',
      cold_start: true,
      commandId: 'command-from-harness',
    });

    const emf = run.jsonLines.filter((line) => '_aws' in line);
    expect(emf).toContainEqual(expect.objectContaining({ ColdStart: 1, function_name: 'lgtm-Refresh' }));
    expect(emf).toContainEqual(
      expect.objectContaining({ service: 'lgtm-fleet-refresh', EventsReceived: 2, RefreshStarted: 1, MalformedEvents: 1, DeadLettered: 1 }),
    );
  });

  test('a missing variable fails the cold start with its name', () => {
    const { CLUSTER_ARN: _missing, ...env } = TEST_ENV;

    const run = runHandler(env, { Records: [] });

    expect(run.status).toBe(1);
    expect(run.stderr).toContain('EnvironmentError: environment variable CLUSTER_ARN is missing or empty');
    expect(run.result).toBeUndefined();
  });
});
