import type { SQSRecord } from 'aws-lambda';
import { MALFORMED_REASON, manualTargets, planJobs } from '../../../lambdas/refresh/plan-jobs';
import type { ParsedRecord } from '../../../lambdas/refresh/requests';
import { loadRefreshSettings } from '../../../lambdas/refresh/settings';
import type { RefreshRequestDetail } from '../../../lambdas/shared/refresh-events';

const ARN = 'arn:aws:ecs:ap-northeast-2:123456789012';
const settings = loadRefreshSettings({
  PARAMETER_PREFIX: '/lgtm',
  LINUX_DOCUMENT_NAME: 'install-linux',
  WINDOWS_DOCUMENT_NAME: 'install-windows',
  ALLOY_VERSION: '1.21.0',
  STOP_LEGACY_AGENTS: 'false',
  ALLOWED_TENANTS: 'team-a,team-b',
  CLUSTER_ARN: `${ARN}:cluster/lgtm`,
  SERVICES: JSON.stringify({ mimir: `${ARN}:service/lgtm/mimir`, grafana: `${ARN}:service/lgtm/grafana` }),
  EVENT_BUS_NAME: 'lgtm',
  EVENT_SOURCE: 'lgtm-fleet',
  DEAD_LETTER_QUEUE_URL: 'https://sqs.ap-northeast-2.amazonaws.com/123456789012/dlq',
});

const T0 = new Date('2026-11-23T12:00:00Z');
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);
const record = (messageId: string) => ({ messageId, body: '{}' }) as SQSRecord;

function change(messageId: string, name: string, operation = 'Update', time = T0): ParsedRecord {
  return { kind: 'change', record: record(messageId), change: { eventId: `event-${messageId}`, time, operation, name } };
}

function manual(messageId: string, detail: RefreshRequestDetail, time = T0): ParsedRecord {
  return { kind: 'manual', record: record(messageId), request: { eventId: `event-${messageId}`, time, detail } };
}

