import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import type { DeadLetter } from '../shared/dead-letter';
import type { InstanceFacts } from '../shared/instances';
import { completeLifecycle, type EnrollClients, enrollInstances, forwardDeadLetters, type Invocation, sendDeferred } from './execute';
import { METRIC, newLedger, publishMetrics, recordFailure } from './outcomes';
import { type ParsedBatch, parseBatch } from './parse-batch';
import { planLooks, type TrackedInstance } from './plan';
import {
  batchResponse,
  DEAD_LETTER_REASON,
  DEAD_LETTER_RETRY_SECONDS,
  deferral,
  type Resolution,
  type Retry,
  resolveRecord,
  retryLater,
} from './resolve';
import type { EnrollSettings } from './settings';
import type { Deferred } from './wait-envelope';

export type { EnrollClients } from './execute';

export interface EnrollDependencies {
  readonly clients: EnrollClients;
  readonly settings: EnrollSettings;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** Clock, for tests. */
  readonly now?: () => Date;
}

/**
 * Processes one SQS batch of enrollment events and returns the records to retry.
 *
 * Every record ends one of four ways: done (every instance enrolled or skipped on purpose),
 * retried (waiting for SSM: sent back in an envelope to the next shared slot; after an error:
 * reported as a batch item failure, or put in the next envelope when it came in one),
 * dead-lettered with a reason (malformed, or not ready before the deadline), or ignored on
 * purpose with a logged reason (test notifications, non-running states).
 *
 * The steps: parse the records (parse-batch.ts); plan what to do with their instances (plan.ts)
 * and make the calls it asks for (execute.ts); resolve each record from its instances' outcomes
 * (resolve.ts), then dead-letter, defer or retry it.
 */
export async function processBatch(event: SQSEvent, deps: EnrollDependencies): Promise<SQSBatchResponse> {
  const { clients, settings, logger, metrics } = deps;
  const now = deps.now?.() ?? new Date();
  const run: Invocation = { clients, settings, now, ledger: newLedger(logger) };

  const batch = parseBatch(event.Records, settings.eventSource);
  run.ledger.counters.add(METRIC.eventsReceived, batch.records.length);
  const { firstLookLater, instances } = planLooks(batch.records, batch.carriers, now);
  const facts = await enrollOrRetryAll(run, instances, batch.carried);

  const fates = await settleRecords(run, batch, firstLookLater, facts);
  await deliver(run, fates, batch.carriers);
  publishMetrics(run.ledger.counters, metrics);
  return batchResponse(fates.failed, batch.carriers);
}

async function enrollOrRetryAll(
  run: Invocation,
  instances: ReadonlyMap<string, TrackedInstance>,
  carried: ReadonlyMap<string, InstanceFacts>,
): Promise<ReadonlyMap<string, InstanceFacts>> {
  if (instances.size === 0) return new Map();
  try {
    return await enrollInstances(run, instances, carried);
  } catch (error) {
    // A defect, not an AWS error (those are handled per call): retry the requests, and still
    // dead-letter the malformed records rather than failing the whole batch.
    recordFailure(run.ledger, { instanceIds: [...instances.keys()], reason: 'unexpected-error', error });
    return new Map();
  }
}

/** Where the batch's records go: back to the queue (failed), to the dead-letter queue, or into envelopes. */
interface Fates {
  readonly failed: Set<string>;
  readonly deadLetters: DeadLetter[];
  readonly deferred: Deferred[];
}

/** Resolves the records in order: a lifecycle action released at the deadline can change the outcomes the next records see. */
async function settleRecords(
  run: Invocation,
  batch: ParsedBatch,
  firstLookLater: ReadonlySet<SQSRecord>,
  facts: ReadonlyMap<string, InstanceFacts>,
): Promise<Fates> {
  const { settings, now, ledger } = run;
  const context = { settings, now, carriers: batch.carriers, firstLookLater, outcomes: ledger.outcomes, facts };
  const fates: Fates = {
    failed: new Set(),
    deadLetters: batch.invalidEnvelopes.map(({ record, detail }) => ({ record, reason: DEAD_LETTER_REASON.malformed, detail })),
    deferred: batch.overflow.map((record) => deferral(record, 0, context)),
  };
  for (const item of batch.records) await settle(run, item.record, resolveRecord(item, context), fates);
  return fates;
}

