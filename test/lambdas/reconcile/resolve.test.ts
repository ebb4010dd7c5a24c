import type { RunPlan } from '../../../lambdas/reconcile/plan';
import type { ReconcileRequest } from '../../../lambdas/reconcile/publish';
import { type RunFacts, resolveRun } from '../../../lambdas/reconcile/resolve';
import { instanceId } from './fake-fleet';

function request(...ids: number[]): ReconcileRequest {
  const instanceIds = ids.map(instanceId);
  return { instanceIds, entry: { Detail: JSON.stringify({ instanceIds }) } };
}

const REQUESTS = [request(1, 2), request(3), request(4, 5, 6)];
const PLAN: RunPlan = { candidates: 7, requesting: 6, deferred: 1, requests: REQUESTS, skippedByReason: { 'already-enrolled': 3 } };

function facts(published: RunFacts['published']): RunFacts {
  return { running: 12, checkedOnline: 9, onlineLookup: 'instance-ids', plan: PLAN, published };
}

describe('resolveRun', () => {
  test('every request published: the run finishes with a summary of what it looked at and requested', () => {
    const outcome = resolveRun(facts({ published: REQUESTS, failed: [] }));
    expect(outcome).toEqual({
      summary: {
        running: 12,
        checkedOnline: 9,
        onlineLookup: 'instance-ids',
        candidates: 7,
        requested: 6,
        deferred: 1,
        events: 3,
        skippedByReason: { 'already-enrolled': 3 },
      },
      requestedIds: [1, 2, 3, 4, 5, 6].map(instanceId),
      verdict: { kind: 'finished' },
    });
  });

  test('entries refused after the retry fail the run, naming the codes once each and the instances they held', () => {
    const [first, second, third] = REQUESTS as [ReconcileRequest, ReconcileRequest, ReconcileRequest];
    const outcome = resolveRun(
      facts({
        published: [second],
        failed: [
          { request: first, errorCode: 'ThrottlingException', errorMessage: 'slow down' },
          { request: third, errorCode: 'ThrottlingException', errorMessage: 'slow down' },
        ],
      }),
    );
    expect(outcome.summary).toMatchObject({ requested: 1, events: 1 });
    expect(outcome.requestedIds).toEqual([instanceId(3)]);
    expect(outcome.verdict).toEqual({
      kind: 'refused',
      refused: [
        { errorCode: 'ThrottlingException', errorMessage: 'slow down', instanceIds: first.instanceIds },
        { errorCode: 'ThrottlingException', errorMessage: 'slow down', instanceIds: third.instanceIds },
      ],
      message: '2 Reconcile Enrollment event(s) for 5 instance(s) refused by PutEvents after one retry: ThrottlingException',
    });
  });

  test('a call that failed as a whole wins over refused entries and counts the requests never published', () => {
    const error = new Error('AccessDenied');
    const [first, second] = REQUESTS as [ReconcileRequest, ReconcileRequest];
    const outcome = resolveRun(
      facts({ published: [first], failed: [{ request: second, errorCode: 'InternalFailure', errorMessage: 'oops' }], error }),
    );
    expect(outcome.verdict).toEqual({ kind: 'call-failed', error, notPublished: 2 });
    expect(outcome.summary).toMatchObject({ requested: 2, events: 1 });
  });
});