describe('planJobs', () => {
  test('a burst of changes to one parameter is one job: the latest change decides, every record rides on it', () => {
    const plan = planJobs(
      [
        change('m1', '/lgtm/agent/team-a/linux', 'Update', at(0)),
        change('m2', '/lgtm/agent/team-a/linux', 'Update', at(4)),
        change('m3', '/lgtm/agent/team-a/linux', 'Update', at(2)),
      ],
      settings,
    );

    expect(plan.jobs).toHaveLength(1);
    const [job] = plan.jobs;
    expect(job?.target).toEqual({ kind: 'agents', tenant: 'team-a', platform: 'linux' });
    expect([...(job?.changes.values() ?? [])].map((latest) => latest.eventId)).toEqual(['event-m2']);
    expect([...(job?.messageIds ?? [])]).toEqual(['m1', 'm3', 'm2']);
    expect(plan.superseded).toBe(2);
    expect(plan.outcomes).toEqual([]);
    expect(plan.log).toEqual([
      expect.objectContaining({
        message: 'changes superseded by a later change in the same batch',
        fields: expect.objectContaining({ latest: { eventId: 'event-m2', operation: 'Update' } }),
      }),
    ]);
  });

  test('an update then a delete of one parameter: one Skipped outcome for both records, nothing to roll out', () => {
    const plan = planJobs(
      [change('m1', '/lgtm/config/mimir', 'Update', at(0)), change('m2', '/lgtm/config/mimir', 'Delete', at(1))],
      settings,
    );

    expect(plan.jobs).toEqual([]);
    expect(plan.outcomes).toHaveLength(1);
    expect(plan.outcomes[0]?.outcome).toEqual({
      type: 'skipped',
      detail: expect.objectContaining({ parameter: '/lgtm/config/mimir', reason: 'deleted', sourceEventIds: ['event-m1', 'event-m2'] }),
    });
    expect([...(plan.outcomes[0]?.messageIds ?? [])]).toEqual(['m1', 'm2']);
    expect(plan.log.filter((line) => line.message === 'config change skipped')).toHaveLength(1);
  });

  test('changes that roll nothing out: ignored, skipped as label-only, or refused with the reason', () => {
    const plan = planJobs(
      [
        change('m1', '/lgtm/enrollment/rules'),
        change('m2', '/lgtm/config/mimir', 'Rename'),
        change('m3', '/lgtm/config/mimir', 'LabelParameterVersion'),
        change('m4', '/lgtm/config/prometheus'),
        change('m5', '/lgtm/agent/intruder/linux'),
      ],
      settings,
    );

    expect(plan.jobs).toEqual([]);
    expect(plan.ignored).toBe(2);
    expect(plan.log.filter((line) => line.message === 'event ignored').map((line) => line.fields.reason)).toEqual([
      'not-a-config-parameter',
      'unknown-operation',
    ]);
    expect(plan.outcomes.map(({ outcome }) => [outcome.type, (outcome.detail as { reason: string }).reason])).toEqual([
      ['skipped', 'label-only'],
      ['failed', 'unknown-service'],
      ['failed', 'tenant-not-allowed'],
    ]);
  });

  test('agent jobs come first, then service jobs, each in the order first named; a change joins the job of its target', () => {
    const plan = planJobs(
      [
        manual('m0', { service: 'grafana' }),
        manual('m1', { all: true }),
        change('m2', '/lgtm/config/grafana/dashboards'),
        change('m3', '/lgtm/agent/team-b/windows'),
      ],
      settings,
    );

    expect(plan.jobs.map((job) => job.key)).toEqual([
      'agents:team-a/linux',
      'agents:team-a/windows',
      'agents:team-b/linux',
      'agents:team-b/windows',
      'service:grafana',
      'service:mimir',
    ]);
    const windows = plan.jobs[3];
    expect(windows?.manual?.eventId).toBe('event-m1');
    expect([...(windows?.changes.keys() ?? [])]).toEqual(['/lgtm/agent/team-b/windows']);
    expect([...(windows?.messageIds ?? [])]).toEqual(['m1', 'm3']);
    expect([...(plan.jobs[4]?.messageIds ?? [])]).toEqual(['m0', 'm1', 'm2']);
    expect(plan.jobs[4]?.format).toBe('yaml');
  });

  test('malformed records go to the dead-letter queue with the reason; a failed deployment is to be described', () => {
    const serviceArn = `${ARN}:service/lgtm/mimir`;
    const plan = planJobs(
      [
        { kind: 'malformed', record: record('m1'), detail: 'body is not JSON' },
        {
          kind: 'deployment-state',
          record: record('m2'),
          event: {
            id: 'event-m2',
            'detail-type': 'ECS Deployment State Change',
            source: 'aws.ecs',
            time: T0.toISOString(),
            resources: [serviceArn],
            detail: { eventName: 'SERVICE_DEPLOYMENT_FAILED', deploymentId: 'ecs-svc/1' },
          },
        },
      ],
      settings,
    );

    expect(plan.deadLetters).toEqual([{ record: record('m1'), reason: MALFORMED_REASON, detail: 'body is not JSON' }]);
    expect(plan.outcomes.map(({ outcome }) => outcome.type)).toEqual(['failed']);
    expect(plan.failedDeployments).toEqual([{ pending: plan.outcomes[0], serviceArn, deploymentId: 'ecs-svc/1' }]);
  });
});

describe('manualTargets', () => {
  test.each([
    [{ tenant: 'team-a', platform: 'windows' }, { targets: [{ kind: 'agents', tenant: 'team-a', platform: 'windows' }] }],
    [{ service: 'grafana' }, { targets: [{ kind: 'service', service: 'grafana' }] }],
    [{ tenant: 'nobody' }, { refused: 'tenant-not-allowed', detail: 'tenant "nobody" is not in the allowed list' }],
    [{ service: 'prometheus' }, { refused: 'unknown-service', detail: expect.stringContaining('(known: mimir, grafana)') }],
  ] as const)('%j', (detail, expected) => {
    expect(manualTargets(detail as RefreshRequestDetail, settings)).toEqual(expected);
  });
});
