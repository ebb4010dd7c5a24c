import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Duration, Validations } from 'aws-cdk-lib/core';
import type { Construct } from 'constructs';

export interface EventQueueProps {
  /** What the events are, for the alarm's description (e.g. "enrollment events"). */
  readonly events: string;
  /** At least the consuming function's timeout. */
  readonly visibilityTimeout: Duration;
  /** Receives after which a message is dead-lettered. */
  readonly maxReceiveCount: number;
  /**
   * Delay before a new message becomes visible.
   * @default none
   */
  readonly deliveryDelay?: Duration;
}

/** A pipeline's buffer: the queue, its dead-letter queue, and an alarm on the first dead letter. */
export interface EventQueue {
  readonly queue: sqs.Queue;
  readonly deadLetterQueue: sqs.Queue;
  readonly deadLetterAlarm: cloudwatch.Alarm;
}

/**
 * Creates `Queue`, `DeadLetterQueue` and `DeadLetterAlarm` directly in `scope`: encrypted,
 * TLS-only, and alarmed as soon as one message is dead-lettered, so nothing is lost silently.
 */
export function createEventQueue(scope: Construct, props: EventQueueProps): EventQueue {
  const deadLetterQueue = createDeadLetterQueue(scope, 'This is the dead-letter queue; messages end here, watched by an alarm.');
  const queue = new sqs.Queue(scope, 'Queue', {
    visibilityTimeout: props.visibilityTimeout,
    deliveryDelay: props.deliveryDelay,
    retentionPeriod: Duration.days(4),
    enforceSSL: true,
    encryption: sqs.QueueEncryption.SQS_MANAGED,
    deadLetterQueue: { queue: deadLetterQueue, maxReceiveCount: props.maxReceiveCount },
  });
  const deadLetterAlarm = createDeadLetterAlarm(
    scope,
    deadLetterQueue,
    `lgtm-fleet: ${props.events} are in the dead-letter queue (each message has a "reason" attribute)`,
  );
  return { queue, deadLetterQueue, deadLetterAlarm };
}

/** `DeadLetterQueue` in `scope`: encrypted, TLS-only, messages kept 14 days; `reason` says why cdk-nag's redrive rule does not apply. */
export function createDeadLetterQueue(scope: Construct, reason: string): sqs.Queue {
  const deadLetterQueue = new sqs.Queue(scope, 'DeadLetterQueue', {
    retentionPeriod: Duration.days(14),
    enforceSSL: true,
    encryption: sqs.QueueEncryption.SQS_MANAGED,
  });
  Validations.of(deadLetterQueue).acknowledge({ id: 'Serverless-SQSRedrivePolicy', reason });
  return deadLetterQueue;
}

/** `DeadLetterAlarm` in `scope`: in alarm as soon as one message is in `deadLetterQueue`, so nothing is lost silently. */
export function createDeadLetterAlarm(scope: Construct, deadLetterQueue: sqs.IQueue, description: string): cloudwatch.Alarm {
  return new cloudwatch.Alarm(scope, 'DeadLetterAlarm', {
    alarmDescription: description,
    metric: deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: 'Maximum' }),
    threshold: 1,
    evaluationPeriods: 1,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
  });
}

/**
 * An EventBridge target delivering into the pipeline's queue; what EventBridge cannot deliver
 * (after its 185 retries over 24 hours) lands in the same dead-letter queue.
 */
export function queueTarget(pipeline: Pick<EventQueue, 'queue' | 'deadLetterQueue'>): targets.SqsQueue {
  return new targets.SqsQueue(pipeline.queue, { deadLetterQueue: pipeline.deadLetterQueue, retryAttempts: 185 });
}
