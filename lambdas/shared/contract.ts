/**
 * The contract between the stack (`lib/`) and the functions (`lambdas/`): every name both sides
 * must agree on, defined once here and imported by both. It holds no CDK, so a function's bundle
 * can import it, and no logic beyond the naming itself.
 *
 * - The agent platforms and what a tenant ID may be.
 * - The Parameter Store naming scheme of config parameters.
 * - The events a function is fed by a rule the stack creates, where the function checks them too.
 * - The environment variables of each function: the construct's `environment` is typed by them
 *   (a missing or unknown variable does not compile), and the function's settings loader reads
 *   only these names. test/contract.test.ts feeds each loader the environment of the synthesized
 *   template.
 */

import type { Environment } from './env';

/** The platforms an agent is rendered, installed and reloaded for. */
export const PLATFORMS = ['linux', 'windows'] as const;
export type Platform = (typeof PLATFORMS)[number];

export function isPlatform(value: string): value is Platform {
  return (PLATFORMS as readonly string[]).includes(value);
}

/**
 * A tenant ID: what Mimir, Loki and Tempo accept in `X-Scope-OrgID` and what a Parameter Store
 * name segment allows (1-128 letters, digits, `-`, `_`, `.`).
 */
export const TENANT_ID_PATTERN = /^[A-Za-z0-9_.-]{1,128}$/;

/** A backend service key, the `<service>` of its parameter name (lower-case letters, digits, `-`). */
export const SERVICE_NAME_PATTERN = /^[a-z][a-z0-9-]{0,62}$/;

/**
 * Parameter Store naming scheme, one place for every config parameter:
 *   `/<stack>/config/<service>[/<file>]` for backends and the collector,
 *   `/<stack>/agent/<tenant>/<platform>` for agent configs.
 * `prefix` is `/<stack>` ({@link parameterPrefixOf}).
 */
export function parameterPrefixOf(stackName: string): string {
  return `/${stackName}`;
}

export function agentParameterName(prefix: string, tenant: string, platform: Platform): string {
  return `${prefix}/agent/${tenant}/${platform}`;
}

/** The path holding every service config (`<prefix>/config`). */
export function serviceConfigPath(prefix: string): string {
  return `${prefix}/config`;
}

/** A service's config parameter (`<prefix>/config/<service>`), or one file of it below that name. */
export function serviceParameterName(prefix: string, service: string, file?: string): string {
  return `${serviceConfigPath(prefix)}/${service}${file === undefined ? '' : `/${file}`}`;
}

/** The largest Parameter Store value, in bytes (the advanced tier's limit; the standard tier's is 4,096). */
export const PARAMETER_VALUE_MAX_BYTES = 8192;

/**
 * Variables a construct sets only when their feature is on, so that a stack without the feature
 * keeps its template as it was; the loaders take one absent or empty as off.
 */
export const OPTIONAL_VARIABLES = ['AGENT_CREDENTIAL_SECRET_PREFIX'] as const;
type OptionalVariable = (typeof OPTIONAL_VARIABLES)[number];

/**
 * The environment of a function: exactly these variables, each a string (empty for "none"), but
 * {@link OPTIONAL_VARIABLES}, which are left out when off.
 */
export type EnvironmentOf<Names extends readonly string[]> = {
  readonly [Name in Exclude<Names[number], OptionalVariable>]: string;
} & { readonly [Name in Extract<Names[number], OptionalVariable>]?: string };

/**
 * With `ingest.tenantBinding`, the agent config carries this placeholder as its bearer token on
 * every write; the enroll and refresh functions replace it with the tenant's agent credential
 * right before they send the config, so the credential is never stored in Parameter Store.
 */
export const AGENT_CREDENTIAL_PLACEHOLDER = '__LGTM_AGENT_CREDENTIAL__';

/** Where the tenants' `kind` credentials are in Secrets Manager: `<stack>/<kind>-credential/`, then the tenant. */
export function credentialSecretPrefixOf(stackName: string, kind: 'write' | 'agent'): string {
  return `${stackName}/${kind}-credential/`;
}

/** Where the tenants' agent credentials are, which the enroll and refresh functions read. */
export function agentCredentialSecretPrefixOf(stackName: string): string {
  return credentialSecretPrefixOf(stackName, 'agent');
}

export function agentCredentialSecretName(prefix: string, tenant: string): string {
  return `${prefix}${tenant}`;
}

/**
 * A credential secret's value: JSON with the credential senders use now (`current`) and the one
 * it replaced, which the gateway still accepts while senders move to the new one (`previous`;
 * {@link NO_PREVIOUS_CREDENTIAL} when there is none). Both keys are always present: the gateway's
 * tasks read each by its key.
 */
