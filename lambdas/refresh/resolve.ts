import type { SQSBatchResponse } from 'aws-lambda';
import { errorMessage, errorName, isThrottlingError } from '../shared/aws';
import type { UnpublishedEntry } from '../shared/bus';
import type { DeadLetterResult } from '../shared/dead-letter';
import type { RevisionLookup, RolloutResult } from './execute';
import {
  type FailedDetail,
  type LogLine,
  logLine,
  METRIC,
  OUTCOME_METRIC,
  type Outcome,
  type ParameterVersion,
  type PendingOutcome,
  type Trigger,
} from './outcomes';
import type { FailedDeployment, Job, JobsPlan } from './plan-jobs';
import type { JobPlan, SupersededChange } from './plan-rollout';
import { describeTarget } from './targets';

/**
 * The resolve steps (pure): what each job ends in, and what the batch answers. A record is done
 * when its outcome is on the bus (Started, Skipped, Failed or Completed) or it is in the dead-letter
 * queue; it is retried through the queue (no delay of its own: the queue's visibility timeout, and
 * its redrive once retries run out) when a call behind it failed, its outcome could not be published
 * or the dead-letter queue refused it. Throttling is expected under bursts and only retried; any
 * other failed call (AccessDenied, a missing service) is also published as Failed.
 */

/** What one job ends in. */
export interface JobEnd {
  /** For the bus; each settles the job's records. */
  readonly outcomes: readonly PendingOutcome[];
  /** Records to retry. */
  readonly retry: readonly string[];
  /** Changes found superseded by a newer version. */
  readonly superseded: number;
  readonly log: readonly LogLine[];
}

/** A job that rolls nothing out: every change superseded, a look-up failed, no config found, or a config refused. */
export function endJob(job: Job, plan: Exclude<JobPlan, { kind: 'rollout' }>): JobEnd {
  switch (plan.kind) {
    case 'superseded':
      return ended(job, plan.superseded, [], false, []);
    case 'lookup-failed': {
      const failure = callFailed(job, plan.operation, plan.error, plan.parameter);
      return ended(job, plan.superseded, failure.outcomes, true, failure.log);
    }
    case 'not-found': {
      const { parameter, detail } = plan;
      const line = logLine('warn', 'manual refresh: config not found', { parameter, target: describeTarget(job.target) });
      return ended(job, plan.superseded, [failed(job, { parameter, reason: 'parameter-not-found', detail })], false, [line]);
    }
    case 'refused': {
      const target = describeTarget(job.target);
      const log = plan.refusals.map(({ file, reason, detail }) =>
        logLine('warn', 'config refused', { parameter: file.name, version: file.version, target, reason, detail }),
      );
      const outcomes = plan.refusals.map(({ file, reason, detail }) =>
        failed(job, {
          parameter: file.name,
          version: file.version,
          reason,
          detail: `${detail}; nothing was rolled out. Fix the parameter (or put back the previous version) to roll out again.`,
        }),
      );
      return ended(job, plan.superseded, outcomes, false, log);
    }
  }
}

/** A rollout the execute step ran: already applied (Skipped), started (Started), or a failed call. */
export function endRollout(job: Job, plan: Extract<JobPlan, { kind: 'rollout' }>, result: RolloutResult): JobEnd {
  const { rollout } = plan;
  const target = describeTarget(job.target);
  const log = [...undeliveredLog(target, result.undelivered), ...prunedLog(target, result.pruned)];
  if (result.kind === 'call-failed') {
    const failure = callFailed(job, result.operation, result.error, rollout.parameter);
    return ended(job, plan.superseded, failure.outcomes, true, [...log, ...failure.log]);
  }
  const idKey = rollout.kind === 'agents' ? 'commandId' : 'deploymentId';
  const context = { parameter: rollout.parameter, version: rollout.version, ...jobContext(job) };
  const id = { [idKey]: result.id };
  if (result.kind === 'already-applied') {
    const detail = `${rollout.kind === 'agents' ? 'command' : 'deployment'} ${result.id} started after this version and carries it`;
    log.push(logLine('info', 'refresh already applied', { ...context, target, ...id }));
    return ended(job, plan.superseded, [{ type: 'skipped', detail: { ...context, reason: 'already-applied', detail, ...id } }], false, log);
  }
  const parameters: ParameterVersion[] = rollout.files.map((file) => ({ name: file.name, version: file.version }));
  log.push(
    logLine('info', rollout.kind === 'agents' ? 'refresh command sent' : 'service deployment started', {
      ...context,
      target,
      parameters,
      ...id,
    }),
  );
  return ended(job, plan.superseded, [{ type: 'started', detail: { ...context, parameters, ...id } }], false, log);
}

