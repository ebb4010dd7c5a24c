import { Match, Template } from 'aws-cdk-lib/assertions';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as events from 'aws-cdk-lib/aws-events';
import { ConfigRefresh, type ConfigRefreshProps } from '../../lib/refresh/config-refresh';
import { logicalIdOf, resourcesOf, statementsOfRole, testAgentConfigs, testConfig, testNetwork, testStack } from '../helpers';

/** ConfigRefresh alone: an event bus, agent configs for team-a and team-b, and two services in a cluster. */
function refresh(props: Partial<ConfigRefreshProps> = {}): Template {
  const stack = testStack();
  const { cluster } = testNetwork(stack);
  const service = (name: string) => {
    const taskDefinition = new ecs.FargateTaskDefinition(stack, `${name}Task`);
    taskDefinition.addContainer('main', {
      image: ecs.ContainerImage.fromRegistry(`example/${name}:1.0.0`),
      logging: ecs.LogDrivers.awsLogs({ streamPrefix: name }),
    });
    return new ecs.FargateService(stack, `${name}Service`, {
      cluster,
      taskDefinition,
      minHealthyPercent: 100,
      circuitBreaker: { rollback: true },
    });
  };
  new ConfigRefresh(stack, 'Refresh', {
    agentConfigs: testAgentConfigs(stack, ['team-a', 'team-b']),
    eventBus: new events.EventBus(stack, 'EventBus'),
    cluster,
    services: { mimir: service('Mimir'), grafana: service('Grafana') },
    alloyVersion: '1.21.2',
    stopLegacyAgents: true,
    maxConcurrency: '10%',
    maxErrors: '1',
    logRetentionDays: 30,
    ...props,
  });
  return Template.fromStack(stack);
}