export const CREDENTIAL_KEYS = ['current', 'previous'] as const;
export type CredentialKey = (typeof CREDENTIAL_KEYS)[number];

/** `previous` of a credential that replaced none, or whose predecessor was revoked: no sender can match it. */
export const NO_PREVIOUS_CREDENTIAL = 'none';

/** The enroll function (lib/enrollment/enroll-handler.ts → lambdas/enroll/settings.ts). */
export const ENROLL_VARIABLES = [
  'CLAIM_TABLE_NAME',
  'LINUX_DOCUMENT_NAME',
  'WINDOWS_DOCUMENT_NAME',
  'PARAMETER_PREFIX',
  'TENANT_TAG_KEY',
  'OPT_OUT_TAG_KEY',
  'SCOPE_TAG_KEY',
  'SCOPE_TAG_VALUES',
  'ALLOWED_TENANTS',
  'DEFAULT_TENANT',
  'STATUS_TAG_KEY',
  'ALLOY_VERSION',
  'STOP_LEGACY_AGENTS',
  'ENROLL_DEADLINE_SECONDS',
  'QUEUE_URL',
  'DEAD_LETTER_QUEUE_URL',
  'EVENT_BUS_NAME',
  'EVENT_SOURCE',
  'COMMAND_TIMEOUT_SECONDS',
  'COMMAND_LOG_GROUP',
  'LIFECYCLE_FAILURE_RESULT',
  'QUEUE_VISIBILITY_TIMEOUT_SECONDS',
  'AGENT_CREDENTIAL_SECRET_PREFIX',
] as const;
export type EnrollEnvironment = EnvironmentOf<typeof ENROLL_VARIABLES>;

/** The status function (lib/enrollment/status-handler.ts → lambdas/status/settings.ts). */
export const STATUS_VARIABLES = [
  'STATUS_TAG_KEY',
  'EVENT_BUS_NAME',
  'EVENT_SOURCE',
  'LIFECYCLE_FAILURE_RESULT',
  'LINUX_DOCUMENT_NAME',
  'WINDOWS_DOCUMENT_NAME',
] as const;
export type StatusEnvironment = EnvironmentOf<typeof STATUS_VARIABLES>;

/** The reconcile function (lib/enrollment/reconcile-backstop.ts → lambdas/reconcile/settings.ts). */
export const RECONCILE_VARIABLES = [
  'EVENT_BUS_NAME',
  'EVENT_SOURCE',
  'TENANT_TAG_KEY',
  'OPT_OUT_TAG_KEY',
  'SCOPE_TAG_KEY',
  'SCOPE_TAG_VALUES',
  'STATUS_TAG_KEY',
  'DEFAULT_TENANT',
  'ALLOWED_TENANTS',
  'ALLOY_VERSION',
  'COMMAND_TIMEOUT_SECONDS',
  'RETRY_FAILED_AFTER_SECONDS',
  'MAX_INSTANCES_PER_RUN',
] as const;
export type ReconcileEnvironment = EnvironmentOf<typeof RECONCILE_VARIABLES>;

/** The refresh function (lib/refresh/config-refresh.ts → lambdas/refresh/settings.ts). */
export const REFRESH_VARIABLES = [
  'PARAMETER_PREFIX',
  'LINUX_DOCUMENT_NAME',
  'WINDOWS_DOCUMENT_NAME',
  'ALLOY_VERSION',
  'STOP_LEGACY_AGENTS',
  'ALLOWED_TENANTS',
  'CLUSTER_ARN',
  'SERVICES',
  'MAX_CONCURRENCY',
  'MAX_ERRORS',
  'COMMAND_TIMEOUT_SECONDS',
  'COMMAND_LOG_GROUP',
  'MAX_CONFIG_BYTES',
  'EVENT_BUS_NAME',
  'EVENT_SOURCE',
  'DEAD_LETTER_QUEUE_URL',
  'AGENT_CREDENTIAL_SECRET_PREFIX',
] as const;
export type RefreshEnvironment = EnvironmentOf<typeof REFRESH_VARIABLES>;

/** The ring-forget function (lib/components/ring-forget.ts → lambdas/ring-forget/settings.ts). */
export const RING_FORGET_VARIABLES = ['RING_PAGE_URL'] as const;
export type RingForgetEnvironment = EnvironmentOf<typeof RING_FORGET_VARIABLES>;

/**
 * The event the ring-forget function is fed: ECS's task state change, for a task that has stopped.
 * The rule matches these values and the function parses them.
 */
export const TASK_STOPPED_EVENT = { source: 'aws.ecs', detailType: 'ECS Task State Change', lastStatus: 'STOPPED' } as const;

/** What a settings loader reads: some of its function's variables (a test may leave any out). */
export type EnvironmentInput<Names extends readonly string[]> = Environment<Names[number]>;
