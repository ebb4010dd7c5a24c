import { type MessageAttributeValue, SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';
import { batchWithin, errorMessage, errorName } from './aws';

/**
 * Forwarding records a handler cannot understand to its dead-letter queue itself, with the reason
 * as a message attribute, instead of failing them until the queue's redrive moves them (which
 * would retry a message that can never succeed, and lose why).
 */

export interface DeadLetter {
  readonly record: SQSRecord;
  /** Short machine-readable reason, e.g. `malformed-event`. */
  readonly reason: string;
  /** Human-readable detail (cut to 1 KiB). */
  readonly detail: string;
  /** More message attributes (e.g. the instance IDs concerned). */
  readonly attributes?: Readonly<Record<string, string>>;
}

export interface DeadLetterResult {
  /** Message IDs now in the dead-letter queue. */
  readonly sent: string[];
  /** Message IDs that could not be forwarded (retry their records), with why. */
  readonly unsent: Array<{ readonly messageId: string; readonly error: string }>;
}

/** SendMessageBatch takes at most 10 entries. */
const SQS_BATCH_CHUNK = 10;
/** SendMessageBatch payloads are capped (256 KiB on older queues); stay below with room for attributes. */
const SQS_BATCH_MAX_BYTES = 200 * 1024;

export async function sendToDeadLetterQueue(
  sqs: SQSClient,
  queueUrl: string,
  deadLetters: readonly DeadLetter[],
): Promise<DeadLetterResult> {
  const sent: string[] = [];
  const unsent: Array<{ messageId: string; error: string }> = [];
  for (const batch of sqsBatches(deadLetters)) {
    try {
      const result = await sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: batch.map(({ record, reason, detail, attributes }) => ({
            Id: record.messageId,
            MessageBody: record.body,
            MessageAttributes: {
              reason: stringAttribute(reason),
              detail: stringAttribute(detail.slice(0, 1024)),
              sourceMessageId: stringAttribute(record.messageId),
              ...Object.fromEntries(Object.entries(attributes ?? {}).map(([name, value]) => [name, stringAttribute(value)])),
            },
          })),
        }),
      );
      const failed = new Map((result.Failed ?? []).map((entry) => [entry.Id, `${entry.Code ?? 'Failed'}: ${entry.Message ?? ''}`]));
      for (const { record } of batch) {
        const error = failed.get(record.messageId);
        if (error === undefined) sent.push(record.messageId);
        else unsent.push({ messageId: record.messageId, error });
      }
    } catch (error) {
      unsent.push(...batch.map(({ record }) => ({ messageId: record.messageId, error: `${errorName(error)}: ${errorMessage(error)}` })));
    }
  }
  return { sent, unsent };
}

function stringAttribute(value: string): MessageAttributeValue {
  return { DataType: 'String', StringValue: value === '' ? '-' : value };
}

/** Groups dead letters into SendMessageBatch calls: at most 10 entries and 200 KiB of bodies each. */
function sqsBatches(deadLetters: readonly DeadLetter[]): DeadLetter[][] {
  return batchWithin(
    deadLetters,
    SQS_BATCH_CHUNK,
    SQS_BATCH_MAX_BYTES,
    (deadLetter) => Buffer.byteLength(deadLetter.record.body, 'utf8') + 2048,
  );
}
