import { commandStatusOutcome, deploymentStateOutcome } from '../../../lambdas/refresh/state-events';
import { commandStatusChangeEvent, ecsDeploymentStateChangeEvent } from '../../../lambdas/shared/refresh-events';
import { loadSampleEvent, sqsRecord } from '../fixtures';
import { commandStatusEvent, deploymentEvent, FakeAws, testSettings } from './fake-aws';

const settings = testSettings();
const deployment = (...args: Parameters<typeof deploymentEvent>) => ecsDeploymentStateChangeEvent.parse(deploymentEvent(...args));
const command = (...args: Parameters<typeof commandStatusEvent>) => commandStatusChangeEvent.parse(commandStatusEvent(...args));
const RELOAD = { Action: ['reload'], Tenant: ['team-a'], ConfigVersion: ['7'], AgentConfig: ['{{ssm:/lgtm/agent/team-a/linux}}'] };

describe('deploymentStateOutcome', () => {
  test('a completed deployment of a project service is Completed', () => {
    expect(deploymentStateOutcome(deployment('mimir', 'SERVICE_DEPLOYMENT_COMPLETED', 'ecs-svc/123'), settings)).toEqual({
      kind: 'outcome',
      outcome: {
        type: 'completed',
        detail: { target: { kind: 'service', service: 'mimir' }, deploymentId: 'ecs-svc/123', status: 'SERVICE_DEPLOYMENT_COMPLETED' },
      },
    });
  });

  test('a failed deployment (circuit breaker) is Failed with the ECS reason', () => {
    const result = deploymentStateOutcome(
      deployment('loki', 'SERVICE_DEPLOYMENT_FAILED', 'ecs-svc/9', 'ECS deployment circuit breaker: tasks failed to start.'),
      settings,
    );
    expect(result).toEqual({
      kind: 'outcome',
      outcome: {
        type: 'failed',
        detail: {
          target: { kind: 'service', service: 'loki' },
          deploymentId: 'ecs-svc/9',
          reason: 'deployment-failed',
          detail: 'ECS deployment circuit breaker: tasks failed to start.',
        },
      },
    });
  });

  test('in-progress deployments and other services are ignored', () => {
    expect(deploymentStateOutcome(deployment('tempo', 'SERVICE_DEPLOYMENT_IN_PROGRESS', 'ecs-svc/1'), settings)).toMatchObject({
      kind: 'ignored',
      reason: 'deployment-in-progress',
    });
    expect(deploymentStateOutcome(deployment('someone-elses', 'SERVICE_DEPLOYMENT_COMPLETED', 'ecs-svc/1'), settings)).toMatchObject({
      kind: 'ignored',
      reason: 'not-a-project-service',
    });
  });
});

describe('commandStatusOutcome', () => {
  test('a refresh command that succeeded is Completed with its tenant, platform and version', () => {
    expect(commandStatusOutcome(command('Success', RELOAD), settings)).toEqual({
      kind: 'outcome',
      outcome: {
        type: 'completed',
        detail: {
          target: { kind: 'agents', tenant: 'team-a', platform: 'linux' },
          commandId: 'c0ffee00-0000-4000-8000-000000000001',
          version: 7,
          status: 'Success',
        },
      },
    });
  });

  test.each(['Failed', 'TimedOut', 'Cancelled'])('a refresh command that ended %s is Failed', (status) => {
    const result = commandStatusOutcome(command(status, RELOAD, 'lgtm-install-alloy-windows'), settings);
    expect(result).toMatchObject({
      kind: 'outcome',
      outcome: {
        type: 'failed',
        detail: { reason: 'command-failed', target: { platform: 'windows' }, detail: expect.stringContaining(status) },
      },
    });
  });

  test('install commands, other documents and running commands are ignored', () => {
    expect(commandStatusOutcome(command('Success', { ...RELOAD, Action: ['install'] }), settings)).toMatchObject({
      kind: 'ignored',
      reason: 'not-a-refresh-command',
    });
    expect(commandStatusOutcome(command('Success', RELOAD, 'AWS-RunShellScript'), settings)).toMatchObject({
      kind: 'ignored',
      reason: 'not-an-agent-document',
    });
    expect(commandStatusOutcome(command('InProgress', RELOAD), settings)).toMatchObject({ kind: 'ignored', reason: 'command-in-progress' });
  });

  test('the document may be named by ARN', () => {
    const arn = 'arn:aws:ssm:ap-northeast-2:123456789012:document/lgtm-install-alloy-linux';
    expect(commandStatusOutcome(command('Success', RELOAD, arn), settings)).toMatchObject({ kind: 'outcome' });
  });

  test('the sample command event (no parameters) is not a refresh', () => {
    const sample = commandStatusChangeEvent.parse(loadSampleEvent('ssm-command-status-success.json'));
    expect(commandStatusOutcome(sample, testSettings({ LINUX_DOCUMENT_NAME: 'lgtm-install-alloy-linux' }))).toMatchObject({
      kind: 'ignored',
      reason: 'not-a-refresh-command',
    });
  });
});

describe('state events through the queue', () => {
  test('published as Completed / Failed; ignored ones are only logged; nothing is rolled out', async () => {
    const aws = new FakeAws();

    const response = await aws.process([
      sqsRecord(deploymentEvent('grafana', 'SERVICE_DEPLOYMENT_COMPLETED', 'ecs-svc/5')),
      sqsRecord(commandStatusEvent('Failed', RELOAD)),
      sqsRecord(deploymentEvent('grafana', 'SERVICE_DEPLOYMENT_IN_PROGRESS', 'ecs-svc/5')),
    ]);

    expect(response.batchItemFailures).toEqual([]);
    expect(aws.rollouts()).toBe(0);
    expect(aws.ssm.calls()).toHaveLength(0);
    expect(aws.published().map((event) => [event.detailType, event.detail.deploymentId ?? event.detail.commandId])).toEqual([
      ['Config Refresh Completed', 'ecs-svc/5'],
      ['Config Refresh Failed', 'c0ffee00-0000-4000-8000-000000000001'],
    ]);
    expect(aws.metricValues.get('RefreshCompleted')).toBe(1);
    expect(aws.metricValues.get('IgnoredEvents')).toBe(1);
  });
});
