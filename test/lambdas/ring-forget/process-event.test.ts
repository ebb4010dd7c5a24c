import { METRIC } from '../../../lambdas/ring-forget/process-event';
import { recordLogs } from '../fault-table';
import { FakeRingPage, RING_PAGES, RingForgetAccount, STOPPED_TASK, stoppedTask, TASK_ADDRESS, unusedPortUrl } from './fake-ring-page';

const TASK_ARN = (STOPPED_TASK.detail as { taskArn: string }).taskArn;
const FORGET = { method: 'POST', path: '/ingester/ring', contentType: 'application/x-www-form-urlencoded', body: `forget=${TASK_ADDRESS}` };

let page: FakeRingPage;
let account: RingForgetAccount;

beforeEach(async () => {
  page = await FakeRingPage.start();
  account = new RingForgetAccount();
});

afterEach(async () => {
  await page.stop();
});

describe('a stopped task with a network address', () => {
  test.each([302, 200])('posts forget=<address> to the ingester ring page; a %s answer is done', async (status) => {
    page.answerWith(status);

    const result = await account.process(STOPPED_TASK, page.url());

    expect(result).toEqual({ result: 'forgotten', taskArn: TASK_ARN, address: TASK_ADDRESS, status });
    expect(page.requests).toEqual([FORGET]);
    expect(account.metricValues).toEqual(new Map([[METRIC.forgotten, 1]]));
  });

  test('does not follow the redirect (it points at the ring page, a GET that would render it)', async () => {
    await account.process(STOPPED_TASK, page.url());

    expect(page.requests.map((request) => request.method)).toEqual(['POST']);
  });

  test('logs the task, why it stopped and the address forgotten', async () => {
    const logs = recordLogs(account.logger);

    await account.process(STOPPED_TASK, page.url());

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
          url: page.url(RING_PAGES.Mimir),
          status: 302,
        }),
      },
    ]);
  });

  test.each(Object.entries(RING_PAGES))('posts to the page RING_PAGE_URL names, as given: %s’s %s', async (_backend, path) => {
    const result = await account.process(STOPPED_TASK, page.url(path));

    expect(result).toMatchObject({ result: 'forgotten', address: TASK_ADDRESS });
    expect(page.requests).toEqual([{ ...FORGET, path }]);
  });

  test('the same event delivered twice forgets twice, and both succeed (the second changes nothing in the ring)', async () => {
    const first = await account.process(STOPPED_TASK, page.url());
    const second = await account.process(STOPPED_TASK, page.url());

    expect(second).toEqual(first);
    expect(page.requests).toEqual([FORGET, FORGET]);
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

    const result = await account.process(stoppedTask(detail), page.url());

    expect(result).toEqual({ result: 'no-address', taskArn: TASK_ARN });
    expect(page.requests).toEqual([]);
    expect(account.metricValues).toEqual(new Map([[METRIC.withoutAddress, 1]]));
    expect(logs.map((line) => [line.level, line.message])).toEqual([
      ['info', 'task stopped without a network address: no ring entry to forget'],
    ]);
  });
});

describe('a malformed event is thrown with the field, for the dead-letter queue, and the ring page is not called', () => {
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

    const error = await account.process(event, page.url()).catch((thrown: unknown) => thrown);

    expect(error).toMatchObject({ name: 'MalformedEventError', message: expect.stringContaining(field) });
    expect(page.requests).toEqual([]);
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
    await expect(account.process('not an event', page.url())).rejects.toThrow('invalid "ECS Task State Change" event: (root):');
  });
});

describe('the ring page failing is thrown, so that Lambda retries the invocation', () => {
  test('an error answer: the status and the backend’s message are in the error and the log', async () => {
    page.answerWith(500);
    const logs = recordLogs(account.logger);

    const error = await account.process(STOPPED_TASK, page.url()).catch((thrown: unknown) => thrown);

    expect(error).toMatchObject({
      name: 'RingForgetError',
      message: `forgetting ingester ${TASK_ADDRESS} at ${page.url()} failed: the ring page answered 500: answered 500`,
    });
    expect(page.requests).toEqual([FORGET]);
    expect(account.metricValues).toEqual(new Map([[METRIC.forgetFailed, 1]]));
    expect(logs).toEqual([
      {
        level: 'error',
        message: 'ingester ring entry not forgotten; the invocation will be retried',
        extra: expect.objectContaining({ taskArn: TASK_ARN, address: TASK_ADDRESS, status: 500, answer: 'answered 500' }),
      },
    ]);
  });

  test('a 4xx answer fails too (the call is not one the backend understood)', async () => {
    page.answerWith(404);

    await expect(account.process(STOPPED_TASK, page.url())).rejects.toThrow('the ring page answered 404');
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
    page.answerWith('never');
    const started = Date.now();

    const error = await account.process(STOPPED_TASK, page.url(), { timeoutMs: 200 }).catch((thrown: unknown) => thrown);

    expect(error).toMatchObject({ name: 'RingForgetError', message: expect.stringContaining('no answer: TimeoutError') });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(page.requests).toEqual([FORGET]);
  });
});
