import type { Platform } from '../shared/contract';
import {
  hasFailed,
  inFlightSince,
  isEnrolled,
  isInScope,
  isOptedOut,
  isSupportedPlatform,
  resolveTenant,
} from '../shared/enrollment-rules';
import type { LifecycleResult } from '../shared/lifecycle';
import { AGENT_TAGS } from '../shared/tags';
import type { InstanceFacts } from './lookup';
import type { EnrollSettings } from './settings';

/** Why an instance is left alone on purpose. Low-cardinality: also a metric dimension. */
export type SkipReason =
  | 'instance-gone'
  | 'instance-not-running'
  | 'opted-out'
  | 'out-of-scope'
  | 'untagged'
  | 'unsupported-platform'
  | 'already-enrolled'
  | 'enrollment-in-flight'
  /** Only for a launch lifecycle action: the install for this launch already failed. */
  | 'enrollment-failed';

/** Why an instance is not ready yet; retried with backoff until the enrollment deadline. */
export type WaitReason =
  | 'instance-not-visible'
  | 'instance-pending'
  | 'ssm-not-managed'
  | 'ssm-not-online'
  | 'agent-config-missing'
  /** A launch lifecycle action waits for an install command already in flight: re-checked until it ends. */
  | 'lifecycle-install-in-flight';

export type Decision =
  | { readonly action: 'skip'; readonly reason: SkipReason; readonly detail: string }
  | { readonly action: 'refuse'; readonly tenant: string }
  | { readonly action: 'wait'; readonly reason: WaitReason; readonly detail: string }
  | { readonly action: 'enroll'; readonly tenant: string; readonly platform: Platform };

/**
 * A just-launched instance can be missing from DescribeInstances for a short while (EC2 is
 * eventually consistent); only after this long is a missing instance taken as gone.
 */
export const NOT_VISIBLE_GRACE_SECONDS = 120;

export interface DecisionContext {
  readonly settings: EnrollSettings;
  readonly now: Date;
  /** Start of the request's deadline (see EnrollRequest.startedAt). */
  readonly startedAt: Date;
  /** Whether a launch lifecycle action waits for this instance. */
  readonly lifecycle?: boolean;
}

/** What to do with one instance, from DescribeInstances alone (SSM readiness is checked later). */
export function decideInstance(
  facts: InstanceFacts | undefined,
  { settings, now, startedAt, lifecycle = false }: DecisionContext,
): Decision {
  if (facts === undefined) {
    const ageSeconds = (now.getTime() - startedAt.getTime()) / 1000;
    return ageSeconds < NOT_VISIBLE_GRACE_SECONDS
      ? { action: 'wait', reason: 'instance-not-visible', detail: 'not returned by DescribeInstances yet' }
      : { action: 'skip', reason: 'instance-gone', detail: 'not returned by DescribeInstances' };
  }

  if (facts.state !== 'running') return notRunning(facts.state);

  const tags = facts.tags;
  if (!isInScope(tags, settings.scope)) {
    const scope = settings.scope;
    return {
      action: 'skip',
      reason: 'out-of-scope',
      detail: `no ${scope?.tagKey} tag${scope && scope.values.size > 0 ? ` with one of ${[...scope.values].join(', ')}` : ''}`,
    };
  }
  if (isOptedOut(tags, settings.optOutTagKey)) {
    return { action: 'skip', reason: 'opted-out', detail: `tag ${settings.optOutTagKey}=true` };
  }

  const tenant = resolveTenant(tags, settings.tenantTagKey, settings.defaultTenant);
  if (tenant === undefined) {
    return { action: 'skip', reason: 'untagged', detail: `no ${settings.tenantTagKey} tag and no default tenant` };
  }
  if (!settings.allowedTenants.has(tenant)) {
    return { action: 'refuse', tenant };
  }

  if (!isSupportedPlatform(facts.platform, facts.architecture)) {
    return { action: 'skip', reason: 'unsupported-platform', detail: `no Alloy build for ${facts.platform} on ${facts.architecture}` };
  }

  if (isEnrolled(tags, settings.statusTagKey, settings.alloyVersion)) {
    return { action: 'skip', reason: 'already-enrolled', detail: `Alloy ${tags.get(AGENT_TAGS.version)} already installed` };
  }
  // A pending status older than the command timeout (or without a readable time) is stale:
  // the command or its result event was lost, so enroll again.
  const pendingSince = inFlightSince(tags, settings.statusTagKey, settings.commandTimeoutSeconds, now);
  if (pendingSince !== undefined) {
    return {
      action: 'skip',
      reason: 'enrollment-in-flight',
      detail: `command ${tags.get(AGENT_TAGS.command) ?? '?'} pending since ${pendingSince.toISOString()}`,
    };
  }

  // A launch waits on one install: once it failed, the lifecycle action ends with the failure
  // result (the reconcile backstop retries the install later, with its backoff).
  if (lifecycle && hasFailed(tags, settings.statusTagKey)) {
    return {
      action: 'skip',
      reason: 'enrollment-failed',
      detail: `install command ${tags.get(AGENT_TAGS.command) ?? '?'} ended ${tags.get(settings.statusTagKey)}`,
    };
  }

  return { action: 'enroll', tenant, platform: facts.platform };
}

/** An instance not running yet waits; one shutting down, terminated, stopping or stopped is skipped. */
function notRunning(state: string): Decision {
  switch (state) {
    case 'pending':
      return { action: 'wait', reason: 'instance-pending', detail: 'instance state is pending' };
    case 'shutting-down':
    case 'terminated':
      return { action: 'skip', reason: 'instance-gone', detail: `instance state is ${state}` };
    default:
      return { action: 'skip', reason: 'instance-not-running', detail: `instance state is ${state}` };
  }
}

/** Skips after which a waiting launch lifecycle action is completed with CONTINUE right away. */
export const COMPLETE_LIFECYCLE_ON_SKIP: ReadonlySet<SkipReason> = new Set([
  'opted-out',
  'out-of-scope',
  'untagged',
  'unsupported-platform',
  'already-enrolled',
]);

/**
 * The result a waiting launch lifecycle action is completed with after a skip, or undefined when
 * the skip leaves it waiting (an install in flight: the status handler completes it, and the
 * lifecycle record is re-checked in case the status handler ran before the hook tags were written).
 */
export function lifecycleResultOnSkip(reason: SkipReason | 'tenant-refused', failureResult: LifecycleResult): LifecycleResult | undefined {
  if (reason === 'enrollment-failed') return failureResult;
  return reason === 'tenant-refused' || COMPLETE_LIFECYCLE_ON_SKIP.has(reason) ? 'CONTINUE' : undefined;
}
