import type { PutEventsCommandInput, PutEventsCommandOutput, PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import type {
  ChangeMessageVisibilityBatchCommandInput,
  ChangeMessageVisibilityBatchCommandOutput,
  SendMessageBatchCommandInput,
  SendMessageBatchCommandOutput,
} from '@aws-sdk/client-sqs';
import { awsError } from '../fixtures';

/** How PutEvents answers the entries of a call. */
export type PutEventsBehaviour = (entries: PutEventsRequestEntry[]) => PutEventsCommandOutput | Promise<PutEventsCommandOutput>;

/** PutEvents accepting every entry. */
export function acceptAll(entries: PutEventsRequestEntry[]): PutEventsCommandOutput {
  return { FailedEntryCount: 0, Entries: entries.map((_, index) => ({ EventId: `event-${index}` })), $metadata: {} };
}

/** PutEvents refusing the entries at the given positions. */
export function refuseAt(...positions: number[]): PutEventsBehaviour {
  return (entries) => ({
    FailedEntryCount: positions.length,
    Entries: entries.map((_, index) =>
      positions.includes(index) ? { ErrorCode: 'InternalFailure', ErrorMessage: 'Internal service error' } : { EventId: `event-${index}` },
    ),
    $metadata: {},
  });
}

/** PutEvents with the real limits (1 to 10 entries, 256 KB a request), answered by `behaviour`. */
export function putEvents(input: PutEventsCommandInput, behaviour: PutEventsBehaviour = acceptAll): ReturnType<PutEventsBehaviour> {
  const entries = input.Entries ?? [];
  if (entries.length < 1 || entries.length > 10) throw awsError('ValidationException', 'PutEvents takes 1 to 10 entries');
  if (Buffer.byteLength(JSON.stringify(entries)) > 256 * 1024) throw awsError('ValidationException', 'request larger than 256 KB');
  return behaviour(entries);
}

/** SendMessageBatch accepting every message. */
export function acceptMessages(input: SendMessageBatchCommandInput): SendMessageBatchCommandOutput {
  return {
    Successful: (input.Entries ?? []).map((entry) => ({ Id: entry.Id, MessageId: `dlq-${entry.Id}`, MD5OfMessageBody: 'x' })),
    Failed: [],
    $metadata: {},
  };
}

/** ChangeMessageVisibilityBatch accepting every change. */
export function acceptVisibilityChanges(input: ChangeMessageVisibilityBatchCommandInput): ChangeMessageVisibilityBatchCommandOutput {
  return { Successful: (input.Entries ?? []).map((entry) => ({ Id: entry.Id })), Failed: [], $metadata: {} };
}
