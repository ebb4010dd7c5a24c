import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as destinations from 'aws-cdk-lib/aws-lambda-destinations';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Duration, Token, Validations } from 'aws-cdk-lib/core';
import { Construct } from 'constructs';
import { type RingForgetEnvironment, TASK_STOPPED_EVENT } from '../../lambdas/shared/contract';
import { createDeadLetterAlarm, createDeadLetterQueue } from '../event-queue';
import { LgtmFunction } from '../lgtm-function';
import type { StatefulComponentProps } from './common';

/** A backend whose replicas form a ring over memberlist, each registered under its task's address. */
export type RingBackend = 'Mimir' | 'Loki';

export interface RingForgetProps {
  /** The service whose stopped tasks are forgotten; the function runs in its cluster's VPC. */
  readonly service: ecs.BaseService;
  /**
   * The ring page on the service's Cloud Map name, whose Forget action is called, e.g.
   * `http://mimir.lgtm.internal:8080/ingester/ring` or `http://loki.lgtm.internal:3100/ring`.
   */
  readonly ringPageUrl: string;
  /** The service's HTTP port, which serves the ring page: the only one the function may reach. */
  readonly httpPort: number;
  /** The backend the service runs, named in the descriptions of what is created. */
  readonly backend: RingBackend;
  /**
   * Subnets the function's network interfaces are in.
   * @default the VPC's private subnets
   */
  readonly vpcSubnets?: ec2.SubnetSelection;
  /** Retention of the function's logs, in days. */
  readonly logRetentionDays: number;
}

/**
 * Forgets the ring entry of every task of a Mimir or Loki service that stops. A killed task's
 * entry stays behind: Mimir's ingester ring has no auto-forget (grafana/mimir#2869), and Loki's
 * forgets it only once its heartbeat is older than the timeout; a planned stop in the meantime is a
 * double fault that refuses writes. ECS's `STOPPED` task state change of the service's tasks
 * invokes a function in the VPC, which POSTs the task's address (its instance ID in the ring) to the
 * ring page's Forget action on any replica. Failures are retried twice, then land in a dead-letter
 * queue with an alarm on it.
 */
export class RingForget extends Construct {
  public readonly function: lambda.Function;
  public readonly rule: events.Rule;
  /** The function's network interfaces: allowed out to the backend's HTTP port, nothing else. */
  public readonly securityGroup: ec2.SecurityGroup;
  /** Events the function failed on after its retries, and those EventBridge could not deliver. */
  public readonly deadLetterQueue: sqs.Queue;
  /** In alarm from the first dead letter. */
  public readonly deadLetterAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: RingForgetProps) {
    super(scope, id);
    if (!Token.isUnresolved(props.httpPort) && (!Number.isInteger(props.httpPort) || props.httpPort < 1 || props.httpPort > 65535)) {
      throw new Error(`httpPort of the ring-forget function must be a TCP port, got ${props.httpPort}`);
    }
    const { service, backend } = props;
    this.deadLetterQueue = this.createDeadLetterQueue();
    this.deadLetterAlarm = this.createDeadLetterAlarm(backend);

    this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: service.cluster.vpc,
      description: `lgtm-fleet ${backend} ring-forget function`,
      allowAllOutbound: false,
    });
    service.connections.allowFrom(this.securityGroup, ec2.Port.tcp(props.httpPort), 'ring-forget function forgets ingester entries');

    const ringForget = new LgtmFunction(this, 'Function', {
      handlerFolder: 'ring-forget',
      description: `lgtm-fleet: forgets the ${backend} ingester ring entries of stopped tasks`,
      serviceName: 'lgtm-fleet-ring-forget',
      logRetentionDays: props.logRetentionDays,
      timeout: Duration.seconds(30),
      // An error answer or no answer from the backend throws: Lambda retries twice, then the event lands in the DLQ.
      retryAttempts: 2,
      onFailure: new destinations.SqsDestination(this.deadLetterQueue),
      vpc: service.cluster.vpc,
      vpcSubnets: props.vpcSubnets,
      securityGroups: [this.securityGroup],
      environment: { RING_PAGE_URL: props.ringPageUrl } satisfies RingForgetEnvironment,
    });
    this.function = ringForget.function;
    this.rule = new events.Rule(this, 'TaskStopped', {
      description: `lgtm-fleet: ${backend} tasks that stopped, whose ingester ring entries are forgotten`,
      eventPattern: {
        source: [TASK_STOPPED_EVENT.source],
        detailType: [TASK_STOPPED_EVENT.detailType],
        detail: {
          clusterArn: [service.cluster.clusterArn],
          group: [`service:${service.serviceName}`],
          lastStatus: [TASK_STOPPED_EVENT.lastStatus],
        },
      },
      targets: [new targets.LambdaFunction(this.function, { deadLetterQueue: this.deadLetterQueue, retryAttempts: 185 })],
    });
  }

  private createDeadLetterQueue(): sqs.Queue {
    const reason = 'This is the dead-letter queue of the ring-forget function and its rule; events end here, watched by an alarm.';
    const queue = createDeadLetterQueue(this, reason);
    // cdk-nag recognizes a queue as a dead-letter queue only when another queue redrives to it.
    Validations.of(queue).acknowledge({ id: 'AwsSolutions-SQS3', reason });
    return queue;
  }

  private createDeadLetterAlarm(backend: RingBackend): cloudwatch.Alarm {
    return createDeadLetterAlarm(
      this,
      this.deadLetterQueue,
      `lgtm-fleet: a stopped ${backend} task’s ingester ring entry could not be forgotten (see the function’s logs; forget it on the ring page)`,
    );
  }
}

/** Where a backend's ring page is served: its Cloud Map name, its HTTP port and the page's path there. */
export interface RingPage {
  readonly backend: RingBackend;
  readonly serviceName: string;
  readonly httpPort: number;
  readonly path: string;
}

/**
 * The backend's {@link RingForget} (id `RingForget`) with more than one replica; none with one,
 * whose ring lives in that task alone and goes with it (no peers to join: see lib/render/).
 */
export function forgetStoppedReplicas(
  scope: Construct,
  service: ecs.BaseService,
  props: Pick<StatefulComponentProps, 'replicas' | 'namespace' | 'vpcSubnets' | 'logRetentionDays'>,
  page: RingPage,
): RingForget | undefined {
  if ((props.replicas ?? 1) <= 1) return undefined;
  return new RingForget(scope, 'RingForget', {
    service,
    // Every replica registers its address under the service's Cloud Map name; any one of them answers.
    ringPageUrl: `http://${page.serviceName}.${props.namespace.namespaceName}:${page.httpPort}${page.path}`,
    httpPort: page.httpPort,
    backend: page.backend,
    vpcSubnets: props.vpcSubnets,
    logRetentionDays: props.logRetentionDays,
  });
}
