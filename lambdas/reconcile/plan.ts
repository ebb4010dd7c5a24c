import { buildReconcileRequests, type ReconcileRequest } from './publish';
import { prioritize, type Selection, type SkipCounts } from './select';
import type { ReconcileSettings } from './settings';

/**
 * The plan step: which candidates this run requests, in which events, and how many are left for
 * the next run. Pure: the only randomness is the `random` passed in (the tie-breaking shuffle).
 * reconcile.ts publishes what it returns.
 */

export interface RunPlan {
  /** Instances due for enrollment: the candidates SSM sees online. */
  readonly candidates: number;
  /** Candidates requested this run: at most MAX_INSTANCES_PER_RUN, least recently attempted first. */
  readonly requesting: number;
  /** Candidates left for the next run by MAX_INSTANCES_PER_RUN. */
  readonly deferred: number;
  /** The `Reconcile Enrollment` events to publish for the requested candidates. */
  readonly requests: ReconcileRequest[];
  /** Running instances not requested, by reason (see select.ts). */
  readonly skippedByReason: SkipCounts;
}

export type PlanSettings = Pick<ReconcileSettings, 'maxInstancesPerRun' | 'eventBusName' | 'eventSource'>;

/** What this run requests from the online candidates (see select.ts for the order). */
export function planRequests(selection: Selection, settings: PlanSettings, random: () => number): RunPlan {
  const ordered = prioritize(selection.candidates, random);
  const chosen = ordered.slice(0, settings.maxInstancesPerRun);
  return {
    candidates: ordered.length,
    requesting: chosen.length,
    deferred: ordered.length - chosen.length,
    requests: buildReconcileRequests(
      chosen.map((candidate) => candidate.instanceId),
      settings,
    ),
    skippedByReason: selection.skippedByReason,
  };
}
