import type { EventBridgeClient, PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { chunk } from '../shared/aws';
import { putEvents } from '../shared/bus';
import { MAX_RECONCILE_INSTANCES, RECONCILE_ENROLLMENT } from '../shared/event-types';
import type { ReconcileSettings } from './settings';

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
 * Sends the requests through the shared PutEvents path (10 to a call). PutEvents reports a refused
 * entry in its result rather than failing the call, and the SDK does not retry those, so refused
 * entries are sent once more after a short pause; what is still refused is returned for the caller
 * to fail the run. A call that fails as a whole stops the publishing.
 */
export async function publishReconcileRequests(
  eventBridge: EventBridgeClient,
  requests: readonly ReconcileRequest[],
  sleep: (milliseconds: number) => Promise<void>,
): Promise<PublishResult> {
  const unpublished = await putEvents(
    eventBridge,
    requests.map(({ entry }) => entry),
    { attempts: 2, pauseBeforeRetry: () => sleep(PUT_EVENTS_RETRY_DELAY_MS), stopOnCallError: true },
  );
  const notPublished = new Set(unpublished.map(({ index }) => index));
  const published = requests.filter((_, index) => !notPublished.has(index));
  const failed = unpublished.flatMap(({ index, errorCode, errorMessage, error }) =>
    error === undefined ? [{ request: requests[index] as ReconcileRequest, errorCode, errorMessage }] : [],
  );
  const callError = unpublished.find(({ error }) => error !== undefined);
  return callError === undefined ? { published, failed } : { published, failed, error: callError.error };
}
