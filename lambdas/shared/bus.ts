import { type EventBridgeClient, PutEventsCommand, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { chunk, errorMessage, errorName } from './aws';

/** PutEvents takes at most 10 entries a call. */
export const PUT_EVENTS_CHUNK = 10;

export interface UnpublishedEntry {
  /** Index of the entry in the input. */
  readonly index: number;
  readonly errorCode: string;
  readonly errorMessage: string;
}

/**
 * Puts `entries` in calls of at most 10 and puts again, up to `attempts` times in all, the entries
 * PutEvents reports as failed (FailedEntryCount > 0: internal failures and throttling of single
 * entries). A call that throws (after the SDK's own retries) fails its entries at once. Returns
 * what still failed, so the caller can retry the records behind them.
 */
export async function putEventsWithRetry(
  eventBridge: EventBridgeClient,
  entries: readonly PutEventsRequestEntry[],
  attempts = 3,
): Promise<UnpublishedEntry[]> {
  const unpublished: UnpublishedEntry[] = [];
  for (const batch of chunk(
    entries.map((entry, index) => ({ entry, index })),
    PUT_EVENTS_CHUNK,
  )) {
    let pending = batch;
    for (let attempt = 1; pending.length > 0; attempt++) {
      let failed: Array<{ entry: PutEventsRequestEntry; index: number; errorCode: string; errorMessage: string }>;
      try {
        const result = await eventBridge.send(new PutEventsCommand({ Entries: pending.map(({ entry }) => entry) }));
        failed = pending.flatMap((item, position) => {
          const outcome = result.Entries?.[position];
          if (outcome?.EventId !== undefined && outcome.ErrorCode === undefined) return [];
          return [{ ...item, errorCode: outcome?.ErrorCode ?? 'NoEventId', errorMessage: outcome?.ErrorMessage ?? 'no event ID returned' }];
        });
      } catch (error) {
        unpublished.push(...pending.map(({ index }) => ({ index, errorCode: errorName(error), errorMessage: errorMessage(error) })));
        break;
      }
      if (failed.length === 0 || attempt >= attempts) {
        unpublished.push(...failed.map(({ index, errorCode, errorMessage: message }) => ({ index, errorCode, errorMessage: message })));
        break;
      }
      pending = failed.map(({ entry, index }) => ({ entry, index }));
    }
  }
  return unpublished;
}
