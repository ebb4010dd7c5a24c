import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as destinations from 'aws-cdk-lib/aws-lambda-destinations';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Validations } from 'aws-cdk-lib/core';
import type { Construct } from 'constructs';
import type { StatusEnvironment } from '../../lambdas/shared/contract';
import { COMMAND_INVOCATION_STATUS_CHANGE, ENROLLMENT_OUTCOME } from '../../lambdas/shared/event-types';
import { STATUS_DELETED_TAG_KEYS, STATUS_WRITTEN_TAG_KEYS } from '../../lambdas/shared/tags';
import { agentCommandFinishedPattern } from '../agents/agent-command-events';
import { LgtmFunction } from '../lgtm-function';
import { acknowledgeWildcardResource } from '../nag';
import { EVENT_SOURCE, STATUS_TAG_KEY } from './contract';
import type { EnrollmentProps } from './enrollment';
import { anyAutoScalingGroupArn, anyInstanceArn } from './fleet-arns';

/** The outcome handler: the status function and the rule that feeds it. */
export interface StatusHandler {
  readonly function: lambda.Function;
  readonly rule: events.Rule;
}

/** Outcomes: Run Command invocation results of the project documents → tags, lifecycle, bus events. */
export function createStatusHandler(
  scope: Construct,
  props: Pick<EnrollmentProps, 'agentConfigs' | 'eventBus' | 'lifecycleFailureResult' | 'logRetentionDays'>,
  deadLetterQueue: sqs.IQueue,
): StatusHandler {
  const { agentConfigs } = props;
  const status = new LgtmFunction(scope, 'Status', {
    handlerFolder: 'status',
    description: 'lgtm-fleet: records agent install outcomes on the instance and the project bus',
    serviceName: 'lgtm-fleet-status',
    logRetentionDays: props.logRetentionDays,
    // Throttling or access errors throw: Lambda retries twice, then the event lands in the DLQ.
    retryAttempts: 2,
    onFailure: new destinations.SqsDestination(deadLetterQueue),
    environment: {
      STATUS_TAG_KEY,
      EVENT_BUS_NAME: props.eventBus.eventBusName,
      EVENT_SOURCE,
      LINUX_DOCUMENT_NAME: agentConfigs.linuxDocument.ref,
      WINDOWS_DOCUMENT_NAME: agentConfigs.windowsDocument.ref,
      LIFECYCLE_FAILURE_RESULT: props.lifecycleFailureResult,
    } satisfies StatusEnvironment,
  });
  const rule = new events.Rule(scope, 'CommandOutcome', {
    description: 'lgtm-fleet: final results of agent install and reload commands',
    eventPattern: agentCommandFinishedPattern(agentConfigs, COMMAND_INVOCATION_STATUS_CHANGE),
    targets: [new targets.LambdaFunction(status.function, { deadLetterQueue, retryAttempts: 185 })],
  });
  grantStatusPermissions(status.role, props.eventBus);
  return { function: status.function, rule };
}

/** Reads the command and the instance, writes the outcome tags, completes the launch, publishes the outcome. */
function grantStatusPermissions(role: iam.Role, eventBus: events.IEventBus): void {
  const instanceArn = anyInstanceArn(role);
  const autoScalingGroupArn = anyAutoScalingGroupArn(role);
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: 'ReadCommandAndInstance',
      actions: ['ssm:ListCommands', 'ec2:DescribeInstances'],
      resources: ['*'],
    }),
  );
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: 'WriteOutcomeTags',
      actions: ['ec2:CreateTags'],
      resources: [instanceArn],
      conditions: { 'ForAllValues:StringEquals': { 'aws:TagKeys': [STATUS_TAG_KEY, ...STATUS_WRITTEN_TAG_KEYS] } },
    }),
  );
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: 'RemoveLifecycleTags',
      actions: ['ec2:DeleteTags'],
      resources: [instanceArn],
      conditions: { 'ForAllValues:StringEquals': { 'aws:TagKeys': [...STATUS_DELETED_TAG_KEYS] } },
    }),
  );
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: 'CompleteLaunch',
      actions: ['autoscaling:CompleteLifecycleAction'],
      resources: [autoScalingGroupArn],
    }),
  );
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: 'PublishOutcome',
      actions: ['events:PutEvents'],
      resources: [eventBus.eventBusArn],
      conditions: {
        StringEquals: { 'events:source': EVENT_SOURCE, 'events:detail-type': [ENROLLMENT_OUTCOME.enrolled, ENROLLMENT_OUTCOME.failed] },
      },
    }),
  );
  acknowledgeStatusWildcards(role, instanceArn, autoScalingGroupArn);
}

function acknowledgeStatusWildcards(role: iam.Role, instanceArn: string, autoScalingGroupArn: string): void {
  const policy = role.node.tryFindChild('DefaultPolicy') ?? role;
  Validations.of(policy).acknowledge({
    id: 'AwsSolutions-IAM5[Resource::*]',
    reason: 'ssm:ListCommands and ec2:DescribeInstances support no resource-level permissions.',
  });
  acknowledgeWildcardResource(
    policy,
    instanceArn,
    'Outcomes concern any enrolled instance; tag writes are limited to the status tag keys by aws:TagKeys conditions.',
  );
  acknowledgeWildcardResource(
    policy,
    autoScalingGroupArn,
    'Any Auto Scaling group may opt into lifecycle-hook enrollment; only actions recorded on the instance are completed.',
  );
}
