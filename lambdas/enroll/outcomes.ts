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
