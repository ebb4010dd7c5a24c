import type { ENROLL_VARIABLES, EnvironmentInput } from '../shared/contract';
import { type EnrollmentScope, loadScope } from '../shared/enrollment-rules';
import {
  EnvironmentError,
  optionalString,
  requireBoolean,
  requireDefined,
  requireInteger,
  requireList,
  requireOneOf,
  requireString,
} from '../shared/env';
import { LIFECYCLE_RESULTS, type LifecycleResult } from '../shared/lifecycle';
import { RETRY_BASE_SECONDS, RETRY_MAX_SECONDS } from './retry';

export type { LifecycleResult } from '../shared/lifecycle';

/** Everything the enroll handler is configured with, read once from its environment. */
export interface EnrollSettings {
  /** DynamoDB table of launch claims: one install command per launch across invocations (CLAIM_TABLE_NAME). */
  readonly claimTableName: string;
  /** SSM command document installing Alloy on Linux (LINUX_DOCUMENT_NAME). */
  readonly linuxDocumentName: string;
  /** SSM command document installing Alloy on Windows (WINDOWS_DOCUMENT_NAME). */
  readonly windowsDocumentName: string;
  /** Parameter Store prefix; agent configs live at `<prefix>/agent/<tenant>/<platform>` (PARAMETER_PREFIX). */
  readonly parameterPrefix: string;
  /** EC2 tag naming the instance's tenant (TENANT_TAG_KEY). */
  readonly tenantTagKey: string;
  /** EC2 tag that, set to `true`, keeps the instance out of enrollment (OPT_OUT_TAG_KEY). */
  readonly optOutTagKey: string;
  /** Instances enrollment may touch; undefined is every instance (SCOPE_TAG_KEY, SCOPE_TAG_VALUES comma-separated). */
  readonly scope: EnrollmentScope | undefined;
  /** Tenants agents may be enrolled into (ALLOWED_TENANTS, comma-separated). */
  readonly allowedTenants: ReadonlySet<string>;
  /** Tenant of untagged instances; undefined skips them (DEFAULT_TENANT, empty = none). */
  readonly defaultTenant: string | undefined;
  /** EC2 tag holding the enrollment status (STATUS_TAG_KEY). */
  readonly statusTagKey: string;
  /** Pinned Alloy version the documents install (ALLOY_VERSION). */
  readonly alloyVersion: string;
  /** Whether the documents stop legacy ADOT / node_exporter agents (STOP_LEGACY_AGENTS). */
  readonly stopLegacyAgents: boolean;
  /** How long an instance may take to become SSM-managed and online before its event is dead-lettered (ENROLL_DEADLINE_SECONDS). */
  readonly enrollDeadlineSeconds: number;
  /** The source queue, where envelopes of waiting requests go (QUEUE_URL). */
  readonly queueUrl: string;
  /** Where malformed and expired events go, with a `reason` attribute (DEAD_LETTER_QUEUE_URL). */
  readonly deadLetterQueueUrl: string;
  /** Bus for `Agent Enrollment Refused` events (EVENT_BUS_NAME). */
  readonly eventBusName: string;
  /** Source of the events lgtm-fleet publishes and of `Reconcile Enrollment` (EVENT_SOURCE). */
  readonly eventSource: string;
  /**
   * SendCommand `TimeoutSeconds`, and how long a `pending` status counts as in flight
   * (COMMAND_TIMEOUT_SECONDS). Must exceed the documents' execution timeout.
   */
  readonly commandTimeoutSeconds: number;
  /**
   * CloudWatch Logs group for command output; undefined leaves CloudWatch output off
   * (COMMAND_LOG_GROUP). The SSM Agent writes that output with the instance's own role, which then
   * needs CloudWatch Logs permissions beyond AmazonSSMManagedInstanceCore: leave it unset by default.
   */
  readonly commandLogGroup: string | undefined;
  /** Result for a launch lifecycle action whose instance could not be enrolled before the deadline (LIFECYCLE_FAILURE_RESULT). */
  readonly lifecycleFailureResult: LifecycleResult;
  /**
   * The source queue's visibility timeout (QUEUE_VISIBILITY_TIMEOUT_SECONDS, optional). When set,
   * it is the first retry delay, and a retry whose delay equals it needs no ChangeMessageVisibility
   * call: the failed record comes back when its visibility timeout expires anyway.
   */
  readonly queueVisibilityTimeoutSeconds: number | undefined;
  /**
   * Secrets Manager name prefix of the tenants' agent credentials, written into each install
   * command's config; undefined sends the config as stored (AGENT_CREDENTIAL_SECRET_PREFIX, set only
   * with `ingest.tenantBinding`).
   */
  readonly agentCredentialSecretPrefix: string | undefined;
  /** First retry delay while waiting for SSM when the queue's visibility timeout is not given; doubles per receive. */
  readonly retryBaseSeconds: number;
  /** Longest retry delay while waiting for SSM. */
  readonly retryMaxSeconds: number;
}

