import { Arn, ArnFormat, Duration, Stack, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import { EC2_STATE_CHANGE, LIFECYCLE_LAUNCH, RECONCILE_ENROLLMENT } from '../../lambdas/shared/events';
import { ENROLL_WRITTEN_TAG_KEYS } from '../../lambdas/shared/tags';
import { parameterTierFor } from '../backend-service';
import type { LgtmConfig } from '../config/schema';
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
  public readonly deadLetterAlarm: cloudwatch.Alarm;
  public readonly enrollFunction: nodejs.NodejsFunction;
  public readonly linuxDocument: ssm.CfnDocument;
  public readonly windowsDocument: ssm.CfnDocument;
  /** Agent config parameters by `<tenant>/<platform>`. */
  public readonly agentParameters: Record<string, ssm.StringParameter> = {};
  public readonly launchRule: events.Rule;
  public readonly lifecycleRule: events.Rule;
  public readonly reconcileRule: events.Rule;

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
          tier: parameterTierFor(name, content),
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

    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      retentionPeriod: Duration.days(14),
      enforceSSL: true,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
    });
    this.queue = new sqs.Queue(this, 'Queue', {
      // Longer than the function timeout, as Lambda requires.
      visibilityTimeout: Duration.minutes(6),
      retentionPeriod: Duration.days(4),
      enforceSSL: true,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      // The handler dead-letters on its deadline; this count only catches poison messages.
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: 50 },
    });
    this.deadLetterAlarm = new cloudwatch.Alarm(this, 'DeadLetterAlarm', {
      alarmDescription: 'lgtm-fleet: enrollment events are in the dead-letter queue (each message has a "reason" attribute)',
      metric: this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: 'Maximum' }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    const enroll = new LgtmFunction(this, 'Enroll', {
      handlerFolder: 'enroll',
      description: 'lgtm-fleet: installs the Alloy agent on launched instances through SSM',
      serviceName: 'lgtm-fleet-enroll',
      logRetentionDays: config.retention.containerLogsDays,
      environment: {
        LINUX_DOCUMENT_NAME: this.linuxDocument.ref,
        WINDOWS_DOCUMENT_NAME: this.windowsDocument.ref,
        PARAMETER_PREFIX: parameterPrefix(config),
        TENANT_TAG_KEY: config.tags.tenant,
        OPT_OUT_TAG_KEY: config.tags.optOut,
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
        COMMAND_TIMEOUT_SECONDS: '900',
        LIFECYCLE_FAILURE_RESULT: config.enrollment.lifecycleFailureResult,
      },
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

    // Events in: instances reaching `running`, and launches held by a lifecycle hook.
    this.launchRule = new events.Rule(this, 'InstanceRunning', {
      description: 'lgtm-fleet: EC2 instances reaching running are enrolled',
      eventPattern: {
        source: ['aws.ec2'],
        detailType: [EC2_STATE_CHANGE],
        detail: { state: ['running'] },
      },
      targets: [new targets.SqsQueue(this.queue, { deadLetterQueue: this.deadLetterQueue, retryAttempts: 185 })],
    });
    this.lifecycleRule = new events.Rule(this, 'LaunchLifecycleAction', {
      description: 'lgtm-fleet: Auto Scaling launches held by a lifecycle hook are enrolled before they go in service',
      eventPattern: {
        source: ['aws.autoscaling'],
        detailType: [LIFECYCLE_LAUNCH],
        detail: { LifecycleHookName: [{ prefix: LIFECYCLE_HOOK_PREFIX }] },
      },
      targets: [new targets.SqsQueue(this.queue, { deadLetterQueue: this.deadLetterQueue, retryAttempts: 185 })],
    });

    // Re-enrollment on request, and the reconciliation backstop: `Reconcile Enrollment` on the project bus.
    this.reconcileRule = new events.Rule(this, 'ReconcileRequested', {
      description: 'lgtm-fleet: Reconcile Enrollment events (backstop or operator) are enrolled like launches',
      eventBus: props.eventBus,
      eventPattern: { source: [EVENT_SOURCE], detailType: [RECONCILE_ENROLLMENT] },
      targets: [new targets.SqsQueue(this.queue, { deadLetterQueue: this.deadLetterQueue, retryAttempts: 185 })],
    });

    this.grantEnrollPermissions(stack, props);
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
    this.queue.grant(fn, 'sqs:ChangeMessageVisibility');
    this.deadLetterQueue.grant(fn, 'sqs:SendMessage');
    props.eventBus.grantPutEventsTo(fn);
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
        actions: ['ec2:DescribeInstances', 'ssm:DescribeInstanceInformation'],
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
      reason: 'ec2:DescribeInstances and ssm:DescribeInstanceInformation support no resource-level permissions.',
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
