import { type EnvironmentInput, PARAMETER_VALUE_MAX_BYTES, type REFRESH_VARIABLES } from '../shared/contract';
import {
  type Environment,
  EnvironmentError,
  optionalString,
  requireBoolean,
  requireInteger,
  requireList,
  requireString,
} from '../shared/env';
import { SERVICE_NAME_PATTERN, TENANT_ID_PATTERN } from '../shared/refresh-events';

/** Everything the refresh handler is configured with, read once from its environment. */
export interface RefreshSettings {
  /** Parameter Store prefix: `<prefix>/agent/<tenant>/<platform>`, `<prefix>/config/<service>[/<file>]` (PARAMETER_PREFIX). */
  readonly parameterPrefix: string;
  /** SSM command document for Linux agents (LINUX_DOCUMENT_NAME). */
  readonly linuxDocumentName: string;
  /** SSM command document for Windows agents (WINDOWS_DOCUMENT_NAME). */
  readonly windowsDocumentName: string;
  /** Pinned Alloy version passed to the documents (ALLOY_VERSION). */
  readonly alloyVersion: string;
  /** Passed to the documents as StopLegacyAgents (STOP_LEGACY_AGENTS). */
  readonly stopLegacyAgents: boolean;
  /** Tenants whose agent configs may be rolled out (ALLOWED_TENANTS, comma-separated). */
  readonly allowedTenants: ReadonlySet<string>;
  /** SendCommand MaxConcurrency, a count or a percentage (MAX_CONCURRENCY, default `10%`). */
  readonly maxConcurrency: string;
  /** SendCommand MaxErrors, a count or a percentage (MAX_ERRORS, default `1`). */
  readonly maxErrors: string;
  /** SendCommand TimeoutSeconds (COMMAND_TIMEOUT_SECONDS, default 600). */
  readonly commandTimeoutSeconds: number;
  /** CloudWatch Logs group for command output; undefined leaves it off (COMMAND_LOG_GROUP, optional). */
  readonly commandLogGroup: string | undefined;
  /** The ECS cluster of the services (CLUSTER_ARN). */
  readonly clusterArn: string;
  /** Service key (the `<service>` in parameter names) → ECS service ARN (SERVICES, a JSON object). */
  readonly services: ReadonlyMap<string, string>;
  /** Largest config accepted, in UTF-8 bytes (MAX_CONFIG_BYTES, default 8192: Parameter Store's advanced-tier limit). */
  readonly maxConfigBytes: number;
  /** Bus for the outcome events (EVENT_BUS_NAME). */
  readonly eventBusName: string;
  /** Source of the events lgtm-fleet publishes and of `Config Refresh Requested` (EVENT_SOURCE). */
  readonly eventSource: string;
  /** Where malformed events go, with a `reason` attribute (DEAD_LETTER_QUEUE_URL). */
  readonly deadLetterQueueUrl: string;
  /**
   * Secrets Manager name prefix of the tenants' agent credentials, written into each reload
   * command's config; undefined sends the config as stored (AGENT_CREDENTIAL_SECRET_PREFIX, set only
   * with `ingest.tenantBinding`).
   */
  readonly agentCredentialSecretPrefix: string | undefined;
}

/** SendCommand's MaxConcurrency format: a count from 1, or 1-100%. */
export const MAX_CONCURRENCY_PATTERN = /^(?:[1-9][0-9]*|[1-9][0-9]?%|100%)$/;
/** SendCommand's MaxErrors format: a count from 0, or 0-100%. */
export const MAX_ERRORS_PATTERN = /^(?:0|[1-9][0-9]*|[0-9]%|[1-9][0-9]%|100%)$/;

/**
 * Rate controls that stop a bad config early. Run Command starts a rate-controlled command on one
 * instance and widens exponentially up to MaxConcurrency, so a config every agent rejects fails on
 * the first instances; MaxErrors 1 then stops it at the second failure (one unreachable or stopped
 * agent alone does not halt a fleet-wide change). 10% bounds how many agents run a config that
 * loads but misbehaves before anyone notices. A rejected config costs nothing on the instance: the
 * reload action restores the previous file and Alloy keeps running it.
 */
export const DEFAULT_MAX_CONCURRENCY = '10%';
export const DEFAULT_MAX_ERRORS = '1';

/** SendCommand accepts TimeoutSeconds from 30 s to 30 days. */
const COMMAND_TIMEOUT_RANGE = { min: 30, max: 2_592_000 } as const;
/** Long (`service/<cluster>/<name>`) or, in accounts that never opted in, short (`service/<name>`) ARN format. */
const SERVICE_ARN_PATTERN = /^arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:service\/(?:[^/]+\/)?[^/]+$/;
const CLUSTER_ARN_PATTERN = /^arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:cluster\/[^/]+$/;

