import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as ssm from 'aws-cdk-lib/aws-ssm';
import { Arn, Duration, Stack, Validations } from 'aws-cdk-lib/core';
import { Construct } from 'constructs';
import { PARAMETER_VALUE_MAX_BYTES, type RefreshEnvironment } from '../../lambdas/shared/contract';
import {
  COMMAND_STATUS_CHANGE,
  CONFIG_REFRESH_OUTCOME,
  CONFIG_REFRESH_REQUESTED,
  DEPLOYMENT_COMPLETED,
  DEPLOYMENT_FAILED,
  ECS_DEPLOYMENT_STATE_CHANGE,
  PARAMETER_STORE_CHANGE,
} from '../../lambdas/shared/refresh-events';
import { AGENT_TAGS } from '../../lambdas/shared/tags';
import type { LgtmConfig } from '../config/schema';
import { EVENT_SOURCE } from '../enrollment/enrollment';
import { createEventQueue, queueTarget } from '../event-queue';
import { LgtmFunction } from '../lgtm-function';
import { acknowledgeWildcardResource } from '../nag';
import { parameterPrefix } from '../render/catalog';

export interface ConfigRefreshProps {
  readonly config: LgtmConfig;
  readonly eventBus: events.IEventBus;
  readonly cluster: ecs.ICluster;
  /** The ECS services whose config parameters (`/<stack>/config/<name>[/…]`) roll them. */
  readonly services: Readonly<Record<string, ecs.FargateService>>;
  /** The agent documents (their `reload` action writes the config and reloads Alloy). */
  readonly linuxDocument: ssm.CfnDocument;
  readonly windowsDocument: ssm.CfnDocument;
  /** Agent config parameters, the only ones the refresh reads by name. */
  readonly agentParameters: readonly ssm.IStringParameter[];
}

/** A burst of changes to one parameter within this window becomes one rollout. */
const DEBOUNCE_DELAY = Duration.seconds(30);
const REFRESH_TIMEOUT = Duration.minutes(2);

/**
 * Event-driven config refresh: a Parameter Store change under the project prefix (or a
 * `Config Refresh Requested` event) is debounced in a delay queue and rolled out by the refresh
 * function — one tag-targeted, rate-controlled `SendCommand` for a (tenant, platform)'s agents,
 * or a new task definition revision of exactly the matching ECS service that reads immutable
 * copies of the checked versions (so the circuit breaker's rollback runs the previous config). ECS deployment and Run Command
 * results come back through the same queue as `Config Refresh Completed` / `Failed`.
 */
export class ConfigRefresh extends Construct {
  public readonly queue: sqs.Queue;
  public readonly deadLetterQueue: sqs.Queue;
  public readonly deadLetterAlarm: cloudwatch.Alarm;
  public readonly refreshFunction: lambda.Function;
  public readonly parameterChangeRule: events.Rule;

