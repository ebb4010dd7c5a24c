import { inFlightSince, isEnrolled, isOptedOut, isSupportedPlatform, lastCommandSentAt, resolveTenant } from '../shared/enrollment-rules';
import { INSTANCE_ID_PATTERN } from '../shared/events';
import type { InstanceFacts } from '../shared/instances';
import { AGENT_STATUS } from '../shared/tags';
import type { ReconcileSettings } from './settings';

/**
 * Which instances the backstop asks the enroll handler to enroll. It is a cheap pre-filter on the
 * same tag rules (lambdas/shared/enrollment-rules.ts): the enroll handler applies every rule again
 * when the request arrives, so a request made here in error is skipped there with a reason.
 */

/** Why an instance is not requested. Low-cardinality: logged as counts. */
export type ReconcileSkipReason =
  /** SSM sees it online but DescribeInstances does not list it as running (stopping, stopped, or between the two calls). */
  | 'not-running'
  | 'invalid-instance-id'
  | 'opted-out'
  | 'untagged'
  /** Only with ALLOWED_TENANTS set. */
  | 'tenant-not-allowed'
  | 'unsupported-platform'
  | 'already-enrolled'
  | 'enrollment-in-flight'
  /** Failed recently; see {@link judgeInstance}. */
  | 'failed-backoff'
  /** Running and otherwise due, but its SSM Agent is not online, so no command could reach it. */
  | 'ssm-not-online';

export interface Candidate {
  readonly instanceId: string;
  /** When its last install command was sent; undefined when it never had one (or the time is unreadable). */
  readonly lastCommandSentAt: Date | undefined;
}

export type Verdict =
  | { readonly request: true; readonly candidate: Candidate }
  | { readonly request: false; readonly reason: ReconcileSkipReason };

export type SelectionRules = Pick<
  ReconcileSettings,
  | 'tenantTagKey'
  | 'optOutTagKey'
  | 'statusTagKey'
  | 'defaultTenant'
  | 'allowedTenants'
  | 'alloyVersion'
  | 'commandTimeoutSeconds'
  | 'retryFailedAfterSeconds'
>;

/**
 * Requests an instance that is running, SSM-online, not opted out, has a tenant (tagged, or the
 * default), runs a platform Alloy supports, is not enrolled with the pinned version, and has no
 * install command in flight.
 *
 * Failed instances are retried with a backoff: a status starting with `failed` is requested again
 * only once RETRY_FAILED_AFTER_SECONDS have passed since its last install command was sent (the
 * `lgtm:agent-pending-since` tag), so an instance that fails every time costs one attempt per that
 * period instead of one per interval. Without a readable send time it is requested at once; the
 * enroll handler writes the time with the next command, so that happens once.
 */
export function judgeInstance(facts: InstanceFacts, online: boolean, rules: SelectionRules, now: Date): Verdict {
  const { tags, instanceId } = facts;
  if (facts.state !== 'running') return { request: false, reason: 'not-running' };
  // The enroll handler dead-letters a whole request naming an ID it cannot parse.
  if (!INSTANCE_ID_PATTERN.test(instanceId)) return { request: false, reason: 'invalid-instance-id' };
  if (isOptedOut(tags, rules.optOutTagKey)) return { request: false, reason: 'opted-out' };

  const tenant = resolveTenant(tags, rules.tenantTagKey, rules.defaultTenant);
  if (tenant === undefined) return { request: false, reason: 'untagged' };
  if (rules.allowedTenants !== undefined && !rules.allowedTenants.has(tenant)) return { request: false, reason: 'tenant-not-allowed' };
  if (!isSupportedPlatform(facts.platform, facts.architecture)) return { request: false, reason: 'unsupported-platform' };

  if (isEnrolled(tags, rules.statusTagKey, rules.alloyVersion)) return { request: false, reason: 'already-enrolled' };
  if (inFlightSince(tags, rules.statusTagKey, rules.commandTimeoutSeconds, now) !== undefined) {
    return { request: false, reason: 'enrollment-in-flight' };
  }
  const sentAt = lastCommandSentAt(tags);
  const failed = (tags.get(rules.statusTagKey) ?? '').startsWith(AGENT_STATUS.failed);
  if (failed && sentAt !== undefined && now.getTime() - sentAt.getTime() < rules.retryFailedAfterSeconds * 1000) {
    return { request: false, reason: 'failed-backoff' };
  }

  if (!online) return { request: false, reason: 'ssm-not-online' };
  return { request: true, candidate: { instanceId, lastCommandSentAt: sentAt } };
}

export interface Selection {
  /** In no particular order; see {@link prioritize}. */
  readonly candidates: Candidate[];
  readonly skippedByReason: Partial<Record<ReconcileSkipReason, number>>;
}

/** Judges every running instance, and counts online instances that are not running. */
export function selectCandidates(
  onlineIds: ReadonlySet<string>,
  running: ReadonlyMap<string, InstanceFacts>,
  rules: SelectionRules,
  now: Date,
): Selection {
  const candidates: Candidate[] = [];
  const skippedByReason: Partial<Record<ReconcileSkipReason, number>> = {};
  const skip = (reason: ReconcileSkipReason) => {
    skippedByReason[reason] = (skippedByReason[reason] ?? 0) + 1;
  };
  for (const facts of running.values()) {
    const verdict = judgeInstance(facts, onlineIds.has(facts.instanceId), rules, now);
    if (verdict.request) candidates.push(verdict.candidate);
    else skip(verdict.reason);
  }
  for (const instanceId of onlineIds) {
    if (!running.has(instanceId)) skip('not-running');
  }
  return { candidates, skippedByReason };
}

/**
 * The order in which candidates are requested when there are more than one run may take: least
 * recently attempted first (never attempted, then the oldest install command). Ties are shuffled,
 * so instances the enroll handler keeps skipping without tagging them (a tenant outside the allowed
 * list, an agent config not created yet) cannot hold the same places run after run and starve the rest.
 */
export function prioritize(candidates: readonly Candidate[], random: () => number): Candidate[] {
  const shuffled = [...candidates];
  for (let index = shuffled.length - 1; index > 0; index -= 1) {
    const other = Math.floor(random() * (index + 1));
    [shuffled[index], shuffled[other]] = [shuffled[other] as Candidate, shuffled[index] as Candidate];
  }
  const attemptedAt = (candidate: Candidate) => candidate.lastCommandSentAt?.getTime() ?? Number.NEGATIVE_INFINITY;
  // Array.prototype.sort is stable, so ties keep their shuffled order.
  return shuffled.sort((a, b) => {
    const [left, right] = [attemptedAt(a), attemptedAt(b)];
    return left === right ? 0 : left < right ? -1 : 1;
  });
}
