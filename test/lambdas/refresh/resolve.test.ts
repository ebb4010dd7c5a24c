import type { Outcome, PendingOutcome } from '../../../lambdas/refresh/outcomes';
import type { FailedDeployment, Job, JobsPlan } from '../../../lambdas/refresh/plan-jobs';
import type { JobPlan, Rollout } from '../../../lambdas/refresh/plan-rollout';
import { endJob, endRollout, type JobEnd, resolveBatch, withFailedRevisions } from '../../../lambdas/refresh/resolve';

const T0 = new Date('2026-11-23T12:00:00Z');
const AGENT = '/lgtm/agent/team-a/linux';
const LOKI = '/lgtm/config/loki';
const error = (name: string, message: string) => Object.assign(new Error(message), { name });
const file = (name: string, version: number) => ({ name, value: 'x: 1\n', version, type: 'String', lastModified: T0 });

const agentJob: Job = {
  key: 'agents:team-a/linux',
  target: { kind: 'agents', tenant: 'team-a', platform: 'linux' },
  format: 'alloy',
  changes: new Map([[AGENT, { eventId: 'change-1', time: T0, operation: 'Update', name: AGENT }]]),
  manual: undefined,
  messageIds: new Set(['m1', 'm2']),
};
const lokiJob: Job = {
  key: 'service:loki',
  target: { kind: 'service', service: 'loki' },
  format: 'yaml',
  changes: new Map(),
  manual: { eventId: 'manual-1', time: T0, detail: { service: 'loki' } },
  messageIds: new Set(['m3']),
};

const agentRollout: Extract<JobPlan, { kind: 'rollout' }> = {
  kind: 'rollout',
  superseded: [],
  rollout: {
    kind: 'agents',
    parameter: AGENT,
    version: 3,
    files: [file(AGENT, 3)],
    since: T0,
    document: 'd',
    comment: 'c',
    command: { DocumentName: 'd' },
    manual: false,
  },
};
const lokiRollout: Rollout = {
  kind: 'service',
  parameter: LOKI,
  version: 5,
  files: [file(LOKI, 5)],
  since: T0,
  serviceArn: 'arn',
  manual: true,
};

describe('endRollout', () => {
  test('started: Started with every file and the command, nothing retried', () => {
    const end = endRollout(agentJob, agentRollout, { kind: 'started', id: 'command-1' });

    expect(end.outcomes.map(({ outcome }) => outcome)).toEqual([
      {
        type: 'started',
        detail: {
          parameter: AGENT,
          version: 3,
          target: agentJob.target,
          trigger: 'parameter-change',
          sourceEventIds: ['change-1'],
          parameters: [{ name: AGENT, version: 3 }],
          commandId: 'command-1',
        },
      },
    ]);
    expect(end.outcomes[0]?.messageIds).toBe(agentJob.messageIds);
    expect(end.retry).toEqual([]);
    expect(end.log.map((line) => line.message)).toEqual(['refresh command sent']);
  });

  test('throttled: only retried; any other failed call is also published as Failed', () => {
    const throttled = endRollout(agentJob, agentRollout, {
      kind: 'call-failed',
      operation: 'SendCommand',
      error: error('ThrottlingException', 'Rate exceeded'),
    });
    const denied = endRollout(agentJob, agentRollout, {
      kind: 'call-failed',
      operation: 'SendCommand',
      error: error('AccessDeniedException', 'no'),
    });

    expect(throttled).toMatchObject({
      outcomes: [],
      retry: ['m1', 'm2'],
      log: [{ level: 'warn', message: 'SendCommand failed; records will be retried' }],
    });
    expect(denied.retry).toEqual(['m1', 'm2']);
    expect(denied.log[0]?.level).toBe('error');
    expect(denied.outcomes[0]?.outcome.detail).toMatchObject({
      reason: 'api-error',
      detail: 'SendCommand failed: AccessDeniedException: no',
      retrying: true,
    });
  });

  test('already applied: Skipped naming the deployment, after the warnings of the service rollout', () => {
    const end = endRollout(
      lokiJob,
      { kind: 'rollout', superseded: [], rollout: lokiRollout },
      {
        kind: 'already-applied',
        id: 'ecs-svc/1',
        undelivered: ['/lgtm/config/loki/extra'],
        pruned: { error: error('AccessDenied', 'no') },
      },
    );

    expect(end.outcomes.map(({ outcome }) => outcome.detail)).toEqual([
      expect.objectContaining({
        reason: 'already-applied',
        detail: 'deployment ecs-svc/1 started after this version and carries it',
        deploymentId: 'ecs-svc/1',
        trigger: 'manual',
        sourceEventIds: ['manual-1'],
      }),
    ]);
    expect(end.log.map((line) => line.message)).toEqual([
      'parameters no task definition delivers (not rolled out)',
      'old config copies not deleted; the next rollout tries again',
      'refresh already applied',
    ]);
  });
});

