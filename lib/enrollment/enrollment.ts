import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as destinations from 'aws-cdk-lib/aws-lambda-destinations';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Arn, ArnFormat, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib/core';
import { Construct } from 'constructs';
import { CLAIM_ATTRIBUTES } from '../../lambdas/enroll/claim-table';
import { RETRY_BASE_SECONDS, RETRY_MAX_SECONDS, receivesUntilDeadline } from '../../lambdas/enroll/retry';
import type { EnrollEnvironment, ReconcileEnvironment, StatusEnvironment } from '../../lambdas/shared/contract';
import {
  COMMAND_INVOCATION_STATUS_CHANGE,
  EC2_STATE_CHANGE,
  ENROLLMENT_OUTCOME,
  LIFECYCLE_LAUNCH,
  RECONCILE_ENROLLMENT,
} from '../../lambdas/shared/event-types';
import { ENROLL_WRITTEN_TAG_KEYS, STATUS_DELETED_TAG_KEYS, STATUS_WRITTEN_TAG_KEYS } from '../../lambdas/shared/tags';
import type { AgentConfigs } from '../agents/agent-configs';
import { createEventQueue, queueTarget } from '../event-queue';
import { LgtmFunction } from '../lgtm-function';
import { acknowledgeWildcardResource } from '../nag';

/** Source of the events lgtm-fleet publishes on its own bus. */
export const EVENT_SOURCE = 'lgtm-fleet';
/** Auto Scaling groups opt into lifecycle-hook enrollment by naming a launch hook with this prefix. */
export const LIFECYCLE_HOOK_PREFIX = 'lgtm-enroll';
/** Status tag on enrolled instances. */
export const STATUS_TAG_KEY = 'lgtm:agent-status';
/** Install command timeout; a `pending` status younger than this counts as in flight. */
const COMMAND_TIMEOUT_SECONDS = '900';
/** A batch of 100 takes a few seconds; the SDK's adaptive retries under throttling fit well inside this. */
const ENROLL_TIMEOUT = Duration.seconds(40);
/**
 * How long a failed record stays hidden before the queue delivers it again. Requests waiting for
 * SSM do not use it: they come back in envelopes on shared slots (lambdas/enroll/wait-envelope.ts).
 */
export const ENROLL_QUEUE_VISIBILITY = Duration.seconds(120);

/** Which instances enrollment touches, by tag. */
export interface EnrollmentScope {
  /** Only instances carrying this tag are enrolled. */
  readonly tagKey: string;
  /**
   * Values of `tagKey` that are in scope.
   * @default any value
   */
  readonly values?: readonly string[];
}

export interface EnrollmentProps {
  /** The agent documents and each tenant's agent config: what an instance is enrolled with. */
  readonly agentConfigs: AgentConfigs;
  /** The project's own event bus, for `Agent Enrollment …` events. */
  readonly eventBus: events.IEventBus;
  /** EC2 tag naming an instance's tenant (one of `agentConfigs.tenants`). */
  readonly tenantTagKey: string;
  /** EC2 tag that, set to `true`, keeps an instance out of enrollment. */
  readonly optOutTagKey: string;
  /**
   * Tenant of instances without a tenant tag.
   * @default none: untagged instances are skipped
   */
  readonly defaultTenant?: string;
  /**
   * Which instances are enrolled.
   * @default every running SSM-managed instance of the region that is not opted out
   */
  readonly scope?: EnrollmentScope;
  /** Alloy release installed (instances on another version are moved to it). */
  readonly alloyVersion: string;
  /** Stop and disable a legacy ADOT collector or node_exporter found on the instance. */
  readonly stopLegacyAgents: boolean;
  /** How long an instance may take to become SSM-managed and online before its launch event is dead-lettered. */
  readonly deadline: Duration;
  /** What a launch lifecycle action gets when enrollment fails: `ABANDON` terminates the instance, `CONTINUE` lets it serve unmonitored. */
  readonly lifecycleFailureResult: 'ABANDON' | 'CONTINUE';
  /** Time between reconciliation runs, the backstop for missed events. */
  readonly reconcileInterval: Duration;
  /** Retention of the functions' logs, in days. */
  readonly logRetentionDays: number;
}

/**
 * Automatic agent enrollment: EC2 `running` and Auto Scaling launch-lifecycle events are
 * buffered in a queue (with a dead-letter queue and an alarm on it) and consumed in batches
 * by the enroll function, which installs Alloy through the project's SSM documents with the
 * tenant's agent config from Parameter Store.
 */
