import type { SQSBatchResponse, SQSRecord } from 'aws-lambda';
import type { DeadLetter } from '../shared/dead-letter';
import type { WaitReason } from './decide';
import type { InstanceFacts } from './lookup';
import { type InstanceOutcome, outcomeOf } from './outcomes';
import type { LifecycleRelease } from './plan';
import type { EnrollRequest, ParsedRecord } from './requests';
import { planRetry } from './retry';
import type { EnrollSettings } from './settings';
import { type Deferred, firstLookDelaySeconds, waitDelaySeconds, waitingRequest } from './wait-envelope';

/**
 * The resolve step: what becomes of each record once its instances have outcomes, and the batch
 * response. Pure: the caller logs, counts and makes the calls a resolution names.
 */

/** Dead-letter `reason` attribute values. */
export const DEAD_LETTER_REASON = {
  malformed: 'malformed-event',
  notManaged: 'ssm-not-managed-before-deadline',
  configMissing: 'agent-config-missing-before-deadline',
} as const;

/** A request from an envelope whose dead-letter forwarding or lifecycle completion failed comes back after this long. */
export const DEAD_LETTER_RETRY_SECONDS = 30;

export interface ResolveContext {
  readonly settings: EnrollSettings;
  readonly now: Date;
  /** Request message ID → the envelope that carried it. */
  readonly carriers: ReadonlyMap<string, string>;
  /** Requests whose first look waits for a later slot (plan.ts, planLooks). */
  readonly firstLookLater: ReadonlySet<SQSRecord>;
  readonly outcomes: ReadonlyMap<string, InstanceOutcome>;
  /** Every instance's facts in this batch, described or carried. */
  readonly facts: ReadonlyMap<string, InstanceFacts>;
}

/**
 * A record to process again later. One that came in an envelope goes into the next envelope
 * (failing the envelope would process its other requests again); any other is retried by the queue.
 */
export type Retry = { readonly deferred: Deferred } | { readonly failed: string };

export type Resolution =
  /** Well-formed but not for this handler: deleted with a logged reason. */
  | { readonly kind: 'ignored'; readonly reason: string; readonly detail: string }
  /** Cannot be understood: forwarded to the dead-letter queue. */
  | { readonly kind: 'malformed'; readonly deadLetter: DeadLetter }
  /** A `running` event too fresh to look at: back in an envelope at the first slot worth a look. */
  | { readonly kind: 'first-look-later'; readonly deferred: Deferred; readonly instanceCount: number }
  /** Every instance enrolled or skipped on purpose. */
  | { readonly kind: 'done' }
  | {
      readonly kind: 'retry-after-errors';
      readonly retry: Retry;
      readonly eventId: string;
      readonly errors: ReadonlyArray<{ readonly instanceId: string } & InstanceOutcome>;
    }
  /** Instances not ready yet, before the deadline: back in an envelope at the next slot. */
  | {
      readonly kind: 'wait';
      readonly deferred: Deferred;
      readonly waiting: Waiting;
      readonly receiveCount: number;
      readonly remainingSeconds: number;
    }
  /** Past the deadline with only an install in flight: its result completes the lifecycle action. */
  | { readonly kind: 'install-in-flight-at-deadline'; readonly waiting: Waiting }
  /**
   * Past the deadline: dead-lettered. A launch its lifecycle hook holds is first released with the
   * configured failure result; if that fails, the record is kept (`retryIfFailed`): dead-lettering it
   * would leave the launch waiting for the hook's timeout.
   */
  | {
      readonly kind: 'expired';
      readonly deadLetter: DeadLetter;
      readonly waiting: Waiting;
      readonly release?: LifecycleRelease & { readonly retryIfFailed: Retry };
    };

type Waiting = ReadonlyArray<{ readonly instanceId: string; readonly reason: WaitReason }>;

export function resolveRecord(item: ParsedRecord, context: ResolveContext): Resolution {
  switch (item.kind) {
    case 'malformed':
      return { kind: 'malformed', deadLetter: { record: item.record, reason: DEAD_LETTER_REASON.malformed, detail: item.detail } };
    case 'ignored':
      return { kind: 'ignored', reason: item.reason, detail: item.detail };
    case 'request': {
      const { record, request } = item;
      if (!context.firstLookLater.has(record)) return resolveRequest(record, request, context);
      const delaySeconds = firstLookDelaySeconds(context.now, request.eventTime);
      return { kind: 'first-look-later', deferred: deferral(record, delaySeconds, context), instanceCount: request.instanceIds.length };
    }
  }
}

