import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as destinations from 'aws-cdk-lib/aws-lambda-destinations';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import * as ssm from 'aws-cdk-lib/aws-ssm';
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
import { parameterTierFor } from '../backend-service';
import type { LgtmConfig } from '../config/schema';
import { createEventQueue, queueTarget } from '../event-queue';
import { LgtmFunction } from '../lgtm-function';
import { acknowledgeWildcardResource } from '../nag';
import { renderAgentConfig } from '../render/agent';
import { agentParameterName, parameterPrefix } from '../render/catalog';
import { linuxAgentDocument, windowsAgentDocument } from './agent-documents';

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

export interface EnrollmentProps {
  readonly config: LgtmConfig;
  /** Where agents push: URLs of the ingest gateway. */
  readonly endpoints: { readonly metricsUrl: string; readonly logsUrl: string; readonly tracesUrl: string };
  /** The project's own event bus, for `Agent Enrollment …` events. */
  readonly eventBus: events.IEventBus;
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
  public readonly linuxDocument: ssm.CfnDocument;
  public readonly windowsDocument: ssm.CfnDocument;
  /** Agent config parameters by `<tenant>/<platform>`. */
  public readonly agentParameters: Record<string, ssm.StringParameter> = {};
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
    const { config } = props;
    const stack = Stack.of(this);
    const deadline = Duration.minutes(config.enrollment.deadlineMinutes);

    for (const tenant of config.tenants.allowed) {
      for (const platform of ['linux', 'windows'] as const) {
        const name = agentParameterName(config, tenant, platform);
        const content = renderAgentConfig({ config, tenant, platform, endpoints: props.endpoints });
        this.agentParameters[`${tenant}/${platform}`] = new ssm.StringParameter(this, `Agent-${tenant}-${platform}`, {
          parameterName: name,
          stringValue: content,
          // Agent configs grow with many settings (journal units, labels, endpoints): advanced, so the tier never has to go back.
          tier: parameterTierFor(name, content, 'advanced'),
          description: `Alloy agent config for tenant ${tenant} on ${platform}; a change reloads those agents`,
        });
      }
    }

    this.linuxDocument = new ssm.CfnDocument(this, 'LinuxDocument', {
      documentType: 'Command',
      documentFormat: 'JSON',
      content: linuxAgentDocument(),
      updateMethod: 'NewVersion',
    });
    this.windowsDocument = new ssm.CfnDocument(this, 'WindowsDocument', {
      documentType: 'Command',
      documentFormat: 'JSON',
      content: windowsAgentDocument(),
      updateMethod: 'NewVersion',
    });

