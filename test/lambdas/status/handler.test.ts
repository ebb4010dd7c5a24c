import * as path from 'node:path';
import { loadSampleEvent } from '../fixtures';
import { type HandlerRun, runHandlerProcess } from '../handler-process';
import { invocationEvent, TEST_ENV } from './fake-aws';

/**
 * The real handler entry, run by handler-harness.ts in a child Node process (see there why), with
 * the environment a deployed function gets. Covers what the logic tests cannot: settings read at
 * module load, the middy chain, the logger's Lambda context and the metrics flush, also when the
 * handler throws.
 */
const HARNESS = path.join(__dirname, 'handler-harness.ts');

function runHandler(env: Record<string, string>, event: unknown): HandlerRun {
  return runHandlerProcess(HARNESS, 'lgtm-fleet-status', env, event);
}

describe('status handler entry', () => {
  test('records a result through middy with the Lambda context in logs and metrics flushed', () => {
    const run = runHandler(TEST_ENV, invocationEvent('Success'));

    expect(run.stderr).not.toMatch(/EnvironmentError/);
    expect(run.status).toBe(0);
    expect(run.result).toEqual({
      response: {
        result: 'recorded',
        instanceId: 'i-0abcd1111ef223344',
        commandId: 'e8d3c0e4-71f7-4491-898f-c9b35bee5f3b',
        action: 'install',
        outcome: 'success',
        published: true,
        tagged: true,
      },
      createTags: [
        {
          Resources: ['i-0abcd1111ef223344'],
          Tags: [
            { Key: 'lgtm:agent-status', Value: 'success' },
            { Key: 'lgtm:agent-version', Value: '1.21.0' },
            { Key: 'lgtm:agent-config-version', Value: '2' },
            { Key: 'lgtm:agent-tenant', Value: 'team-a' },
            { Key: 'lgtm:agent-platform', Value: 'linux' },
          ],
        },
      ],
      putEvents: [
        {
          Entries: [
            expect.objectContaining({
              EventBusName: 'LgtmFleet',
              Source: 'lgtm-fleet',
              DetailType: 'Agent Enrolled',
              Time: '2026-11-23T12:36:01.000Z',
            }),
          ],
        },
      ],
    });

    const recorded = run.jsonLines.find((line) => line.message === 'command result recorded');
    expect(recorded).toMatchObject({
      level: 'INFO',
      service: 'lgtm-fleet-status',
      function_name: 'LgtmFleet-Status',
      function_request_id: 'request-from-harness',
      cold_start: true,
      instanceId: 'i-0abcd1111ef223344',
      status: 'Success',
    });
    const namespaces = run.emf.map(
      (line) => (line._aws as { CloudWatchMetrics: Array<{ Namespace: string }> }).CloudWatchMetrics[0]?.Namespace,
    );
    expect(new Set(namespaces)).toEqual(new Set(['LgtmFleet']));
    expect(run.emf).toContainEqual(expect.objectContaining({ ColdStart: 1, function_name: 'LgtmFleet-Status' }));
    expect(run.emf).toContainEqual(expect.objectContaining({ service: 'lgtm-fleet-status', AgentEnrolled: 1 }));
  });

  test('a malformed event returns normally (no retry of a poison event) and is counted', () => {
    const run = runHandler(TEST_ENV, loadSampleEvent('ssm-command-status-success.json'));

    expect(run.status).toBe(0);
    expect(run.result).toMatchObject({ response: { result: 'malformed' }, createTags: [], putEvents: [] });
    expect(run.jsonLines.find((line) => line.message === 'malformed event')).toMatchObject({ level: 'WARN', reason: 'malformed-event' });
    expect(run.emf).toContainEqual(expect.objectContaining({ MalformedEvents: 1 }));
  });

  test('an AWS error makes the invocation fail, so Lambda retries it; the error is logged with the step', () => {
    const run = runHandler({ ...TEST_ENV, HARNESS_FAIL: 'throttle' }, invocationEvent('Success'));

    expect(run.result).toMatchObject({ error: { name: 'ThrottlingException' }, createTags: [], putEvents: [] });
    expect(run.jsonLines.find((line) => line.level === 'ERROR')).toMatchObject({
      message: 'command result not recorded; the invocation will be retried',
      step: 'list-commands',
      errorName: 'ThrottlingException',
      function_request_id: 'request-from-harness',
    });
  });

  test('a missing variable fails the cold start with its name', () => {
    const { EVENT_BUS_NAME: _missing, ...env } = TEST_ENV;

    const run = runHandler(env, invocationEvent('Success'));

    expect(run.status).toBe(1);
    expect(run.stderr).toContain('EnvironmentError: environment variable EVENT_BUS_NAME is missing or empty');
    expect(run.result).toBeUndefined();
  });
});
