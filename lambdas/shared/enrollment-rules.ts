import type { Platform } from './contract';
import { type Environment, EnvironmentError, optionalList, optionalString } from './env';
import { AGENT_STATUS, AGENT_TAGS } from './tags';

/**
 * The tag rules deciding whether an instance should get the agent, shared by the enroll handler
 * (which applies them to each event) and the reconciliation backstop (which uses them as a cheap
 * pre-filter), so both agree on what "opted out", "enrolled" and "in flight" mean.
 */

type Tags = ReadonlyMap<string, string>;

const LINUX_ARCHITECTURES: ReadonlySet<string> = new Set(['x86_64', 'arm64']);
/** Alloy ships no Windows arm64 build. */
const WINDOWS_ARCHITECTURES: ReadonlySet<string> = new Set(['x86_64']);

/**
 * Which instances enrollment may touch: every instance (the default), or only those carrying the
 * scope tag, with one of `values` when any are given.
 */
export interface EnrollmentScope {
  readonly tagKey: string;
  /** Accepted values; empty accepts any value. */
  readonly values: ReadonlySet<string>;
}

/** Whether an instance is in the enrollment scope (always, without one). */
export function isInScope(tags: Tags, scope: EnrollmentScope | undefined): boolean {
  if (scope === undefined) return true;
  const value = tags.get(scope.tagKey)?.trim();
  return value !== undefined && (scope.values.size === 0 || scope.values.has(value));
}

/** Only the value `true` (any case, surrounding blanks ignored) opts an instance out. */
export function isOptedOut(tags: Tags, optOutTagKey: string): boolean {
  return tags.get(optOutTagKey)?.trim().toLowerCase() === 'true';
}

/** The tenant tag's value (trimmed; blank counts as untagged), else the default tenant; undefined when neither. */
export function resolveTenant(tags: Tags, tenantTagKey: string, defaultTenant: string | undefined): string | undefined {
  return tags.get(tenantTagKey)?.trim() || defaultTenant;
}

/** Whether Alloy ships a build for this platform and architecture. */
export function isSupportedPlatform(platform: Platform, architecture: string): boolean {
  return (platform === 'windows' ? WINDOWS_ARCHITECTURES : LINUX_ARCHITECTURES).has(architecture);
}

/** A status starting with `success` and the pinned version installed (a pinned-version change re-enrolls). */
export function isEnrolled(tags: Tags, statusTagKey: string, alloyVersion: string): boolean {
  return (tags.get(statusTagKey) ?? '').startsWith(AGENT_STATUS.success) && tags.get(AGENT_TAGS.version) === alloyVersion;
}

/** A status starting with `failed`: the last install command ended without a working agent. */
export function hasFailed(tags: Tags, statusTagKey: string): boolean {
  return (tags.get(statusTagKey) ?? '').startsWith(AGENT_STATUS.failed);
}

/** The time the last install command was sent, when the tag holds a readable time. */
export function lastCommandSentAt(tags: Tags): Date | undefined {
  const since = Date.parse(tags.get(AGENT_TAGS.pendingSince) ?? '');
  return Number.isFinite(since) ? new Date(since) : undefined;
}

/**
 * When the install command still in flight was sent, or undefined when none is: a `pending` status
 * counts only within the command timeout and with a readable time, since an older one means the
 * command or its result event was lost and the instance should be enrolled again.
 */
export function inFlightSince(tags: Tags, statusTagKey: string, commandTimeoutSeconds: number, now: Date): Date | undefined {
  if (tags.get(statusTagKey) !== AGENT_STATUS.pending) return undefined;
  const since = lastCommandSentAt(tags);
  return since !== undefined && now.getTime() - since.getTime() < commandTimeoutSeconds * 1000 ? since : undefined;
}

/** SCOPE_TAG_KEY (empty: every instance) and SCOPE_TAG_VALUES (comma-separated; empty: any value). */
export function loadScope(env: Environment<'SCOPE_TAG_KEY' | 'SCOPE_TAG_VALUES'>): EnrollmentScope | undefined {
  const values = optionalList(env, 'SCOPE_TAG_VALUES');
  const tagKey = optionalString(env, 'SCOPE_TAG_KEY', '');
  if (tagKey === '' && values.length > 0) {
    throw new EnvironmentError('environment variable SCOPE_TAG_VALUES is set but SCOPE_TAG_KEY is empty');
  }
  return tagKey === '' ? undefined : { tagKey, values: new Set(values) };
}