describe('config refresh infrastructure', () => {
  const template = refresh();
  const queueId = () => logicalIdOf(template, 'AWS::SQS::Queue', 'RefreshQueue');
  const dlqId = () => logicalIdOf(template, 'AWS::SQS::Queue', 'RefreshDeadLetterQueue');
  const functionId = () => logicalIdOf(template, 'AWS::Lambda::Function', 'RefreshFunction');
  const statements = () => statementsOfRole(template, 'RefreshRole');
  const withAction = (action: string) => statements().filter((s) => [s.Action].flat().includes(action));

  test('changes to the project parameters, and only those, enter the refresh queue', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.ssm'],
        'detail-type': ['Parameter Store Change'],
        detail: { name: [{ prefix: '/Test/agent/' }, { prefix: '/Test/config/' }] },
      },
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [queueId(), 'Arn'] } })],
    });
  });

  test('manual requests on the project bus take the same path', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      EventBusName: { Ref: logicalIdOf(template, 'AWS::Events::EventBus', 'EventBus') },
      EventPattern: { source: ['lgtm-fleet'], 'detail-type': ['Config Refresh Requested'] },
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [queueId(), 'Arn'] } })],
    });
  });

  test('rollout outcomes come back: ECS deployments of the project services, agent reload commands', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: Match.objectLike({
        source: ['aws.ecs'],
        'detail-type': ['ECS Deployment State Change'],
        detail: { eventName: ['SERVICE_DEPLOYMENT_COMPLETED', 'SERVICE_DEPLOYMENT_FAILED'] },
      }),
    });
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.ssm'],
        'detail-type': ['EC2 Command Status-change Notification'],
        detail: {
          'document-name': [
            { Ref: logicalIdOf(template, 'AWS::SSM::Document', 'AgentsLinuxDocument') },
            { Ref: logicalIdOf(template, 'AWS::SSM::Document', 'AgentsWindowsDocument') },
          ],
          status: ['Success', 'Failed', 'TimedOut', 'Cancelled'],
          parameters: { Action: ['reload'] },
        },
      },
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [queueId(), 'Arn'] } })],
    });
  });

  test('a delay queue and a batching window debounce bursts into one rollout', () => {
    const queue = resourcesOf(template, 'AWS::SQS::Queue')[queueId()].Properties;
    expect(queue.DelaySeconds).toBe(30);
    expect(queue.RedrivePolicy).toEqual({ deadLetterTargetArn: { 'Fn::GetAtt': [dlqId(), 'Arn'] }, maxReceiveCount: 5 });
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: { 'Fn::GetAtt': [queueId(), 'Arn'] },
      BatchSize: 100,
      MaximumBatchingWindowInSeconds: 20,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      ScalingConfig: { MaximumConcurrency: 2 },
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [dlqId(), 'QueueName'] } }],
      Threshold: 1,
    });
  });

  test('rate controls, agent settings and the services map reach the function', () => {
    const fn = resourcesOf(template, 'AWS::Lambda::Function')[functionId()].Properties;
    const variables = (fn.Environment as { Variables: Record<string, unknown> }).Variables;
    expect(variables).toMatchObject({
      MAX_CONCURRENCY: '10%',
      MAX_ERRORS: '1',
      PARAMETER_PREFIX: '/Test',
      ALLOWED_TENANTS: 'team-a,team-b',
      ALLOY_VERSION: '1.21.2',
      STOP_LEGACY_AGENTS: 'true',
      LINUX_DOCUMENT_NAME: { Ref: logicalIdOf(template, 'AWS::SSM::Document', 'AgentsLinuxDocument') },
    });
    const services = JSON.stringify(variables.SERVICES);
    expect(services).toContain(`\\"mimir\\":`);
    expect(services).toContain(logicalIdOf(template, 'AWS::ECS::Service', 'MimirService'));
    expect(services).toContain(`\\"grafana\\":`);
    const strict = refresh({ maxConcurrency: '2', maxErrors: '0', stopLegacyAgents: false });
    expect(JSON.stringify(strict.toJSON())).toContain('"MAX_CONCURRENCY":"2"');
    expect(JSON.stringify(strict.toJSON())).toContain('"MAX_ERRORS":"0"');
    expect(JSON.stringify(strict.toJSON())).toContain('"STOP_LEGACY_AGENTS":"false"');
  });

  describe('the refresh role', () => {
    test('sends commands with the project documents, to instances enrolled into an allowed tenant only', () => {
      const send = withAction('ssm:SendCommand');
      expect(send).toHaveLength(2);
      const toInstances = send.find((s) => JSON.stringify(s.Resource).includes(':instance/*'));
      expect(toInstances?.Condition).toEqual({
        StringEquals: { 'ssm:resourceTag/lgtm:agent-tenant': ['team-a', 'team-b'] },
      });
      const toDocuments = send.find((s) => s !== toInstances);
      expect(JSON.stringify(toDocuments?.Resource)).toContain(logicalIdOf(template, 'AWS::SSM::Document', 'AgentsLinuxDocument'));
      expect(JSON.stringify(toDocuments?.Resource)).toContain(logicalIdOf(template, 'AWS::SSM::Document', 'AgentsWindowsDocument'));
      expect(JSON.stringify(toDocuments?.Resource)).not.toContain('*');
    });

    test('rolls only the given services, in the given cluster, passing only their roles', () => {
      const [roll] = withAction('ecs:UpdateService');
      const services = Object.keys(resourcesOf(template, 'AWS::ECS::Service'));
      expect(roll.Resource).toEqual(expect.arrayContaining(services.map((id) => ({ Ref: id }))));
      expect(roll.Resource).toHaveLength(2);
      expect(roll.Condition).toEqual({
        ArnEquals: { 'ecs:cluster': { 'Fn::GetAtt': [logicalIdOf(template, 'AWS::ECS::Cluster', 'Cluster'), 'Arn'] } },
      });
      const [pass] = withAction('iam:PassRole');
      const roles = ['MimirTaskTaskRole', 'MimirTaskExecutionRole', 'GrafanaTaskTaskRole', 'GrafanaTaskExecutionRole'];
      expect(pass.Resource).toEqual(
        expect.arrayContaining(roles.map((prefix) => ({ 'Fn::GetAtt': [logicalIdOf(template, 'AWS::IAM::Role', prefix), 'Arn'] }))),
      );
      expect(pass.Resource).toHaveLength(roles.length);
      expect(pass.Condition).toEqual({ StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } });
    });

    test("reads only the project's parameters", () => {
      const [byName] = withAction('ssm:GetParameters').filter((s) => s.Sid === 'ReadAgentConfigs');
      const agentParameters = Object.keys(resourcesOf(template, 'AWS::SSM::Parameter'));
      expect(byName.Resource).toEqual(
        agentParameters.map((id) => ({ 'Fn::Join': expect.arrayContaining([expect.arrayContaining([{ Ref: id }])]) })),
      );
      expect(JSON.stringify(byName.Resource)).not.toContain('*');
      const [byPath] = withAction('ssm:GetParametersByPath');
      expect(JSON.stringify(byPath.Resource)).toContain(':parameter/Test/config');
    });

    test('publishes only Config Refresh outcomes from lgtm-fleet', () => {
      const [put] = withAction('events:PutEvents');
      expect(put.Condition).toEqual({
        StringEquals: {
          'events:source': 'lgtm-fleet',
          'events:detail-type': ['Config Refresh Started', 'Config Refresh Completed', 'Config Refresh Failed', 'Config Refresh Skipped'],
        },
      });
    });
  });

  test('an invalid rate control is refused with the config, naming the field', () => {
    expect(() => testConfig({ refresh: { maxConcurrency: '150%' } })).toThrow(/refresh\.maxConcurrency: .*"150%"/);
    expect(() => testConfig({ refresh: { maxConcurrency: '0' } })).toThrow(/refresh\.maxConcurrency: .*"0"/);
    expect(() => testConfig({ refresh: { maxErrors: 'some' } })).toThrow(/refresh\.maxErrors: .*"some"/);
  });
});
