import type { SQSRecord } from 'aws-lambda';
import { EC2_STATE_CHANGE, LAUNCHING_TRANSITION, LIFECYCLE_LAUNCH, RECONCILE_ENROLLMENT, TEST_NOTIFICATION } from '../shared/event-types';
import { autoScalingTestNotification, enrollmentEvent, type LifecycleLaunchEvent } from '../shared/events';
import { describeIssues } from '../shared/schema';

/** A launch lifecycle action waiting for this instance (Auto Scaling lifecycle-hook mode). */
export interface LifecycleContext {
  readonly groupName: string;
  readonly hookName: string;
}

/** What one queue message asks for. */
export interface EnrollRequest {
  readonly eventType: 'state-change' | 'lifecycle' | 'reconcile';
  readonly eventId: string;
  readonly instanceIds: readonly string[];
  /**
   * Start of the enrollment deadline: the later of the event's time and the message's first
   * receipt. The later one, so that an event replayed from an archive, or a message moved back
   * from the dead-letter queue, gets a fresh deadline instead of expiring on its first receipt.
   */
  readonly startedAt: Date;
  /** SQS ApproximateReceiveCount (1 on first delivery), for the retry backoff. */
  readonly receiveCount: number;
  /** When the event happened (for a `running` event: about when the instance started). */
  readonly eventTime: Date;
  readonly lifecycle?: LifecycleContext;
}

export type ParsedRecord =
  | { readonly kind: 'request'; readonly record: SQSRecord; readonly request: EnrollRequest }
  /** Well-formed but not for this handler: deleted with a logged reason. */
  | { readonly kind: 'ignored'; readonly record: SQSRecord; readonly reason: string; readonly detail: string }
  /** Cannot be understood: forwarded to the dead-letter queue with the reason. */
  | { readonly kind: 'malformed'; readonly record: SQSRecord; readonly detail: string };

export function parseRecord(record: SQSRecord, expectedReconcileSource: string): ParsedRecord {
  let body: unknown;
  try {
    body = JSON.parse(record.body);
  } catch (error) {
    return { kind: 'malformed', record, detail: `body is not JSON: ${error instanceof Error ? error.message : String(error)}` };
  }

  if (autoScalingTestNotification.safeParse(body).success) {
    return { kind: 'ignored', record, reason: 'test-notification', detail: `Auto Scaling ${TEST_NOTIFICATION}` };
  }

  const detailType = typeof body === 'object' && body !== null ? (body as Record<string, unknown>)['detail-type'] : undefined;
  if (detailType !== EC2_STATE_CHANGE && detailType !== LIFECYCLE_LAUNCH && detailType !== RECONCILE_ENROLLMENT) {
    return { kind: 'malformed', record, detail: `unsupported event: detail-type ${JSON.stringify(detailType) ?? 'missing'}` };
  }

  const parsed = enrollmentEvent.safeParse(body);
  if (!parsed.success) {
    return { kind: 'malformed', record, detail: `invalid "${detailType}" event: ${describeIssues(parsed.error)}` };
  }
  const event = parsed.data;
  const common = {
    eventId: event.id,
    startedAt: deadlineStart(event.time, record),
    receiveCount: receiveCount(record),
    eventTime: new Date(event.time),
  };

  switch (event['detail-type']) {
    case EC2_STATE_CHANGE: {
      if (event.detail.state !== 'running') {
        return { kind: 'ignored', record, reason: 'not-running-state', detail: `instance state is ${event.detail.state}` };
      }
      return { kind: 'request', record, request: { ...common, eventType: 'state-change', instanceIds: [event.detail['instance-id']] } };
    }
    case LIFECYCLE_LAUNCH:
      return parseLifecycleAction(record, event.detail, common);
    case RECONCILE_ENROLLMENT: {
      if (event.source !== expectedReconcileSource) {
        return { kind: 'malformed', record, detail: `"${RECONCILE_ENROLLMENT}" from unexpected source ${JSON.stringify(event.source)}` };
      }
      return {
        kind: 'request',
        record,
        request: { ...common, eventType: 'reconcile', instanceIds: [...new Set(event.detail.instanceIds)] },
      };
    }
  }
}

/** A launch lifecycle action: a request to enroll its instance before the launch goes on. */
function parseLifecycleAction(
  record: SQSRecord,
  detail: LifecycleLaunchEvent['detail'],
  common: Pick<EnrollRequest, 'eventId' | 'startedAt' | 'receiveCount' | 'eventTime'>,
): ParsedRecord {
  const { LifecycleTransition, EC2InstanceId, AutoScalingGroupName, LifecycleHookName } = detail;
  if (LifecycleTransition === TEST_NOTIFICATION) {
    return { kind: 'ignored', record, reason: 'test-notification', detail: `lifecycle ${TEST_NOTIFICATION}` };
  }
  if (LifecycleTransition !== LAUNCHING_TRANSITION) {
    return { kind: 'ignored', record, reason: 'not-a-launch', detail: `lifecycle transition is ${LifecycleTransition}` };
  }
  if (EC2InstanceId === undefined || LifecycleHookName === undefined || LifecycleHookName === '') {
    return {
      kind: 'malformed',
      record,
      detail: `invalid "${LIFECYCLE_LAUNCH}" event: detail.EC2InstanceId and detail.LifecycleHookName are required`,
    };
  }
  return {
    kind: 'request',
    record,
    request: {
      ...common,
      eventType: 'lifecycle',
      instanceIds: [EC2InstanceId],
      lifecycle: { groupName: AutoScalingGroupName, hookName: LifecycleHookName },
    },
  };
}

function deadlineStart(eventTime: string, record: SQSRecord): Date {
  const eventMillis = Date.parse(eventTime);
  const firstReceiveMillis = Number(record.attributes?.ApproximateFirstReceiveTimestamp);
  return new Date(Number.isFinite(firstReceiveMillis) ? Math.max(eventMillis, firstReceiveMillis) : eventMillis);
}

/** SQS ApproximateReceiveCount, 1 when missing or not a count. */
export function receiveCount(record: SQSRecord): number {
  const count = Number.parseInt(record.attributes?.ApproximateReceiveCount ?? '', 10);
  return Number.isInteger(count) && count >= 1 ? count : 1;
}