  constructor(scope: Construct, id: string, props: ConfigRefreshProps) {
    super(scope, id);
    const { config } = props;
    const stack = Stack.of(this);
    const prefix = parameterPrefix(config);

    ({
      queue: this.queue,
      deadLetterQueue: this.deadLetterQueue,
      deadLetterAlarm: this.deadLetterAlarm,
    } = createEventQueue(this, {
      events: 'config refresh events',
      deliveryDelay: DEBOUNCE_DELAY,
      visibilityTimeout: Duration.seconds(REFRESH_TIMEOUT.toSeconds() * 6),
      maxReceiveCount: 5,
    }));

    const refresh = new LgtmFunction(this, 'Refresh', {
      handlerFolder: 'refresh',
      description: 'lgtm-fleet: rolls a changed config out to exactly the affected agents or ECS service',
      serviceName: 'lgtm-fleet-refresh',
      logRetentionDays: config.retention.containerLogsDays,
      timeout: REFRESH_TIMEOUT,
      memorySize: 256,
      environment: {
        PARAMETER_PREFIX: prefix,
        LINUX_DOCUMENT_NAME: props.linuxDocument.ref,
        WINDOWS_DOCUMENT_NAME: props.windowsDocument.ref,
        ALLOY_VERSION: config.agent.alloyVersion,
        STOP_LEGACY_AGENTS: String(config.enrollment.stopLegacyAgents),
        ALLOWED_TENANTS: config.tenants.allowed.join(','),
        CLUSTER_ARN: props.cluster.clusterArn,
        SERVICES: stack.toJsonString(Object.fromEntries(Object.entries(props.services).map(([name, s]) => [name, s.serviceArn]))),
        MAX_CONCURRENCY: config.refresh.maxConcurrency,
        MAX_ERRORS: config.refresh.maxErrors,
        COMMAND_TIMEOUT_SECONDS: '600',
        // Command output stays in SSM: writing it to CloudWatch Logs needs more than the instance's core role.
        COMMAND_LOG_GROUP: '',
        MAX_CONFIG_BYTES: String(PARAMETER_VALUE_MAX_BYTES),
        EVENT_BUS_NAME: props.eventBus.eventBusName,
        EVENT_SOURCE,
        DEAD_LETTER_QUEUE_URL: this.deadLetterQueue.queueUrl,
      } satisfies RefreshEnvironment,
    });
    this.refreshFunction = refresh.function;
    Validations.of(this.refreshFunction).acknowledge({
      id: 'Serverless-LambdaEventSourceMappingDestination',
      reason: 'SQS event sources do not support on-failure destinations; failed messages are redriven to the dead-letter queue.',
    });

    refresh.function.addEventSource(
      new SqsEventSource(this.queue, {
        batchSize: 100,
        maxBatchingWindow: Duration.seconds(20),
        reportBatchItemFailures: true,
        // The lowest allowed: bursts for one parameter rarely split across concurrent batches.
        maxConcurrency: 2,
      }),
    );

    this.parameterChangeRule = new events.Rule(this, 'ParameterChanged', {
      description: 'lgtm-fleet: a change to a project config parameter rolls it out',
      eventPattern: {
        source: ['aws.ssm'],
        detailType: [PARAMETER_STORE_CHANGE],
        detail: { name: [{ prefix: `${prefix}/agent/` }, { prefix: `${prefix}/config/` }] },
      },
      targets: [queueTarget(this)],
    });
    new events.Rule(this, 'RefreshRequested', {
      description: 'lgtm-fleet: Config Refresh Requested (npm run refresh) takes the same path',
      eventBus: props.eventBus,
      eventPattern: { source: [EVENT_SOURCE], detailType: [CONFIG_REFRESH_REQUESTED] },
      targets: [queueTarget(this)],
    });
    new events.Rule(this, 'ServiceDeploymentFinished', {
      description: 'lgtm-fleet: outcome of service rollouts',
      eventPattern: {
        source: ['aws.ecs'],
        detailType: [ECS_DEPLOYMENT_STATE_CHANGE],
        resources: Object.values(props.services).map((s) => s.serviceArn),
        detail: { eventName: [DEPLOYMENT_COMPLETED, DEPLOYMENT_FAILED] },
      },
      targets: [queueTarget(this)],
    });
    new events.Rule(this, 'AgentReloadFinished', {
      description: 'lgtm-fleet: outcome of agent config reload commands',
      eventPattern: {
        source: ['aws.ssm'],
        detailType: [COMMAND_STATUS_CHANGE],
        detail: {
          'document-name': [props.linuxDocument.ref, props.windowsDocument.ref],
          status: ['Success', 'Failed', 'TimedOut', 'Cancelled'],
          parameters: { Action: ['reload'] },
        },
      },
      targets: [queueTarget(this)],
    });

    this.grantRefreshPermissions(refresh, props);
  }

