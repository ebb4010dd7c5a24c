import type { SQSRecord } from 'aws-lambda';
import type { InstanceOutcome } from '../../../lambdas/enroll/outcomes';
import type { EnrollRequest, ParsedRecord } from '../../../lambdas/enroll/requests';
import { batchResponse, type ResolveContext, resolveRecord } from '../../../lambdas/enroll/resolve';
import { sqsRecord } from '../fixtures';
import { testSettings } from './fake-aws';
import { at, EVENT_TIME, facts, LIFECYCLE, request } from './step-fixtures';

const WAITING: InstanceOutcome = { status: 'waiting', reason: 'ssm-not-managed', detail: 'not registered with Systems Manager yet' };
const IN_FLIGHT: InstanceOutcome = { status: 'skipped', reason: 'enrollment-in-flight', detail: 'command pending' };

/** Resolves one request record whose instances have `outcomes`, at `now`; with `carrier`, the record came in that envelope. */
function resolve(
  req: EnrollRequest,
  outcomes: Record<string, InstanceOutcome>,
  { now = at(60), carrier }: { now?: Date; carrier?: string } = {},
): { record: SQSRecord; resolution: ReturnType<typeof resolveRecord> } {
  const record = sqsRecord({ id: req.eventId, time: EVENT_TIME.toISOString() });
  const resolution = resolveRecord(
    { kind: 'request', record, request: req },
    {
      settings: testSettings({ LIFECYCLE_FAILURE_RESULT: 'ABANDON' }),
      now,
      carriers: new Map(carrier === undefined ? [] : [[record.messageId, carrier]]),
      firstLookLater: new Set(),
      outcomes: new Map(Object.entries(outcomes)),
      facts: new Map([['i-1', facts('i-1')]]),
    },
  );
  return { record, resolution };
}

describe('records that are not requests', () => {
  const context: ResolveContext = {
    settings: testSettings(),
    now: at(60),
    carriers: new Map(),
    firstLookLater: new Set(),
    outcomes: new Map(),
    facts: new Map(),
  };

  test('a malformed record is dead-lettered with its reason; an ignored one keeps its own', () => {
    const record = sqsRecord('{');
    const malformed: ParsedRecord = { kind: 'malformed', record, detail: 'body is not JSON' };
    const ignored: ParsedRecord = { kind: 'ignored', record, reason: 'not-running-state', detail: 'instance state is pending' };

    expect(resolveRecord(malformed, context)).toEqual({
      kind: 'malformed',
      deadLetter: { record, reason: 'malformed-event', detail: 'body is not JSON' },
    });
    expect(resolveRecord(ignored, context)).toEqual({ kind: 'ignored', reason: 'not-running-state', detail: 'instance state is pending' });
  });

  test('a request too fresh to look at comes back at the first 25 s slot 20 s after its event, counted for each instance', () => {
    const record = sqsRecord({ id: 'event-1' });
    const req = request({ instanceIds: ['i-1', 'i-2'] });

    const resolution = resolveRecord(
      { kind: 'request', record, request: req },
      { ...context, now: at(10), firstLookLater: new Set([record]) },
    );

    expect(resolution).toMatchObject({
      kind: 'first-look-later',
      instanceCount: 2,
      deferred: { delaySeconds: 15, carrierMessageId: record.messageId },
    });
  });
});

describe('requests before the deadline', () => {
  test('done when every instance is enrolled or skipped on purpose', () => {
    const { resolution } = resolve(request({ eventType: 'reconcile', instanceIds: ['i-1', 'i-2'] }), {
      'i-1': { status: 'enrolled', commandId: 'command-1' },
      'i-2': { status: 'skipped', reason: 'opted-out', detail: 'tag lgtm:opt-out=true' },
    });

    expect(resolution).toEqual({ kind: 'done' });
  });

  test('one error among its instances retries the whole record through the queue', () => {
    const error: InstanceOutcome = { status: 'error', reason: 'claim-failed', detail: 'InternalServerError: x' };
    const { record, resolution } = resolve(request({ eventType: 'reconcile', instanceIds: ['i-1', 'i-2'], receiveCount: 3 }), {
      'i-1': { status: 'enrolled', commandId: 'command-1' },
      'i-2': error,
    });

    expect(resolution).toEqual({
      kind: 'retry-after-errors',
      retry: { failed: record.messageId },
      eventId: 'event-1',
      errors: [{ instanceId: 'i-2', ...error }],
    });
  });

  test('an instance the batch never recorded counts as an error', () => {
    expect(resolve(request(), {}).resolution).toMatchObject({
      kind: 'retry-after-errors',
      errors: [{ instanceId: 'i-1', status: 'error', reason: 'not-processed' }],
    });
  });

  test('a request from an envelope that met an error goes into the next envelope, after the backoff of its receive count', () => {
    const { resolution } = resolve(
      request({ receiveCount: 3 }),
      { 'i-1': { status: 'error', reason: 'claim-failed', detail: 'x' } },
      { carrier: 'envelope-7' },
    );

    expect(resolution).toMatchObject({
      kind: 'retry-after-errors',
      retry: { deferred: { delaySeconds: 120, carrierMessageId: 'envelope-7' } },
    });
  });

  test('waiting for SSM comes back at the next 25 s slot, carrying the facts already described', () => {
    const { resolution } = resolve(request(), { 'i-1': WAITING });

    expect(resolution).toMatchObject({
      kind: 'wait',
      waiting: [{ instanceId: 'i-1', reason: 'ssm-not-managed' }],
      receiveCount: 1,
      remainingSeconds: 840,
      deferred: { delaySeconds: 15, request: { facts: [{ instanceId: 'i-1', tags: [] }] } },
    });
  });

  test('a wait that is not for SSM carries no facts: the instance must be looked at again', () => {
    const { resolution } = resolve(request(), {
      'i-1': { status: 'waiting', reason: 'agent-config-missing', detail: 'parameter not found' },
    });

    expect(resolution).toMatchObject({ kind: 'wait' });
    expect(resolution.kind === 'wait' && resolution.deferred.request.facts).toBeUndefined();
  });

  test('an install in flight holds a lifecycle record until the command ends, but not a running event', () => {
    expect(resolve(request(), { 'i-1': IN_FLIGHT }).resolution).toEqual({ kind: 'done' });
    expect(resolve(request({ eventType: 'lifecycle', lifecycle: LIFECYCLE }), { 'i-1': IN_FLIGHT }).resolution).toMatchObject({
      kind: 'wait',
      waiting: [{ instanceId: 'i-1', reason: 'lifecycle-install-in-flight' }],
    });
  });
});

