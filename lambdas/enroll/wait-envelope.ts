import { SendMessageBatchCommand, type SendMessageBatchRequestEntry, type SQSClient } from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';
import * as z from 'zod/mini';
import { chunk, errorMessage, errorName } from '../shared/aws';
import { PLATFORMS } from '../shared/contract';
import type { InstanceFacts } from '../shared/instances';
import { describeIssues } from '../shared/schema';
import { receiveCount } from './requests';

/**
 * Waiting launches travel together. A request whose instance is not SSM-online yet is not put
 * back on the queue on its own (one visibility change per record, back-offs that drift apart):
 * its original message is copied into an envelope, one message for many requests, sent with a
 * delay that ends on a shared slot boundary ({@link waitDelaySeconds}). Every envelope sent within
 * one slot, by any invocation, becomes visible at the same instant and is read in one batch: one
 * look-up per 50 waiting instances per slot, whatever the number of launches.
 *
 * An envelope carries each request as it arrived (its body, message ID, receive count and first
 * receipt, which starts the enrollment deadline), so that opening it gives back the records the
 * handler already knows how to process, dead-letter (the original event, with its reason) or wait on.
 */

export const ENVELOPE_MARKER = 'lgtm-fleet/enroll-wait';
/** Requests per envelope: a batch of 100 envelopes is at most this many × 100 requests. */
export const REQUESTS_PER_ENVELOPE = 100;
/** Bytes of request bodies per envelope, well inside SQS's message size. */
export const ENVELOPE_BODY_BYTES = 200_000;
/** SendMessageBatch takes at most 10 entries; DelaySeconds at most 900. */
const SEND_BATCH_CHUNK = 10;
export const MAX_DELAY_SECONDS = 900;

/**
 * What DescribeInstances said of an instance that waits for SSM: while it waits, nothing the
 * decision reads changes (it has no command yet), so a later look needs only SSM's answer.
 */
const factsSchema = z.object({
  instanceId: z.string(),
  state: z.string(),
  platform: z.enum(PLATFORMS),
  architecture: z.string(),
  tags: z.array(z.tuple([z.string(), z.string()])),
  launchTime: z.optional(z.string()),
});

const envelopeSchema = z.object({
  envelope: z.literal(ENVELOPE_MARKER),
  requests: z.array(
    z.object({
      messageId: z.string().check(z.minLength(1)),
      body: z.string(),
      receiveCount: z.int().check(z.gte(1)),
      firstReceivedAt: z.int().check(z.gte(0)),
      facts: z.optional(z.array(factsSchema)),
    }),
  ),
});

export type CarriedFacts = z.infer<typeof factsSchema>;

export function carryFacts(facts: InstanceFacts): CarriedFacts {
  return { ...facts, tags: [...facts.tags] };
}

export function carriedFacts(carried: CarriedFacts): InstanceFacts {
  return { ...carried, tags: new Map(carried.tags) };
}

export type WaitingRequest = z.infer<typeof envelopeSchema>['requests'][number];

/**
 * The records an envelope holds, each as it was received (receive count one higher: this is a
 * new receipt), or undefined when `record` is not an envelope.
 */
export interface OpenedRequest {
  readonly record: SQSRecord;
  /** The instances' facts as they were when the request started waiting for SSM. */
  readonly facts: readonly InstanceFacts[];
}

export function openEnvelope(record: SQSRecord): OpenedRequest[] | { readonly invalid: string } | undefined {
  // Most records are events: they are parsed once, by parseRecord, not here as well.
  if (!record.body.includes(ENVELOPE_MARKER)) return undefined;
  let body: unknown;
  try {
    body = JSON.parse(record.body);
  } catch {
    return undefined;
  }
  if (typeof body !== 'object' || body === null || (body as { envelope?: unknown }).envelope !== ENVELOPE_MARKER) return undefined;
  const parsed = envelopeSchema.safeParse(body);
  if (!parsed.success) return { invalid: `invalid envelope of waiting requests: ${describeIssues(parsed.error)}` };
  return parsed.data.requests.map((request) => ({
    record: {
      ...record,
      messageId: request.messageId,
      body: request.body,
      attributes: {
        ...record.attributes,
        ApproximateReceiveCount: String(request.receiveCount + 1),
        ApproximateFirstReceiveTimestamp: String(request.firstReceivedAt),
      },
    },
    facts: (request.facts ?? []).map(carriedFacts),
  }));
}

/** A record as a request to put in an envelope. */
export function waitingRequest(record: SQSRecord, now: Date, facts: readonly InstanceFacts[] = []): WaitingRequest {
  const first = Number(record.attributes?.ApproximateFirstReceiveTimestamp);
  return {
    messageId: record.messageId,
    body: record.body,
    receiveCount: receiveCount(record),
    firstReceivedAt: Math.floor(Number.isFinite(first) && first > 0 ? first : now.getTime()),
    ...(facts.length > 0 ? { facts: facts.map(carryFacts) } : {}),
  };
}