  private grantRefreshPermissions(refresh: LgtmFunction, props: ConfigRefreshProps): void {
    const stack = Stack.of(this);
    const prefix = parameterPrefix(props.config).slice(1);
    const role = refresh.role;
    const parameterArn = (name: string) => Arn.format({ service: 'ssm', resource: 'parameter', resourceName: name }, stack);
    const documentArn = (doc: ssm.CfnDocument) => Arn.format({ service: 'ssm', resource: 'document', resourceName: doc.ref }, stack);
    const instanceArn = Arn.format({ service: 'ec2', resource: 'instance', resourceName: '*' }, stack);
    const services = Object.values(props.services);

    const statements = [
      new iam.PolicyStatement({
        sid: 'ReadAgentConfigs',
        actions: ['ssm:GetParameters'],
        resources: props.agentParameters.map((p) => p.parameterArn),
      }),
      new iam.PolicyStatement({
        sid: 'ReadServiceConfigs',
        actions: ['ssm:GetParametersByPath'],
        resources: [parameterArn(`${prefix}/config`), parameterArn(`${prefix}/config/*`)],
      }),
      new iam.PolicyStatement({
        sid: 'ReloadWithProjectDocuments',
        actions: ['ssm:SendCommand'],
        resources: [documentArn(props.linuxDocument), documentArn(props.windowsDocument)],
      }),
      // Only instances enrolled into an allowed tenant can be reached at all.
      new iam.PolicyStatement({
        sid: 'ReloadEnrolledAgents',
        actions: ['ssm:SendCommand'],
        resources: [instanceArn],
        conditions: { StringEquals: { [`ssm:resourceTag/${AGENT_TAGS.tenant}`]: props.config.tenants.allowed } },
      }),
      new iam.PolicyStatement({ sid: 'FindEarlierRollouts', actions: ['ssm:ListCommands'], resources: ['*'] }),
      new iam.PolicyStatement({
        sid: 'RollServices',
        actions: ['ecs:UpdateService', 'ecs:DescribeServices'],
        resources: services.map((s) => s.serviceArn),
        conditions: { ArnEquals: { 'ecs:cluster': props.cluster.clusterArn } },
      }),
      // A service rollout is a new task definition revision reading copies of the checked versions.
      new iam.PolicyStatement({
        sid: 'CopyCheckedConfigs',
        actions: ['ssm:GetParameters', 'ssm:PutParameter', 'ssm:DeleteParameters'],
        resources: [parameterArn(`${prefix}/deployed/*`)],
      }),
      new iam.PolicyStatement({ sid: 'FindOldCopies', actions: ['ssm:DescribeParameters'], resources: ['*'] }),
      new iam.PolicyStatement({
        sid: 'RegisterRevisions',
        actions: ['ecs:DescribeTaskDefinition', 'ecs:RegisterTaskDefinition'],
        resources: ['*'],
      }),
      new iam.PolicyStatement({
        sid: 'TagRevisions',
        actions: ['ecs:TagResource'],
        resources: ['*'],
        conditions: { StringEquals: { 'ecs:CreateAction': 'RegisterTaskDefinition' } },
      }),
      new iam.PolicyStatement({
        sid: 'PassServiceRoles',
        actions: ['iam:PassRole'],
        resources: services.flatMap((s) => [s.taskDefinition.taskRole.roleArn, s.taskDefinition.obtainExecutionRole().roleArn]),
        conditions: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
      }),
      new iam.PolicyStatement({
        sid: 'PublishOutcome',
        actions: ['events:PutEvents'],
        resources: [props.eventBus.eventBusArn],
        conditions: { StringEquals: { 'events:source': EVENT_SOURCE, 'events:detail-type': Object.values(CONFIG_REFRESH_OUTCOME) } },
      }),
    ];
    for (const statement of statements) role.addToPrincipalPolicy(statement);
    this.deadLetterQueue.grant(role, 'sqs:SendMessage');

    const policy = role.node.tryFindChild('DefaultPolicy') ?? role;
    Validations.of(policy).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'ssm:ListCommands, ssm:DescribeParameters, ecs:DescribeTaskDefinition and ecs:RegisterTaskDefinition support no resource-level permissions; ecs:TagResource is limited to RegisterTaskDefinition by condition.',
    });
    acknowledgeWildcardResource(
      policy,
      instanceArn,
      'Agents are addressed by tag, not known by ID; the ssm:resourceTag condition limits SendCommand to instances enrolled into an allowed tenant.',
    );
    acknowledgeWildcardResource(
      policy,
      parameterArn(`${prefix}/config/*`),
      "A service's config may span several files under its path (Grafana's data sources); all live under the project's own prefix.",
    );
    acknowledgeWildcardResource(
      policy,
      parameterArn(`${prefix}/deployed/*`),
      'Each rollout writes copies named by version and digest under the project prefix; their names are not known before.',
    );
  }
}
