import { RECONCILE_ENROLLMENT } from '../shared/event-types';
import type { OnlineLookup } from './online';
import type { RunPlan } from './plan';
import type { PublishResult } from './publish';
import type { SkipCounts } from './select';

/**
 * The resolve step: how the run ends, from the plan and what publishing it returned. Pure:
 * reconcile.ts records the metrics, writes the log lines and throws what this concludes.
 */

export interface ReconcileSummary {
  /** Running EC2 instances. */
  readonly running: number;
  /** Running instances due on every rule but SSM's online check, which were then checked with SSM. */
  readonly checkedOnline: number;
  /** How SSM was asked about them (see online.ts). */
  readonly onlineLookup: OnlineLookup;
  /** Instances due for enrollment: the checked instances SSM sees online. */
  readonly candidates: number;
  /** Instances named in published `Reconcile Enrollment` events. */
  readonly requested: number;
  /** Candidates left for the next run by MAX_INSTANCES_PER_RUN. */
  readonly deferred: number;
  /** Events published. */
  readonly events: number;
  /** Running instances not requested for a reason, by reason; `ssm-not-online` counts the checked instances SSM does not see online. */
  readonly skippedByReason: SkipCounts;
}

/** An event PutEvents still refused after one retry. */
export interface RefusedEvent {
  readonly errorCode: string;
  readonly errorMessage: string;
  readonly instanceIds: readonly string[];
}

/** How the run ends; anything but `finished` fails it, and the next scheduled run requests the rest. */
export type RunVerdict =
  | { readonly kind: 'finished' }
  /** A PutEvents call failed as a whole (after the SDK's retries): the run rethrows its error. */
  | { readonly kind: 'call-failed'; readonly error: unknown; readonly notPublished: number }
  /** PutEvents refused entries again after one retry: the run fails with `message`. */
  | { readonly kind: 'refused'; readonly refused: RefusedEvent[]; readonly message: string };

export interface RunOutcome {
  readonly summary: ReconcileSummary;
  /** Instances named in the published events, in publishing order. */
  readonly requestedIds: string[];
  readonly verdict: RunVerdict;
}

/** What the run looked up and did, for {@link resolveRun}. */
export interface RunFacts {
  readonly running: number;
  readonly checkedOnline: number;
  readonly onlineLookup: OnlineLookup;
  readonly plan: RunPlan;
  readonly published: PublishResult;
}

export function resolveRun({ running, checkedOnline, onlineLookup, plan, published }: RunFacts): RunOutcome {
  const requestedIds = published.published.flatMap((request) => request.instanceIds);
  const summary: ReconcileSummary = {
    running,
    checkedOnline,
    onlineLookup,
    candidates: plan.candidates,
    requested: requestedIds.length,
    deferred: plan.deferred,
    events: published.published.length,
    skippedByReason: plan.skippedByReason,
  };
  return { summary, requestedIds, verdict: verdictOf(plan, published) };
}

/** A call failure wins over refused entries: the requests after the failed call were never sent. */
function verdictOf(plan: RunPlan, result: PublishResult): RunVerdict {
  if (result.error !== undefined) {
    return { kind: 'call-failed', error: result.error, notPublished: plan.requests.length - result.published.length };
  }
  if (result.failed.length === 0) return { kind: 'finished' };
  const refused = result.failed.map(({ request, errorCode, errorMessage }) => ({
    errorCode,
    errorMessage,
    instanceIds: request.instanceIds,
  }));
  const codes = [...new Set(refused.map(({ errorCode }) => errorCode))].join(', ');
  const instances = refused.reduce((sum, { instanceIds }) => sum + instanceIds.length, 0);
  return {
    kind: 'refused',
    refused,
    message: `${refused.length} ${RECONCILE_ENROLLMENT} event(s) for ${instances} instance(s) refused by PutEvents after one retry: ${codes}`,
  };
}