/** A defect while refreshing one job (not an AWS error: those are data): its records are retried. */
export function endJobUnexpectedly(job: Job, error: unknown): JobEnd {
  const line = logLine('error', 'unexpected error; records will be retried', { target: describeTarget(job.target), ...errorFields(error) });
  return { outcomes: [], retry: [...job.messageIds], superseded: 0, log: [line] };
}

/** A defect before the jobs could be refreshed one by one: every job's records are retried. */
export function endJobsUnexpectedly(jobs: readonly Job[], error: unknown): JobEnd {
  const line = logLine('error', 'unexpected error; refresh records will be retried', errorFields(error));
  return { outcomes: [], retry: jobs.flatMap((job) => [...job.messageIds]), superseded: 0, log: [line] };
}

function ended(
  job: Job,
  superseded: readonly SupersededChange[],
  outcomes: readonly Outcome[],
  retry: boolean,
  log: readonly LogLine[],
): JobEnd {
  return {
    outcomes: outcomes.map((outcome) => ({ outcome, messageIds: job.messageIds })),
    retry: retry ? [...job.messageIds] : [],
    superseded: superseded.length,
    log: [...superseded.map(supersededLog), ...log],
  };
}

function supersededLog({ change, reason }: SupersededChange): LogLine {
  return logLine('info', 'change superseded', {
    parameter: change.name,
    eventId: change.eventId,
    eventTime: change.time.toISOString(),
    reason,
  });
}

function undeliveredLog(target: string, undelivered: readonly string[] = []): LogLine[] {
  return undelivered.length > 0
    ? [logLine('warn', 'parameters no task definition delivers (not rolled out)', { target, parameters: undelivered })]
    : [];
}

function prunedLog(target: string, pruned: RolloutResult['pruned']): LogLine[] {
  if (pruned === undefined) return [];
  if ('error' in pruned)
    return [logLine('warn', 'old config copies not deleted; the next rollout tries again', { target, ...errorFields(pruned.error) })];
  return pruned.deleted.length > 0 ? [logLine('info', 'old config copies deleted', { target, deleted: pruned.deleted })] : [];
}

/**
 * A call failed after the SDK's retries: the job's records are retried through the queue (and
 * reach the dead-letter queue when retries run out). Throttling is only logged; anything else is
 * also published as Failed.
 */
function callFailed(job: Job, operation: string, error: unknown, parameter: string): { outcomes: Outcome[]; log: LogLine[] } {
  const throttled = isThrottlingError(error);
  const line = logLine(throttled ? 'warn' : 'error', `${operation} failed; records will be retried`, {
    target: describeTarget(job.target),
    parameter,
    ...errorFields(error),
    messageIds: [...job.messageIds],
  });
  if (throttled) return { outcomes: [], log: [line] };
  const detail = `${operation} failed: ${errorName(error)}: ${errorMessage(error)}`;
  return { outcomes: [failed(job, { parameter, reason: 'api-error', detail, retrying: true })], log: [line] };
}

function failed(job: Job, failure: Pick<FailedDetail, 'parameter' | 'version' | 'reason' | 'detail' | 'retrying'>): Outcome {
  return { type: 'failed', detail: { ...failure, ...jobContext(job) } };
}

/** The fields every outcome of a job carries: its target, what triggered it and the events behind it. */
function jobContext(job: Job): { target: Job['target']; trigger: Trigger; sourceEventIds: string[] } {
  const ids = [...job.changes.values()].map((change) => change.eventId);
  if (job.manual) ids.push(job.manual.eventId);
  return { target: job.target, trigger: job.manual ? 'manual' : 'parameter-change', sourceEventIds: [...new Set(ids)] };
}

