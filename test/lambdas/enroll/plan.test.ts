import type { SQSRecord } from 'aws-lambda';
import type { InstanceOutcome } from '../../../lambdas/enroll/outcomes';
import type { InstallTarget, TrackedInstance } from '../../../lambdas/enroll/plan';
import * as plan from '../../../lambdas/enroll/plan';
import type { EnrollRequest, ParsedRecord } from '../../../lambdas/enroll/requests';
import { awsError, sqsRecord } from '../fixtures';
import { testSettings } from './fake-aws';
import { at, EVENT_TIME, facts, LIFECYCLE, request } from './step-fixtures';

const settings = testSettings();

function parsed(req: EnrollRequest, record: SQSRecord = sqsRecord({ id: req.eventId })): ParsedRecord {
  return { kind: 'request', record, request: req };
}

describe('planLooks', () => {
  test('a first running event younger than 20 s waits for a later look; a redelivery, a request from an envelope or a lifecycle event is looked at', () => {
    const fresh = parsed(request({ instanceIds: ['i-fresh'] }));
    const redelivered = parsed(request({ instanceIds: ['i-again'], receiveCount: 2 }));
    const carried = parsed(request({ instanceIds: ['i-carried'] }));
    const lifecycle = parsed(request({ eventType: 'lifecycle', instanceIds: ['i-hook'], lifecycle: LIFECYCLE }));
    const malformed: ParsedRecord = { kind: 'malformed', record: sqsRecord('{'), detail: 'body is not JSON' };

    const { firstLookLater, instances } = plan.planLooks(
      [fresh, redelivered, carried, lifecycle, malformed],
      new Map([[carried.record.messageId, 'envelope-1']]),
      at(10),
    );

    expect([...firstLookLater]).toEqual([fresh.record]);
    expect([...instances.keys()]).toEqual(['i-again', 'i-carried', 'i-hook']);
  });

  test('the same event 20 s after it happened is looked at', () => {
    expect(plan.planLooks([parsed(request())], new Map(), at(20)).firstLookLater.size).toBe(0);
  });

  test('an instance named twice keeps the latest deadline start and the waiting lifecycle action', () => {
    const running = parsed(request({ startedAt: at(40), receiveCount: 2 }));
    const lifecycle = parsed(request({ eventType: 'lifecycle', startedAt: at(5), lifecycle: LIFECYCLE }));
    const reconcile = parsed(request({ eventType: 'reconcile', startedAt: at(30) }));

    const { instances } = plan.planLooks([running, lifecycle, reconcile], new Map(), at(60));

    expect(instances.get('i-1')).toEqual({ startedAt: at(40), lifecycle: LIFECYCLE });
  });
});

describe('instancesToDescribe and knownFacts', () => {
  const tracked = (startedAt: Date): TrackedInstance => ({ startedAt });

  test('an instance that came with its facts is described again only within 60 s of its deadline', () => {
    const instances = new Map([
      ['i-new', tracked(at(0))],
      ['i-carried', tracked(at(0))],
      ['i-near-deadline', tracked(at(-810))],
    ]);
    const carried = new Map([
      ['i-carried', facts('i-carried')],
      ['i-near-deadline', facts('i-near-deadline')],
    ]);

    expect(plan.instancesToDescribe(instances, carried, settings, at(60))).toEqual(['i-new', 'i-near-deadline']);
  });

  test('facts described now replace the carried ones; one described again and not found has none', () => {
    const carried = new Map([
      ['i-carried', facts('i-carried', { old: 'yes' })],
      ['i-described', facts('i-described', { old: 'yes' })],
      ['i-gone', facts('i-gone')],
    ]);
    const found = new Map([['i-described', facts('i-described', { new: 'yes' })]]);

    const known = plan.knownFacts(carried, ['i-described', 'i-gone'], found);

    expect(known.get('i-carried')?.tags.get('old')).toBe('yes');
    expect(known.get('i-described')?.tags.get('new')).toBe('yes');
    expect(known.has('i-gone')).toBe(false);
  });
});

describe('decideInstances', () => {
  test('enrollable instances become candidates, a foreign tenant is refused, and instances already decided are passed over', () => {
    const instances = new Map<string, TrackedInstance>([
      ['i-ok', { startedAt: EVENT_TIME }],
      ['i-intruder', { startedAt: EVENT_TIME }],
      ['i-opted-out', { startedAt: EVENT_TIME }],
      ['i-failed-before', { startedAt: EVENT_TIME }],
    ]);
    const known = new Map([
      ['i-ok', facts('i-ok', { 'lgtm:tenant': 'team-a' })],
      ['i-intruder', facts('i-intruder', { 'lgtm:tenant': 'intruder' })],
      ['i-opted-out', facts('i-opted-out', { 'lgtm:opt-out': 'true' })],
    ]);
    const decided = new Map<string, InstanceOutcome>([
      ['i-failed-before', { status: 'error', reason: 'describe-instances-failed', detail: 'x' }],
    ]);

    const decisions = plan.decideInstances(instances, known, decided, settings, at(60));

    expect([...decisions.candidates]).toEqual([['i-ok', { tenant: 'team-a', platform: 'linux' }]]);
    expect(decisions.refused).toEqual([{ instanceId: 'i-intruder', tenant: 'intruder' }]);
    expect(decisions.outcomes).toEqual([
      ['i-intruder', { status: 'skipped', reason: 'tenant-refused', detail: 'tenant "intruder" is not in the allowed list' }],
      ['i-opted-out', { status: 'skipped', reason: 'opted-out', detail: 'tag lgtm:opt-out=true' }],
    ]);
    expect(decisions.failures).toEqual([]);
  });
});

