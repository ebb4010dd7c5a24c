import { Match, Template } from 'aws-cdk-lib/assertions';
import * as events from 'aws-cdk-lib/aws-events';
import { Duration } from 'aws-cdk-lib/core';
import { planRetry } from '../../lambdas/enroll/retry';
import { Enrollment, type EnrollmentProps } from '../../lib/enrollment/enrollment';
import { logicalIdOf, resourcesOf, statementsOfRole, testAgentConfigs, testStack } from '../helpers';

/** Enrollment alone, with an event bus and agent configs for tenants team-a and team-b. */
function enrollment(props: Partial<EnrollmentProps> = {}): Template {
  const stack = testStack();
  new Enrollment(stack, 'Enrollment', {
    agentConfigs: testAgentConfigs(stack, ['team-a', 'team-b']),
    eventBus: new events.EventBus(stack, 'EventBus'),
    tenantTagKey: 'lgtm:tenant',
    optOutTagKey: 'lgtm:opt-out',
    defaultTenant: 'team-a',
    alloyVersion: '1.21.2',
    stopLegacyAgents: true,
    deadline: Duration.minutes(15),
    lifecycleFailureResult: 'CONTINUE',
    reconcileInterval: Duration.minutes(30),
    logRetentionDays: 30,
    ...props,
  });
  return Template.fromStack(stack);
}

const template = enrollment();

