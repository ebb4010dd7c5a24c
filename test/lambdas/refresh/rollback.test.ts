import { RegisterTaskDefinitionCommand } from '@aws-sdk/client-ecs';
import { DeleteParametersCommand, PutParameterCommand } from '@aws-sdk/client-ssm';
import { configDigest, deployedConfigName } from '../../../lambdas/shared/config-files';
import { sqsRecord } from '../fixtures';
import { awsError, changeEvent, deploymentEvent, edited, FakeAws, manualEvent, RENDERED, serviceArn } from './fake-aws';

/**
 * A config rollout is a task definition revision naming immutable copies of the checked versions:
 * a config that passes the checks but that the backend refuses fails its deployment, the circuit
 * breaker rolls back to the previous revision, and every task from then on (the rollback's, a
 * replaced one) runs the previous config — not the latest parameter value.
 */

const LOKI = '/lgtm/config/loki';
const LOKI_SERVICE = serviceArn('loki');
/** Valid YAML that passes the refresh checks; Loki refuses to start with a field it does not know. */
const REFUSED_BY_LOKI = `${RENDERED.get(LOKI)?.trimEnd()}\nunknown_field: true\n`;
const lokiStarts = (config: Map<string, string>): boolean => ![...config.values()].some((value) => value.includes('unknown_field'));

/** The parameter changes to `value` at `version`, its change event is processed, and ECS finishes the deployment. */
async function change(aws: FakeAws, value: string, version: number) {
  aws.put(LOKI, value, version, aws.now);
  const response = await aws.process([sqsRecord(changeEvent(LOKI, 'Update', aws.now))]);
  const events = aws.settle(LOKI_SERVICE, lokiStarts);
  aws.now = new Date(aws.now.getTime() + 60_000);
  return { response, events };
}

function published(aws: FakeAws, detailType: string) {
  return aws
    .published()
    .filter((event) => event.detailType === detailType)
    .map((event) => event.detail);
}

describe('a config the backend refuses', () => {
  test('bad config → failed rollout → rollback → the running tasks (and a replaced one) are on the previous version', async () => {
    const aws = new FakeAws();
    const good = edited(LOKI);
    const first = await change(aws, good, 8);
    expect(first.events.map((event) => event.eventName)).toEqual(['SERVICE_DEPLOYMENT_COMPLETED']);
    expect([...(aws.services.get(LOKI_SERVICE)?.running.values() ?? [])]).toEqual([good]);

    const second = await change(aws, REFUSED_BY_LOKI, 9);

    expect(second.response.batchItemFailures).toEqual([]);
    expect(second.events.map((event) => event.eventName)).toEqual(['SERVICE_DEPLOYMENT_FAILED', 'SERVICE_DEPLOYMENT_COMPLETED']);
    const service = aws.services.get(LOKI_SERVICE);
    expect(service?.taskDefinition).toMatch(/lgtm-loki:2$/);
    expect([...(service?.running.values() ?? [])]).toEqual([good]);
    // The parameter still holds the refused version; a task replaced after a crash starts with the last good one.
    expect(aws.parameters.get(LOKI)?.value).toBe(REFUSED_BY_LOKI);
    expect([...aws.replaceTask(LOKI_SERVICE).values()]).toEqual([good]);

    // The failure is reported with the version that failed and the revision that carried it.
    const [failed, rolledBack] = second.events;
    await aws.process([
      sqsRecord(deploymentEvent('loki', failed?.eventName as string, failed?.deploymentId as string, 'tasks failed to start')),
      sqsRecord(deploymentEvent('loki', rolledBack?.eventName as string, rolledBack?.deploymentId as string, 'rolled back')),
    ]);
    expect(published(aws, 'Config Refresh Failed')).toEqual([
      expect.objectContaining({
        reason: 'deployment-failed',
        deploymentId: failed?.deploymentId,
        parameter: LOKI,
        version: 9,
        parameters: [{ name: LOKI, version: 9 }],
        taskDefinition: expect.stringMatching(/lgtm-loki:3$/),
      }),
    ]);
    expect(published(aws, 'Config Refresh Completed')).toEqual([
      expect.objectContaining({ deploymentId: rolledBack?.deploymentId, detail: 'rolled back' }),
    ]);

    // The fix rolls out from the good revision.
    const fixed = edited(LOKI);
    const third = await change(aws, fixed, 10);
    expect(third.events.map((event) => event.eventName)).toEqual(['SERVICE_DEPLOYMENT_COMPLETED']);
    expect([...(aws.services.get(LOKI_SERVICE)?.running.values() ?? [])]).toEqual([fixed]);
  });

  test('the first refresh after cdk deploy rolls back to the stack’s own revision and its copy', async () => {
    const aws = new FakeAws();

    const { events } = await change(aws, REFUSED_BY_LOKI, 4);

    expect(events.map((event) => event.eventName)).toEqual(['SERVICE_DEPLOYMENT_FAILED', 'SERVICE_DEPLOYMENT_COMPLETED']);
    expect(aws.services.get(LOKI_SERVICE)?.taskDefinition).toMatch(/lgtm-loki:1$/);
    expect([...aws.replaceTask(LOKI_SERVICE).values()]).toEqual([RENDERED.get(LOKI)]);
  });

  test('without copies (a task definition naming the parameter itself) the same story leaves the service down', async () => {
    // The control: what ECS does with a plain parameter reference, so that the test above can fail.
    const aws = new FakeAws();
    const revision = aws.services.get(LOKI_SERVICE)?.taskDefinition as string;
    const init = aws.taskDefinitions.get(revision)?.taskDefinition.containerDefinitions?.[1];
    for (const secret of init?.secrets ?? []) secret.valueFrom = `arn:aws:ssm:ap-northeast-2:123456789012:parameter${LOKI}`;
    aws.put(LOKI, REFUSED_BY_LOKI, 4);

    expect(lokiStarts(aws.replaceTask(LOKI_SERVICE))).toBe(false);
  });

  test('a failed deployment ECS no longer lists is still reported, without the revision', async () => {
    const aws = new FakeAws();

    await aws.process([sqsRecord(deploymentEvent('loki', 'SERVICE_DEPLOYMENT_FAILED', 'ecs-svc/gone', 'tasks failed to start'))]);

    const [failed] = published(aws, 'Config Refresh Failed');
    expect(failed).toMatchObject({ reason: 'deployment-failed', deploymentId: 'ecs-svc/gone' });
    expect(failed).not.toHaveProperty('taskDefinition');
  });
});

