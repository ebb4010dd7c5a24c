import type { SQSRecord } from 'aws-lambda';
import {
  COMMAND_STATUS_CHANGE,
  CONFIG_REFRESH_REQUESTED,
  type CommandStatusChangeEvent,
  commandStatusChangeEvent,
  configRefreshRequestedEvent,
  ECS_DEPLOYMENT_STATE_CHANGE,
  type EcsDeploymentStateChangeEvent,
  ecsDeploymentStateChangeEvent,
  PARAMETER_STORE_CHANGE,
  parameterStoreChangeEvent,
  type RefreshRequestDetail,
} from '../shared/refresh-events';
import { describeIssues } from '../shared/schema';

export interface ParameterChange {
  readonly eventId: string;
  readonly time: Date;
  readonly operation: string;
  readonly name: string;
}

export interface ManualRequest {
  readonly eventId: string;
  readonly time: Date;
  readonly detail: RefreshRequestDetail;
}

/** What one queue message is. */
export type ParsedRecord =
  | { readonly kind: 'change'; readonly record: SQSRecord; readonly change: ParameterChange }
  | { readonly kind: 'manual'; readonly record: SQSRecord; readonly request: ManualRequest }
  | { readonly kind: 'deployment-state'; readonly record: SQSRecord; readonly event: EcsDeploymentStateChangeEvent }
  | { readonly kind: 'command-status'; readonly record: SQSRecord; readonly event: CommandStatusChangeEvent }
  /** Cannot be understood: forwarded to the dead-letter queue with the reason, never retried. */
  | { readonly kind: 'malformed'; readonly record: SQSRecord; readonly detail: string };

const SUPPORTED = [PARAMETER_STORE_CHANGE, CONFIG_REFRESH_REQUESTED, ECS_DEPLOYMENT_STATE_CHANGE, COMMAND_STATUS_CHANGE];

export function parseRecord(record: SQSRecord, expectedRequestSource: string): ParsedRecord {
  let body: unknown;
  try {
    body = JSON.parse(record.body);
  } catch (error) {
    return { kind: 'malformed', record, detail: `body is not JSON: ${error instanceof Error ? error.message : String(error)}` };
  }
  const detailType = typeof body === 'object' && body !== null ? (body as Record<string, unknown>)['detail-type'] : undefined;
  if (typeof detailType !== 'string' || !SUPPORTED.includes(detailType)) {
    return { kind: 'malformed', record, detail: `unsupported event: detail-type ${JSON.stringify(detailType) ?? 'missing'}` };
  }

  switch (detailType) {
    case PARAMETER_STORE_CHANGE: {
      const parsed = parameterStoreChangeEvent.safeParse(body);
      if (!parsed.success) return invalid(record, detailType, parsed.error);
      const { id, time, detail } = parsed.data;
      return { kind: 'change', record, change: { eventId: id, time: new Date(time), operation: detail.operation, name: detail.name } };
    }
    case CONFIG_REFRESH_REQUESTED: {
      const parsed = configRefreshRequestedEvent.safeParse(body);
      if (!parsed.success) {
        return {
          kind: 'malformed',
          record,
          detail: `invalid "${detailType}" event: ${describeIssues(parsed.error)} (detail takes exactly one of {tenant[, platform]}, {service}, {all: true})`,
        };
      }
      if (parsed.data.source !== expectedRequestSource) {
        return { kind: 'malformed', record, detail: `"${detailType}" from unexpected source ${JSON.stringify(parsed.data.source)}` };
      }
      const { id, time, detail } = parsed.data;
      return { kind: 'manual', record, request: { eventId: id, time: new Date(time), detail } };
    }
    case ECS_DEPLOYMENT_STATE_CHANGE: {
      const parsed = ecsDeploymentStateChangeEvent.safeParse(body);
      if (!parsed.success) return invalid(record, detailType, parsed.error);
      return { kind: 'deployment-state', record, event: parsed.data };
    }
    default: {
      const parsed = commandStatusChangeEvent.safeParse(body);
      if (!parsed.success) return invalid(record, detailType, parsed.error);
      return { kind: 'command-status', record, event: parsed.data };
    }
  }
}

function invalid(record: SQSRecord, detailType: string, error: Parameters<typeof describeIssues>[0]): ParsedRecord {
  return { kind: 'malformed', record, detail: `invalid "${detailType}" event: ${describeIssues(error)}` };
}
