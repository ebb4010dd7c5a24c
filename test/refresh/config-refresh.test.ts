import { Match, type Template } from 'aws-cdk-lib/assertions';
import { logicalIdOf, resourcesOf, statementsOfRole, synthStack } from '../helpers';

describe('config refresh infrastructure', () => {
  let template: Template;
  beforeAll(() => {
    template = synthStack().template;
  });
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
        detail: { name: [{ prefix: '/LgtmFleet/agent/' }, { prefix: '/LgtmFleet/config/' }] },
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
      EventPattern: Match.objectLike({
        'detail-type': ['EC2 Command Status-change Notification'],
        detail: Match.objectLike({ parameters: { Action: ['reload'] } }),
      }),
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

  test('rate controls and the services map come from the config and the stack', () => {
    const fn = resourcesOf(template, 'AWS::Lambda::Function')[functionId()].Properties;
    const variables = (fn.Environment as { Variables: Record<string, unknown> }).Variables;
    expect(variables).toMatchObject({ MAX_CONCURRENCY: '10%', MAX_ERRORS: '1', PARAMETER_PREFIX: '/LgtmFleet' });
    const services = JSON.stringify(variables.SERVICES);
    for (const name of ['mimir', 'loki', 'tempo', 'grafana', 'collector']) expect(services).toContain(`\\"${name}\\":`);
    const { template: strict } = synthStack({ refresh: { maxConcurrency: '2', maxErrors: '0' } });
    expect(JSON.stringify(strict.toJSON())).toContain('"MAX_CONCURRENCY":"2"');
  });

  describe('the refresh role', () => {
    test('sends commands with the project documents, to instances enrolled into an allowed tenant only', () => {
      const send = withAction('ssm:SendCommand');
      expect(send).toHaveLength(2);
      const toInstances = send.find((s) => JSON.stringify(s.Resource).includes(':instance/*'));
      expect(toInstances?.Condition).toEqual({
        StringEquals: { 'ssm:resourceTag/lgtm:agent-tenant': ['aws-rag-ec2', 'aws-rag-cloudwatch', 'aws-rag-rds'] },
      });
      const toDocuments = send.find((s) => s !== toInstances);
      expect(JSON.stringify(toDocuments?.Resource)).toContain(logicalIdOf(template, 'AWS::SSM::Document', 'EnrollmentLinuxDocument'));
      expect(JSON.stringify(toDocuments?.Resource)).not.toContain('*');
    });

    test('rolls only the project services, in the project cluster', () => {
      const [roll] = withAction('ecs:UpdateService');
      const resources = JSON.stringify(roll.Resource);
      for (const prefix of [
        'MimirBackendService',
        'LokiBackendService',
        'TempoBackendService',
        'GrafanaBackendService',
        'CollectorBackendService',
      ]) {
        expect(resources).toContain(logicalIdOf(template, 'AWS::ECS::Service', prefix));
      }
      expect(resources).not.toContain('MemcachedBackendService');
      expect(roll.Condition).toEqual({ ArnEquals: { 'ecs:cluster': expect.anything() } });
    });

    test("reads only the project's parameters", () => {
      const [byName] = withAction('ssm:GetParameters');
      expect(JSON.stringify(byName.Resource)).not.toContain('*');
      const [byPath] = withAction('ssm:GetParametersByPath');
      expect(JSON.stringify(byPath.Resource)).toContain(':parameter/LgtmFleet/config');
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

  test('an invalid rate control fails synth naming the field', () => {
    expect(() => synthStack({ refresh: { maxConcurrency: '150%' } })).toThrow(/refresh\.maxConcurrency: .*"150%"/);
    expect(() => synthStack({ refresh: { maxConcurrency: '0' } })).toThrow(/refresh\.maxConcurrency: .*"0"/);
    expect(() => synthStack({ refresh: { maxErrors: 'some' } })).toThrow(/refresh\.maxErrors: .*"some"/);
  });
});