describe('sortBySsmStatus', () => {
  const target = { tenant: 'team-a', platform: 'linux' } as const;

  test('online instances are ready; unknown or offline ones wait; InvalidInstanceId means not managed yet, any other error retries', () => {
    const candidates = new Map(['i-online', 'i-unknown', 'i-lost', 'i-invalid', 'i-throttled'].map((id) => [id, target]));
    const throttled = awsError('ThrottlingException');

    const sorted = plan.sortBySsmStatus(candidates, {
      found: new Map([
        ['i-online', { pingStatus: 'Online', platformType: 'Linux' }],
        ['i-lost', { pingStatus: 'ConnectionLost', platformType: 'Linux' }],
      ]),
      failed: [
        { items: ['i-invalid'], error: awsError('InvalidInstanceId', 'Instances [i-invalid] not in a valid state') },
        { items: ['i-throttled'], error: throttled },
      ],
    });

    expect([...sorted.ready.keys()]).toEqual(['i-online']);
    expect(sorted.failures).toEqual([{ instanceIds: ['i-throttled'], reason: 'describe-instance-information-failed', error: throttled }]);
    expect(sorted.outcomes).toEqual([
      ['i-invalid', { status: 'waiting', reason: 'ssm-not-managed', detail: 'Instances [i-invalid] not in a valid state' }],
      ['i-unknown', { status: 'waiting', reason: 'ssm-not-managed', detail: 'not registered with Systems Manager yet' }],
      ['i-lost', { status: 'waiting', reason: 'ssm-not-online', detail: 'SSM agent ping status is ConnectionLost' }],
    ]);
  });
});

describe('sortByClaim', () => {
  test('a launch claimed elsewhere is in flight: a waiting lifecycle action checks again, a plain event is done; a failed claim retries', () => {
    const target = { tenant: 'team-a', platform: 'linux' } as const;
    const ready = new Map(['i-mine', 'i-taken', 'i-taken-hook', 'i-failed'].map((id) => [id, target]));
    const instances = new Map<string, TrackedInstance>([
      ['i-taken', { startedAt: EVENT_TIME }],
      ['i-taken-hook', { startedAt: EVENT_TIME, lifecycle: LIFECYCLE }],
    ]);
    const error = awsError('InternalServerError');
    const detail = 'another invocation claimed this launch and sends its install command';

    const sorted = plan.sortByClaim(
      ready,
      { claimed: new Set(['i-mine']), taken: new Set(['i-taken', 'i-taken-hook']), failed: [{ instanceIds: ['i-failed'], error }] },
      instances,
    );

    expect([...sorted.claimed.keys()]).toEqual(['i-mine']);
    expect(sorted.outcomes).toEqual([
      ['i-taken', { status: 'skipped', reason: 'enrollment-in-flight', detail }],
      ['i-taken-hook', { status: 'waiting', reason: 'lifecycle-install-in-flight', detail }],
    ]);
    expect(sorted.failures).toEqual([{ instanceIds: ['i-failed'], reason: 'claim-failed', error }]);
  });
});

describe('groupByConfig and installCommands', () => {
  test('one command per 50 instances of a config; a missing config waits; a failed look-up retries', () => {
    const claimed = new Map<string, InstallTarget>([
      ...Array.from({ length: 120 }, (_, index): [string, InstallTarget] => [`i-a${index}`, { tenant: 'team-a', platform: 'linux' }]),
      ['i-win', { tenant: 'team-a', platform: 'windows' }],
      ['i-rag', { tenant: 'aws-rag-ec2', platform: 'linux' }],
    ]);
    const groups = plan.groupByConfig(claimed, settings);
    expect(groups.map(({ parameterName, instanceIds }) => [parameterName, instanceIds.length])).toEqual([
      ['/LgtmFleet/agent/team-a/linux', 120],
      ['/LgtmFleet/agent/team-a/windows', 1],
      ['/LgtmFleet/agent/aws-rag-ec2/linux', 1],
    ]);
    const denied = awsError('AccessDeniedException');

    const planned = plan.installCommands(groups, {
      found: new Map([['/LgtmFleet/agent/team-a/linux', { value: 'config', version: 4 }]]),
      failed: [{ items: ['/LgtmFleet/agent/aws-rag-ec2/linux'], error: denied }],
      missing: new Set(['/LgtmFleet/agent/team-a/windows']),
    });

    expect(planned.commands.map(({ instanceIds, configVersion }) => [instanceIds.length, configVersion])).toEqual([
      [50, 4],
      [50, 4],
      [20, 4],
    ]);
    expect(planned.outcomes).toEqual([
      ['i-win', { status: 'waiting', reason: 'agent-config-missing', detail: 'parameter /LgtmFleet/agent/team-a/windows not found' }],
    ]);
    expect(planned.failures).toEqual([{ instanceIds: ['i-rag'], reason: 'get-parameters-failed', error: denied }]);
  });
});

