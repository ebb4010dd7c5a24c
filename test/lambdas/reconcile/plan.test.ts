import { planRequests } from '../../../lambdas/reconcile/plan';
import type { Candidate } from '../../../lambdas/reconcile/select';
import { MAX_RECONCILE_INSTANCES } from '../../../lambdas/shared/event-types';
import { instanceId, testSettings } from './fake-fleet';

const settings = testSettings({ MAX_INSTANCES_PER_RUN: '3' });
const neverAttempted = (n: number): Candidate => ({ instanceId: instanceId(n), lastCommandSentAt: undefined });
const attemptedAt = (n: number, iso: string): Candidate => ({ instanceId: instanceId(n), lastCommandSentAt: new Date(iso) });
/** A shuffle that keeps the order (every swap with itself). */
const noShuffle = () => 0.999_999;

function requestedIds(plan: ReturnType<typeof planRequests>): string[] {
  return plan.requests.flatMap((request) => request.instanceIds);
}

describe('planRequests', () => {
  test('requests at most MAX_INSTANCES_PER_RUN, least recently attempted first, and defers the rest', () => {
    const candidates = [
      attemptedAt(1, '2026-11-23T10:00:00Z'),
      neverAttempted(2),
      attemptedAt(3, '2026-11-20T10:00:00Z'),
      attemptedAt(4, '2026-11-23T11:00:00Z'),
    ];
    const plan = planRequests({ candidates, skippedByReason: { 'already-enrolled': 2 } }, settings, noShuffle);
    expect(plan).toMatchObject({ candidates: 4, requesting: 3, deferred: 1, skippedByReason: { 'already-enrolled': 2 } });
    expect(requestedIds(plan)).toEqual([instanceId(2), instanceId(3), instanceId(1)]);
  });

  test('no candidates: nothing to publish, nothing deferred', () => {
    const plan = planRequests({ candidates: [], skippedByReason: { 'ssm-not-online': 5 } }, settings, noShuffle);
    expect(plan).toEqual({ candidates: 0, requesting: 0, deferred: 0, requests: [], skippedByReason: { 'ssm-not-online': 5 } });
  });

  test('the chosen candidates are split into events the enroll handler accepts, on the configured bus and source', () => {
    const many = Array.from({ length: MAX_RECONCILE_INSTANCES + 1 }, (_, index) => neverAttempted(index + 1));
    const plan = planRequests({ candidates: many, skippedByReason: {} }, testSettings(), noShuffle);
    expect(plan.requests.map((request) => request.instanceIds.length)).toEqual([MAX_RECONCILE_INSTANCES, 1]);
    expect(plan.requests[1]?.entry).toEqual({
      EventBusName: 'LgtmFleet',
      Source: 'lgtm-fleet',
      DetailType: 'Reconcile Enrollment',
      Detail: JSON.stringify({ instanceIds: [instanceId(MAX_RECONCILE_INSTANCES + 1)] }),
    });
  });

  test('ties are broken by the random source, so the same instances do not always win', () => {
    const tied = [neverAttempted(1), neverAttempted(2), neverAttempted(3), neverAttempted(4)];
    const first = requestedIds(planRequests({ candidates: tied, skippedByReason: {} }, settings, noShuffle));
    const second = requestedIds(planRequests({ candidates: tied, skippedByReason: {} }, settings, () => 0));
    expect(first).toEqual([instanceId(1), instanceId(2), instanceId(3)]);
    expect(second).not.toEqual(first);
  });
});
