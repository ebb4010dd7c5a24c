import * as path from 'node:path';
import { type HandlerRun, runHandlerProcess } from '../handler-process';
import { TEST_ENV } from './fake-fleet';

/**
 * The real handler entry, run by handler-harness.ts in a child Node process (see there why), with
 * the environment a deployed function gets. Covers what the logic tests cannot: settings read at
 * module load, the middy chain, the logger's Lambda context and the metrics flush.
 */
const HARNESS = path.join(__dirname, 'handler-harness.ts');

/** What an EventBridge schedule rule delivers. */
const SCHEDULED_EVENT = {
  version: '0',
  id: '89d1a02d-5ec7-412e-82f5-13505f849b41',
  'detail-type': 'Scheduled Event',
  source: 'aws.events',
  account: '123456789012',
  time: '2026-11-23T12:30:00Z',
  region: 'ap-northeast-2',
  resources: ['arn:aws:events:ap-northeast-2:123456789012:rule/LgtmFleet-ReconcileSchedule'],
  detail: {},
};

function runHandler(env: Record<string, string>, event: unknown, extra: Record<string, string> = {}): HandlerRun {
  return runHandlerProcess(HARNESS, 'lgtm-fleet-reconcile', { ...env, ...extra }, event);
}

function emfDocuments(jsonLines: Record<string, unknown>[]) {
  return jsonLines.filter((line) => '_aws' in line);
}

describe('reconcile handler entry', () => {
  test('a scheduled run through middy requests the due instance, with the Lambda context in logs and metrics flushed', () => {
    const run = runHandler(TEST_ENV, SCHEDULED_EVENT);

    expect(run.stderr).not.toMatch(/EnvironmentError/);
    expect(run.status).toBe(0);
    expect(run.result).toEqual({
      summary: {
        running: 3,
        checkedOnline: 2,
        onlineLookup: 'full-listing',
        candidates: 1,
        requested: 1,
        deferred: 0,
        events: 1,
        skippedByReason: { 'already-enrolled': 1, 'ssm-not-online': 1 },
      },
      putEvents: [
        {
          Entries: [
            {
              EventBusName: 'LgtmFleet',
              Source: 'lgtm-fleet',
              DetailType: 'Reconcile Enrollment',
              Detail: JSON.stringify({ instanceIds: ['i-0abcd1111ef223344'] }),
            },
          ],
        },
      ],
    });

    expect(run.jsonLines.find((line) => line.message === 'reconciliation finished')).toMatchObject({
      level: 'INFO',
      service: 'lgtm-fleet-reconcile',
      function_name: 'LgtmFleet-Reconcile',
      function_request_id: 'request-from-harness',
      cold_start: true,
      requested: 1,
    });

    const emf = emfDocuments(run.jsonLines);
    const namespaces = emf.map(
      (line) => (line._aws as { CloudWatchMetrics: Array<{ Namespace: string }> }).CloudWatchMetrics[0]?.Namespace,
    );
    expect(new Set(namespaces)).toEqual(new Set(['LgtmFleet']));
    expect(emf).toContainEqual(expect.objectContaining({ ColdStart: 1, function_name: 'LgtmFleet-Reconcile' }));
    expect(emf).toContainEqual(expect.objectContaining({ service: 'lgtm-fleet-reconcile', ReconcileCandidates: 1, ReconcileRequested: 1 }));
  });

  test('a failed PutEvents fails the invocation with the AWS error, logged with the Lambda context', () => {
    const run = runHandler(TEST_ENV, SCHEDULED_EVENT, { HARNESS_PUT_EVENTS: 'denied' });

    expect(run.status).toBe(1);
    expect(run.stderr).toContain('AccessDeniedException: not authorized');
    expect(run.result).toBeUndefined();
    expect(run.jsonLines.find((line) => line.level === 'ERROR')).toMatchObject({
      function_name: 'LgtmFleet-Reconcile',
      operation: 'PutEvents',
      errorName: 'AccessDeniedException',
      candidates: 1,
      requested: 0,
    });
    // Metrics are flushed for a failed run too.
    expect(emfDocuments(run.jsonLines)).toContainEqual(expect.objectContaining({ ReconcileCandidates: 1, ReconcileRequested: 0 }));
  });

  test('a missing variable fails the cold start with its name', () => {
    const { EVENT_BUS_NAME: _missing, ...env } = TEST_ENV;

    const run = runHandler(env, SCHEDULED_EVENT);

    expect(run.status).toBe(1);
    expect(run.stderr).toContain('EnvironmentError: environment variable EVENT_BUS_NAME is missing or empty');
    expect(run.result).toBeUndefined();
  });
});