describe('copies', () => {
  test('old refresh copies are deleted, keeping the three newest versions and every one a revision in use names', async () => {
    const aws = new FakeAws();
    for (let version = 5; version <= 10; version++) await change(aws, edited(LOKI), version);

    const copies = [...aws.parameters.keys()].filter((name) => name.startsWith('/lgtm/deployed/loki/')).sort();
    expect(copies).toEqual([
      expect.stringMatching(/^\/lgtm\/deployed\/loki\/stack-[0-9a-f]{12}$/),
      expect.stringMatching(/^\/lgtm\/deployed\/loki\/v10-/),
      expect.stringMatching(/^\/lgtm\/deployed\/loki\/v8-/),
      expect.stringMatching(/^\/lgtm\/deployed\/loki\/v9-/),
    ]);
    expect(aws.ssm.commandCalls(DeleteParametersCommand).length).toBeGreaterThan(0);
  });

  test('the same version put again writes no second copy and registers no revision', async () => {
    const aws = new FakeAws();
    const value = edited(LOKI);
    await change(aws, value, 6);
    aws.resetCalls();

    await aws.process([sqsRecord(changeEvent(LOKI, 'Update', aws.now))]);

    expect(aws.ssm.commandCalls(PutParameterCommand)).toHaveLength(0);
    expect(aws.ecs.commandCalls(RegisterTaskDefinitionCommand)).toHaveLength(0);
    expect(published(aws, 'Config Refresh Skipped')).toEqual([expect.objectContaining({ reason: 'already-applied' })]);
  });

  test('a copy left by an interrupted rollout is reused, not an error', async () => {
    const aws = new FakeAws();
    const value = edited(LOKI);
    aws.put(LOKI, value, 6);
    // An earlier try wrote the copy, then failed before UpdateService.
    const copy = deployedConfigName(LOKI, 6, configDigest(value));
    aws.put(copy, value, 1);
    const record = sqsRecord(changeEvent(LOKI));

    const response = await aws.process([record]);

    expect(response.batchItemFailures).toEqual([]);
    expect(aws.ssm.commandCalls(PutParameterCommand).map((call) => call.args[0].input.Name)).toEqual([copy]);
    expect(aws.updateServices()).toEqual([expect.objectContaining({ taskDefinition: expect.stringMatching(/lgtm-loki:2$/) })]);
    expect(aws.parameters.get(copy)?.version).toBe(1);
  });

  test.each([
    [
      'PutParameter',
      () => new FakeAws(),
      (aws: FakeAws) => aws.ssm.on(PutParameterCommand).rejects(awsError('AccessDeniedException', 'no')),
    ],
    [
      'RegisterTaskDefinition',
      () => new FakeAws(),
      (aws: FakeAws) => aws.ecs.on(RegisterTaskDefinitionCommand).rejects(awsError('AccessDeniedException', 'no')),
    ],
  ])('AccessDenied on %s: nothing deployed, the reason names the call, the record is retried', async (operation, make, fault) => {
    const aws = make();
    fault(aws);
    aws.put(LOKI, edited(LOKI), 6);
    const record = sqsRecord(changeEvent(LOKI));

    const response = await aws.process([record]);

    expect(response.batchItemFailures).toEqual([{ itemIdentifier: record.messageId }]);
    expect(aws.updateServices()).toEqual([]);
    expect(published(aws, 'Config Refresh Failed')).toEqual([
      expect.objectContaining({ reason: 'api-error', detail: `${operation} failed: AccessDeniedException: no`, retrying: true }),
    ]);
  });

  test('a manual refresh of an unchanged service restarts its tasks on the same revision', async () => {
    const aws = new FakeAws();

    await aws.process([sqsRecord(manualEvent({ service: 'loki' }))]);

    expect(aws.updateServices()).toEqual([expect.objectContaining({ service: LOKI_SERVICE, forceNewDeployment: true })]);
    expect(aws.ecs.commandCalls(RegisterTaskDefinitionCommand)).toHaveLength(0);
  });
});
