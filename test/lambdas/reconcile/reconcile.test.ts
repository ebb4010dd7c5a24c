import { DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import { DescribeInstanceInformationCommand } from '@aws-sdk/client-ssm';
import { parseRecord } from '../../../lambdas/enroll/requests';
import { ReconcileError } from '../../../lambdas/reconcile/reconcile';
import type { ReconcileSkipReason } from '../../../lambdas/reconcile/select';
import { sqsRecord } from '../fixtures';
import { awsError, FakeFleet, type FleetInstance, instanceId, refuseAt, testSettings } from './fake-fleet';

const NOW = new Date('2026-11-23T12:30:00Z');
const TENANT = 'lgtm:tenant';
const OPT_OUT = 'lgtm:opt-out';
const STATUS = 'lgtm:agent-status';
const VERSION = 'lgtm:agent-version';
const SINCE = 'lgtm:agent-pending-since';

/** The first DescribeInstanceInformation call of the full listing of online EC2 nodes. */
const FULL_LISTING_FIRST_PAGE = {
  Filters: [
    { Key: 'PingStatus', Values: ['Online'] },
    { Key: 'ResourceType', Values: ['EC2Instance'] },
  ],
  MaxResults: 50,
  NextToken: undefined,
};

function minutesAgo(minutes: number): string {
  return new Date(NOW.getTime() - minutes * 60_000).toISOString();
}

/** `count` running, online, untagged instances with no enrollment history, numbered from `from`. */
function unenrolled(count: number, from = 1): FleetInstance[] {
  return Array.from({ length: count }, (_, index) => ({ id: instanceId(from + index) }));
}

function enrolled(count: number, from: number): FleetInstance[] {
  return Array.from({ length: count }, (_, index) => ({
    id: instanceId(from + index),
    tags: { [TENANT]: 'team-a', [STATUS]: 'success', [VERSION]: '1.21.0', [SINCE]: minutesAgo(600) },
  }));
}

type Expected = 'request' | ReconcileSkipReason | 'not-counted';

/** Each instance with what the backstop must do with it: with DEFAULT_TENANT set, and without. */
const MIXED: ReadonlyArray<{ name: string; instance: FleetInstance; expected: Expected; withoutDefault?: Expected }> = [
  {
    name: 'enrolled with the pinned version',
    instance: { id: instanceId(0x101), tags: { [TENANT]: 'team-a', [STATUS]: 'success', [VERSION]: '1.21.0', [SINCE]: minutesAgo(600) } },
    expected: 'already-enrolled',
  },
  {
    name: 'enrolled, status with a suffix',
    instance: { id: instanceId(0x102), tags: { [TENANT]: 'team-a', [STATUS]: 'success:config-3', [VERSION]: '1.21.0' } },
    expected: 'already-enrolled',
  },
  {
    name: 'enrolled with an older version',
    instance: { id: instanceId(0x103), tags: { [TENANT]: 'team-a', [STATUS]: 'success', [VERSION]: '1.20.0', [SINCE]: minutesAgo(2000) } },
    expected: 'request',
  },
  {
    name: 'pending, sent 5 minutes ago',
    instance: { id: instanceId(0x104), tags: { [TENANT]: 'team-a', [STATUS]: 'pending', [SINCE]: minutesAgo(5) } },
    expected: 'enrollment-in-flight',
  },
  {
    name: 'pending, sent 20 minutes ago (timeout 15)',
    instance: { id: instanceId(0x105), tags: { [TENANT]: 'team-a', [STATUS]: 'pending', [SINCE]: minutesAgo(20) } },
    expected: 'request',
  },
  {
    name: 'pending with an unreadable time',
    instance: { id: instanceId(0x106), tags: { [TENANT]: 'team-a', [STATUS]: 'pending', [SINCE]: 'soon' } },
    expected: 'request',
  },
  {
    name: 'failed, sent 30 minutes ago (backoff 60)',
    instance: { id: instanceId(0x107), tags: { [TENANT]: 'team-a', [STATUS]: 'failed', [SINCE]: minutesAgo(30) } },
    expected: 'failed-backoff',
  },
  {
    name: 'failed, sent 61 minutes ago',
    instance: { id: instanceId(0x108), tags: { [TENANT]: 'team-a', [STATUS]: 'failed', [SINCE]: minutesAgo(61) } },
    expected: 'request',
  },
  {
    name: 'failed without a send time',
    instance: { id: instanceId(0x109), tags: { [TENANT]: 'team-a', [STATUS]: 'failed' } },
    expected: 'request',
  },
  { name: 'opted out', instance: { id: instanceId(0x10a), tags: { [TENANT]: 'team-a', [OPT_OUT]: 'true' } }, expected: 'opted-out' },
  { name: 'opted out, untagged, odd case', instance: { id: instanceId(0x10b), tags: { [OPT_OUT]: ' TRUE ' } }, expected: 'opted-out' },
  {
    name: 'opt-out tag false',
    instance: { id: instanceId(0x10c), tags: { [TENANT]: 'team-a', [OPT_OUT]: 'false' } },
    expected: 'request',
  },
  { name: 'untagged', instance: { id: instanceId(0x10d) }, expected: 'request', withoutDefault: 'untagged' },
  {
    name: 'blank tenant tag',
    instance: { id: instanceId(0x10e), tags: { [TENANT]: ' ' } },
    expected: 'request',
    withoutDefault: 'untagged',
  },
  {
    name: 'stopped, SSM still says online (DescribeInstances lists running instances only)',
    instance: { id: instanceId(0x10f), state: 'stopped', tags: { [TENANT]: 'team-a' } },
    expected: 'not-counted',
  },
  {
    name: 'stopping, SSM connection lost',
    instance: { id: instanceId(0x110), state: 'stopping', ssm: 'ConnectionLost' },
    expected: 'not-counted',
  },
  {
    name: 'running, SSM connection lost',
    instance: { id: instanceId(0x111), ssm: 'ConnectionLost', tags: { [TENANT]: 'team-a' } },
    expected: 'ssm-not-online',
  },
  {
    name: 'running, never registered with SSM',
    instance: { id: instanceId(0x112), ssm: 'none', tags: { [TENANT]: 'team-a' } },
    expected: 'ssm-not-online',
  },
  {
    name: 'not online and opted out',
    instance: { id: instanceId(0x113), ssm: 'none', tags: { [OPT_OUT]: 'true' } },
    expected: 'opted-out',
  },
  {
    name: 'a Mac instance',
    instance: { id: instanceId(0x114), architecture: 'x86_64_mac', tags: { [TENANT]: 'team-a' } },
    expected: 'unsupported-platform',
  },
  { name: 'Windows', instance: { id: instanceId(0x115), platform: 'windows', tags: { [TENANT]: 'team-a' } }, expected: 'request' },
  {
    name: 'failed long ago but opted out since',
    instance: { id: instanceId(0x116), tags: { [TENANT]: 'team-a', [STATUS]: 'failed', [SINCE]: minutesAgo(600), [OPT_OUT]: 'true' } },
    expected: 'opted-out',
  },
  {
    name: 'stale pending, SSM connection lost',
    instance: { id: instanceId(0x117), ssm: 'ConnectionLost', tags: { [TENANT]: 'team-a', [STATUS]: 'pending', [SINCE]: minutesAgo(60) } },
    expected: 'ssm-not-online',
  },
  {
    name: 'a hybrid-activated machine (mi-)',
    instance: { id: 'mi-0123456789abcdef0', ssmResourceType: 'ManagedInstance' },
    expected: 'not-counted',
  },
];

function expectedIds(outcome: Expected, withoutDefault = false): string[] {
  return MIXED.filter((item) => (withoutDefault ? (item.withoutDefault ?? item.expected) : item.expected) === outcome).map(
    (item) => item.instance.id,
  );
}

describe('selection on a mixed fleet', () => {
  test('requests exactly the running, online instances due for enrollment, in one event', async () => {
    const fleet = new FakeFleet(MIXED.map((item) => item.instance));

    const summary = await fleet.run(NOW);

    const requested = expectedIds('request');
    expect(requested).toHaveLength(9);
    expect(fleet.putEventsCalls()).toEqual([
      [{ EventBusName: 'LgtmFleet', Source: 'lgtm-fleet', DetailType: 'Reconcile Enrollment', Detail: expect.any(String) }],
    ]);
    expect([...fleet.requestedIds()].sort()).toEqual([...requested].sort());
    // Least recently attempted first: the three with a readable send time come last, oldest first.
    expect(fleet.requestedIds().slice(-3)).toEqual([instanceId(0x103), instanceId(0x108), instanceId(0x105)]);
    expect(summary).toEqual({
      // Not running: 0x10f and 0x110; the mi- machine is not an EC2 instance.
      running: 21,
      // Due on every rule but the online check: the 9 requested and 0x111, 0x112, 0x117.
      checkedOnline: 12,
      // ceil(12 / 50) calls by ID would be no fewer than ceil(21 / 50) for the full listing.
      onlineLookup: 'full-listing',
      candidates: 9,
      requested: 9,
      deferred: 0,
      events: 1,
      skippedByReason: {
        'already-enrolled': 2,
        'enrollment-in-flight': 1,
        'failed-backoff': 1,
        'opted-out': 4,
        'ssm-not-online': 3,
        'unsupported-platform': 1,
      },
    });
    expect(fleet.metricValues).toEqual(
      new Map([
        ['ReconcileCandidates', 9],
        ['ReconcileRequested', 9],
      ]),
    );
    expect(fleet.logged('reconciliation finished')?.extra).toMatchObject({ candidates: 9, requested: 9, checkedOnline: 12 });
    expect(fleet.logged('enrollment requested')?.extra.instanceIds).toEqual(fleet.requestedIds());
  });

  test('asking SSM by instance ID selects the same instances as the full listing', async () => {
    // 100 enrolled instances more make the 12 due instances one call by ID against three pages.
    const fleet = new FakeFleet([...MIXED.map((item) => item.instance), ...enrolled(100, 0x1000)]);

    const summary = await fleet.run(NOW);

    expect([...fleet.requestedIds()].sort()).toEqual([...expectedIds('request')].sort());
    expect(fleet.describeInstanceInformationInputs()).toEqual([
      { Filters: [{ Key: 'InstanceIds', Values: [...expectedIds('request'), ...expectedIds('ssm-not-online')].sort() }], MaxResults: 50 },
    ]);
    expect(summary).toMatchObject({
      running: 121,
      checkedOnline: 12,
      onlineLookup: 'instance-ids',
      candidates: 9,
      skippedByReason: { 'already-enrolled': 102, 'ssm-not-online': 3 },
    });
  });

  test('without a default tenant, untagged instances are left alone', async () => {
    const fleet = new FakeFleet(MIXED.map((item) => item.instance));

    const summary = await fleet.run(NOW, testSettings({ DEFAULT_TENANT: '' }));

    expect([...fleet.requestedIds()].sort()).toEqual([...expectedIds('request', true)].sort());
    expect(fleet.requestedIds()).not.toContain(instanceId(0x10d));
    expect(summary.skippedByReason.untagged).toBe(2);
    expect(summary.candidates).toBe(7);
  });

  test('with ALLOWED_TENANTS, other tenants are not requested; without it the enroll handler decides', async () => {
    const instances = [
      { id: instanceId(1), tags: { [TENANT]: 'team-a' } },
      { id: instanceId(2), tags: { [TENANT]: 'team-b' } },
    ];
    const restricted = new FakeFleet(instances);
    const open = new FakeFleet(instances);

    const summary = await restricted.run(NOW, testSettings({ ALLOWED_TENANTS: 'aws-rag-ec2,team-a' }));
    await open.run(NOW);

    expect(restricted.requestedIds()).toEqual([instanceId(1)]);
    expect(summary.skippedByReason).toEqual({ 'tenant-not-allowed': 1 });
    expect([...open.requestedIds()].sort()).toEqual([instanceId(1), instanceId(2)]);
  });

  test('nothing due: no PutEvents call', async () => {
    const fleet = new FakeFleet(enrolled(30, 1));

    const summary = await fleet.run(NOW);

    expect(fleet.putEventsCalls()).toEqual([]);
    expect(fleet.describeInstanceInformationInputs()).toEqual([]);
    expect(summary).toMatchObject({ running: 30, checkedOnline: 0, onlineLookup: 'none', candidates: 0, requested: 0, events: 0 });
    expect(fleet.metricValues).toEqual(
      new Map([
        ['ReconcileCandidates', 0],
        ['ReconcileRequested', 0],
      ]),
    );
  });
});

describe('events', () => {
  test('120 candidates: 3 events of at most 50 IDs in one PutEvents call', async () => {
    const fleet = new FakeFleet(unenrolled(120));

    const summary = await fleet.run(NOW);

    const calls = fleet.putEventsCalls();
    expect(calls).toHaveLength(1);
    const sizes = calls[0]?.map((entry) => (JSON.parse(entry.Detail ?? '') as { instanceIds: string[] }).instanceIds.length);
    expect(sizes).toEqual([50, 50, 20]);
    expect(new Set(fleet.requestedIds())).toEqual(new Set(unenrolled(120).map((instance) => instance.id)));
    expect(fleet.requestedIds()).toHaveLength(120);
    expect(summary).toMatchObject({ candidates: 120, requested: 120, events: 3 });
  });

  test('each event is one the enroll handler accepts as a reconcile request', async () => {
    const fleet = new FakeFleet(unenrolled(75));
    await fleet.run(NOW);

    const entries = fleet.putEventsCalls().flat();
    expect(entries).toHaveLength(2);
    for (const [index, entry] of entries.entries()) {
      // What the rule delivers to the enrollment queue: EventBridge's envelope around the entry.
      const delivered = {
        version: '0',
        id: `delivered-${index}`,
        'detail-type': entry.DetailType,
        source: entry.Source,
        account: '123456789012',
        time: '2026-11-23T12:30:01Z',
        region: 'ap-northeast-2',
        resources: [],
        detail: JSON.parse(entry.Detail ?? ''),
      };
      const parsed = parseRecord(sqsRecord(delivered), 'lgtm-fleet');
      expect(parsed).toMatchObject({ kind: 'request', request: { eventType: 'reconcile' } });
      expect(parsed.kind === 'request' && parsed.request.instanceIds).toEqual(delivered.detail.instanceIds);
    }
  });
});

describe('work per run', () => {
  test('2,000 candidates with MAX_INSTANCES_PER_RUN 500: 500 requested, the rest logged for the next run', async () => {
    const fleet = new FakeFleet(unenrolled(2000));

    const summary = await fleet.run(NOW);

    expect(fleet.putEventsCalls()).toHaveLength(1);
    expect(fleet.putEventsCalls()[0]).toHaveLength(10);
    expect(new Set(fleet.requestedIds()).size).toBe(500);
    expect(summary).toMatchObject({ candidates: 2000, requested: 500, deferred: 1500, events: 10 });
    expect(fleet.logged(/left for the next run/)).toEqual({
      level: 'info',
      message: 'more candidates than one run may request: the rest are left for the next run',
      extra: { candidates: 2000, requesting: 500, deferred: 1500, maxInstancesPerRun: 500 },
    });
    expect(fleet.metricValues).toEqual(
      new Map([
        ['ReconcileCandidates', 2000],
        ['ReconcileRequested', 500],
      ]),
    );
  });

  test('never-attempted instances go first, then the oldest attempts', async () => {
    const failedLongAgo = Array.from({ length: 300 }, (_, index) => ({
      id: instanceId(5000 + index),
      // Instance 5000 + i failed after a command sent 61 + i minutes ago.
      tags: { [STATUS]: 'failed', [SINCE]: minutesAgo(61 + index) },
    }));
    const fleet = new FakeFleet([...failedLongAgo, ...unenrolled(400, 1)]);

    await fleet.run(NOW);

    const requested = new Set(fleet.requestedIds());
    expect(requested.size).toBe(500);
    for (const instance of unenrolled(400, 1)) expect(requested.has(instance.id)).toBe(true);
    const oldestHundred = failedLongAgo.slice(200).map((instance) => instance.id);
    expect(fleet.requestedIds().slice(400)).toEqual([...oldestHundred].reverse());
  });
});

describe('paging', () => {
  test('follows NextToken through every page of both fleet-wide look-ups, also when a page holds fewer items than asked for', async () => {
    // Every instance due: the full listing of online nodes costs no more than asking by ID.
    const fleet = new FakeFleet(unenrolled(2345), { ec2PageLimit: 400 });

    const summary = await fleet.run(NOW, testSettings({ MAX_INSTANCES_PER_RUN: '10000' }));

    const ssmInputs = fleet.describeInstanceInformationInputs();
    expect(ssmInputs).toHaveLength(47);
    expect(ssmInputs[0]).toEqual(FULL_LISTING_FIRST_PAGE);
    expect(ssmInputs.map((input) => input.NextToken)).toEqual([
      undefined,
      ...Array.from({ length: 46 }, (_, page) => `page-${(page + 1) * 50}`),
    ]);

    const ec2Inputs = fleet.describeInstancesInputs();
    expect(ec2Inputs).toEqual(
      [undefined, 'page-400', 'page-800', 'page-1200', 'page-1600', 'page-2000'].map((NextToken) => ({
        Filters: [{ Name: 'instance-state-name', Values: ['running'] }],
        MaxResults: 1000,
        NextToken,
      })),
    );

    expect(summary).toMatchObject({ running: 2345, checkedOnline: 2345, onlineLookup: 'full-listing', candidates: 2345, requested: 2345 });
    expect(fleet.putEventsCalls()).toHaveLength(5);
  });

  test('follows NextToken within a chunk of instance IDs when SSM returns fewer items than asked for', async () => {
    const fleet = new FakeFleet([...enrolled(880, 1), ...unenrolled(120, 20_000)], { ssmPageLimit: 20 });

    const summary = await fleet.run(NOW);

    const chunks = fleet.describeInstanceInformationInputs().map((input) => ({
      ids: input.Filters?.[0]?.Values?.length,
      nextToken: input.NextToken,
    }));
    expect(chunks).toEqual([
      { ids: 50, nextToken: undefined },
      { ids: 50, nextToken: 'page-20' },
      { ids: 50, nextToken: 'page-40' },
      { ids: 50, nextToken: undefined },
      { ids: 50, nextToken: 'page-20' },
      { ids: 50, nextToken: 'page-40' },
      { ids: 20, nextToken: undefined },
    ]);
    expect(summary).toMatchObject({ onlineLookup: 'instance-ids', candidates: 120, requested: 120 });
  });
});

describe('failures', () => {
  test('PutEvents refusing an entry: the entry is sent once more on its own, after a pause', async () => {
    const fleet = new FakeFleet(unenrolled(120)).onNextPutEvents(refuseAt(1));

    const summary = await fleet.run(NOW);

    const calls = fleet.putEventsCalls();
    expect(calls).toHaveLength(2);
    expect(calls[1]).toEqual([calls[0]?.[1]]);
    expect(fleet.sleeps).toEqual([1000]);
    expect(summary).toMatchObject({ requested: 120, events: 3 });
  });

  test('PutEvents refusing the entry again: the run fails naming it, after publishing the rest', async () => {
    const fleet = new FakeFleet(unenrolled(120)).onNextPutEvents(refuseAt(1)).onNextPutEvents(refuseAt(0));

    await expect(fleet.run(NOW)).rejects.toThrow(
      new ReconcileError('1 Reconcile Enrollment event(s) for 50 instance(s) refused by PutEvents after one retry: InternalFailure'),
    );

    const calls = fleet.putEventsCalls();
    expect(calls).toHaveLength(2);
    const refusedIds = (JSON.parse(calls[0]?.[1]?.Detail ?? '') as { instanceIds: string[] }).instanceIds;
    const error = fleet.logs.find((line) => line.level === 'error');
    expect(error?.extra).toMatchObject({
      requested: 70,
      refused: [{ errorCode: 'InternalFailure', errorMessage: 'Internal service error', instanceIds: refusedIds }],
    });
    expect(fleet.metricValues.get('ReconcileRequested')).toBe(70);
  });

  test('a batch still refused does not stop the next batch from being sent', async () => {
    const fleet = new FakeFleet(unenrolled(1000)).onNextPutEvents(refuseAt(0)).onNextPutEvents(refuseAt(0));

    await expect(fleet.run(NOW, testSettings({ MAX_INSTANCES_PER_RUN: '1000' }))).rejects.toThrow(ReconcileError);

    expect(fleet.putEventsCalls().map((entries) => entries.length)).toEqual([10, 1, 10]);
    expect(fleet.metricValues.get('ReconcileRequested')).toBe(950);
  });

  test('PutEvents failing as a whole (access denied) fails the run', async () => {
    const fleet = new FakeFleet(unenrolled(10));
    fleet.onNextPutEvents(() => {
      throw awsError('AccessDeniedException', 'not authorized to perform: events:PutEvents');
    });

    await expect(fleet.run(NOW)).rejects.toMatchObject({ name: 'AccessDeniedException' });

    expect(fleet.putEventsCalls()).toHaveLength(1);
    expect(fleet.logs.find((line) => line.level === 'error')?.extra).toMatchObject({
      operation: 'PutEvents',
      throttled: false,
      errorName: 'AccessDeniedException',
      notPublished: 1,
      candidates: 10,
      requested: 0,
    });
  });

  test('DescribeInstanceInformation throttled (after the SDK retries) on a later page of the full listing: the run fails, nothing is requested', async () => {
    const fleet = new FakeFleet(unenrolled(300));
    fleet.ssm.on(DescribeInstanceInformationCommand, { NextToken: 'page-150' }).rejects(awsError('ThrottlingException', 'Rate exceeded'));

    await expect(fleet.run(NOW)).rejects.toMatchObject({ name: 'ThrottlingException' });

    expect(fleet.ssm.commandCalls(DescribeInstanceInformationCommand)).toHaveLength(4);
    expect(fleet.putEventsCalls()).toEqual([]);
    expect(fleet.metricValues.size).toBe(0);
    expect(fleet.logs.filter((line) => line.level === 'error')).toEqual([
      {
        level: 'error',
        message: 'DescribeInstanceInformation failed after the SDK retries: no enrollment requested; the next scheduled run tries again',
        extra: {
          operation: 'DescribeInstanceInformation',
          throttled: true,
          errorName: 'ThrottlingException',
          errorMessage: 'Rate exceeded',
        },
      },
    ]);
  });

  test.each([
    ['throttled (after the SDK retries)', awsError('ThrottlingException', 'Rate exceeded'), true],
    ['denied', awsError('AccessDeniedException', 'not authorized to perform: ssm:DescribeInstanceInformation'), false],
  ])(
    'DescribeInstanceInformation %s on a chunk of instance IDs: the run fails at once, without the full listing',
    async (_case, error, throttled) => {
      const fleet = new FakeFleet([...enrolled(880, 1), ...unenrolled(120, 20_000)]);
      const secondChunk = unenrolled(50, 20_050).map((instance) => instance.id);
      fleet.ssm.on(DescribeInstanceInformationCommand, { Filters: [{ Key: 'InstanceIds', Values: secondChunk }] }).rejects(error);

      await expect(fleet.run(NOW)).rejects.toBe(error);

      // The second call is answered by the rejection above, not by the fleet: read every call (their filters are as sent).
      expect(fleet.ssm.commandCalls(DescribeInstanceInformationCommand).map((call) => call.args[0].input.Filters?.[0]?.Key)).toEqual([
        'InstanceIds',
        'InstanceIds',
      ]);
      expect(fleet.putEventsCalls()).toEqual([]);
      expect(fleet.logs.filter((line) => line.level !== 'info')).toEqual([
        {
          level: 'error',
          message: 'DescribeInstanceInformation failed after the SDK retries: no enrollment requested; the next scheduled run tries again',
          extra: { operation: 'DescribeInstanceInformation', throttled, errorName: error.name, errorMessage: error.message },
        },
      ]);
    },
  );

  test('DescribeInstances denied: the run fails before SSM is asked', async () => {
    const fleet = new FakeFleet(unenrolled(120));
    fleet.ec2.on(DescribeInstancesCommand).rejects(awsError('UnauthorizedOperation', 'You are not authorized to perform this operation.'));

    await expect(fleet.run(NOW)).rejects.toMatchObject({ name: 'UnauthorizedOperation' });

    expect(fleet.describeInstanceInformationInputs()).toEqual([]);
    expect(fleet.putEventsCalls()).toEqual([]);
    expect(fleet.logs.find((line) => line.level === 'error')?.extra).toMatchObject({
      operation: 'DescribeInstances',
      throttled: false,
      errorName: 'UnauthorizedOperation',
    });
  });
});

describe('the online check', () => {
  /** `running` running instances, the last `due` of them due for enrollment. */
  function fleetWithDue(running: number, due: number): FakeFleet {
    return new FakeFleet([...enrolled(running - due, 1), ...unenrolled(due, 20_000)]);
  }

  test('120 due of 1,000: three calls by instance ID, 50 at most each; not returned or not Online is not online', async () => {
    const due = [
      ...unenrolled(117, 20_000),
      { id: instanceId(30_001), ssm: 'ConnectionLost' as const },
      { id: instanceId(30_002), ssm: 'none' as const },
      { id: instanceId(30_003), ssm: 'ConnectionLost' as const },
    ];
    const fleet = new FakeFleet([...enrolled(880, 1), ...due]);

    const summary = await fleet.run(NOW);

    const inputs = fleet.describeInstanceInformationInputs();
    expect(inputs.map((input) => input.Filters?.[0]?.Values?.length)).toEqual([50, 50, 20]);
    for (const input of inputs) expect(input).toEqual({ Filters: [{ Key: 'InstanceIds', Values: expect.any(Array) }], MaxResults: 50 });
    expect(inputs.flatMap((input) => input.Filters?.[0]?.Values)).toEqual(due.map((instance) => instance.id));
    expect(new Set(fleet.requestedIds())).toEqual(new Set(unenrolled(117, 20_000).map((instance) => instance.id)));
    expect(summary).toMatchObject({
      running: 1000,
      checkedOnline: 120,
      onlineLookup: 'instance-ids',
      candidates: 117,
      requested: 117,
      skippedByReason: { 'already-enrolled': 880, 'ssm-not-online': 3 },
    });
  });

  test('InvalidInstanceId on a chunk: the full listing is read instead, logged, and the online instances are still requested', async () => {
    // The 60th due instance, in the second chunk, is shutting down: SSM refuses its ID and no longer lists it.
    const refused = instanceId(20_059);
    const fleet = new FakeFleet([
      ...enrolled(880, 1),
      ...unenrolled(120, 20_000).map((instance) =>
        instance.id === refused ? { ...instance, ssm: 'none' as const, ssmRefusesId: true } : instance,
      ),
    ]);

    const summary = await fleet.run(NOW);

    const inputs = fleet.describeInstanceInformationInputs();
    // Two chunks by ID (the second refused), then 999 online nodes in pages of 50; the third chunk is not asked.
    expect(inputs.map((input) => input.Filters?.[0]?.Key)).toEqual(['InstanceIds', 'InstanceIds', ...Array(20).fill('PingStatus')]);
    expect(inputs[2]).toEqual(FULL_LISTING_FIRST_PAGE);
    const online = unenrolled(120, 20_000)
      .map((instance) => instance.id)
      .filter((id) => id !== refused);
    expect([...fleet.requestedIds()].sort()).toEqual(online);
    expect(summary).toMatchObject({
      checkedOnline: 120,
      onlineLookup: 'full-listing',
      candidates: 119,
      requested: 119,
      skippedByReason: { 'already-enrolled': 880, 'ssm-not-online': 1 },
    });
    expect(fleet.logs.filter((line) => line.level !== 'info')).toEqual([
      {
        level: 'warn',
        message: 'DescribeInstanceInformation refused a chunk of instance IDs: listing every online EC2 node instead for this run',
        extra: {
          operation: 'DescribeInstanceInformation',
          errorName: 'InvalidInstanceId',
          errorMessage: `Instances [${refused}] not in a valid state for account`,
          instanceIds: inputs[1]?.Filters?.[0]?.Values,
        },
      },
    ]);
  });

  // By ID while ceil(due / 50) < ceil(running / 50), the full listing's cost bound; otherwise the full listing.
  test.each([
    { running: 200, due: 150, lookup: 'instance-ids', calls: 3 },
    { running: 200, due: 151, lookup: 'full-listing', calls: 4 },
    { running: 1000, due: 990, lookup: 'full-listing', calls: 20 },
    { running: 51, due: 1, lookup: 'instance-ids', calls: 1 },
    { running: 50, due: 1, lookup: 'full-listing', calls: 1 },
  ])('$due due of $running running: $lookup, $calls DescribeInstanceInformation call(s)', async ({ running, due, lookup, calls }) => {
    const fleet = fleetWithDue(running, due);

    const summary = await fleet.run(NOW, testSettings({ MAX_INSTANCES_PER_RUN: '10000' }));

    expect(summary).toMatchObject({ checkedOnline: due, onlineLookup: lookup, candidates: due, requested: due });
    expect(fleet.describeInstanceInformationInputs()).toHaveLength(calls);
  });
});

describe('AWS calls per run', () => {
  test('10,000 running instances, all enrolled: 10 DescribeInstances pages and nothing else', async () => {
    const fleet = new FakeFleet(enrolled(10_000, 1));

    const summary = await fleet.run(NOW);

    expect(summary).toMatchObject({ running: 10_000, checkedOnline: 0, onlineLookup: 'none', candidates: 0, requested: 0 });
    expect(fleet.callsByCommand()).toEqual({ DescribeInstancesCommand: 10 });
  });

  test('1,000 running instances, all enrolled: one call', async () => {
    const fleet = new FakeFleet(enrolled(1000, 1));

    await fleet.run(NOW);

    expect(fleet.callsByCommand()).toEqual({ DescribeInstancesCommand: 1 });
  });

  test('10,000 running instances, 700 due: 10 + 14 describe calls and one PutEvents call', async () => {
    const fleet = new FakeFleet([...enrolled(9300, 1), ...unenrolled(700, 20_000)]);

    const summary = await fleet.run(NOW);

    expect(summary).toMatchObject({ running: 10_000, checkedOnline: 700, candidates: 700, requested: 500, deferred: 200 });
    expect(fleet.callsByCommand()).toEqual({
      DescribeInstanceInformationCommand: 14,
      DescribeInstancesCommand: 10,
      PutEventsCommand: 1,
    });
    expect(fleet.totalCalls()).toBe(25);
  });

  test('1,000 running instances, 100 due: 4 calls', async () => {
    const fleet = new FakeFleet([...enrolled(900, 1), ...unenrolled(100, 20_000)]);

    await fleet.run(NOW);

    expect(fleet.callsByCommand()).toEqual({
      DescribeInstanceInformationCommand: 2,
      DescribeInstancesCommand: 1,
      PutEventsCommand: 1,
    });
  });
});
