import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { type Duration, RemovalPolicy, Validations } from 'aws-cdk-lib/core';
import { Construct } from 'constructs';
import { CLAIM_ATTRIBUTES } from '../../lambdas/enroll/claim-table';
import { RETRY_BASE_SECONDS, RETRY_MAX_SECONDS, receivesUntilDeadline } from '../../lambdas/enroll/retry';
import { EC2_STATE_CHANGE, LIFECYCLE_LAUNCH, RECONCILE_ENROLLMENT } from '../../lambdas/shared/event-types';
import type { AgentConfigs } from '../agents/agent-configs';
import { createEventQueue, queueTarget } from '../event-queue';
import { ENROLL_QUEUE_VISIBILITY, EVENT_SOURCE, LIFECYCLE_HOOK_PREFIX } from './contract';
import { createEnrollFunction, grantEnrollPermissions } from './enroll-handler';
import { createReconcileBackstop } from './reconcile-backstop';
import { createStatusHandler } from './status-handler';

export { ENROLL_QUEUE_VISIBILITY, EVENT_SOURCE, LIFECYCLE_HOOK_PREFIX, STATUS_TAG_KEY } from './contract';

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
    validateEnrollmentProps(props);

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
    this.claimTable = this.createClaimTable();
    const pipeline = { queue: this.queue, deadLetterQueue: this.deadLetterQueue, claimTable: this.claimTable };
    this.enrollFunction = createEnrollFunction(this, props, pipeline);

    // Events in: instances reaching `running`, launches held by a lifecycle hook, and requests on the project bus.
    this.launchRule = this.createLaunchRule();
    this.lifecycleRule = this.createLifecycleRule();
    this.reconcileRule = this.createReconcileRequestRule(props.eventBus);

    grantEnrollPermissions(this.enrollFunction, props, pipeline);
    ({ function: this.statusFunction, rule: this.statusRule } = createStatusHandler(this, props, this.deadLetterQueue));
    ({ function: this.reconcileFunction, schedule: this.reconcileSchedule } = createReconcileBackstop(this, props, this.deadLetterQueue));
  }

  private createClaimTable(): dynamodb.Table {
    const table = new dynamodb.Table(this, 'Claims', {
      partitionKey: { name: CLAIM_ATTRIBUTES.key, type: dynamodb.AttributeType.STRING },
      timeToLiveAttribute: CLAIM_ATTRIBUTES.expiresAt,
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      // Claims live for one command timeout: nothing to keep or restore.
      removalPolicy: RemovalPolicy.DESTROY,
    });
    Validations.of(table).acknowledge({
      id: 'AwsSolutions-DDB3',
      reason: 'Claims expire after one command timeout; restoring old claims would only block re-enrollment.',
    });
    return table;
  }

  private createLaunchRule(): events.Rule {
    return new events.Rule(this, 'InstanceRunning', {
      description: 'lgtm-fleet: EC2 instances reaching running are enrolled',
      eventPattern: {
        source: ['aws.ec2'],
        detailType: [EC2_STATE_CHANGE],
        detail: { state: ['running'] },
      },
      targets: [queueTarget(this)],
    });
  }

  private createLifecycleRule(): events.Rule {
    return new events.Rule(this, 'LaunchLifecycleAction', {
      description: 'lgtm-fleet: Auto Scaling launches held by a lifecycle hook are enrolled before they go in service',
      eventPattern: {
        source: ['aws.autoscaling'],
        detailType: [LIFECYCLE_LAUNCH],
        detail: { LifecycleHookName: [{ prefix: LIFECYCLE_HOOK_PREFIX }] },
      },
      targets: [queueTarget(this)],
    });
  }

  /** Re-enrollment on request, and the reconciliation backstop: `Reconcile Enrollment` on the project bus. */
  private createReconcileRequestRule(eventBus: events.IEventBus): events.Rule {
    return new events.Rule(this, 'ReconcileRequested', {
      description: 'lgtm-fleet: Reconcile Enrollment events (backstop or operator) are enrolled like launches',
      eventBus,
      eventPattern: { source: [EVENT_SOURCE], detailType: [RECONCILE_ENROLLMENT] },
      targets: [queueTarget(this)],
    });
  }
}

function validateEnrollmentProps(props: EnrollmentProps): void {
  const { agentConfigs, defaultTenant } = props;
  if (defaultTenant !== undefined && !agentConfigs.tenants.includes(defaultTenant)) {
    throw new Error(`defaultTenant "${defaultTenant}" has no agent config (tenants: ${agentConfigs.tenants.join(', ')})`);
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