export class Enrollment extends Construct {
  public readonly queue: sqs.Queue;
  public readonly deadLetterQueue: sqs.Queue;
  /** Launch claims: one install command per instance launch, also across concurrent invocations (lambdas/enroll/claims.ts). */
  public readonly claimTable: dynamodb.Table;
  public readonly deadLetterAlarm: cloudwatch.Alarm;
  public readonly enrollFunction: lambda.Function;
  public readonly launchRule: events.Rule;
  public readonly lifecycleRule: events.Rule;
  public readonly reconcileRule: events.Rule;
  /** Finds running, SSM-online instances without the agent and asks for their enrollment. */
  public readonly reconcileFunction: lambda.Function;
  public readonly reconcileSchedule: events.Rule;
  /** Records install outcomes: tags, lifecycle completion, `Agent Enrolled` / `Agent Enrollment Failed`. */
  public readonly statusFunction: lambda.Function;
  public readonly statusRule: events.Rule;

  constructor(scope: Construct, id: string, props: EnrollmentProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const { agentConfigs } = props;
    if (props.defaultTenant !== undefined && !agentConfigs.tenants.includes(props.defaultTenant)) {
      throw new Error(`defaultTenant "${props.defaultTenant}" has no agent config (tenants: ${agentConfigs.tenants.join(', ')})`);
    }

    // The handler dead-letters on its deadline (with the reason, ending a waiting launch with
    // lifecycleFailureResult); SQS's receive count must never get there first, so it follows the deadline.
    ({
      queue: this.queue,
      deadLetterQueue: this.deadLetterQueue,
      deadLetterAlarm: this.deadLetterAlarm,
    } = createEventQueue(this, {
      events: 'enrollment events',
      visibilityTimeout: ENROLL_QUEUE_VISIBILITY,
      maxReceiveCount: enrollMaxReceiveCount(props.deadline),
    }));

    this.claimTable = new dynamodb.Table(this, 'Claims', {
      partitionKey: { name: CLAIM_ATTRIBUTES.key, type: dynamodb.AttributeType.STRING },
      timeToLiveAttribute: CLAIM_ATTRIBUTES.expiresAt,
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      // Claims live for one command timeout: nothing to keep or restore.
      removalPolicy: RemovalPolicy.DESTROY,
    });
    Validations.of(this.claimTable).acknowledge({
      id: 'AwsSolutions-DDB3',
      reason: 'Claims expire after one command timeout; restoring old claims would only block re-enrollment.',
    });

    const enroll = new LgtmFunction(this, 'Enroll', {
      handlerFolder: 'enroll',
      description: 'lgtm-fleet: installs the Alloy agent on launched instances through SSM',
      serviceName: 'lgtm-fleet-enroll',
      logRetentionDays: props.logRetentionDays,
      timeout: ENROLL_TIMEOUT,
      environment: {
        CLAIM_TABLE_NAME: this.claimTable.tableName,
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
        QUEUE_URL: this.queue.queueUrl,
        DEAD_LETTER_QUEUE_URL: this.deadLetterQueue.queueUrl,
        EVENT_BUS_NAME: props.eventBus.eventBusName,
        EVENT_SOURCE,
        COMMAND_TIMEOUT_SECONDS,
        // Command output stays in SSM: writing it to CloudWatch Logs needs more than the instance's core role.
        COMMAND_LOG_GROUP: '',
        LIFECYCLE_FAILURE_RESULT: props.lifecycleFailureResult,
        QUEUE_VISIBILITY_TIMEOUT_SECONDS: String(ENROLL_QUEUE_VISIBILITY.toSeconds()),
      } satisfies EnrollEnvironment,
    });
    this.enrollFunction = enroll.function;
    this.enrollFunction.addEventSource(
      new SqsEventSource(this.queue, {
        batchSize: 100,
        maxBatchingWindow: Duration.seconds(5),
        reportBatchItemFailures: true,
        maxConcurrency: 2,
      }),
    );

    Validations.of(this.enrollFunction).acknowledge({
      id: 'Serverless-LambdaEventSourceMappingDestination',
      reason: 'SQS event sources do not support on-failure destinations; failed messages are redriven to the dead-letter queue.',
    });

    // Events in: instances reaching `running`, and launches held by a lifecycle hook.
    this.launchRule = new events.Rule(this, 'InstanceRunning', {
      description: 'lgtm-fleet: EC2 instances reaching running are enrolled',
      eventPattern: {
        source: ['aws.ec2'],
        detailType: [EC2_STATE_CHANGE],
        detail: { state: ['running'] },
      },
      targets: [queueTarget(this)],
    });
    this.lifecycleRule = new events.Rule(this, 'LaunchLifecycleAction', {
      description: 'lgtm-fleet: Auto Scaling launches held by a lifecycle hook are enrolled before they go in service',
      eventPattern: {
        source: ['aws.autoscaling'],
        detailType: [LIFECYCLE_LAUNCH],
        detail: { LifecycleHookName: [{ prefix: LIFECYCLE_HOOK_PREFIX }] },
      },
      targets: [queueTarget(this)],
    });

    // Re-enrollment on request, and the reconciliation backstop: `Reconcile Enrollment` on the project bus.
    this.reconcileRule = new events.Rule(this, 'ReconcileRequested', {
      description: 'lgtm-fleet: Reconcile Enrollment events (backstop or operator) are enrolled like launches',
      eventBus: props.eventBus,
      eventPattern: { source: [EVENT_SOURCE], detailType: [RECONCILE_ENROLLMENT] },
      targets: [queueTarget(this)],
    });

    this.grantEnrollPermissions(stack, props);

    const outcome = this.createStatusHandler(stack, props);
    this.statusFunction = outcome.function;
    this.statusRule = outcome.rule;

    // Backstop: a missed or dropped event costs at most one interval.
    const reconcile = new LgtmFunction(this, 'Reconcile', {
      handlerFolder: 'reconcile',
      description: 'lgtm-fleet: requests enrollment of running instances that have no agent yet',
      serviceName: 'lgtm-fleet-reconcile',
      logRetentionDays: props.logRetentionDays,
      timeout: Duration.minutes(5),
      // The schedule fires again next interval; retrying a failed run sooner adds nothing,
      // but a failed run is recorded in the dead-letter queue, whose alarm makes it visible.
      retryAttempts: 0,
      onFailure: new destinations.SqsDestination(this.deadLetterQueue),
      environment: {
        EVENT_BUS_NAME: props.eventBus.eventBusName,
        EVENT_SOURCE,
        TENANT_TAG_KEY: props.tenantTagKey,
        OPT_OUT_TAG_KEY: props.optOutTagKey,
        SCOPE_TAG_KEY: props.scope?.tagKey ?? '',
        SCOPE_TAG_VALUES: (props.scope?.values ?? []).join(','),
        STATUS_TAG_KEY,
        DEFAULT_TENANT: props.defaultTenant ?? '',
        ALLOWED_TENANTS: agentConfigs.tenants.join(','),
        ALLOY_VERSION: props.alloyVersion,
        COMMAND_TIMEOUT_SECONDS,
        RETRY_FAILED_AFTER_SECONDS: '3600',
        MAX_INSTANCES_PER_RUN: '500',
      } satisfies ReconcileEnvironment,
    });
    this.reconcileFunction = reconcile.function;
    this.reconcileSchedule = new events.Rule(this, 'ReconcileSchedule', {
      description: 'lgtm-fleet: periodic enrollment backstop',
      schedule: events.Schedule.rate(props.reconcileInterval),
      targets: [new targets.LambdaFunction(reconcile.function, { retryAttempts: 0, deadLetterQueue: this.deadLetterQueue })],
    });
    reconcile.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'DescribeFleet',
        actions: ['ec2:DescribeInstances', 'ssm:DescribeInstanceInformation'],
        resources: ['*'],
      }),
    );
    reconcile.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'RequestEnrollment',
        actions: ['events:PutEvents'],
        resources: [props.eventBus.eventBusArn],
        conditions: { StringEquals: { 'events:source': EVENT_SOURCE, 'events:detail-type': RECONCILE_ENROLLMENT } },
      }),
    );
    Validations.of(reconcile.role.node.tryFindChild('DefaultPolicy') ?? reconcile.role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'ec2:DescribeInstances and ssm:DescribeInstanceInformation support no resource-level permissions.',
    });
  }

  /** Outcomes: Run Command invocation results of the project documents → tags, lifecycle, bus events. */
  private createStatusHandler(stack: Stack, props: EnrollmentProps): { function: lambda.Function; rule: events.Rule } {
    const { agentConfigs } = props;
    const status = new LgtmFunction(this, 'Status', {
      handlerFolder: 'status',
      description: 'lgtm-fleet: records agent install outcomes on the instance and the project bus',
      serviceName: 'lgtm-fleet-status',
      logRetentionDays: props.logRetentionDays,
      // Throttling or access errors throw: Lambda retries twice, then the event lands in the DLQ.
      retryAttempts: 2,
      onFailure: new destinations.SqsDestination(this.deadLetterQueue),
      environment: {
        STATUS_TAG_KEY,
        EVENT_BUS_NAME: props.eventBus.eventBusName,
        EVENT_SOURCE,
        LINUX_DOCUMENT_NAME: agentConfigs.linuxDocument.ref,
        WINDOWS_DOCUMENT_NAME: agentConfigs.windowsDocument.ref,
        LIFECYCLE_FAILURE_RESULT: props.lifecycleFailureResult,
      } satisfies StatusEnvironment,
    });
    const rule = new events.Rule(this, 'CommandOutcome', {
      description: 'lgtm-fleet: final results of agent install and reload commands',
      eventPattern: {
        source: ['aws.ssm'],
        detailType: [COMMAND_INVOCATION_STATUS_CHANGE],
        detail: {
          'document-name': [agentConfigs.linuxDocument.ref, agentConfigs.windowsDocument.ref],
          status: ['Success', 'Failed', 'TimedOut', 'Cancelled'],
        },
      },
      targets: [new targets.LambdaFunction(status.function, { deadLetterQueue: this.deadLetterQueue, retryAttempts: 185 })],
    });

    const instanceArn = Arn.format({ service: 'ec2', resource: 'instance', resourceName: '*' }, stack);
    const role = status.role;
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
        resources: [this.autoScalingGroupArn(stack)],
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'PublishOutcome',
        actions: ['events:PutEvents'],
        resources: [props.eventBus.eventBusArn],
        conditions: {
          StringEquals: { 'events:source': EVENT_SOURCE, 'events:detail-type': [ENROLLMENT_OUTCOME.enrolled, ENROLLMENT_OUTCOME.failed] },
        },
      }),
    );
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
      this.autoScalingGroupArn(stack),
      'Any Auto Scaling group may opt into lifecycle-hook enrollment; only actions recorded on the instance are completed.',
    );
    return { function: status.function, rule };
  }

  private autoScalingGroupArn(stack: Stack): string {
    return Arn.format(
      {
        service: 'autoscaling',
        resource: 'autoScalingGroup',
        resourceName: '*:autoScalingGroupName/*',
        arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      },
      stack,
    );
  }

  private grantEnrollPermissions(stack: Stack, props: EnrollmentProps): void {
    const fn = this.enrollFunction;
    const instanceArn = Arn.format({ service: 'ec2', resource: 'instance', resourceName: '*' }, stack);
    const autoScalingGroupArn = Arn.format(
      {
        service: 'autoscaling',
        resource: 'autoScalingGroup',
        resourceName: '*:autoScalingGroupName/*',
        arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      },
      stack,
    );

    // Exactly the calls the handler makes (see lambdas/enroll): batch variants share these actions.
    // Envelopes of waiting requests go back on the enrollment queue (lambdas/enroll/wait-envelope.ts).
    this.queue.grant(fn, 'sqs:SendMessage');
    this.deadLetterQueue.grant(fn, 'sqs:SendMessage');
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
    this.claimTable.grant(fn, 'dynamodb:PutItem');
    props.agentConfigs.grantRead(fn, 'ReadAgentConfigVersions');

    fn.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'SendInstallCommand',
        actions: ['ssm:SendCommand'],
        resources: [...props.agentConfigs.documentArns, instanceArn],
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

    const policy = fn.role?.node.tryFindChild('DefaultPolicy') ?? fn;
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
}

/** Receives beyond those the retry schedule needs to reach the deadline: failed invocations, throttled batches. */
export const EXTRA_RECEIVES = 10;

/**
 * The enrollment queue's `maxReceiveCount` for a deadline: the receives the handler's retry
 * schedule takes to reach the deadline (lambdas/enroll/retry.ts), plus {@link EXTRA_RECEIVES}.
 */
export function enrollMaxReceiveCount(deadline: Duration): number {
  const receives = receivesUntilDeadline(deadline.toSeconds(), {
    retryBaseSeconds: RETRY_BASE_SECONDS,
    retryMaxSeconds: RETRY_MAX_SECONDS,
    queueVisibilityTimeoutSeconds: ENROLL_QUEUE_VISIBILITY.toSeconds(),
  });
  const count = receives + EXTRA_RECEIVES;
  // SQS allows 1 to 1000.
  if (count > 1000) throw new Error(`enrollment.deadlineMinutes ${deadline.toMinutes()} needs ${count} receives, over SQS's 1000`);
  return count;
}