describe('enrollment infrastructure', () => {
  const queueId = () => logicalIdOf(template, 'AWS::SQS::Queue', 'EnrollmentQueue');
  const dlqId = () => logicalIdOf(template, 'AWS::SQS::Queue', 'EnrollmentDeadLetterQueue');

  test('instances reaching running are sent to the enrollment queue', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.ec2'],
        'detail-type': ['EC2 Instance State-change Notification'],
        detail: { state: ['running'] },
      },
      State: 'ENABLED',
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [queueId(), 'Arn'] }, DeadLetterConfig: Match.anyValue() })],
    });
  });

  test('launches held by an lgtm-enroll lifecycle hook are sent to the enrollment queue', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.autoscaling'],
        'detail-type': ['EC2 Instance-launch Lifecycle Action'],
        detail: { LifecycleHookName: [{ prefix: 'lgtm-enroll' }] },
      },
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [queueId(), 'Arn'] } })],
    });
  });

  test('Reconcile Enrollment events on the project bus are sent to the enrollment queue', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      EventBusName: { Ref: logicalIdOf(template, 'AWS::Events::EventBus', 'EventBus') },
      EventPattern: { source: ['lgtm-fleet'], 'detail-type': ['Reconcile Enrollment'] },
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [queueId(), 'Arn'] } })],
    });
  });

  test.each([15, 240, 720])(
    'with a %i-minute deadline, the handler dead-letters a waiting request (with its reason) before SQS would',
    (deadlineMinutes) => {
      const t = enrollment({ deadline: Duration.minutes(deadlineMinutes) });
      const queue = resourcesOf(t, 'AWS::SQS::Queue')[logicalIdOf(t, 'AWS::SQS::Queue', 'EnrollmentQueue')].Properties;
      const env = (
        resourcesOf(t, 'AWS::Lambda::Function')[logicalIdOf(t, 'AWS::Lambda::Function', 'EnrollmentEnrollFunction')].Properties
          .Environment as { Variables: Record<string, string> }
      ).Variables;
      // Play the handler's own retry schedule with the settings the function gets.
      const settings = {
        retryBaseSeconds: 30,
        retryMaxSeconds: 300,
        queueVisibilityTimeoutSeconds: Number(env.QUEUE_VISIBILITY_TIMEOUT_SECONDS),
      };
      let remaining = Number(env.ENROLL_DEADLINE_SECONDS);
      expect(remaining).toBe(deadlineMinutes * 60);
      let receive = 1;
      while (remaining > 0) {
        remaining -= planRetry(receive, remaining, settings).delaySeconds;
        receive++;
      }
      // At `receive` the deadline has passed: the handler dead-letters the request itself.
      const { maxReceiveCount } = queue.RedrivePolicy as { maxReceiveCount: number };
      expect(receive).toBeLessThan(maxReceiveCount);
      expect(maxReceiveCount).toBeLessThanOrEqual(1000);
    },
  );

  test('the queue is encrypted, TLS-only and redrives to a dead-letter queue with an alarm on it', () => {
    const queue = resourcesOf(template, 'AWS::SQS::Queue')[queueId()].Properties;
    expect(queue.SqsManagedSseEnabled).toBe(true);
    expect(queue.RedrivePolicy).toEqual({ deadLetterTargetArn: { 'Fn::GetAtt': [dlqId(), 'Arn'] }, maxReceiveCount: expect.any(Number) });
    // Lambda requires the visibility timeout to cover the function timeout; the handler relies on the same value.
    const enroll = resourcesOf(template, 'AWS::Lambda::Function')[
      logicalIdOf(template, 'AWS::Lambda::Function', 'EnrollmentEnrollFunction')
    ];
    const variables = (enroll.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
    expect(queue.VisibilityTimeout).toBeGreaterThanOrEqual(3 * (enroll.Properties.Timeout as number));
    expect(variables.QUEUE_VISIBILITY_TIMEOUT_SECONDS).toBe(String(queue.VisibilityTimeout));
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: queueId() }],
      PolicyDocument: {
        Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]),
      },
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [dlqId(), 'QueueName'] } }],
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    });
  });

  test('the enroll function consumes the queue in batches with partial-batch failure reporting', () => {
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: { 'Fn::GetAtt': [queueId(), 'Arn'] },
      BatchSize: 100,
      MaximumBatchingWindowInSeconds: 5,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      Environment: {
        Variables: Match.objectLike({
          ALLOWED_TENANTS: 'team-a,team-b',
          DEFAULT_TENANT: 'team-a',
          TENANT_TAG_KEY: 'lgtm:tenant',
          OPT_OUT_TAG_KEY: 'lgtm:opt-out',
          SCOPE_TAG_KEY: '',
          SCOPE_TAG_VALUES: '',
          PARAMETER_PREFIX: '/Test',
          ENROLL_DEADLINE_SECONDS: '900',
          ALLOY_VERSION: '1.21.2',
          STOP_LEGACY_AGENTS: 'true',
          LIFECYCLE_FAILURE_RESULT: 'CONTINUE',
          LINUX_DOCUMENT_NAME: { Ref: logicalIdOf(template, 'AWS::SSM::Document', 'AgentsLinuxDocument') },
          WINDOWS_DOCUMENT_NAME: { Ref: logicalIdOf(template, 'AWS::SSM::Document', 'AgentsWindowsDocument') },
        }),
      },
    });
  });

  test('without a default tenant, a scope and a lifecycle result reach both the enroll and the reconcile function', () => {
    const scoped = enrollment({
      defaultTenant: undefined,
      scope: { tagKey: 'env', values: ['prod', 'staging'] },
      lifecycleFailureResult: 'ABANDON',
    });
    for (const fn of ['EnrollmentEnrollFunction', 'EnrollmentReconcileFunction']) {
      const variables = (
        resourcesOf(scoped, 'AWS::Lambda::Function')[logicalIdOf(scoped, 'AWS::Lambda::Function', fn)].Properties.Environment as {
          Variables: Record<string, string>;
        }
      ).Variables;
      expect(variables).toMatchObject({ DEFAULT_TENANT: '', SCOPE_TAG_KEY: 'env', SCOPE_TAG_VALUES: 'prod,staging' });
    }
    scoped.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ LIFECYCLE_FAILURE_RESULT: 'ABANDON', ENROLL_DEADLINE_SECONDS: '900' }) },
    });
  });

  test('a default tenant without an agent config is refused, naming it', () => {
    expect(() => enrollment({ defaultTenant: 'team-c' })).toThrow('defaultTenant "team-c" has no agent config (tenants: team-a, team-b)');
  });

  describe('the outcome (status) handler', () => {
    test('receives final results of the project documents only', () => {
      template.hasResourceProperties('AWS::Events::Rule', {
        EventPattern: {
          source: ['aws.ssm'],
          'detail-type': ['EC2 Command Invocation Status-change Notification'],
          detail: {
            'document-name': [
              { Ref: logicalIdOf(template, 'AWS::SSM::Document', 'AgentsLinuxDocument') },
              { Ref: logicalIdOf(template, 'AWS::SSM::Document', 'AgentsWindowsDocument') },
            ],
            status: ['Success', 'Failed', 'TimedOut', 'Cancelled'],
          },
        },
        Targets: [
          Match.objectLike({
            Arn: { 'Fn::GetAtt': [logicalIdOf(template, 'AWS::Lambda::Function', 'EnrollmentStatusFunction'), 'Arn'] },
            DeadLetterConfig: { Arn: { 'Fn::GetAtt': [dlqId(), 'Arn'] } },
          }),
        ],
      });
    });

    test('failed invocations end in the dead-letter queue after two retries', () => {
      template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
        FunctionName: { Ref: logicalIdOf(template, 'AWS::Lambda::Function', 'EnrollmentStatusFunction') },
        MaximumRetryAttempts: 2,
        DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [dlqId(), 'Arn'] } } },
      });
    });

    test('writes only the outcome tags and deletes only the lifecycle tags', () => {
      const statements = statementsOfRole(template, 'EnrollmentStatusRole');
      const create = statements.find((s) => s.Action === 'ec2:CreateTags');
      expect(create?.Condition).toEqual({
        'ForAllValues:StringEquals': {
          'aws:TagKeys': [
            'lgtm:agent-status',
            'lgtm:agent-version',
            'lgtm:agent-config-version',
            'lgtm:agent-tenant',
            'lgtm:agent-platform',
            'lgtm:agent-failure',
          ],
        },
      });
      const remove = statements.find((s) => s.Action === 'ec2:DeleteTags');
      expect(remove?.Condition).toEqual({
        'ForAllValues:StringEquals': { 'aws:TagKeys': ['lgtm:lifecycle-group', 'lgtm:lifecycle-hook', 'lgtm:agent-failure'] },
      });
      const put = statements.find((s) => s.Action === 'events:PutEvents');
      expect(put?.Condition).toEqual({
        StringEquals: { 'events:source': 'lgtm-fleet', 'events:detail-type': ['Agent Enrolled', 'Agent Enrollment Failed'] },
      });
    });
  });

  describe('the reconciliation backstop', () => {
    test('runs on a schedule of reconcileInterval, without async retries', () => {
      const functionId = logicalIdOf(template, 'AWS::Lambda::Function', 'EnrollmentReconcileFunction');
      template.hasResourceProperties('AWS::Events::Rule', {
        ScheduleExpression: 'rate(30 minutes)',
        Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [functionId, 'Arn'] }, RetryPolicy: { MaximumRetryAttempts: 0 } })],
      });
      template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
        FunctionName: { Ref: functionId },
        MaximumRetryAttempts: 0,
        // A failed run is recorded where the alarm sees it.
        DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [dlqId(), 'Arn'] } } },
      });
      const hourly = enrollment({ reconcileInterval: Duration.hours(1) });
      hourly.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(1 hour)' });
    });

    test('may publish only Reconcile Enrollment events from lgtm-fleet on the project bus', () => {
      const statements = statementsOfRole(template, 'EnrollmentReconcileRole');
      const put = statements.find((s) => s.Action === 'events:PutEvents');
      expect(put?.Resource).toEqual({ 'Fn::GetAtt': [logicalIdOf(template, 'AWS::Events::EventBus', 'EventBus'), 'Arn'] });
      expect(put?.Condition).toEqual({ StringEquals: { 'events:source': 'lgtm-fleet', 'events:detail-type': 'Reconcile Enrollment' } });
      const wildcard = statements.filter((s) => s.Resource === '*').flatMap((s) => [s.Action].flat());
      expect(wildcard.sort()).toEqual(['ec2:DescribeInstances', 'ssm:DescribeInstanceInformation']);
    });
  });

  describe('the enroll role', () => {
    const statements = () => statementsOfRole(template, 'EnrollmentEnrollRole');
    const find = (action: string) => statements().filter((s) => [s.Action].flat().includes(action));

    test('sends commands only with the project documents, to instances', () => {
      const [send] = find('ssm:SendCommand');
      const text = JSON.stringify(send.Resource);
      expect(text).toContain(logicalIdOf(template, 'AWS::SSM::Document', 'AgentsLinuxDocument'));
      expect(text).toContain(logicalIdOf(template, 'AWS::SSM::Document', 'AgentsWindowsDocument'));
      expect(text).toContain(':instance/*');
      expect(text).not.toContain('document/*');
    });

    test('writes only the enrollment tag keys', () => {
      const [tag] = find('ec2:CreateTags');
      expect(tag.Condition).toEqual({
        'ForAllValues:StringEquals': {
          'aws:TagKeys': expect.arrayContaining(['lgtm:agent-status', 'lgtm:agent-pending-since', 'lgtm:agent-command']),
        },
      });
      expect(JSON.stringify(tag.Resource)).toContain(':instance/*');
    });

    test('describe calls are the only actions on *', () => {
      const wildcard = statements().filter((s) => s.Resource === '*');
      expect(wildcard.flatMap((s) => [s.Action].flat()).sort()).toEqual([
        'autoscaling:DescribeAutoScalingInstances',
        'ec2:DescribeInstances',
        'ssm:DescribeInstanceInformation',
      ]);
    });

    test('reads the versions of agent config parameters and no others', () => {
      const reads = find('ssm:GetParameters');
      expect(reads).toHaveLength(1);
      const text = JSON.stringify(reads[0].Resource);
      for (const tenant of ['teama', 'teamb']) {
        for (const platform of ['linux', 'windows']) expect(text).toContain(`AgentsAgent${tenant}${platform}`);
      }
      expect(text).not.toContain('*');
      expect(text).not.toContain('BackendConfig');
    });

    test('sends only envelopes of waiting requests to its own queue and dead letters to the dead-letter queue', () => {
      const sends = find('sqs:SendMessage').map((statement) => statement.Resource);
      expect(sends).toEqual(expect.arrayContaining([{ 'Fn::GetAtt': [queueId(), 'Arn'] }, { 'Fn::GetAtt': [dlqId(), 'Arn'] }]));
      expect(sends).toHaveLength(2);
    });

    test('completes lifecycle actions of Auto Scaling groups only', () => {
      const [complete] = find('autoscaling:CompleteLifecycleAction');
      expect(JSON.stringify(complete.Resource)).toContain(':autoScalingGroup:*:autoScalingGroupName/*');
    });

    test('may publish only its own Agent Enrollment Refused events from lgtm-fleet on the project bus', () => {
      const puts = statements().filter((s) => [s.Action].flat().includes('events:PutEvents'));
      expect(puts).toHaveLength(1);
      expect(puts[0].Resource).toEqual({ 'Fn::GetAtt': [logicalIdOf(template, 'AWS::Events::EventBus', 'EventBus'), 'Arn'] });
      expect(puts[0].Condition).toEqual({
        StringEquals: { 'events:source': 'lgtm-fleet', 'events:detail-type': 'Agent Enrollment Refused' },
      });
    });

    test('every action the handler sends is allowed, and nothing else', () => {
      const allowed = new Set(statements().flatMap((s) => [s.Action].flat() as string[]));
      expect([...allowed].sort()).toEqual(
        [
          'autoscaling:CompleteLifecycleAction',
          'autoscaling:DescribeAutoScalingInstances',
          'dynamodb:PutItem',
          'ec2:CreateTags',
          'ec2:DescribeInstances',
          'events:PutEvents',
          'logs:CreateLogStream',
          'logs:PutLogEvents',
          'sqs:SendMessage',
          // Not called by the handler: the SQS event source mapping polls with the function's role.
          'sqs:ChangeMessageVisibility',
          'sqs:DeleteMessage',
          'sqs:GetQueueAttributes',
          'sqs:GetQueueUrl',
          'sqs:ReceiveMessage',
          'ssm:DescribeInstanceInformation',
          'ssm:GetParameters',
          'ssm:SendCommand',
        ].sort(),
      );
    });

    test('no managed policies and no wildcard actions', () => {
      const roleId = logicalIdOf(template, 'AWS::IAM::Role', 'EnrollmentEnrollRole');
      expect(resourcesOf(template, 'AWS::IAM::Role')[roleId].Properties.ManagedPolicyArns).toBeUndefined();
      for (const s of statements()) for (const action of [s.Action].flat()) expect(String(action)).not.toMatch(/\*/);
    });
  });
});

describe('launch claims', () => {
  test('an on-demand table keyed by launch, expiring claims by TTL, written by the enroll function only', () => {
    const tableId = logicalIdOf(template, 'AWS::DynamoDB::Table', 'EnrollmentClaims');
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [{ AttributeName: 'launch', KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
    });
    const enroll = resourcesOf(template, 'AWS::Lambda::Function')[
      logicalIdOf(template, 'AWS::Lambda::Function', 'EnrollmentEnrollFunction')
    ];
    expect((enroll.Properties.Environment as { Variables: Record<string, unknown> }).Variables.CLAIM_TABLE_NAME).toEqual({ Ref: tableId });
    const put = statementsOfRole(template, 'EnrollmentEnrollRole').find((s) => s.Action === 'dynamodb:PutItem');
    expect(JSON.stringify(put?.Resource)).toContain(tableId);
    for (const role of ['EnrollmentStatusRole', 'EnrollmentReconcileRole']) {
      expect(JSON.stringify(statementsOfRole(template, role))).not.toContain('dynamodb:');
    }
  });
});
