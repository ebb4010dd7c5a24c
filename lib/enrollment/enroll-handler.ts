import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Arn, ArnFormat, Duration, Stack, Validations } from 'aws-cdk-lib/core';
import type { Construct } from 'constructs';
import type { EnrollEnvironment } from '../../lambdas/shared/contract';
import { ENROLLMENT_OUTCOME } from '../../lambdas/shared/event-types';
import { ENROLL_WRITTEN_TAG_KEYS } from '../../lambdas/shared/tags';
import type { AgentConfigs } from '../agents/agent-configs';
import { LgtmFunction } from '../lgtm-function';
import { acknowledgeWildcardResource } from '../nag';
import { COMMAND_TIMEOUT_SECONDS, ENROLL_QUEUE_VISIBILITY, EVENT_SOURCE, STATUS_TAG_KEY } from './contract';
import type { EnrollmentProps } from './enrollment';
import { anyAutoScalingGroupArn, anyInstanceArn } from './fleet-arns';

/** A batch of 100 takes a few seconds; the SDK's adaptive retries under throttling fit well inside this. */
const ENROLL_TIMEOUT = Duration.seconds(40);

/** What the enroll function works with besides the fleet: its queue, the dead-letter queue and the launch claims. */
export interface EnrollPipeline {
  readonly queue: sqs.IQueue;
  readonly deadLetterQueue: sqs.IQueue;
  readonly claimTable: dynamodb.ITable;
}

/** The enroll function (`Enroll`), consuming the enrollment queue in batches. */
export function createEnrollFunction(scope: Construct, props: EnrollmentProps, pipeline: EnrollPipeline): lambda.Function {
  const { agentConfigs } = props;
  const enroll = new LgtmFunction(scope, 'Enroll', {
    handlerFolder: 'enroll',
    description: 'lgtm-fleet: installs the Alloy agent on launched instances through SSM',
    serviceName: 'lgtm-fleet-enroll',
    logRetentionDays: props.logRetentionDays,
    timeout: ENROLL_TIMEOUT,
    environment: {
      CLAIM_TABLE_NAME: pipeline.claimTable.tableName,
      LINUX_DOCUMENT_NAME: agentConfigs.linuxDocument.ref,
      WINDOWS_DOCUMENT_NAME: agentConfigs.windowsDocument.ref,
      PARAMETER_PREFIX: agentConfigs.parameterPrefix,
      TENANT_TAG_KEY: props.tenantTagKey,
      OPT_OUT_TAG_KEY: props.optOutTagKey,
      SCOPE_TAG_KEY: props.scope?.tagKey ?? '',
      SCOPE_TAG_VALUES: (props.scope?.values ?? []).join(','),
      ALLOWED_TENANTS: agentConfigs.tenants.join(','),
      DEFAULT_TENANT: props.defaultTenant ?? '',
      STATUS_TAG_KEY,
      ALLOY_VERSION: props.alloyVersion,
      STOP_LEGACY_AGENTS: String(props.stopLegacyAgents),
      ENROLL_DEADLINE_SECONDS: String(props.deadline.toSeconds()),
      QUEUE_URL: pipeline.queue.queueUrl,
      DEAD_LETTER_QUEUE_URL: pipeline.deadLetterQueue.queueUrl,
      EVENT_BUS_NAME: props.eventBus.eventBusName,
      EVENT_SOURCE,
      COMMAND_TIMEOUT_SECONDS,
      // Command output stays in SSM: writing it to CloudWatch Logs needs more than the instance's core role.
      COMMAND_LOG_GROUP: '',
      LIFECYCLE_FAILURE_RESULT: props.lifecycleFailureResult,
      QUEUE_VISIBILITY_TIMEOUT_SECONDS: String(ENROLL_QUEUE_VISIBILITY.toSeconds()),
    } satisfies EnrollEnvironment,
  });
  enroll.function.addEventSource(
    new SqsEventSource(pipeline.queue, {
      batchSize: 100,
      maxBatchingWindow: Duration.seconds(5),
      reportBatchItemFailures: true,
      maxConcurrency: 2,
    }),
  );

  Validations.of(enroll.function).acknowledge({
    id: 'Serverless-LambdaEventSourceMappingDestination',
    reason: 'SQS event sources do not support on-failure destinations; failed messages are redriven to the dead-letter queue.',
  });
  return enroll.function;
}

/** Exactly the calls the enroll handler makes (see lambdas/enroll): batch variants share these actions. */
export function grantEnrollPermissions(
  fn: lambda.Function,
  props: { readonly agentConfigs: AgentConfigs; readonly eventBus: events.IEventBus },
  pipeline: EnrollPipeline,
): void {
  grantPipelineAccess(fn, props, pipeline);
  grantFleetAccess(fn, props.agentConfigs.documentArns);
}

