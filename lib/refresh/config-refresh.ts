import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import * as events from 'aws-cdk-lib/aws-events';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Duration, Stack, Validations } from 'aws-cdk-lib/core';
import { Construct } from 'constructs';
import { PARAMETER_VALUE_MAX_BYTES, type RefreshEnvironment } from '../../lambdas/shared/contract';
import {
  COMMAND_STATUS_CHANGE,
  CONFIG_REFRESH_REQUESTED,
  DEPLOYMENT_COMPLETED,
  DEPLOYMENT_FAILED,
  ECS_DEPLOYMENT_STATE_CHANGE,
  PARAMETER_STORE_CHANGE,
} from '../../lambdas/shared/refresh-events';
import { agentCommandFinishedPattern } from '../agents/agent-command-events';
import type { AgentConfigs } from '../agents/agent-configs';
import { EVENT_SOURCE } from '../enrollment/enrollment';
import { createEventQueue, queueTarget } from '../event-queue';
import { LgtmFunction } from '../lgtm-function';
import { grantRefreshPermissions } from './refresh-permissions';

/** A service a config refresh rolls: a new revision of its task definition, run with the same roles. */
export interface RefreshedService extends ecs.IBaseService {
  readonly taskDefinition: ecs.ITaskDefinition;
}

export interface ConfigRefreshProps {
  /**
   * The agent documents (their `reload` action writes the config and reloads Alloy) and the agent
   * config parameters, the only ones the refresh reads by name. Its prefix is the project's: the
   * refresh watches `<prefix>/agent/` and `<prefix>/config/`.
   */
  readonly agentConfigs: AgentConfigs;
  /** The project's own event bus: `Config Refresh Requested` in, `Config Refresh …` outcomes out. */
  readonly eventBus: events.IEventBus;
  /** The cluster running `services`. */
  readonly cluster: ecs.ICluster;
  /** The ECS services by name; a change to `<prefix>/config/<name>[/…]` rolls the service of that name. */
  readonly services: Readonly<Record<string, RefreshedService>>;
  /** Alloy release a reload command passes (the version the agents run). */
  readonly alloyVersion: string;
  /** Whether a reload command also stops legacy agents, as enrollment does. */
  readonly stopLegacyAgents: boolean;
  /** How many agents reload a new config at once: a number or a percentage (Run Command `MaxConcurrency`). */
  readonly maxConcurrency: string;
  /** Failed agents after which a refresh stops: a number or a percentage (Run Command `MaxErrors`). */
  readonly maxErrors: string;
  /** Retention of the function's logs, in days. */
  readonly logRetentionDays: number;
  /**
   * Secrets Manager name prefix of the tenants' agent credentials (`<stack>/agent-credential/`, with
   * `ingest.tenantBinding`): a reload command's config then carries its tenant's credential.
   * @default none: agent configs are sent as stored, and the function reads no secret
   */
  readonly agentCredentialSecretPrefix?: string;
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
    const refresh = this.createRefreshFunction(props);
    this.refreshFunction = refresh.function;
    this.parameterChangeRule = this.routeChangesToQueue(props);
    this.routeOutcomesToQueue(props);
    grantRefreshPermissions(refresh.role, props, this.deadLetterQueue);
  }

  /** The refresh function, fed by the queue in batches. */
  private createRefreshFunction(props: ConfigRefreshProps): LgtmFunction {
    const refresh = new LgtmFunction(this, 'Refresh', {
      handlerFolder: 'refresh',
      description: 'lgtm-fleet: rolls a changed config out to exactly the affected agents or ECS service',
      serviceName: 'lgtm-fleet-refresh',
      logRetentionDays: props.logRetentionDays,
      timeout: REFRESH_TIMEOUT,
      memorySize: 256,
      environment: refreshEnvironment(props, Stack.of(this), this.deadLetterQueue),
    });
    Validations.of(refresh.function).acknowledge({
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
    return refresh;
  }

  /** What starts a refresh: a change to a project config parameter, or a request on the project bus. */
  private routeChangesToQueue(props: ConfigRefreshProps): events.Rule {
    const prefix = props.agentConfigs.parameterPrefix;
    const parameterChangeRule = new events.Rule(this, 'ParameterChanged', {
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
    return parameterChangeRule;
  }

  /** What ends a rollout: the ECS deployment of a project service, or an agent reload command, finishing. */
  private routeOutcomesToQueue(props: ConfigRefreshProps): void {
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
      eventPattern: agentCommandFinishedPattern(props.agentConfigs, COMMAND_STATUS_CHANGE, { parameters: { Action: ['reload'] } }),
      targets: [queueTarget(this)],
    });
  }
}

/** The refresh function's settings: what to send agents, which services to roll, where outcomes go. */
function refreshEnvironment(props: ConfigRefreshProps, stack: Stack, deadLetterQueue: sqs.IQueue): RefreshEnvironment {
  const { agentConfigs } = props;
  return {
    PARAMETER_PREFIX: agentConfigs.parameterPrefix,
    LINUX_DOCUMENT_NAME: agentConfigs.linuxDocument.ref,
    WINDOWS_DOCUMENT_NAME: agentConfigs.windowsDocument.ref,
    ALLOY_VERSION: props.alloyVersion,
    STOP_LEGACY_AGENTS: String(props.stopLegacyAgents),
    ALLOWED_TENANTS: agentConfigs.tenants.join(','),
    CLUSTER_ARN: props.cluster.clusterArn,
    SERVICES: stack.toJsonString(Object.fromEntries(Object.entries(props.services).map(([name, s]) => [name, s.serviceArn]))),
    MAX_CONCURRENCY: props.maxConcurrency,
    MAX_ERRORS: props.maxErrors,
    COMMAND_TIMEOUT_SECONDS: '600',
    // Command output stays in SSM: writing it to CloudWatch Logs needs more than the instance's core role.
    COMMAND_LOG_GROUP: '',
    MAX_CONFIG_BYTES: String(PARAMETER_VALUE_MAX_BYTES),
    EVENT_BUS_NAME: props.eventBus.eventBusName,
    EVENT_SOURCE,
    DEAD_LETTER_QUEUE_URL: deadLetterQueue.queueUrl,
    ...(props.agentCredentialSecretPrefix === undefined ? {} : { AGENT_CREDENTIAL_SECRET_PREFIX: props.agentCredentialSecretPrefix }),
  };
}
