import type { InstanceFacts } from '../../../lambdas/enroll/lookup';
import type { EnrollRequest } from '../../../lambdas/enroll/requests';

/**
 * Requests and facts for the tests of the pure steps (plan.test.ts, resolve.test.ts), built as the
 * parse step and the look-ups would give them.
 */

/** On a boundary of every slot length (25, 45 and 60 s). */
export const EVENT_TIME = new Date('2026-11-23T12:30:00Z');
export const LIFECYCLE = { groupName: 'rag-api-asg', hookName: 'lgtm-enroll' };

/** `seconds` after {@link EVENT_TIME}. */
export function at(seconds: number): Date {
  return new Date(EVENT_TIME.getTime() + seconds * 1000);
}

/** A first `running` event for `i-1` at {@link EVENT_TIME}, with `overrides`. */
export function request(overrides: Partial<EnrollRequest> = {}): EnrollRequest {
  return {
    eventType: 'state-change',
    eventId: 'event-1',
    instanceIds: ['i-1'],
    startedAt: EVENT_TIME,
    receiveCount: 1,
    eventTime: EVENT_TIME,
    ...overrides,
  };
}

/** A running Linux instance as DescribeInstances describes it. */
export function facts(instanceId: string, tags: Record<string, string> = {}): InstanceFacts {
  return { instanceId, state: 'running', platform: 'linux', architecture: 'x86_64', tags: new Map(Object.entries(tags)) };
}