function errorFields(error: unknown): { errorName: string; errorMessage: string } {
  return { errorName: errorName(error), errorMessage: errorMessage(error) };
}

/**
 * Tells each failed deployment's outcome which revision failed and the versions it carried (read
 * from its copies' names). Without them the outcome is published as it is: a look-up is no reason
 * to hold back the news of a failure.
 */
export function withFailedRevisions(
  outcomes: readonly PendingOutcome[],
  deployments: readonly FailedDeployment[],
  lookups: readonly RevisionLookup[],
): { outcomes: PendingOutcome[]; log: LogLine[] } {
  const described = new Map<PendingOutcome, PendingOutcome>();
  const log: LogLine[] = [];
  deployments.forEach(({ pending, serviceArn, deploymentId }, index) => {
    const lookup = lookups[index] as RevisionLookup;
    if ('error' in lookup) {
      log.push(logLine('warn', 'could not tell which revision failed', { serviceArn, deploymentId, ...errorFields(lookup.error) }));
      return;
    }
    const { revision } = lookup;
    if (revision === undefined) return;
    const [only] = revision.versions;
    const detail: FailedDetail = {
      ...(pending.outcome.detail as FailedDetail),
      taskDefinition: revision.taskDefinitionArn,
      parameters: revision.versions,
      ...(revision.versions.length === 1 ? { parameter: only?.name, version: only?.version } : {}),
    };
    described.set(pending, { ...pending, outcome: { type: 'failed', detail } });
  });
  return { outcomes: outcomes.map((pending) => described.get(pending) ?? pending), log };
}

/** Everything a batch did, for {@link resolveBatch}. */
export interface BatchResults {
  readonly received: number;
  readonly plan: JobsPlan;
  readonly jobs: readonly JobEnd[];
  /** Every outcome, as put on the bus. */
  readonly outcomes: readonly PendingOutcome[];
  /** Outcomes the bus refused (`index` into `outcomes`). */
  readonly unpublished: readonly UnpublishedEntry[];
  readonly forwarded: DeadLetterResult;
}

/** The records to retry (the `SQSBatchResponse`), the batch's metrics, and the log of what is retried. */
export function resolveBatch(results: BatchResults): { response: SQSBatchResponse; counts: ReadonlyMap<string, number>; log: LogLine[] } {
  const retry = new Set(results.jobs.flatMap((job) => job.retry));
  const log: LogLine[] = [];
  for (const { index, errorCode, errorMessage: message } of results.unpublished) {
    const pending = results.outcomes[index] as PendingOutcome;
    log.push(
      logLine('error', 'outcome event not published; its records will be retried', {
        outcome: pending.outcome.type,
        errorCode,
        errorMessage: message,
        messageIds: [...pending.messageIds],
      }),
    );
    for (const messageId of pending.messageIds) retry.add(messageId);
  }
  for (const { messageId, error } of results.forwarded.unsent) {
    log.push(logLine('error', 'could not forward to the dead-letter queue; the record will be retried', { messageId, error }));
    retry.add(messageId);
  }
  return {
    response: { batchItemFailures: [...retry].map((itemIdentifier) => ({ itemIdentifier })) },
    counts: batchCounts(results, retry.size),
    log,
  };
}

/** Metric name → count. */
function batchCounts({ received, plan, jobs, outcomes, unpublished, forwarded }: BatchResults, retried: number): Map<string, number> {
  const counts = new Map<string, number>();
  const count = (name: string, amount: number) => counts.set(name, (counts.get(name) ?? 0) + amount);
  count(METRIC.eventsReceived, received);
  for (const { outcome } of outcomes) count(OUTCOME_METRIC[outcome.type], 1);
  count(METRIC.superseded, plan.superseded + jobs.reduce((sum, job) => sum + job.superseded, 0));
  count(METRIC.malformedEvents, plan.deadLetters.length);
  count(METRIC.ignoredEvents, plan.ignored);
  count(METRIC.deadLettered, forwarded.sent.length);
  count(METRIC.retriedRecords, retried);
  count(METRIC.unpublishedEvents, unpublished.length);
  return counts;
}
