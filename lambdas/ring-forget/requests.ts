import { isIPv4 } from 'node:net';
import * as z from 'zod/mini';
import { TASK_STOPPED_EVENT } from '../shared/contract';
import { describeIssues, eventTime, nonEmpty } from '../shared/schema';

/**
 * ECS's task state change for a stopped task (only the fields the code reads or logs; others pass
 * through). An awsvpc task's network interface is an attachment of type `eni` whose details name
 * its `privateIPv4Address`: the address the Mimir or Loki replica used as its instance ID in the ring.
 */
export const taskStoppedEvent = z.object({
  id: nonEmpty,
  'detail-type': z.literal(TASK_STOPPED_EVENT.detailType),
  source: z.literal(TASK_STOPPED_EVENT.source),
  time: eventTime,
  detail: z.object({
    taskArn: nonEmpty,
    clusterArn: nonEmpty,
    // `service:<name>` for a service's task.
    group: z.optional(z.string()),
    lastStatus: z.literal(TASK_STOPPED_EVENT.lastStatus),
    // Why it stopped, logged: tells a planned stop from a killed task.
    stopCode: z.optional(z.string()),
    stoppedReason: z.optional(z.string()),
    attachments: z.optional(
      z.array(
        z.object({
          type: nonEmpty,
          details: z.optional(z.array(z.object({ name: z.string(), value: z.string() }))),
        }),
      ),
    ),
  }),
});
export type TaskStoppedEvent = z.infer<typeof taskStoppedEvent>;

export const ENI_ATTACHMENT = 'eni';
export const ADDRESS_DETAIL = 'privateIPv4Address';

/** A stopped task of the Mimir or Loki service. */
export interface StoppedTask {
  readonly eventId: string;
  readonly taskArn: string;
  readonly group?: string;
  readonly stopCode?: string;
  readonly stoppedReason?: string;
  /** Its private IPv4 address; undefined when it stopped before its network interface was attached. */
  readonly address: string | undefined;
}

export type ParsedEvent =
  | { readonly kind: 'stopped-task'; readonly task: StoppedTask }
  /** Cannot be understood; `detail` names the field. */
  | { readonly kind: 'malformed'; readonly detail: string };

export function parseEvent(event: unknown): ParsedEvent {
  const parsed = taskStoppedEvent.safeParse(event);
  if (!parsed.success) {
    return { kind: 'malformed', detail: `invalid "${TASK_STOPPED_EVENT.detailType}" event: ${describeIssues(parsed.error)}` };
  }
  const { id, detail } = parsed.data;
  const address = taskAddress(detail.attachments ?? []);
  if (typeof address === 'object') return { kind: 'malformed', detail: address.malformed };
  return {
    kind: 'stopped-task',
    task: {
      eventId: id,
      taskArn: detail.taskArn,
      ...(detail.group !== undefined ? { group: detail.group } : {}),
      ...(detail.stopCode !== undefined ? { stopCode: detail.stopCode } : {}),
      ...(detail.stoppedReason !== undefined ? { stoppedReason: detail.stoppedReason } : {}),
      address,
    },
  };
}

type Attachments = NonNullable<TaskStoppedEvent['detail']['attachments']>;

/** The address of the task's network interface: undefined when there is none, malformed (naming the field) when it is no IPv4 address. */
function taskAddress(attachments: Attachments): string | undefined | { readonly malformed: string } {
  for (const [index, attachment] of attachments.entries()) {
    if (attachment.type !== ENI_ATTACHMENT) continue;
    const position = (attachment.details ?? []).findIndex((detail) => detail.name === ADDRESS_DETAIL);
    const value = attachment.details?.[position]?.value;
    if (value === undefined) continue;
    if (!isIPv4(value)) {
      return {
        malformed: `detail.attachments.${index}.details.${position}.value: ${ADDRESS_DETAIL} is not an IPv4 address: ${JSON.stringify(value)}`,
      };
    }
    return value;
  }
  return undefined;
}
