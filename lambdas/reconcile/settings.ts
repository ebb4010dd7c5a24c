import type { EnvironmentInput, RECONCILE_VARIABLES } from '../shared/contract';
import { type EnrollmentScope, loadScope } from '../shared/enrollment-rules';
import { EnvironmentError, optionalList, requireDefined, requireInteger, requireString } from '../shared/env';

/** Everything the reconciliation handler is configured with, read once from its environment. */
export interface ReconcileSettings {
  /** Project bus the `Reconcile Enrollment` events go to (EVENT_BUS_NAME). */
  readonly eventBusName: string;
  /** Their source; the enroll handler accepts reconcile requests from this source only (EVENT_SOURCE). */
  readonly eventSource: string;
  /** EC2 tag naming the instance's tenant (TENANT_TAG_KEY). */
  readonly tenantTagKey: string;
  /** EC2 tag that, set to `true`, keeps the instance out of enrollment (OPT_OUT_TAG_KEY). */
  readonly optOutTagKey: string;
  /** Instances enrollment may touch; undefined is every instance (SCOPE_TAG_KEY, SCOPE_TAG_VALUES). */
  readonly scope: EnrollmentScope | undefined;
  /** EC2 tag holding the enrollment status (STATUS_TAG_KEY). */
  readonly statusTagKey: string;
  /** Tenant of untagged instances; undefined leaves them alone (DEFAULT_TENANT, empty = none). */
  readonly defaultTenant: string | undefined;
  /**
   * Tenants agents may be enrolled into (ALLOWED_TENANTS, comma-separated, optional). When set,
   * instances of other tenants are not requested, so the enroll handler does not publish a refusal
   * for the same instance every interval; when unset, the enroll handler alone refuses them.
   */
  readonly allowedTenants: ReadonlySet<string> | undefined;
  /** Pinned Alloy version; an instance with a success status for another version is re-enrolled (ALLOY_VERSION). */
  readonly alloyVersion: string;
  /** How long a `pending` status counts as in flight; must equal the enroll handler's (COMMAND_TIMEOUT_SECONDS). */
  readonly commandTimeoutSeconds: number;
  /** A `failed` instance is requested again only this long after its last install command was sent (RETRY_FAILED_AFTER_SECONDS). */
  readonly retryFailedAfterSeconds: number;
  /** At most this many instances are requested per run; the rest wait for the next run (MAX_INSTANCES_PER_RUN). */
  readonly maxInstancesPerRun: number;
}

/** Same bounds as the enroll handler's: SendCommand accepts TimeoutSeconds from 30 s to 30 days. */
const COMMAND_TIMEOUT_RANGE = { min: 30, max: 2_592_000 } as const;
const THIRTY_DAYS = 2_592_000;

export function loadReconcileSettings(env: EnvironmentInput<typeof RECONCILE_VARIABLES>): ReconcileSettings {
  const defaultTenant = requireDefined(env, 'DEFAULT_TENANT') || undefined;
  const allowedList = optionalList(env, 'ALLOWED_TENANTS');
  const allowedTenants = allowedList.length > 0 ? new Set(allowedList) : undefined;
  if (allowedTenants !== undefined && defaultTenant !== undefined && !allowedTenants.has(defaultTenant)) {
    throw new EnvironmentError(`environment variable DEFAULT_TENANT must be one of ALLOWED_TENANTS, got "${defaultTenant}"`);
  }
  return {
    eventBusName: requireString(env, 'EVENT_BUS_NAME'),
    eventSource: requireString(env, 'EVENT_SOURCE'),
    tenantTagKey: requireString(env, 'TENANT_TAG_KEY'),
    optOutTagKey: requireString(env, 'OPT_OUT_TAG_KEY'),
    scope: loadScope(env),
    statusTagKey: requireString(env, 'STATUS_TAG_KEY'),
    defaultTenant,
    allowedTenants,
    alloyVersion: requireString(env, 'ALLOY_VERSION'),
    commandTimeoutSeconds: requireInteger(env, 'COMMAND_TIMEOUT_SECONDS', { ...COMMAND_TIMEOUT_RANGE, fallback: 600 }),
    retryFailedAfterSeconds: requireInteger(env, 'RETRY_FAILED_AFTER_SECONDS', { min: 60, max: THIRTY_DAYS, fallback: 3600 }),
    maxInstancesPerRun: requireInteger(env, 'MAX_INSTANCES_PER_RUN', { min: 1, max: 10_000, fallback: 500 }),
  };
}