export function loadRefreshSettings(env: EnvironmentInput<typeof REFRESH_VARIABLES>): RefreshSettings {
  const parameterPrefix = requireString(env, 'PARAMETER_PREFIX').replace(/\/+$/, '');
  if (!parameterPrefix.startsWith('/')) {
    throw new EnvironmentError(`environment variable PARAMETER_PREFIX must start with "/", got "${parameterPrefix}"`);
  }
  const allowedTenants = new Set(requireList(env, 'ALLOWED_TENANTS'));
  for (const tenant of allowedTenants) {
    if (!TENANT_ID_PATTERN.test(tenant)) {
      throw new EnvironmentError(`environment variable ALLOWED_TENANTS has an invalid tenant ID "${tenant}"`);
    }
  }
  const clusterArn = requireString(env, 'CLUSTER_ARN');
  if (!CLUSTER_ARN_PATTERN.test(clusterArn)) {
    throw new EnvironmentError(`environment variable CLUSTER_ARN must be an ECS cluster ARN, got "${clusterArn}"`);
  }
  const commandLogGroup = optionalString(env, 'COMMAND_LOG_GROUP', '');
  const agentCredentialSecretPrefix = optionalString(env, 'AGENT_CREDENTIAL_SECRET_PREFIX', '');
  return {
    parameterPrefix,
    linuxDocumentName: requireString(env, 'LINUX_DOCUMENT_NAME'),
    windowsDocumentName: requireString(env, 'WINDOWS_DOCUMENT_NAME'),
    alloyVersion: requireString(env, 'ALLOY_VERSION'),
    stopLegacyAgents: requireBoolean(env, 'STOP_LEGACY_AGENTS'),
    allowedTenants,
    maxConcurrency: requirePattern(
      env,
      'MAX_CONCURRENCY',
      MAX_CONCURRENCY_PATTERN,
      DEFAULT_MAX_CONCURRENCY,
      'a count from 1 or a percentage 1-100%',
    ),
    maxErrors: requirePattern(env, 'MAX_ERRORS', MAX_ERRORS_PATTERN, DEFAULT_MAX_ERRORS, 'a count from 0 or a percentage 0-100%'),
    commandTimeoutSeconds: requireInteger(env, 'COMMAND_TIMEOUT_SECONDS', { ...COMMAND_TIMEOUT_RANGE, fallback: 600 }),
    commandLogGroup: commandLogGroup === '' ? undefined : commandLogGroup,
    clusterArn,
    services: parseServices(requireString(env, 'SERVICES'), clusterArn),
    maxConfigBytes: requireInteger(env, 'MAX_CONFIG_BYTES', { min: 1, max: 65_536, fallback: PARAMETER_VALUE_MAX_BYTES }),
    eventBusName: requireString(env, 'EVENT_BUS_NAME'),
    eventSource: requireString(env, 'EVENT_SOURCE'),
    deadLetterQueueUrl: requireString(env, 'DEAD_LETTER_QUEUE_URL'),
    agentCredentialSecretPrefix: agentCredentialSecretPrefix === '' ? undefined : agentCredentialSecretPrefix,
  };
}

function requirePattern<Name extends string>(
  env: Environment<Name>,
  name: NoInfer<Name>,
  pattern: RegExp,
  fallback: string,
  description: string,
): string {
  const value = optionalString(env, name, fallback);
  if (!pattern.test(value)) throw new EnvironmentError(`environment variable ${name} must be ${description}, got "${value}"`);
  return value;
}

/** SERVICES: `{"mimir":"arn:aws:ecs:…:service/<cluster>/<name>", …}`, every service in CLUSTER_ARN's cluster. */
function parseServices(raw: string, clusterArn: string): ReadonlyMap<string, string> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (error) {
    throw new EnvironmentError(`environment variable SERVICES is not JSON: ${(error as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new EnvironmentError('environment variable SERVICES must be a JSON object of service name → ECS service ARN');
  }
  const clusterName = clusterArn.slice(clusterArn.lastIndexOf('/') + 1);
  const services = new Map<string, string>();
  for (const [name, arn] of Object.entries(parsed)) {
    if (!SERVICE_NAME_PATTERN.test(name)) {
      throw new EnvironmentError(`environment variable SERVICES has an invalid service name "${name}" (lower-case letters, digits, -)`);
    }
    if (typeof arn !== 'string' || !SERVICE_ARN_PATTERN.test(arn)) {
      throw new EnvironmentError(`environment variable SERVICES: "${name}" must map to an ECS service ARN, got ${JSON.stringify(arn)}`);
    }
    const parts = arn.split('/');
    if (parts.length === 3 && parts[1] !== clusterName) {
      throw new EnvironmentError(`environment variable SERVICES: "${name}" is not in the cluster of CLUSTER_ARN (${clusterName}): ${arn}`);
    }
    services.set(name, arn);
  }
  return services;
}