describe('endJob', () => {
  test('refused: one Failed per file, not retried; the superseded changes are logged first', () => {
    const change = { eventId: 'change-0', time: T0, operation: 'Update', name: AGENT };

    const end = endJob(agentJob, {
      kind: 'refused',
      superseded: [{ change, reason: 'the parameter no longer exists' }],
      refusals: [{ file: file(AGENT, 4), reason: 'empty', detail: 'the value is empty' }],
    });

    expect(end.retry).toEqual([]);
    expect(end.superseded).toBe(1);
    expect(end.outcomes[0]?.outcome.detail).toMatchObject({
      parameter: AGENT,
      version: 4,
      reason: 'empty',
      detail: expect.stringMatching(/^the value is empty; nothing was rolled out/),
    });
    expect(end.log.map((line) => line.message)).toEqual(['change superseded', 'config refused']);
  });

  test('not found: Failed, not retried', () => {
    const end = endJob(lokiJob, { kind: 'not-found', parameter: LOKI, detail: 'no parameter', superseded: [] });

    expect(end).toMatchObject({
      retry: [],
      outcomes: [{ outcome: { type: 'failed', detail: { reason: 'parameter-not-found', trigger: 'manual' } } }],
    });
  });
});

describe('withFailedRevisions', () => {
  const failed = (deploymentId: string): PendingOutcome => ({
    outcome: {
      type: 'failed',
      detail: { target: { kind: 'service', service: 'loki' }, deploymentId, reason: 'deployment-failed', detail: 'x' },
    },
    messageIds: new Set([deploymentId]),
  });
  const completed: PendingOutcome = { outcome: { type: 'completed', detail: { status: 'Success' } }, messageIds: new Set(['c']) };

  test('each failed deployment learns its revision and versions; a failed look-up leaves it as it is, with a warning', () => {
    const [one, two, three] = [failed('d1'), failed('d2'), failed('d3')];
    const deployments: FailedDeployment[] = [one, two, three].map((pending) => ({
      pending,
      serviceArn: 'arn',
      deploymentId: (pending.outcome.detail as { deploymentId: string }).deploymentId,
    }));

    const result = withFailedRevisions([one, completed, two, three], deployments, [
      { revision: { taskDefinitionArn: 'td:8', versions: [{ name: LOKI, version: 5 }] } },
      { error: error('AccessDeniedException', 'no') },
      { revision: undefined },
    ]);

    expect(result.outcomes[0]?.outcome.detail).toMatchObject({
      taskDefinition: 'td:8',
      parameters: [{ name: LOKI, version: 5 }],
      parameter: LOKI,
      version: 5,
    });
    expect(result.outcomes.slice(1)).toEqual([completed, two, three]);
    expect(result.log).toEqual([expect.objectContaining({ level: 'warn', message: 'could not tell which revision failed' })]);
  });
});

describe('resolveBatch', () => {
  const outcome = (id: string): PendingOutcome => ({
    outcome: { type: 'skipped', detail: { parameter: id, reason: 'deleted', detail: '', sourceEventIds: [] } } satisfies Outcome,
    messageIds: new Set([id]),
  });
  const plan = { jobs: [], outcomes: [], failedDeployments: [], deadLetters: [], ignored: 1, superseded: 2, log: [] } satisfies JobsPlan;
  const job: JobEnd = { outcomes: [], retry: ['m1'], superseded: 1, log: [] };

  test('retried: the failed jobs, the outcomes the bus refused and the dead letters the queue refused, once each', () => {
    const outcomes = [outcome('m1'), outcome('m2'), outcome('m3')];

    const { response, counts, log } = resolveBatch({
      received: 6,
      plan: { ...plan, deadLetters: [] },
      jobs: [job],
      outcomes,
      unpublished: [
        { index: 0, errorCode: 'InternalFailure', errorMessage: 'x' },
        { index: 2, errorCode: 'InternalFailure', errorMessage: 'x' },
      ],
      forwarded: { sent: ['m5'], unsent: [{ messageId: 'm4', error: 'AccessDenied: no' }] },
    });

    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'm1' }, { itemIdentifier: 'm3' }, { itemIdentifier: 'm4' }] });
    expect(Object.fromEntries(counts)).toEqual({
      EventsReceived: 6,
      RefreshSkipped: 3,
      Superseded: 3,
      MalformedEvents: 0,
      IgnoredEvents: 1,
      DeadLettered: 1,
      RetriedRecords: 3,
      UnpublishedEvents: 2,
    });
    expect(log.map((line) => line.message)).toEqual([
      'outcome event not published; its records will be retried',
      'outcome event not published; its records will be retried',
      'could not forward to the dead-letter queue; the record will be retried',
    ]);
  });

  test('nothing failed: nothing retried', () => {
    const { response } = resolveBatch({
      received: 1,
      plan,
      jobs: [],
      outcomes: [outcome('m1')],
      unpublished: [],
      forwarded: { sent: [], unsent: [] },
    });

    expect(response).toEqual({ batchItemFailures: [] });
  });
});
