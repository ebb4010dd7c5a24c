import * as path from 'node:path';
import { type HandlerRun, runHandlerProcess } from '../handler-process';
import { STOPPED_TASK, stoppedTask, TASK_ADDRESS, unusedPortUrl } from './fake-ring-page';

/**
 * The real handler entry, run by handler-harness.ts in a child Node process (see there why), with
 * the environment a deployed function gets and Mimir's ring page stood in for on 127.0.0.1. Covers what the
 * logic tests cannot: settings read at module load, the middy chain, the logger's Lambda context
 * and the metrics flush, also when the handler throws.
 */
const HARNESS = path.join(__dirname, 'handler-harness.ts');

function runHandler(env: Record<string, string>, event: unknown): HandlerRun {
  return runHandlerProcess(HARNESS, 'lgtm-fleet-ring-forget', env, event);
}

/** RING_PAGE_URL on a free port, where the harness starts the ring page's stand-in answering `status`. */
async function ringPageAnswering(status: number): Promise<Record<string, string>> {
  return { RING_PAGE_URL: await unusedPortUrl(), HARNESS_RING_ANSWER: String(status) };
}

describe('ring-forget handler entry', () => {
  test('forgets the task’s ring entry through middy, with the Lambda context in logs and metrics flushed', async () => {
    const run = runHandler(await ringPageAnswering(302), STOPPED_TASK);

    expect(run.stderr).not.toMatch(/EnvironmentError/);
    expect(run.status).toBe(0);
    expect(run.result).toEqual({
      response: { result: 'forgotten', taskArn: expect.stringContaining(':task/'), address: TASK_ADDRESS, status: 302 },
      requests: [
        { method: 'POST', path: '/ingester/ring', contentType: 'application/x-www-form-urlencoded', body: `forget=${TASK_ADDRESS}` },
      ],
    });
    expect(run.jsonLines.find((line) => line.message === 'ingester ring entry forgotten')).toMatchObject({
      level: 'INFO',
      service: 'lgtm-fleet-ring-forget',
      function_name: 'LgtmFleet-RingForget',
      function_request_id: 'request-from-harness',
      cold_start: true,
      address: TASK_ADDRESS,
    });
    expect(run.emf).toContainEqual(expect.objectContaining({ ColdStart: 1, function_name: 'LgtmFleet-RingForget' }));
    expect(run.emf).toContainEqual(expect.objectContaining({ service: 'lgtm-fleet-ring-forget', IngesterEntriesForgotten: 1 }));
  });

  test('a malformed event fails the invocation with the field named, and is counted', async () => {
    const run = runHandler(await ringPageAnswering(302), stoppedTask({ lastStatus: 'RUNNING' }));

    expect(run.result).toMatchObject({
      error: { name: 'MalformedEventError', message: expect.stringContaining('detail.lastStatus') },
      requests: [],
    });
    expect(run.emf).toContainEqual(expect.objectContaining({ MalformedEvents: 1 }));
  });

  test('an error answer from the ring page fails the invocation, so Lambda retries it; the error is logged', async () => {
    const run = runHandler(await ringPageAnswering(500), STOPPED_TASK);

    expect(run.result).toMatchObject({
      error: { name: 'RingForgetError' },
      requests: [expect.objectContaining({ body: `forget=${TASK_ADDRESS}` })],
    });
    expect(run.jsonLines.find((line) => line.level === 'ERROR')).toMatchObject({
      message: 'ingester ring entry not forgotten; the invocation will be retried',
      status: 500,
      function_request_id: 'request-from-harness',
    });
    expect(run.emf).toContainEqual(expect.objectContaining({ IngesterForgetFailures: 1 }));
  });

  test('a missing RING_PAGE_URL fails the cold start with its name', () => {
    const run = runHandler({}, STOPPED_TASK);

    expect(run.status).toBe(1);
    expect(run.stderr).toContain('EnvironmentError: environment variable RING_PAGE_URL is missing or empty');
    expect(run.result).toBeUndefined();
  });
});
