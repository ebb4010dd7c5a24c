import type { Logger } from '@aws-lambda-powertools/logger';
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { EC2Client } from '@aws-sdk/client-ec2';
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { SSMClient } from '@aws-sdk/client-ssm';
import { errorMessage, errorName, isThrottlingError } from '../shared/aws';
import { RECONCILE_ENROLLMENT } from '../shared/event-types';
import { listRunningInstances } from './fleet';
import { checkOnline, type OnlineLookup } from './online';
import { buildReconcileRequests, publishReconcileRequests } from './publish';
import { keepOnline, prioritize, type SkipCounts, selectDue } from './select';
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
  const { clients, settings, logger, metrics } = deps;
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
  const selection = keepOnline(judged, online.onlineIds);

  const ordered = prioritize(selection.candidates, deps.random ?? Math.random);
  const chosen = ordered.slice(0, settings.maxInstancesPerRun);
  const deferred = ordered.length - chosen.length;
  if (deferred > 0) {
    logger.info('more candidates than one run may request: the rest are left for the next run', {
      candidates: ordered.length,
      requesting: chosen.length,
      deferred,
      maxInstancesPerRun: settings.maxInstancesPerRun,
    });
  }

  const requests = buildReconcileRequests(
    chosen.map((candidate) => candidate.instanceId),
    settings,
  );
  const result = await publishReconcileRequests(clients.eventBridge, requests, deps.sleep ?? sleepFor);
  const requestedIds = result.published.flatMap((request) => request.instanceIds);

  metrics.addMetric(METRIC.candidates, MetricUnit.Count, ordered.length);
  metrics.addMetric(METRIC.requested, MetricUnit.Count, requestedIds.length);
  const summary: ReconcileSummary = {
    running: running.size,
    checkedOnline: judged.due.length,
    onlineLookup: online.lookup,
    candidates: ordered.length,
    requested: requestedIds.length,
    deferred,
    events: result.published.length,
    skippedByReason: selection.skippedByReason,
  };
  if (requestedIds.length > 0) {
    logger.info('enrollment requested', { detailType: RECONCILE_ENROLLMENT, events: result.published.length, instanceIds: requestedIds });
  }

  if (result.error !== undefined) {
    logger.error('PutEvents failed after the SDK retries; the next scheduled run requests the rest', {
      ...summary,
      operation: 'PutEvents',
      throttled: isThrottlingError(result.error),
      errorName: errorName(result.error),
      errorMessage: errorMessage(result.error),
      notPublished: requests.length - result.published.length,
    });
    throw result.error;
  }
  if (result.failed.length > 0) {
    const refused = result.failed.map(({ request, errorCode, errorMessage: message }) => ({
      errorCode,
      errorMessage: message,
      instanceIds: request.instanceIds,
    }));
    logger.error('PutEvents refused events again after one retry; the next scheduled run requests them', { ...summary, refused });
    const codes = [...new Set(refused.map(({ errorCode }) => errorCode))].join(', ');
    throw new ReconcileError(
      `${refused.length} ${RECONCILE_ENROLLMENT} event(s) for ${refused.reduce((sum, { instanceIds }) => sum + instanceIds.length, 0)} instance(s) refused by PutEvents after one retry: ${codes}`,
    );
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
