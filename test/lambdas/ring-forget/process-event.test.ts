import { METRIC } from '../../../lambdas/ring-forget/process-event';
import { recordLogs } from '../fault-table';
import { FakeMimir, RingForgetAccount, STOPPED_TASK, stoppedTask, TASK_ADDRESS, unusedPortUrl } from './fake-mimir';

const TASK_ARN = (STOPPED_TASK.detail as { taskArn: string }).taskArn;
const FORGET = { method: 'POST', path: '/ingester/ring', contentType: 'application/x-www-form-urlencoded', body: `forget=${TASK_ADDRESS}` };

let mimir: FakeMimir;
let account: RingForgetAccount;

beforeEach(async () => {
  mimir = await FakeMimir.start();
  account = new RingForgetAccount();
});

afterEach(async () => {
  await mimir.stop();
});

describe('a stopped task with a network address', () => {
  test.each([302, 200])('posts forget=<address> to the ingester ring page; a %s answer is done', async (status) => {
    mimir.answerWith(status);

    const result = await account.process(STOPPED_TASK, mimir.url);

    expect(result).toEqual({ result: 'forgotten', taskArn: TASK_ARN, address: TASK_ADDRESS, status });
    expect(mimir.requests).toEqual([FORGET]);
    expect(account.metricValues).toEqual(new Map([[METRIC.forgotten, 1]]));
  });

  test('does not follow the redirect (it points at the ring page, a GET that would render it)', async () => {
    await account.process(STOPPED_TASK, mimir.url);

    expect(mimir.requests.map((request) => request.method)).toEqual(['POST']);
  });

  test('logs the task, why it stopped and the address forgotten', async () => {
    const logs = recordLogs(account.logger);

    await account.process(STOPPED_TASK, mimir.url);

    expect(logs).toEqual([
      {
        level: 'info',
        message: 'ingester ring entry forgotten',
        extra: expect.objectContaining({
          eventId: STOPPED_TASK.id,
          taskArn: TASK_ARN,
          group: 'service:LgtmFleet-MimirBackendService1965E86A-x7KpQ2mZr9Tw',
          stopCode: 'EssentialContainerExited',
          address: TASK_ADDRESS,
          url: `${mimir.url}/ingester/ring`,
          status: 302,
        }),
      },
    ]);
  });

  test('a base URL with a trailing slash still reaches /ingester/ring', async () => {
    await account.process(STOPPED_TASK, `${mimir.url}/`);

    expect(mimir.requests.map((request) => request.path)).toEqual(['/ingester/ring']);
  });

  test('the same event delivered twice forgets twice, and both succeed (the second changes nothing in the ring)', async () => {
    const first = await account.process(STOPPED_TASK, mimir.url);
    const second = await account.process(STOPPED_TASK, mimir.url);

    expect(second).toEqual(first);
    expect(mimir.requests).toEqual([FORGET, FORGET]);
    expect(account.metricValues.get(METRIC.forgotten)).toBe(2);
  });
});

describe('a task that stopped before its network interface was attached', () => {
  test.each([
    ['no attachments', { attachments: undefined }],
    ['an empty attachment list', { attachments: [] }],
    ['an interface without details', { attachments: [{ id: 'b2f4c6d8', type: 'eni', status: 'PRECREATED' }] }],
    [
      'an interface without an address yet',
      {
        attachments: [
          { id: 'b2f4c6d8', type: 'eni', status: 'PRECREATED', details: [{ name: 'subnetId', value: 'subnet-0a1b2c3d4e5f60718' }] },
        ],
      },
    ],
  ])('%s: nothing to forget, no request, returned normally', async (_case, detail) => {
    const logs = recordLogs(account.logger);

    const result = await account.process(stoppedTask(detail), mimir.url);

    expect(result).toEqual({ result: 'no-address', taskArn: TASK_ARN });
    expect(mimir.requests).toEqual([]);
    expect(account.metricValues).toEqual(new Map([[METRIC.withoutAddress, 1]]));
    expect(logs.map((line) => [line.level, line.message])).toEqual([
      ['info', 'task stopped without a network address: no ring entry to forget'],
    ]);
  });
});