describe('requests past the deadline', () => {
  const AFTER_DEADLINE = at(901);
  const lifecycleAtDeadline = (outcome: InstanceOutcome) =>
    resolve(request({ eventType: 'lifecycle', lifecycle: LIFECYCLE }), { 'i-1': outcome }, { now: AFTER_DEADLINE });

  test('not managed in time: dead-lettered with the reason, the instances and what each waited for', () => {
    const { record, resolution } = resolve(
      request({ eventType: 'reconcile', instanceIds: ['i-1', 'i-2'] }),
      { 'i-1': WAITING, 'i-2': WAITING },
      {
        now: AFTER_DEADLINE,
      },
    );

    expect(resolution).toEqual({
      kind: 'expired',
      deadLetter: {
        record,
        reason: 'ssm-not-managed-before-deadline',
        detail: 'not ready 900s after the event: i-1 ssm-not-managed, i-2 ssm-not-managed',
        attributes: { instanceIds: 'i-1,i-2' },
      },
      waiting: [
        { instanceId: 'i-1', reason: 'ssm-not-managed' },
        { instanceId: 'i-2', reason: 'ssm-not-managed' },
      ],
    });
  });

  test('a missing agent config gives its own dead-letter reason', () => {
    const { resolution } = resolve(
      request({ eventType: 'reconcile', instanceIds: ['i-1', 'i-2'] }),
      { 'i-1': WAITING, 'i-2': { status: 'waiting', reason: 'agent-config-missing', detail: 'parameter not found' } },
      { now: AFTER_DEADLINE },
    );

    expect(resolution).toMatchObject({ kind: 'expired', deadLetter: { reason: 'agent-config-missing-before-deadline' } });
  });

  test('a launch held by its hook is released with the configured failure result first, and kept for 30 s if that fails', () => {
    const { record, resolution } = lifecycleAtDeadline(WAITING);

    expect(resolution).toMatchObject({
      kind: 'expired',
      release: { instanceId: 'i-1', lifecycle: LIFECYCLE, result: 'ABANDON', retryIfFailed: { failed: record.messageId } },
    });
  });

  test('with only the install in flight left, the record ends: the install’s result completes the lifecycle action', () => {
    const { resolution } = lifecycleAtDeadline(IN_FLIGHT);

    expect(resolution).toEqual({
      kind: 'install-in-flight-at-deadline',
      waiting: [{ instanceId: 'i-1', reason: 'lifecycle-install-in-flight' }],
    });
  });

  test('a launch still claimed by another invocation at the deadline is dead-lettered: only a command seen in flight ends the record', () => {
    const claimedElsewhere: InstanceOutcome = { status: 'waiting', reason: 'lifecycle-install-in-flight', detail: 'claimed' };

    const { resolution } = lifecycleAtDeadline(claimedElsewhere);

    expect(resolution).toMatchObject({
      kind: 'expired',
      deadLetter: { reason: 'ssm-not-managed-before-deadline' },
      release: { result: 'ABANDON' },
    });
  });
});

describe('batchResponse', () => {
  test('a request from an envelope fails its envelope, once; the batch’s own messages fail as themselves', () => {
    const carriers = new Map([
      ['request-1', 'envelope-1'],
      ['request-2', 'envelope-1'],
    ]);

    expect(batchResponse(['request-1', 'request-2', 'message-3'], carriers)).toEqual({
      batchItemFailures: [{ itemIdentifier: 'envelope-1' }, { itemIdentifier: 'message-3' }],
    });
  });
});
