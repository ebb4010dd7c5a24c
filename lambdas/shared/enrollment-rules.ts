import type { Platform } from './instances';
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
