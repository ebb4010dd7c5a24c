import type { SQSRecord } from 'aws-lambda';
import type { InstanceFacts } from '../shared/instances';
import { type ParsedRecord, parseRecord } from './requests';
import { openEnvelope } from './wait-envelope';

/**
 * The parse step: a batch's SQS records as typed requests. An envelope of waiting requests is
 * opened, and each request in it parsed like any record (see wait-envelope.ts).
 */

/**
 * Requests one invocation processes: about 40 look-up and command calls at most, well inside the
 * function's timeout; the rest of a batch of envelopes goes back at once for the next invocation.
 */
export const MAX_REQUESTS_PER_INVOCATION = 2_000;

export interface ParsedBatch {
  /** The records this invocation processes, parsed: events, and the requests envelopes carried. */
  readonly records: readonly ParsedRecord[];
  /** Records beyond {@link MAX_REQUESTS_PER_INVOCATION}, passed on unparsed. */
  readonly overflow: readonly SQSRecord[];
  /** Envelopes that cannot be opened, with what is wrong. */
  readonly invalidEnvelopes: ReadonlyArray<{ readonly record: SQSRecord; readonly detail: string }>;
  /** Request message ID → the envelope that carried it. */
  readonly carriers: ReadonlyMap<string, string>;
  /** Facts that came in envelopes, for instances waiting for SSM. */
  readonly carried: ReadonlyMap<string, InstanceFacts>;
}

export function parseBatch(batch: readonly SQSRecord[], expectedReconcileSource: string): ParsedBatch {
  const records: SQSRecord[] = [];
  const invalidEnvelopes: Array<{ record: SQSRecord; detail: string }> = [];
  const carriers = new Map<string, string>();
  const carried = new Map<string, InstanceFacts>();
  for (const record of batch) {
    const opened = openEnvelope(record);
    if (opened === undefined) {
      records.push(record);
    } else if ('invalid' in opened) {
      invalidEnvelopes.push({ record, detail: opened.invalid });
    } else {
      for (const { record: request, facts } of opened) {
        carriers.set(request.messageId, record.messageId);
        records.push(request);
        for (const instance of facts) carried.set(instance.instanceId, instance);
      }
    }
  }
  // Envelopes meet in one batch: what one invocation cannot do in its time is passed on at once.
  const overflow = records.splice(MAX_REQUESTS_PER_INVOCATION);
  return {
    records: records.map((record) => parseRecord(record, expectedReconcileSource)),
    overflow,
    invalidEnvelopes,
    carriers,
    carried,
  };
}