/** Done when every instance is enrolled or skipped; retried after any error; else it waits, until the deadline. */
export function resolveRequest(record: SQSRecord, request: EnrollRequest, context: ResolveContext): Resolution {
  const { settings, now } = context;
  const outcomes = request.instanceIds.map((instanceId) => ({ instanceId, ...outcomeOf(context.outcomes, instanceId) }));
  const errors = outcomes.filter(({ status }) => status === 'error');
  const elapsedSeconds = (now.getTime() - request.startedAt.getTime()) / 1000;
  const remainingSeconds = settings.enrollDeadlineSeconds - elapsedSeconds;
  if (errors.length > 0) {
    const { delaySeconds } = planRetry(request.receiveCount, Math.max(remainingSeconds, 1), settings);
    return { kind: 'retry-after-errors', retry: retryLater(record, delaySeconds, context), eventId: request.eventId, errors };
  }

  const { notReady, installInFlight } = waitingInstances(request, outcomes);
  const waiting = [...notReady, ...installInFlight];
  if (waiting.length === 0) return { kind: 'done' };
  if (remainingSeconds > 0) {
    const delaySeconds = waitDelaySeconds(now, elapsedSeconds, remainingSeconds);
    // Only a wait for SSM keeps its facts: an install in flight must be looked at again.
    const facts = waiting.every(({ reason }) => reason === 'ssm-not-managed' || reason === 'ssm-not-online')
      ? waiting.flatMap(({ instanceId }) => context.facts.get(instanceId) ?? [])
      : [];
    const deferred = deferral(record, delaySeconds, context, facts);
    return { kind: 'wait', deferred, waiting, receiveCount: request.receiveCount, remainingSeconds };
  }
  // Only the install in flight is left: its result completes the action (the hook tags are
  // written), or the hook's own timeout does.
  if (notReady.length === 0) return { kind: 'install-in-flight-at-deadline', waiting };
  return expire(record, request, waiting, context);
}

/**
 * The instances not ready yet. The status handler completes a lifecycle action when the install
 * command ends, from the hook tags written on the instance. If it ran just before those tags were
 * written (the command from the running event ending as the lifecycle event arrives), nobody would:
 * so a lifecycle record also waits for an install in flight, until the command has ended and the
 * lifecycle action can be completed here.
 */
function waitingInstances(
  request: EnrollRequest,
  outcomes: ReadonlyArray<{ readonly instanceId: string } & InstanceOutcome>,
): { readonly notReady: Waiting; readonly installInFlight: Waiting } {
  return {
    notReady: outcomes.flatMap((outcome) =>
      outcome.status === 'waiting' ? [{ instanceId: outcome.instanceId, reason: outcome.reason }] : [],
    ),
    installInFlight: request.lifecycle
      ? outcomes.flatMap((outcome) =>
          outcome.status === 'skipped' && outcome.reason === 'enrollment-in-flight'
            ? [{ instanceId: outcome.instanceId, reason: 'lifecycle-install-in-flight' as const }]
            : [],
        )
      : [],
  };
}

/** Past the deadline, not ready: dead-lettered with the reason, after releasing a launch its hook holds. */
function expire(record: SQSRecord, request: EnrollRequest, waiting: Waiting, context: ResolveContext): Resolution {
  const { settings } = context;
  const instanceIds = waiting.map(({ instanceId }) => instanceId);
  const reason = waiting.some(({ reason: waitReason }) => waitReason === 'agent-config-missing')
    ? DEAD_LETTER_REASON.configMissing
    : DEAD_LETTER_REASON.notManaged;
  const detail = `not ready ${settings.enrollDeadlineSeconds}s after the event: ${waiting
    .map(({ instanceId, reason: waitReason }) => `${instanceId} ${waitReason}`)
    .join(', ')}`;
  const deadLetter: DeadLetter = { record, reason, detail, attributes: { instanceIds: instanceIds.join(',') } };
  if (request.lifecycle === undefined) return { kind: 'expired', deadLetter, waiting };
  // A lifecycle event names exactly one instance.
  const release = {
    instanceId: instanceIds[0] as string,
    lifecycle: request.lifecycle,
    result: settings.lifecycleFailureResult,
    retryIfFailed: retryLater(record, DEAD_LETTER_RETRY_SECONDS, context),
  };
  return { kind: 'expired', deadLetter, waiting, release };
}

export function retryLater(record: SQSRecord, delaySeconds: number, context: Pick<ResolveContext, 'carriers' | 'now'>): Retry {
  return context.carriers.has(record.messageId) ? { deferred: deferral(record, delaySeconds, context) } : { failed: record.messageId };
}

/** `record` as a request for the next envelope, with the message that carried it here. */
export function deferral(
  record: SQSRecord,
  delaySeconds: number,
  { carriers, now }: Pick<ResolveContext, 'carriers' | 'now'>,
  facts: readonly InstanceFacts[] = [],
): Deferred {
  return {
    request: waitingRequest(record, now, facts),
    delaySeconds,
    carrierMessageId: carriers.get(record.messageId) ?? record.messageId,
  };
}

/** Only the batch's own messages can fail: a request from an envelope fails its envelope. */
export function batchResponse(failed: Iterable<string>, carriers: ReadonlyMap<string, string>): SQSBatchResponse {
  const ids = new Set([...failed].map((messageId) => carriers.get(messageId) ?? messageId));
  return { batchItemFailures: [...ids].map((itemIdentifier) => ({ itemIdentifier })) };
}