const ONE_DAY = 86_400;
/** SQS visibility timeouts are at most 12 hours. */
const MAX_VISIBILITY_TIMEOUT = 43_200;
/** SendCommand accepts TimeoutSeconds from 30 s to 30 days. */
const COMMAND_TIMEOUT_RANGE = { min: 30, max: 2_592_000 } as const;

export function loadEnrollSettings(env: EnvironmentInput<typeof ENROLL_VARIABLES>): EnrollSettings {
  const allowedTenants = new Set(requireList(env, 'ALLOWED_TENANTS'));
  const defaultTenant = requireDefined(env, 'DEFAULT_TENANT') || undefined;
  if (defaultTenant !== undefined && !allowedTenants.has(defaultTenant)) {
    throw new EnvironmentError(`environment variable DEFAULT_TENANT must be one of ALLOWED_TENANTS, got "${defaultTenant}"`);
  }
  const parameterPrefix = requireString(env, 'PARAMETER_PREFIX').replace(/\/+$/, '');
  if (!parameterPrefix.startsWith('/')) {
    throw new EnvironmentError(`environment variable PARAMETER_PREFIX must start with "/", got "${parameterPrefix}"`);
  }
  const commandLogGroup = optionalString(env, 'COMMAND_LOG_GROUP', '');
  const visibilityTimeout = optionalString(env, 'QUEUE_VISIBILITY_TIMEOUT_SECONDS', '');
  const agentCredentialSecretPrefix = optionalString(env, 'AGENT_CREDENTIAL_SECRET_PREFIX', '');
  return {
    claimTableName: requireString(env, 'CLAIM_TABLE_NAME'),
    linuxDocumentName: requireString(env, 'LINUX_DOCUMENT_NAME'),
    windowsDocumentName: requireString(env, 'WINDOWS_DOCUMENT_NAME'),
    parameterPrefix,
    tenantTagKey: requireString(env, 'TENANT_TAG_KEY'),
    optOutTagKey: requireString(env, 'OPT_OUT_TAG_KEY'),
    scope: loadScope(env),
    allowedTenants,
    defaultTenant,
    statusTagKey: requireString(env, 'STATUS_TAG_KEY'),
    alloyVersion: requireString(env, 'ALLOY_VERSION'),
    stopLegacyAgents: requireBoolean(env, 'STOP_LEGACY_AGENTS'),
    enrollDeadlineSeconds: requireInteger(env, 'ENROLL_DEADLINE_SECONDS', { min: 60, max: ONE_DAY, fallback: 900 }),
    queueUrl: requireString(env, 'QUEUE_URL'),
    deadLetterQueueUrl: requireString(env, 'DEAD_LETTER_QUEUE_URL'),
    eventBusName: requireString(env, 'EVENT_BUS_NAME'),
    eventSource: requireString(env, 'EVENT_SOURCE'),
    commandTimeoutSeconds: requireInteger(env, 'COMMAND_TIMEOUT_SECONDS', { ...COMMAND_TIMEOUT_RANGE, fallback: 600 }),
    commandLogGroup: commandLogGroup === '' ? undefined : commandLogGroup,
    lifecycleFailureResult: requireOneOf(env, 'LIFECYCLE_FAILURE_RESULT', LIFECYCLE_RESULTS, 'CONTINUE'),
    queueVisibilityTimeoutSeconds:
      visibilityTimeout === ''
        ? undefined
        : requireInteger(env, 'QUEUE_VISIBILITY_TIMEOUT_SECONDS', { min: 1, max: MAX_VISIBILITY_TIMEOUT }),
    agentCredentialSecretPrefix: agentCredentialSecretPrefix === '' ? undefined : agentCredentialSecretPrefix,
    retryBaseSeconds: RETRY_BASE_SECONDS,
    retryMaxSeconds: RETRY_MAX_SECONDS,
  };
}
