import * as z from 'zod/mini';
import { PLATFORMS, type Platform, SERVICE_NAME_PATTERN, TENANT_ID_PATTERN } from './contract';
import { eventTime, nonEmpty } from './schema';

/**
 * Events of the config-refresh flow: what the refresh handler consumes (Parameter Store changes,
 * manual requests, ECS deployment and Run Command status changes) and the detail types it
 * publishes. Shared with the CLI (bin/refresh.ts), which puts `Config Refresh Requested`.
 * Only the fields the code reads are declared; unknown fields pass through.
 */

export const PARAMETER_STORE_CHANGE = 'Parameter Store Change';
export const CONFIG_REFRESH_REQUESTED = 'Config Refresh Requested';
export const ECS_DEPLOYMENT_STATE_CHANGE = 'ECS Deployment State Change';
export const COMMAND_STATUS_CHANGE = 'EC2 Command Status-change Notification';

/** Detail types the refresh handler publishes on the project's bus. */
export const CONFIG_REFRESH_OUTCOME = {
  started: 'Config Refresh Started',
  completed: 'Config Refresh Completed',
  failed: 'Config Refresh Failed',
  skipped: 'Config Refresh Skipped',
} as const;

/** `detail.operation` values of Parameter Store Change events. */
export const PARAMETER_OPERATION = {
  create: 'Create',
  update: 'Update',
  delete: 'Delete',
  label: 'LabelParameterVersion',
} as const;

export { SERVICE_NAME_PATTERN, TENANT_ID_PATTERN } from './contract';

/** ECS deployment states that end a deployment. */
export const DEPLOYMENT_COMPLETED = 'SERVICE_DEPLOYMENT_COMPLETED';
export const DEPLOYMENT_FAILED = 'SERVICE_DEPLOYMENT_FAILED';

const tenantId = z.string().check(z.regex(TENANT_ID_PATTERN, 'not a tenant ID (1-128 of A-Z a-z 0-9 - _ .)'));
const serviceName = z.string().check(z.regex(SERVICE_NAME_PATTERN, 'not a service name (lower-case letters, digits, -)'));
/** Who asked, for the logs (the CLI sends user@host). */
const requestedBy = z.optional(z.string().check(z.maxLength(256)));

export const parameterStoreChangeEvent = z.object({
  id: nonEmpty,
  'detail-type': z.literal(PARAMETER_STORE_CHANGE),
  source: z.literal('aws.ssm'),
  time: eventTime,
  detail: z.object({
    // Create, Update, Delete, LabelParameterVersion; anything else is ignored by the consumer.
    operation: nonEmpty,
    name: nonEmpty,
    type: z.optional(z.string()),
  }),
});
export type ParameterStoreChangeEvent = z.infer<typeof parameterStoreChangeEvent>;

/** Exactly one of: a tenant (optionally one platform), a service, or everything. */
export const refreshRequestDetail = z
  .strictObject({
    tenant: z.optional(tenantId),
    platform: z.optional(z.literal(PLATFORMS)),
    service: z.optional(serviceName),
    all: z.optional(z.literal(true)),
    requestedBy,
  })
  .check(
    z.refine(
      (detail) =>
        [detail.tenant, detail.service, detail.all].filter((value) => value !== undefined).length === 1 &&
        (detail.platform === undefined || detail.tenant !== undefined),
      'give exactly one of tenant (with an optional platform), service, or all: true',
    ),
  );
export type RefreshRequestDetail = z.infer<typeof refreshRequestDetail>;

/** Sent by `npm run refresh` (source: the project's EVENT_SOURCE). */
export const configRefreshRequestedEvent = z.object({
  id: nonEmpty,
  'detail-type': z.literal(CONFIG_REFRESH_REQUESTED),
  source: nonEmpty,
  time: eventTime,
  detail: refreshRequestDetail,
});
export type ConfigRefreshRequestedEvent = z.infer<typeof configRefreshRequestedEvent>;

export const ecsDeploymentStateChangeEvent = z.object({
  id: nonEmpty,
  'detail-type': z.literal(ECS_DEPLOYMENT_STATE_CHANGE),
  source: z.literal('aws.ecs'),
  time: eventTime,
  // The service ARN.
  resources: z.array(z.string()).check(z.minLength(1)),
  detail: z.object({
    eventType: z.optional(z.string()),
    // SERVICE_DEPLOYMENT_IN_PROGRESS, SERVICE_DEPLOYMENT_COMPLETED, SERVICE_DEPLOYMENT_FAILED.
    eventName: nonEmpty,
    deploymentId: nonEmpty,
    reason: z.optional(z.string()),
  }),
});
export type EcsDeploymentStateChangeEvent = z.infer<typeof ecsDeploymentStateChangeEvent>;

/** Run Command's status change of a whole command (not per instance). */
export const commandStatusChangeEvent = z.object({
  id: nonEmpty,
  'detail-type': z.literal(COMMAND_STATUS_CHANGE),
  source: z.literal('aws.ssm'),
  time: eventTime,
  detail: z.object({
    'command-id': nonEmpty,
    'document-name': nonEmpty,
    // Pending, InProgress, Success, Failed, TimedOut, Cancelled, ...
    status: nonEmpty,
    // The command's parameters as sent (name → values); read leniently by the consumer.
    parameters: z.optional(z.unknown()),
  }),
});
export type CommandStatusChangeEvent = z.infer<typeof commandStatusChangeEvent>;

/** What a refresh rolls out to. */
export type RefreshTarget =
  | { readonly kind: 'agents'; readonly tenant: string; readonly platform: Platform }
  | { readonly kind: 'service'; readonly service: string };