/** Logs and counts a record's resolution, makes the call it names, and files the record with its fate. */
async function settle(run: Invocation, record: SQSRecord, resolution: Resolution, fates: Fates): Promise<void> {
  const { counters, logger } = run.ledger;
  const { messageId } = record;
  switch (resolution.kind) {
    case 'malformed': {
      const { reason, detail } = resolution.deadLetter;
      counters.add(METRIC.malformedEvents);
      logger.warn('malformed event', { messageId, reason, detail });
      fates.deadLetters.push(resolution.deadLetter);
      return;
    }
    case 'ignored':
      counters.add(METRIC.ignoredEvents);
      logger.info('event ignored', { messageId, reason: resolution.reason, detail: resolution.detail });
      return;
    case 'first-look-later':
      fates.deferred.push(resolution.deferred);
      counters.add(METRIC.notManagedYet, resolution.instanceCount);
      return;
    case 'done':
      return;
    case 'retry-after-errors':
      addRetry(fates, resolution.retry);
      counters.add(METRIC.retriedRecords);
      logger.warn('event will be retried after errors', { messageId, eventId: resolution.eventId, errors: resolution.errors });
      return;
    case 'wait': {
      const { deferred, waiting, receiveCount, remainingSeconds } = resolution;
      fates.deferred.push(deferred);
      logger.info('instances not ready, event comes back at the next slot', {
        messageId,
        instanceIds: waiting.map(({ instanceId }) => instanceId),
        reasons: [...new Set(waiting.map(({ reason }) => reason))],
        receiveCount,
        delaySeconds: deferred.delaySeconds,
        remainingSeconds: Math.floor(remainingSeconds),
      });
      return;
    }
    case 'install-in-flight-at-deadline':
      logger.warn('enrollment deadline passed with the install still in flight; its result completes the lifecycle action', {
        messageId,
        instanceIds: resolution.waiting.map(({ instanceId }) => instanceId),
      });
      return;
    case 'expired':
      return deadLetterExpired(run, record, resolution, fates);
  }
}

/** Dead-letters a record past its deadline, once the launch its lifecycle hook holds (if any) is released. */
async function deadLetterExpired(
  run: Invocation,
  record: SQSRecord,
  { deadLetter, waiting, release }: Extract<Resolution, { kind: 'expired' }>,
  fates: Fates,
): Promise<void> {
  if (release !== undefined) {
    const error = await completeLifecycle(run, release);
    if (error !== undefined) {
      recordFailure(run.ledger, { instanceIds: [release.instanceId], reason: 'complete-lifecycle-action-failed', error });
      addRetry(fates, release.retryIfFailed);
      return;
    }
  }
  run.ledger.logger.error('enrollment deadline passed, event dead-lettered', {
    messageId: record.messageId,
    reason: deadLetter.reason,
    instanceIds: waiting.map(({ instanceId }) => instanceId),
    detail: deadLetter.detail,
  });
  fates.deadLetters.push(deadLetter);
}

/** Forwards the dead letters and sends the envelopes; a record that cannot go where its fate says is retried. */
async function deliver(run: Invocation, fates: Fates, carriers: ReadonlyMap<string, string>): Promise<void> {
  const undelivered = new Set(await forwardDeadLetters(run, fates.deadLetters));
  for (const { record } of fates.deadLetters) {
    if (!undelivered.has(record.messageId)) continue;
    addRetry(fates, retryLater(record, DEAD_LETTER_RETRY_SECONDS, { carriers, now: run.now }));
  }
  for (const carrier of await sendDeferred(run, fates.deferred)) fates.failed.add(carrier);
}

function addRetry(fates: Fates, retry: Retry): void {
  if ('deferred' in retry) fates.deferred.push(retry.deferred);
  else fates.failed.add(retry.failed);
}