describe('a malformed event is thrown with the field, for the dead-letter queue, and Mimir is not called', () => {
  test.each([
    ['missing detail', { ...STOPPED_TASK, detail: undefined }, 'detail:'],
    ['another detail-type', { ...STOPPED_TASK, 'detail-type': 'ECS Container Instance State Change' }, 'detail-type:'],
    ['a task not stopped', stoppedTask({ lastStatus: 'RUNNING' }), 'detail.lastStatus:'],
    ['no task ARN', stoppedTask({ taskArn: '' }), 'detail.taskArn:'],
    ['an attachment without a type', stoppedTask({ attachments: [{ details: [] }] }), 'detail.attachments.0.type:'],
    [
      'an address that is no IPv4 address',
      stoppedTask({
        attachments: [
          {
            type: 'eni',
            details: [
              { name: 'subnetId', value: 'subnet-0a1b2c3d4e5f60718' },
              { name: 'privateIPv4Address', value: '10.0.3' },
            ],
          },
        ],
      }),
      'detail.attachments.0.details.1.value: privateIPv4Address is not an IPv4 address: "10.0.3"',
    ],
  ])('%s', async (_case, event, field) => {
    const logs = recordLogs(account.logger);

    const error = await account.process(event, mimir.url).catch((thrown: unknown) => thrown);

    expect(error).toMatchObject({ name: 'MalformedEventError', message: expect.stringContaining(field) });
    expect(mimir.requests).toEqual([]);
    expect(account.metricValues).toEqual(new Map([[METRIC.malformedEvents, 1]]));
    expect(logs).toEqual([
      {
        level: 'error',
        message: 'malformed event',
        extra: expect.objectContaining({ reason: 'malformed-event', detail: (error as Error).message }),
      },
    ]);
  });

  test('not an object at all', async () => {
    await expect(account.process('not an event', mimir.url)).rejects.toThrow('invalid "ECS Task State Change" event: (root):');
  });
});

describe('Mimir failing is thrown, so that Lambda retries the invocation', () => {
  test('an error answer: the status and Mimir’s message are in the error and the log', async () => {
    mimir.answerWith(500);
    const logs = recordLogs(account.logger);

    const error = await account.process(STOPPED_TASK, mimir.url).catch((thrown: unknown) => thrown);

    expect(error).toMatchObject({
      name: 'RingForgetError',
      message: `forgetting ingester ${TASK_ADDRESS} at ${mimir.url}/ingester/ring failed: Mimir answered 500: answered 500`,
    });
    expect(mimir.requests).toEqual([FORGET]);
    expect(account.metricValues).toEqual(new Map([[METRIC.forgetFailed, 1]]));
    expect(logs).toEqual([
      {
        level: 'error',
        message: 'ingester ring entry not forgotten; the invocation will be retried',
        extra: expect.objectContaining({ taskArn: TASK_ARN, address: TASK_ADDRESS, status: 500, answer: 'answered 500' }),
      },
    ]);
  });

  test('a 4xx answer fails too (the call is not one Mimir understood)', async () => {
    mimir.answerWith(404);

    await expect(account.process(STOPPED_TASK, mimir.url)).rejects.toThrow('Mimir answered 404');
  });

  test('connection refused', async () => {
    const url = await unusedPortUrl();

    const error = await account.process(STOPPED_TASK, url).catch((thrown: unknown) => thrown);

    expect(error).toMatchObject({
      name: 'RingForgetError',
      message: expect.stringContaining('no answer: TypeError: fetch failed (ECONNREFUSED)'),
    });
    expect((error as Error).cause).toMatchObject({ name: 'TypeError', cause: { code: 'ECONNREFUSED' } });
    expect(account.metricValues).toEqual(new Map([[METRIC.forgetFailed, 1]]));
  });

  test('no answer within the timeout', async () => {
    mimir.answerWith('never');
    const started = Date.now();

    const error = await account.process(STOPPED_TASK, mimir.url, { timeoutMs: 200 }).catch((thrown: unknown) => thrown);

    expect(error).toMatchObject({ name: 'RingForgetError', message: expect.stringContaining('no answer: TimeoutError') });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(mimir.requests).toEqual([FORGET]);
  });
});
