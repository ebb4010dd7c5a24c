import * as z from 'zod/mini';
import type { Platform } from '../shared/contract';
import { COMMAND_INVOCATION_STATUS_CHANGE } from '../shared/event-types';
import { describeIssues, eventTime, instanceId, nonEmpty } from '../shared/schema';
import type { StatusSettings } from './settings';

/** Run Command's per-instance status change (only the fields the code reads; others pass through). */
export const commandInvocationStatusEvent = z.object({
  id: nonEmpty,
  'detail-type': z.literal(COMMAND_INVOCATION_STATUS_CHANGE),
  source: z.literal('aws.ssm'),
  time: eventTime,
  detail: z.object({
    'command-id': nonEmpty,
    // The name the command was sent with (a name or an ARN).
    'document-name': nonEmpty,
    'instance-id': instanceId,
    status: nonEmpty,
    // Read leniently: only used to tell an older command from a newer one.
    'requested-date-time': z.optional(z.string()),
  }),
});
export type CommandInvocationStatusEvent = z.infer<typeof commandInvocationStatusEvent>;

/** How a command invocation ended, as far as the agent is concerned. */
export type Outcome = 'success' | 'failure';

/** A terminal command invocation of one of the project's documents, on one instance. */
export interface InvocationResult {
  readonly eventId: string;
  /** The event's time: when the invocation reached its final status. */
  readonly time: Date;
  readonly instanceId: string;
  readonly commandId: string;
  readonly documentName: string;
  readonly platform: Platform;
  /** Run Command's status as the event reports it (Success, Failed, TimedOut, Cancelled, …). */
  readonly status: string;
  readonly outcome: Outcome;
  /** When the command was sent, if the event says so. */
  readonly requestedAt?: Date;
}

/** Why a well-formed event is left alone. Low-cardinality: also a log field. */
export type IgnoreReason = 'in-progress-status' | 'unknown-status' | 'other-document';

export type ParsedEvent =
  | { readonly kind: 'result'; readonly result: InvocationResult }
  /** Well-formed but needing no action: logged with the reason and counted. */
  | { readonly kind: 'ignored'; readonly reason: IgnoreReason; readonly detail: string }
  /** Cannot be understood: logged with the reason and counted, never retried (it would fail the same way). */
  | { readonly kind: 'malformed'; readonly detail: string };

export const SUCCESS_STATUS = 'Success';

/**
 * Terminal statuses other than Success. An invocation event's `status` takes the API's
 * CommandInvocationStatus values (Failed, TimedOut, Cancelled are terminal); the StatusDetails
 * spellings of terminal states are accepted as well in case an event ever carries them.
 */
export const FAILURE_STATUSES: ReadonlySet<string> = new Set([
  'Failed',
  'TimedOut',
  'Cancelled',
  'Delivery Timed Out',
  'Execution Timed Out',
  'Undeliverable',
  'Terminated',
]);

/** Statuses on the way to a terminal one; the rule should not deliver them, and they change nothing. */
const IN_PROGRESS_STATUSES: ReadonlySet<string> = new Set(['Pending', 'InProgress', 'In Progress', 'Delayed', 'Cancelling']);

export function parseEvent(event: unknown, settings: StatusSettings): ParsedEvent {
  const detailType = typeof event === 'object' && event !== null ? (event as Record<string, unknown>)['detail-type'] : undefined;
  if (detailType !== COMMAND_INVOCATION_STATUS_CHANGE) {
    return { kind: 'malformed', detail: `unsupported event: detail-type ${JSON.stringify(detailType) ?? 'missing'}` };
  }
  const parsed = commandInvocationStatusEvent.safeParse(event);
  if (!parsed.success) {
    return { kind: 'malformed', detail: `invalid "${COMMAND_INVOCATION_STATUS_CHANGE}" event: ${describeIssues(parsed.error)}` };
  }
  const { id, time, detail } = parsed.data;

  const documentName = documentNameOf(detail['document-name']);
  const platform = platformOf(documentName, settings);
  if (platform === undefined) {
    return { kind: 'ignored', reason: 'other-document', detail: `document ${documentName} is not an lgtm-fleet agent document` };
  }

  const status = detail.status;
  let outcome: Outcome;
  if (status === SUCCESS_STATUS) {
    outcome = 'success';
  } else if (FAILURE_STATUSES.has(status)) {
    outcome = 'failure';
  } else if (IN_PROGRESS_STATUSES.has(status)) {
    return { kind: 'ignored', reason: 'in-progress-status', detail: `status ${status} is not final` };
  } else {
    return { kind: 'ignored', reason: 'unknown-status', detail: `status ${JSON.stringify(status)} is not a known Run Command status` };
  }

  const requestedMillis = Date.parse(detail['requested-date-time'] ?? '');
  return {
    kind: 'result',
    result: {
      eventId: id,
      time: new Date(time),
      instanceId: detail['instance-id'],
      commandId: detail['command-id'],
      documentName,
      platform,
      status,
      outcome,
      ...(Number.isFinite(requestedMillis) ? { requestedAt: new Date(requestedMillis) } : {}),
    },
  };
}

/** The document's name, also when the command was sent with the document's ARN. */
function documentNameOf(nameOrArn: string): string {
  const match = /^arn:[^:]+:ssm:[^:]*:[^:]*:document\/(.+)$/.exec(nameOrArn);
  return match?.[1] ?? nameOrArn;
}

function platformOf(documentName: string, settings: StatusSettings): Platform | undefined {
  if (documentName === settings.linuxDocumentName) return 'linux';
  if (documentName === settings.windowsDocumentName) return 'windows';
  return undefined;
}
