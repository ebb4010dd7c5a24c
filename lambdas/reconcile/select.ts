import {
  hasFailed,
  inFlightSince,
  isEnrolled,
  isInScope,
  isOptedOut,
  isSupportedPlatform,
  lastCommandSentAt,
  resolveTenant,
} from '../shared/enrollment-rules';
import { INSTANCE_ID_PATTERN } from '../shared/event-types';
import type { InstanceFacts } from '../shared/instances';
import type { ReconcileSettings } from './settings';

/**
 * Which instances the backstop asks the enroll handler to enroll. It is a cheap pre-filter on the
 * same tag rules (lambdas/shared/enrollment-rules.ts): the enroll handler applies every rule again
 * when the request arrives, so a request made here in error is skipped there with a reason.
 */

/** Why an instance is not requested. Low-cardinality: logged as counts. */
export type ReconcileSkipReason =
  /** Listed in another state than running (the look-up asks EC2 for running instances only). */
  | 'not-running'
  | 'invalid-instance-id'
  | 'opted-out'
  | 'out-of-scope'
  | 'untagged'
  /** Only with ALLOWED_TENANTS set. */
  | 'tenant-not-allowed'
  | 'unsupported-platform'
  | 'already-enrolled'
  | 'enrollment-in-flight'
  /** Failed recently; see {@link judgeInstance}. */
  | 'failed-backoff'
  /** Due on every other rule, but its SSM Agent is not online, so no command could reach it; see {@link keepOnline}. */
  | 'ssm-not-online';

export type SkipCounts = Partial<Record<ReconcileSkipReason, number>>;

export interface Candidate {
  readonly instanceId: string;
  /** When its last install command was sent; undefined when it never had one (or the time is unreadable). */
  readonly lastCommandSentAt: Date | undefined;
}

export type Verdict = { readonly due: true; readonly candidate: Candidate } | { readonly due: false; readonly reason: ReconcileSkipReason };

export type SelectionRules = Pick<
  ReconcileSettings,
  | 'tenantTagKey'
  | 'optOutTagKey'
  | 'scope'
  | 'statusTagKey'
  | 'defaultTenant'
  | 'allowedTenants'
  | 'alloyVersion'
  | 'commandTimeoutSeconds'
  | 'retryFailedAfterSeconds'
>;

/**
 * Whether an instance is due for enrollment on every rule except SSM's online check: it is running,
 * not opted out, has a tenant (tagged, or the default), runs a platform Alloy supports, is not
 * enrolled with the pinned version, and has no install command in flight. The online check costs
 * SSM calls, so it is made afterwards for the due instances only ({@link keepOnline}).
 *
 * Failed instances are retried with a backoff: a status starting with `failed` is due again only
 * once RETRY_FAILED_AFTER_SECONDS have passed since its last install command was sent (the
 * `lgtm:agent-pending-since` tag), so an instance that fails every time costs one attempt per that
 * period instead of one per interval. Without a readable send time it is due at once; the enroll
 * handler writes the time with the next command, so that happens once.
 */
export function judgeInstance(facts: InstanceFacts, rules: SelectionRules, now: Date): Verdict {
  const { tags, instanceId } = facts;
  if (facts.state !== 'running') return { due: false, reason: 'not-running' };
  // The enroll handler dead-letters a whole request naming an ID it cannot parse.
  if (!INSTANCE_ID_PATTERN.test(instanceId)) return { due: false, reason: 'invalid-instance-id' };
  if (!isInScope(tags, rules.scope)) return { due: false, reason: 'out-of-scope' };
  if (isOptedOut(tags, rules.optOutTagKey)) return { due: false, reason: 'opted-out' };

  const tenant = resolveTenant(tags, rules.tenantTagKey, rules.defaultTenant);
  if (tenant === undefined) return { due: false, reason: 'untagged' };
  if (rules.allowedTenants !== undefined && !rules.allowedTenants.has(tenant)) return { due: false, reason: 'tenant-not-allowed' };
  if (!isSupportedPlatform(facts.platform, facts.architecture)) return { due: false, reason: 'unsupported-platform' };

  if (isEnrolled(tags, rules.statusTagKey, rules.alloyVersion)) return { due: false, reason: 'already-enrolled' };
  if (inFlightSince(tags, rules.statusTagKey, rules.commandTimeoutSeconds, now) !== undefined) {
    return { due: false, reason: 'enrollment-in-flight' };
  }
  const sentAt = lastCommandSentAt(tags);
  const failed = hasFailed(tags, rules.statusTagKey);
  if (failed && sentAt !== undefined && now.getTime() - sentAt.getTime() < rules.retryFailedAfterSeconds * 1000) {
    return { due: false, reason: 'failed-backoff' };
  }
  return { due: true, candidate: { instanceId, lastCommandSentAt: sentAt } };
}

export interface DueSelection {
  /** Due on every rule but the online check, in the order judged. */
  readonly due: Candidate[];
  readonly skippedByReason: SkipCounts;
}

/** Judges every running instance on everything but the online check. */
export function selectDue(running: Iterable<InstanceFacts>, rules: SelectionRules, now: Date): DueSelection {
  const due: Candidate[] = [];
  const skippedByReason: SkipCounts = {};
  for (const facts of running) {
    const verdict = judgeInstance(facts, rules, now);
    if (verdict.due) due.push(verdict.candidate);
    else skippedByReason[verdict.reason] = (skippedByReason[verdict.reason] ?? 0) + 1;
  }
  return { due, skippedByReason };
}

export interface Selection {
  /** In no particular order; see {@link prioritize}. */
  readonly candidates: Candidate[];
  readonly skippedByReason: SkipCounts;
}

/**
 * The last condition: the due instances whose SSM Agent is online become the candidates; the
 * others are counted as `ssm-not-online`.
 */
export function keepOnline(selection: DueSelection, onlineIds: ReadonlySet<string>): Selection {
  const candidates = selection.due.filter((candidate) => onlineIds.has(candidate.instanceId));
  const notOnline = selection.due.length - candidates.length;
  const skippedByReason = notOnline > 0 ? { ...selection.skippedByReason, 'ssm-not-online': notOnline } : selection.skippedByReason;
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