    // The handler dead-letters on its deadline (with the reason, ending a waiting launch with
    // lifecycleFailureResult); SQS's receive count must never get there first, so it follows the deadline.
    ({
      queue: this.queue,
      deadLetterQueue: this.deadLetterQueue,
      deadLetterAlarm: this.deadLetterAlarm,
    } = createEventQueue(this, {
      events: 'enrollment events',
      visibilityTimeout: ENROLL_QUEUE_VISIBILITY,
      maxReceiveCount: enrollMaxReceiveCount(deadline),
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
      logRetentionDays: config.retention.containerLogsDays,
      timeout: ENROLL_TIMEOUT,
      environment: {
        CLAIM_TABLE_NAME: this.claimTable.tableName,
        LINUX_DOCUMENT_NAME: this.linuxDocument.ref,
        WINDOWS_DOCUMENT_NAME: this.windowsDocument.ref,
        PARAMETER_PREFIX: parameterPrefix(config),
        TENANT_TAG_KEY: config.tags.tenant,
        OPT_OUT_TAG_KEY: config.tags.optOut,
        SCOPE_TAG_KEY: config.enrollment.scope?.tagKey ?? '',
        SCOPE_TAG_VALUES: (config.enrollment.scope?.values ?? []).join(','),
        ALLOWED_TENANTS: config.tenants.allowed.join(','),
        DEFAULT_TENANT: config.tenants.ec2Default ?? '',
        STATUS_TAG_KEY,
        ALLOY_VERSION: config.agent.alloyVersion,
        STOP_LEGACY_AGENTS: String(config.enrollment.stopLegacyAgents),
        ENROLL_DEADLINE_SECONDS: String(deadline.toSeconds()),
        QUEUE_URL: this.queue.queueUrl,
        DEAD_LETTER_QUEUE_URL: this.deadLetterQueue.queueUrl,
        EVENT_BUS_NAME: props.eventBus.eventBusName,
        EVENT_SOURCE,
        COMMAND_TIMEOUT_SECONDS,
        // Command output stays in SSM: writing it to CloudWatch Logs needs more than the instance's core role.
        COMMAND_LOG_GROUP: '',
        LIFECYCLE_FAILURE_RESULT: config.enrollment.lifecycleFailureResult,
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
      logRetentionDays: config.retention.containerLogsDays,
      timeout: Duration.minutes(5),
      // The schedule fires again next interval; retrying a failed run sooner adds nothing,
      // but a failed run is recorded in the dead-letter queue, whose alarm makes it visible.
      retryAttempts: 0,
      onFailure: new destinations.SqsDestination(this.deadLetterQueue),
      environment: {
        EVENT_BUS_NAME: props.eventBus.eventBusName,
        EVENT_SOURCE,
        TENANT_TAG_KEY: config.tags.tenant,
        OPT_OUT_TAG_KEY: config.tags.optOut,
        SCOPE_TAG_KEY: config.enrollment.scope?.tagKey ?? '',
        SCOPE_TAG_VALUES: (config.enrollment.scope?.values ?? []).join(','),
        STATUS_TAG_KEY,
        DEFAULT_TENANT: config.tenants.ec2Default ?? '',
        ALLOWED_TENANTS: config.tenants.allowed.join(','),
        ALLOY_VERSION: config.agent.alloyVersion,
        COMMAND_TIMEOUT_SECONDS,
        RETRY_FAILED_AFTER_SECONDS: '3600',
        MAX_INSTANCES_PER_RUN: '500',
      } satisfies ReconcileEnvironment,
    });
    this.reconcileFunction = reconcile.function;
    this.reconcileSchedule = new events.Rule(this, 'ReconcileSchedule', {
      description: 'lgtm-fleet: periodic enrollment backstop',
      schedule: events.Schedule.rate(Duration.minutes(config.enrollment.reconcileIntervalMinutes)),
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
    const { config } = props;
    const status = new LgtmFunction(this, 'Status', {
      handlerFolder: 'status',
      description: 'lgtm-fleet: records agent install outcomes on the instance and the project bus',
      serviceName: 'lgtm-fleet-status',
      logRetentionDays: config.retention.containerLogsDays,
      // Throttling or access errors throw: Lambda retries twice, then the event lands in the DLQ.
      retryAttempts: 2,
      onFailure: new destinations.SqsDestination(this.deadLetterQueue),
      environment: {
        STATUS_TAG_KEY,
        EVENT_BUS_NAME: props.eventBus.eventBusName,
        EVENT_SOURCE,
        LINUX_DOCUMENT_NAME: this.linuxDocument.ref,
        WINDOWS_DOCUMENT_NAME: this.windowsDocument.ref,
        LIFECYCLE_FAILURE_RESULT: config.enrollment.lifecycleFailureResult,
      } satisfies StatusEnvironment,
    });
    const rule = new events.Rule(this, 'CommandOutcome', {
      description: 'lgtm-fleet: final results of agent install and reload commands',
      eventPattern: {
        source: ['aws.ssm'],
        detailType: [COMMAND_INVOCATION_STATUS_CHANGE],
        detail: {
          'document-name': [this.linuxDocument.ref, this.windowsDocument.ref],
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
    const documentArn = (doc: ssm.CfnDocument) => Arn.format({ service: 'ssm', resource: 'document', resourceName: doc.ref }, stack);

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
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'ReadAgentConfigVersions',
        actions: ['ssm:GetParameters'],
        resources: Object.values(this.agentParameters).map((parameter) => parameter.parameterArn),
      }),
    );

    fn.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'SendInstallCommand',
        actions: ['ssm:SendCommand'],
        resources: [documentArn(this.linuxDocument), documentArn(this.windowsDocument), instanceArn],
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
