import type { Logger } from '@aws-lambda-powertools/logger';
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { errorMessage, errorName, isThrottlingError } from '../shared/aws';
import type { SkipReason, WaitReason } from './decide';

/** How one instance ended in this batch. */
export type InstanceOutcome =
  /** Install command sent. */
  | { readonly status: 'enrolled'; readonly commandId: string }
  /** Left alone on purpose, with a logged reason. */
  | { readonly status: 'skipped'; readonly reason: SkipReason | 'tenant-refused'; readonly detail: string }
  /** Not ready yet: retried with backoff until the deadline, then dead-lettered. */
  | { readonly status: 'waiting'; readonly reason: WaitReason; readonly detail: string }
  /** A call failed (throttled after the SDK's retries, access denied, …): retried through the queue. */
  | { readonly status: 'error'; readonly reason: string; readonly detail: string };

/** A call that failed for some instances: their records are retried. */
export interface Failure {
  readonly instanceIds: readonly string[];
  /** What failed, e.g. `claim-failed`: the log line's message and the outcome's reason. */
  readonly reason: string;
  readonly error: unknown;
  /** More fields for the log line (tenant, platform, tag keys). */
  readonly context?: Readonly<Record<string, unknown>>;
}

/** What a step concluded about instances: outcomes to record, and failed calls whose instances are retried. */
export interface Verdicts {
  readonly outcomes: ReadonlyArray<readonly [instanceId: string, outcome: InstanceOutcome]>;
  readonly failures: readonly Failure[];
}

/** Counts for the batch's metrics (one EMF document per invocation). */
export class BatchCounters {
  readonly counts = new Map<string, number>();
  readonly skippedByReason = new Map<string, number>();

  add(name: string, amount = 1): void {
    this.counts.set(name, (this.counts.get(name) ?? 0) + amount);
  }

  skipped(reason: string): void {
    this.add('Skipped');
    this.skippedByReason.set(reason, (this.skippedByReason.get(reason) ?? 0) + 1);
  }
}

/** Metric names, each a Count. */
export const METRIC = {
  eventsReceived: 'EventsReceived',
  malformedEvents: 'MalformedEvents',
  ignoredEvents: 'IgnoredEvents',
  instancesEnrolled: 'InstancesEnrolled',
  skipped: 'Skipped',
  notManagedYet: 'NotManagedYet',
  deadLettered: 'DeadLettered',
  tenantRefused: 'TenantRefused',
  enrollErrors: 'EnrollErrors',
  retriedRecords: 'RetriedRecords',
  /** Requests put in an envelope to come back at the next slot (waiting for SSM, or after an error). */
  deferred: 'DeferredRequests',
  lifecycleActionsCompleted: 'LifecycleActionsCompleted',
  tagWriteFailures: 'TagWriteFailures',
} as const;

/**
 * The batch's record of its instances: each one's latest outcome, with the counts and log lines
 * that follow from it. Every step writes outcomes here, and only through the functions below.
 */
export interface Ledger {
  readonly outcomes: Map<string, InstanceOutcome>;
  readonly counters: BatchCounters;
  readonly logger: Logger;
}

export function newLedger(logger: Logger): Ledger {
  return { outcomes: new Map(), counters: new BatchCounters(), logger };
}

/** An instance the batch never recorded counts as an error, so its record is retried rather than lost. */
export function outcomeOf(outcomes: ReadonlyMap<string, InstanceOutcome>, instanceId: string): InstanceOutcome {
  return outcomes.get(instanceId) ?? { status: 'error', reason: 'not-processed', detail: 'no outcome recorded' };
}

export function recordOutcome(ledger: Ledger, instanceId: string, outcome: InstanceOutcome): void {
  const { counters, logger } = ledger;
  ledger.outcomes.set(instanceId, outcome);
  switch (outcome.status) {
    case 'enrolled':
      counters.add(METRIC.instancesEnrolled);
      break;
    case 'skipped':
      if (outcome.reason === 'tenant-refused') {
        counters.add(METRIC.tenantRefused);
        logger.warn('enrollment refused', { instanceId, reason: outcome.reason, detail: outcome.detail });
      } else {
        counters.skipped(outcome.reason);
        logger.info('instance skipped', { instanceId, reason: outcome.reason, detail: outcome.detail });
      }
      break;
    case 'waiting':
      counters.add(METRIC.notManagedYet);
      break;
    case 'error':
      counters.add(METRIC.enrollErrors);
      break;
  }
}

/** Marks the instances as failed (their records are retried) and logs why. */
export function recordFailure(ledger: Ledger, { instanceIds, reason, error, context = {} }: Failure): void {
  const detail = `${errorName(error)}: ${errorMessage(error)}`;
  const level = isThrottlingError(error) ? 'warn' : 'error';
  ledger.logger[level](`${reason}; records will be retried`, {
    reason,
    instanceIds,
    errorName: errorName(error),
    errorMessage: errorMessage(error),
    ...context,
  });
  for (const instanceId of instanceIds) {
    const previous = ledger.outcomes.get(instanceId);
    // An instance already enrolled keeps that outcome in the counts; its record is retried all the same.
    if (previous?.status === 'error') continue;
    if (previous?.status === 'waiting') ledger.counters.add(METRIC.notManagedYet, -1);
    recordOutcome(ledger, instanceId, { status: 'error', reason, detail });
  }
}

/** Records a step's failures, then its outcomes. */
export function recordVerdicts(ledger: Ledger, { outcomes, failures }: Verdicts): void {
  for (const failure of failures) recordFailure(ledger, failure);
  for (const [instanceId, outcome] of outcomes) recordOutcome(ledger, instanceId, outcome);
}

export function publishMetrics(counters: BatchCounters, metrics: Metrics): void {
  for (const name of Object.values(METRIC)) {
    const value = counters.counts.get(name) ?? 0;
    if (value > 0 || name === METRIC.eventsReceived) metrics.addMetric(name, MetricUnit.Count, value);
  }
  for (const [reason, count] of counters.skippedByReason) {
    const single = metrics.singleMetric();
    single.addDimension('reason', reason);
    single.addMetric(METRIC.skipped, MetricUnit.Count, count);
  }
}
