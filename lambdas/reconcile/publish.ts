import { type EventBridgeClient, PutEventsCommand, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { chunk } from '../shared/aws';
import { MAX_RECONCILE_INSTANCES, RECONCILE_ENROLLMENT } from '../shared/event-types';
import type { ReconcileSettings } from './settings';

/** PutEvents takes at most 10 entries. */
export const PUT_EVENTS_CHUNK = 10;
/** Pause before the one retry of entries PutEvents reported as failed (usually throttling or an internal error). */
export const PUT_EVENTS_RETRY_DELAY_MS = 1000;

export interface ReconcileRequest {
  readonly entry: PutEventsRequestEntry;
  readonly instanceIds: readonly string[];
}

/**
 * `Reconcile Enrollment` events on the project bus, at most {@link MAX_RECONCILE_INSTANCES} IDs
 * each (the enroll handler's schema refuses more). No `Time`: EventBridge stamps the publish time,
 * which the enroll handler takes as the start of the instance's enrollment deadline.
 */
export function buildReconcileRequests(
  instanceIds: readonly string[],
  settings: Pick<ReconcileSettings, 'eventBusName' | 'eventSource'>,
): ReconcileRequest[] {
  return chunk(instanceIds, MAX_RECONCILE_INSTANCES).map((ids) => ({
    instanceIds: ids,
    entry: {
      EventBusName: settings.eventBusName,
      Source: settings.eventSource,
      DetailType: RECONCILE_ENROLLMENT,
      Detail: JSON.stringify({ instanceIds: ids }),
    },
  }));
}

export interface FailedRequest {
  readonly request: ReconcileRequest;
  readonly errorCode: string;
  readonly errorMessage: string;
}

export interface PublishResult {
  readonly published: ReconcileRequest[];
  /** Entries PutEvents still refused after one retry. */
  readonly failed: FailedRequest[];
  /** A PutEvents call that failed as a whole (after the SDK's retries); later requests were not sent. */
  readonly error?: unknown;
}

/**
 * Sends the requests 10 to a call. PutEvents reports a refused entry in its result rather than
 * failing the call, and the SDK does not retry those, so refused entries are sent once more after a
 * short pause; what is still refused is returned for the caller to fail the run.
 */
export async function publishReconcileRequests(
  eventBridge: EventBridgeClient,
  requests: readonly ReconcileRequest[],
  sleep: (milliseconds: number) => Promise<void>,
): Promise<PublishResult> {
  const published: ReconcileRequest[] = [];
  const failed: FailedRequest[] = [];
  try {
    for (const batch of chunk(requests, PUT_EVENTS_CHUNK)) {
      const first = await putEvents(eventBridge, batch);
      published.push(...first.published);
      if (first.failed.length === 0) continue;
      await sleep(PUT_EVENTS_RETRY_DELAY_MS);
      const retried = await putEvents(
        eventBridge,
        first.failed.map(({ request }) => request),
      );
      published.push(...retried.published);
      failed.push(...retried.failed);
    }
  } catch (error) {
    return { published, failed, error };
  }
  return { published, failed };
}

async function putEvents(eventBridge: EventBridgeClient, batch: readonly ReconcileRequest[]): Promise<Omit<PublishResult, 'error'>> {
  const result = await eventBridge.send(new PutEventsCommand({ Entries: batch.map(({ entry }) => entry) }));
  const anyFailed = (result.FailedEntryCount ?? 0) > 0;
  const published: ReconcileRequest[] = [];
  const failed: FailedRequest[] = [];
  batch.forEach((request, index) => {
    const entry = result.Entries?.[index];
    // Result entries are in request order; one without an EventId in a failed call is counted as refused.
    if (entry?.ErrorCode !== undefined || (anyFailed && entry?.EventId === undefined)) {
      failed.push({ request, errorCode: entry?.ErrorCode ?? 'Unknown', errorMessage: entry?.ErrorMessage ?? 'no result entry' });
    } else {
      published.push(request);
    }
  });
  return { published, failed };
}
