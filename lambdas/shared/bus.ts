import {
  type EventBridgeClient,
  PutEventsCommand,
  type PutEventsRequestEntry,
  type PutEventsResultEntry,
} from '@aws-sdk/client-eventbridge';
import { batchWithin, errorMessage, errorName } from './aws';

/** PutEvents takes at most 10 entries a call… */
export const PUT_EVENTS_MAX_ENTRIES = 10;
/** …of at most 256 KB together, each entry counted as {@link entrySize} counts it. */
export const PUT_EVENTS_MAX_BYTES = 256 * 1024;

export interface UnpublishedEntry {
  /** Index of the entry in the input. */
  readonly index: number;
  readonly errorCode: string;
  readonly errorMessage: string;
  /** The error of a call that failed as a whole (after the SDK's retries); absent for an entry PutEvents refused. */
  readonly error?: unknown;
}

export interface PutEventsOptions {
  /**
   * Sends of an entry PutEvents refuses, the first one included. The SDK retries a call that
   * fails, not the entries a successful call reports as failed (internal failures, throttling of
   * single entries).
   * @default 3
   */
  readonly attempts?: number;
  /** Awaited before each new send of refused entries. @default no pause */
  readonly pauseBeforeRetry?: () => Promise<void>;
  /**
   * After a call that fails as a whole, send nothing more: every entry not yet published is
   * reported with that call's error.
   * @default false: the entries of that call are reported, and the next calls are still made
   */
  readonly stopOnCallError?: boolean;
}

/**
 * Puts `entries` on the bus in as few calls as PutEvents' limits allow (10 entries, 256 KB), sends
 * again the entries a call reports as failed, up to `attempts` sends in all, and returns the
 * entries still unpublished, in input order, for the caller to retry the work behind them.
 *
 * An entry counts as published only with an EventId and no ErrorCode. When a response counts more
 * failed entries (FailedEntryCount) than its entries show, the failed ones cannot be told apart,
 * so every entry of that call counts as failed.
 */
export async function putEvents(
  eventBridge: EventBridgeClient,
  entries: readonly PutEventsRequestEntry[],
  { attempts = 3, pauseBeforeRetry, stopOnCallError = false }: PutEventsOptions = {},
): Promise<UnpublishedEntry[]> {
  const unpublished: UnpublishedEntry[] = [];
  // An entry too large on its own goes alone, and PutEvents refuses it.
  const batches = batchWithin([...entries.keys()], PUT_EVENTS_MAX_ENTRIES, PUT_EVENTS_MAX_BYTES, (index) =>
    entrySize(entries[index] as PutEventsRequestEntry),
  );
  for (const [position, batch] of batches.entries()) {
    let pending = batch;
    for (let attempt = 1; pending.length > 0; attempt++) {
      if (attempt > 1) await pauseBeforeRetry?.();
      let refused: UnpublishedEntry[];
      try {
        const result = await eventBridge.send(
          new PutEventsCommand({ Entries: pending.map((index) => entries[index] as PutEventsRequestEntry) }),
        );
        refused = refusedEntries(pending, result.Entries ?? [], result.FailedEntryCount ?? 0);
      } catch (error) {
        const notSent = stopOnCallError ? [...pending, ...batches.slice(position + 1).flat()] : pending;
        unpublished.push(...notSent.map((index) => ({ index, errorCode: errorName(error), errorMessage: errorMessage(error), error })));
        if (stopOnCallError) return unpublished;
        break;
      }
      if (refused.length === 0 || attempt >= attempts) {
        unpublished.push(...refused);
        break;
      }
      pending = refused.map(({ index }) => index);
    }
  }
  return unpublished;
}

/** The entries of one call (indexes into the input) that PutEvents did not publish. */
function refusedEntries(sent: readonly number[], results: readonly PutEventsResultEntry[], failedEntryCount: number): UnpublishedEntry[] {
  const refused = sent.flatMap((index, position) => {
    const result = results[position];
    if (result?.EventId !== undefined && result.ErrorCode === undefined) return [];
    return [
      {
        index,
        errorCode: result?.ErrorCode ?? 'NoEventId',
        errorMessage: result?.ErrorMessage ?? (result?.ErrorCode === undefined ? 'no event ID returned' : 'no message'),
      },
    ];
  });
  if (failedEntryCount <= refused.length) return refused;
  const message = `PutEvents counted ${failedEntryCount} failed entries but marked ${refused.length}`;
  return sent.map((index) => ({ index, errorCode: 'FailedEntryCount', errorMessage: message }));
}

/**
 * An entry's size as EventBridge counts it against the 256 KB of a call: 14 bytes for a Time, the
 * UTF-8 bytes of Source, DetailType, Detail and each Resource.
 */
export function entrySize(entry: PutEventsRequestEntry): number {
  const utf8 = (text: string | undefined) => (text === undefined ? 0 : Buffer.byteLength(text, 'utf8'));
  return (
    (entry.Time === undefined ? 0 : 14) +
    utf8(entry.Source) +
    utf8(entry.DetailType) +
    utf8(entry.Detail) +
    (entry.Resources ?? []).reduce((sum, resource) => sum + utf8(resource), 0)
  );
}