describe('lifecycle tags and releases', () => {
  const otherHook = { groupName: 'rag-api-asg', hookName: 'other-hook' };
  const instances = new Map<string, TrackedInstance>([
    ['i-sent', { startedAt: EVENT_TIME, lifecycle: LIFECYCLE }],
    ['i-in-flight', { startedAt: EVENT_TIME, lifecycle: LIFECYCLE }],
    ['i-other-hook', { startedAt: EVENT_TIME, lifecycle: otherHook }],
    ['i-no-hook', { startedAt: EVENT_TIME }],
    ['i-opted-out', { startedAt: EVENT_TIME, lifecycle: LIFECYCLE }],
    ['i-install-failed', { startedAt: EVENT_TIME, lifecycle: LIFECYCLE }],
    ['i-waiting', { startedAt: EVENT_TIME, lifecycle: LIFECYCLE }],
  ]);
  const outcomes = new Map<string, InstanceOutcome>([
    ['i-sent', { status: 'enrolled', commandId: 'command-1' }],
    ['i-in-flight', { status: 'skipped', reason: 'enrollment-in-flight', detail: 'x' }],
    ['i-other-hook', { status: 'enrolled', commandId: 'command-1' }],
    ['i-no-hook', { status: 'enrolled', commandId: 'command-1' }],
    ['i-opted-out', { status: 'skipped', reason: 'opted-out', detail: 'x' }],
    ['i-install-failed', { status: 'skipped', reason: 'enrollment-failed', detail: 'x' }],
    ['i-waiting', { status: 'waiting', reason: 'ssm-not-managed', detail: 'x' }],
  ]);

  test('hook tags go on lifecycle instances whose command was sent or is in flight, one write per (group, hook)', () => {
    expect(plan.lifecycleTagWrites(instances, outcomes)).toEqual([
      { lifecycle: LIFECYCLE, instanceIds: ['i-sent', 'i-in-flight'] },
      { lifecycle: otherHook, instanceIds: ['i-other-hook'] },
    ]);
  });

  test('a launch skipped on purpose continues; one whose install failed ends with the failure result; one in flight is left to the status handler', () => {
    expect(plan.lifecycleReleases(instances, outcomes, 'ABANDON')).toEqual([
      { instanceId: 'i-opted-out', lifecycle: LIFECYCLE, result: 'CONTINUE' },
      { instanceId: 'i-install-failed', lifecycle: LIFECYCLE, result: 'ABANDON' },
    ]);
  });

  test('only actions still waiting, or not known because the look-up failed, are completed', () => {
    const release = (instanceId: string) => ({ instanceId, lifecycle: LIFECYCLE, result: 'CONTINUE' as const });
    const releases = ['i-waiting', 'i-in-service', 'i-no-group', 'i-unchecked'].map(release);

    const planned = plan.releasesToComplete(releases, {
      found: new Map([
        ['i-waiting', 'Pending:Wait'],
        ['i-in-service', 'InService'],
      ]),
      failed: [{ items: ['i-unchecked'], error: awsError('Throttling') }],
    });

    expect(planned).toEqual([
      { release: release('i-waiting') },
      { release: release('i-in-service'), doneAs: 'InService' },
      { release: release('i-no-group'), doneAs: 'not in a group' },
      { release: release('i-unchecked') },
    ]);
  });
});

describe('unpublishedRefusals', () => {
  test('the entries of a failed call retry together with its error; each refused entry retries alone', () => {
    const refused = ['i-0', 'i-1', 'i-2', 'i-3'].map((instanceId) => ({ instanceId, tenant: 'intruder' }));
    const callError = awsError('InternalException');

    const failures = plan.unpublishedRefusals(refused, [
      { index: 0, errorCode: 'InternalException', errorMessage: 'InternalException', error: callError },
      { index: 1, errorCode: 'InternalException', errorMessage: 'InternalException', error: callError },
      { index: 3, errorCode: 'ThrottlingException', errorMessage: 'Rate exceeded' },
    ]);

    expect(failures.map(({ instanceIds, reason }) => [instanceIds, reason])).toEqual([
      [['i-0', 'i-1'], 'put-events-failed'],
      [['i-3'], 'put-events-failed'],
    ]);
    expect(failures[0]?.error).toBe(callError);
    expect(failures[1]?.error).toMatchObject({ name: 'ThrottlingException', message: 'Rate exceeded' });
  });
});