/** Slot lengths: while a launch is under 3 minutes old, under 10 minutes, and after. */
export const SLOT_SECONDS = [25, 45, 60] as const;

/**
 * Seconds until the next shared slot boundary for a request that has waited `ageSeconds`: slots
 * of 25 s for the first 3 minutes (most agents register within them), 45 s up to 10 minutes, 60 s
 * after, so that the number of look-ups falls as the launches age; never past the deadline (the
 * request comes back in time to be dead-lettered) and never over SQS's 900 s.
 */
export function waitDelaySeconds(now: Date, ageSeconds: number, remainingSeconds: number): number {
  const slot = ageSeconds < 180 ? SLOT_SECONDS[0] : ageSeconds < 600 ? SLOT_SECONDS[1] : SLOT_SECONDS[2];
  const nowSeconds = Math.floor(now.getTime() / 1000);
  const toBoundary = slot - (nowSeconds % slot);
  return Math.max(1, Math.min(toBoundary, Math.ceil(remainingSeconds), MAX_DELAY_SECONDS));
}

/**
 * No SSM agent registers within this many seconds of its instance starting (boot, agent start,
 * registration): a `running` event younger than this is first looked at on the first slot after.
 */
export const FIRST_LOOK_AFTER_SECONDS = 20;

/** Seconds from `now` to the first slot boundary at least {@link FIRST_LOOK_AFTER_SECONDS} after the event. */
export function firstLookDelaySeconds(now: Date, eventTime: Date): number {
  const slot = SLOT_SECONDS[0];
  const earliest = Math.ceil((eventTime.getTime() / 1000 + FIRST_LOOK_AFTER_SECONDS) / slot) * slot;
  return Math.max(1, Math.min(MAX_DELAY_SECONDS, Math.ceil(earliest - now.getTime() / 1000)));
}

export interface Deferred {
  readonly request: WaitingRequest;
  readonly delaySeconds: number;
  /** The queue message it came in (itself, or the envelope that held it). */
  readonly carrierMessageId: string;
}

/**
 * Sends the deferred requests in envelopes, one per delay and at most
 * {@link REQUESTS_PER_ENVELOPE} requests or {@link ENVELOPE_BODY_BYTES}; returns the carriers of
 * requests that could not be sent (their messages must be retried instead).
 */
export async function sendEnvelopes(
  sqs: SQSClient,
  queueUrl: string,
  deferred: readonly Deferred[],
): Promise<{ readonly unsentCarriers: ReadonlySet<string>; readonly envelopes: number; readonly errors: string[] }> {
  const byDelay = new Map<number, Deferred[]>();
  for (const item of deferred) byDelay.set(item.delaySeconds, [...(byDelay.get(item.delaySeconds) ?? []), item]);
  const envelopes: Array<{ delaySeconds: number; items: Deferred[] }> = [];
  for (const [delaySeconds, items] of byDelay) {
    let current: Deferred[] = [];
    let bytes = 0;
    for (const item of items) {
      // As it will be written: the body escaped inside JSON, with the request's other fields and facts.
      const size = Buffer.byteLength(JSON.stringify(item.request)) + 1;
      if (current.length > 0 && (current.length >= REQUESTS_PER_ENVELOPE || bytes + size > ENVELOPE_BODY_BYTES)) {
        envelopes.push({ delaySeconds, items: current });
        current = [];
        bytes = 0;
      }
      current.push(item);
      bytes += size;
    }
    if (current.length > 0) envelopes.push({ delaySeconds, items: current });
  }
  const unsentCarriers = new Set<string>();
  const errors: string[] = [];
  for (const group of chunk(envelopes, SEND_BATCH_CHUNK)) {
    const entries: SendMessageBatchRequestEntry[] = group.map((envelope, index) => ({
      Id: `envelope-${index}`,
      DelaySeconds: envelope.delaySeconds,
      MessageBody: JSON.stringify({ envelope: ENVELOPE_MARKER, requests: envelope.items.map((item) => item.request) }),
    }));
    try {
      const result = await sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: entries }));
      for (const failed of result.Failed ?? []) {
        const index = Number(failed.Id?.replace('envelope-', ''));
        for (const item of group[index]?.items ?? []) unsentCarriers.add(item.carrierMessageId);
        errors.push(`${failed.Code ?? 'Failed'}: ${failed.Message ?? ''}`);
      }
    } catch (error) {
      for (const envelope of group) for (const item of envelope.items) unsentCarriers.add(item.carrierMessageId);
      errors.push(`${errorName(error)}: ${errorMessage(error)}`);
    }
  }
  return { unsentCarriers, envelopes: envelopes.length, errors };
}