/** The queues, the outcome it publishes, the launch claims and the agent configs. */
function grantPipelineAccess(
  fn: lambda.Function,
  props: { readonly agentConfigs: AgentConfigs; readonly eventBus: events.IEventBus },
  pipeline: EnrollPipeline,
): void {
  // Envelopes of waiting requests go back on the enrollment queue (lambdas/enroll/wait-envelope.ts).
  pipeline.queue.grant(fn, 'sqs:SendMessage');
  pipeline.deadLetterQueue.grant(fn, 'sqs:SendMessage');
  // Its own outcome only: never `Reconcile Enrollment` or a refresh request.
  fn.addToRolePolicy(
    new iam.PolicyStatement({
      sid: 'PublishRefusal',
      actions: ['events:PutEvents'],
      resources: [props.eventBus.eventBusArn],
      conditions: { StringEquals: { 'events:source': EVENT_SOURCE, 'events:detail-type': ENROLLMENT_OUTCOME.refused } },
    }),
  );
  // TransactWriteItems is authorized item by item: each claim is a conditional PutItem.
  pipeline.claimTable.grant(fn, 'dynamodb:PutItem');
  props.agentConfigs.grantRead(fn, 'ReadAgentConfigVersions');
}

/** Install commands, fleet look-ups, enrollment tags and lifecycle completion, on any instance or group. */
function grantFleetAccess(fn: lambda.Function, documentArns: readonly string[]): void {
  const instanceArn = anyInstanceArn(fn);
  const autoScalingGroupArn = anyAutoScalingGroupArn(fn);
  fn.addToRolePolicy(
    new iam.PolicyStatement({
      sid: 'SendInstallCommand',
      actions: ['ssm:SendCommand'],
      resources: [...documentArns, instanceArn],
    }),
  );
  fn.addToRolePolicy(
    new iam.PolicyStatement({
      sid: 'DescribeFleet',
      actions: ['ec2:DescribeInstances', 'ssm:DescribeInstanceInformation', 'autoscaling:DescribeAutoScalingInstances'],
      resources: ['*'],
    }),
  );
  fn.addToRolePolicy(
    new iam.PolicyStatement({
      sid: 'WriteEnrollmentTags',
      actions: ['ec2:CreateTags'],
      resources: [instanceArn],
      conditions: { 'ForAllValues:StringEquals': { 'aws:TagKeys': [STATUS_TAG_KEY, ...ENROLL_WRITTEN_TAG_KEYS] } },
    }),
  );
  fn.addToRolePolicy(
    new iam.PolicyStatement({
      sid: 'ReleaseSkippedLaunches',
      actions: ['autoscaling:CompleteLifecycleAction'],
      resources: [autoScalingGroupArn],
    }),
  );

  // On the role, which covers its default policy and the overflow policies CDK adds beside it once
  // the statements grow with the tenants (at 30 and more).
  const policy = fn.role ?? fn;
  Validations.of(policy).acknowledge({
    id: 'AwsSolutions-IAM5[Resource::*]',
    reason:
      'ec2:DescribeInstances, ssm:DescribeInstanceInformation and autoscaling:DescribeAutoScalingInstances support no resource-level permissions.',
  });
  acknowledgeWildcardResource(
    policy,
    instanceArn,
    'Instances to enroll are not known in advance: SendCommand targets any instance of the account, and CreateTags is limited to the enrollment tag keys by an aws:TagKeys condition.',
  );
  acknowledgeWildcardResource(
    policy,
    autoScalingGroupArn,
    'Any Auto Scaling group may opt into lifecycle-hook enrollment; the handler completes only actions of launches it was sent.',
  );
}

/**
 * With `ingest.tenantBinding`: the enroll function writes each tenant's agent credential into the
 * install command's config, reading it from the secrets under `secretPrefix`
 * (`<stack>/agent-credential/`). Without it the function's environment and role stay as they were.
 */
export function deliverAgentCredentials(fn: lambda.Function, secretPrefix: string): void {
  const variable = 'AGENT_CREDENTIAL_SECRET_PREFIX' satisfies keyof EnrollEnvironment;
  fn.addEnvironment(variable, secretPrefix);
  grantAgentCredentialRead(fn.role as iam.IRole, secretPrefix);
}

/** `secretsmanager:GetSecretValue` on the tenants' agent credentials (`<secretPrefix><tenant>`), for the enroll and refresh functions. */
export function grantAgentCredentialRead(role: iam.IRole, secretPrefix: string): void {
  const secretsArn = Arn.format(
    { service: 'secretsmanager', resource: 'secret', resourceName: `${secretPrefix}*`, arnFormat: ArnFormat.COLON_RESOURCE_NAME },
    Stack.of(role),
  );
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({ sid: 'ReadAgentCredentials', actions: ['secretsmanager:GetSecretValue'], resources: [secretsArn] }),
  );
  acknowledgeWildcardResource(
    role,
    secretsArn,
    "Secrets Manager appends a random suffix to every secret's ARN; the pattern covers the tenants' agent credentials under the stack's own prefix only.",
  );
}
