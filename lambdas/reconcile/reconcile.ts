import type { Logger } from '@aws-lambda-powertools/logger';
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { EC2Client } from '@aws-sdk/client-ec2';
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { SSMClient } from '@aws-sdk/client-ssm';
import { errorMessage, errorName, isThrottlingError } from '../shared/aws';
import { RECONCILE_ENROLLMENT } from '../shared/event-types';
import { listRunningInstances } from './fleet';
import { checkOnline } from './online';
import { planRequests } from './plan';
import { publishReconcileRequests } from './publish';
import { type ReconcileSummary, type RunOutcome, resolveRun } from './resolve';
import { keepOnline, selectDue } from './select';
import type { ReconcileSettings } from './settings';

export interface ReconcileClients {
  readonly ec2: EC2Client;
  readonly ssm: SSMClient;
  readonly eventBridge: EventBridgeClient;
}

export interface ReconcileDependencies {
  readonly clients: ReconcileClients;
  readonly settings: ReconcileSettings;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** Clock, for tests. */
  readonly now?: () => Date;
  /** Source of the tie-breaking shuffle, for tests. */
  readonly random?: () => number;
  /** Pause before retrying refused PutEvents entries, for tests. */
  readonly sleep?: (milliseconds: number) => Promise<void>;
}

export type { ReconcileSummary } from './resolve';

/** Metric names, each a Count. */
export const METRIC = {
  candidates: 'ReconcileCandidates',
  requested: 'ReconcileRequested',
} as const;

/** A run that could not publish every request it meant to (the schedule runs again next interval). */
export class ReconcileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReconcileError';
  }
}

const sleepFor = (milliseconds: number) => new Promise<void>((resolve) => setTimeout(resolve, milliseconds));

/**
 * One run of the enrollment backstop: finds running, SSM-online instances that should have the
 * agent but are not enrolled with the pinned version (see select.ts for the rules), and asks the
 * enroll handler to enroll them with `Reconcile Enrollment` events on the project bus, at most
 * MAX_INSTANCES_PER_RUN per run. The running instances are listed first and judged on their tags;
 * SSM is asked only about the instances left due (see online.ts for how).
 *
 * Safe to run again at any time: the enroll handler skips instances whose command is in flight.
 * A look-up or PutEvents call failing after the SDK's retries fails the run, which the next
 * scheduled run repeats (InvalidInstanceId on a chunk of the online check excepted, see online.ts);
 * nothing is half-remembered between runs.
 */
export async function reconcile(deps: ReconcileDependencies): Promise<ReconcileSummary> {
  const { clients, settings, logger } = deps;
  const now = deps.now?.() ?? new Date();

  const running = await lookUp(logger, 'DescribeInstances', () => listRunningInstances(clients.ec2));
  const judged = selectDue(running.values(), settings, now);
  const online = await lookUp(logger, 'DescribeInstanceInformation', () =>
    checkOnline(
      clients.ssm,
      judged.due.map((candidate) => candidate.instanceId),
      running.size,
      logger,
    ),
  );
  const plan = planRequests(keepOnline(judged, online.onlineIds), settings, deps.random ?? Math.random);
  if (plan.deferred > 0) {
    logger.info('more candidates than one run may request: the rest are left for the next run', {
      candidates: plan.candidates,
      requesting: plan.requesting,
      deferred: plan.deferred,
      maxInstancesPerRun: settings.maxInstancesPerRun,
    });
  }

  const published = await publishReconcileRequests(clients.eventBridge, plan.requests, deps.sleep ?? sleepFor);
  const outcome = resolveRun({ running: running.size, checkedOnline: judged.due.length, onlineLookup: online.lookup, plan, published });
  return finish(outcome, deps);
}

/** Records the run's metrics and log lines, and fails the run unless every request was published. */
function finish({ summary, requestedIds, verdict }: RunOutcome, { logger, metrics }: ReconcileDependencies): ReconcileSummary {
  metrics.addMetric(METRIC.candidates, MetricUnit.Count, summary.candidates);
  metrics.addMetric(METRIC.requested, MetricUnit.Count, summary.requested);
  if (requestedIds.length > 0) {
    logger.info('enrollment requested', { detailType: RECONCILE_ENROLLMENT, events: summary.events, instanceIds: requestedIds });
  }

  if (verdict.kind === 'call-failed') {
    logger.error('PutEvents failed after the SDK retries; the next scheduled run requests the rest', {
      ...summary,
      operation: 'PutEvents',
      throttled: isThrottlingError(verdict.error),
      errorName: errorName(verdict.error),
      errorMessage: errorMessage(verdict.error),
      notPublished: verdict.notPublished,
    });
    throw verdict.error;
  }
  if (verdict.kind === 'refused') {
    logger.error('PutEvents refused events again after one retry; the next scheduled run requests them', {
      ...summary,
      refused: verdict.refused,
    });
    throw new ReconcileError(verdict.message);
  }

  logger.info('reconciliation finished', { ...summary });
  return summary;
}

/** Runs one fleet look-up; a failure (after the SDK's retries) is logged with the operation and fails the run. */
async function lookUp<T>(logger: Logger, operation: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    logger.error(`${operation} failed after the SDK retries: no enrollment requested; the next scheduled run tries again`, {
      operation,
      throttled: isThrottlingError(error),
      errorName: errorName(error),
      errorMessage: errorMessage(error),
    });
    throw error;
  }
}
