import type { Logger } from '@aws-lambda-powertools/logger';
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import {
  describeFailedDeployments,
  forwardDeadLetters,
  lookUpParameters,
  publishOutcomes,
  type RefreshClients,
  runRollout,
} from './execute';
import { type LogLine, METRIC } from './outcomes';
import { type Job, planJobs } from './plan-jobs';
import { type ParameterFacts, parametersToRead, planRollout } from './plan-rollout';
import { parseRecord } from './requests';
import { endJob, endJobsUnexpectedly, endJobUnexpectedly, endRollout, type JobEnd, resolveBatch, withFailedRevisions } from './resolve';
import type { RefreshSettings } from './settings';

export type { RefreshClients } from './execute';

export interface RefreshDependencies {
  readonly clients: RefreshClients;
  readonly settings: RefreshSettings;
  readonly logger: Logger;
  readonly metrics: Metrics;
}

/**
 * Processes one SQS batch of config-refresh events and returns the records to retry.
 *
 * Parameter changes are debounced per parameter (the latest content operation in the batch wins,
 * a change overwritten since is superseded) and grouped per target, so a burst of edits, or edits
 * to several Grafana files, becomes one SendCommand or one UpdateService. Every rollout is checked
 * first (empty, size, YAML or Alloy syntax) and skipped when an earlier command or deployment
 * already carries the current version, so a duplicate or retried event does no harm. Outcomes go
 * to the bus; ECS deployment and Run Command status events arriving on the same queue become
 * Completed / Failed. Malformed events go to the dead-letter queue; a failed call fails only the
 * records behind it.
 *
 * The steps, in order: parse (requests.ts) → plan the jobs (plan-jobs.ts) → for each job, plan the
 * rollout (plan-rollout.ts), run its calls (execute.ts) and resolve what it ends in (resolve.ts) →
 * publish the outcomes and forward the dead letters (execute.ts) → resolve the batch response
 * (resolve.ts). The plan and resolve steps are pure: their log lines come back as data and are
 * written here, in the order they were decided.
 */
export async function processBatch(event: SQSEvent, deps: RefreshDependencies): Promise<SQSBatchResponse> {
  const { settings, clients, logger } = deps;
  const write = (lines: readonly LogLine[]) => {
    for (const { level, message, fields } of lines) logger[level](message, { ...fields });
  };

  const parsed = event.Records.map((record) => parseRecord(record, settings.eventSource));
  const plan = planJobs(parsed, settings);
  write(plan.log);

  const jobs = await refreshJobs(plan.jobs, deps, write);

  const lookups = await describeFailedDeployments(plan.failedDeployments, clients.ecs, settings.clusterArn);
  const described = withFailedRevisions(plan.outcomes, plan.failedDeployments, lookups);
  write(described.log);

  const outcomes = [...described.outcomes, ...jobs.flatMap((job) => job.outcomes)];
  const unpublished = await publishOutcomes(outcomes, clients.eventBridge, settings);
  const forwarded = await forwardDeadLetters(plan.deadLetters, clients.sqs, settings.deadLetterQueueUrl);

  const resolved = resolveBatch({ received: event.Records.length, plan, jobs, outcomes, unpublished, forwarded });
  write(resolved.log);
  publishMetrics(deps.metrics, resolved.counts);
  return resolved.response;
}

/** Reads the current versions once, then refreshes the jobs one at a time: SendCommand and UpdateService have low request rates. */
async function refreshJobs(jobs: readonly Job[], deps: RefreshDependencies, write: (lines: readonly LogLine[]) => void): Promise<JobEnd[]> {
  const ends: JobEnd[] = [];
  try {
    const facts = await lookUpParameters(parametersToRead(jobs, deps.settings), deps.clients.ssm);
    for (const job of jobs) {
      const end = await refreshJob(job, facts, deps);
      write(end.log);
      ends.push(end);
    }
  } catch (error) {
    // A defect, not an AWS error (those are handled per job): retry every job's records.
    const end = endJobsUnexpectedly(jobs, error);
    write(end.log);
    ends.push(end);
  }
  return ends;
}

async function refreshJob(job: Job, facts: ParameterFacts, deps: RefreshDependencies): Promise<JobEnd> {
  try {
    const plan = planRollout(job, facts, deps.settings);
    if (plan.kind !== 'rollout') return endJob(job, plan);
    const result = await runRollout(plan.rollout, deps.clients, deps.settings);
    return endRollout(job, plan, result);
  } catch (error) {
    return endJobUnexpectedly(job, error);
  }
}

function publishMetrics(metrics: Metrics, counts: ReadonlyMap<string, number>): void {
  for (const name of Object.values(METRIC)) {
    const value = counts.get(name) ?? 0;
    if (value > 0 || name === METRIC.eventsReceived) metrics.addMetric(name, MetricUnit.Count, value);
  }
}
