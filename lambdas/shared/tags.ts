/**
 * Enrollment state kept as EC2 tags on the instance itself, so that any handler (enroll, status,
 * the reconciliation backstop) and any operator can see it without a table of its own.
 *
 * The status tag's key is configurable (STATUS_TAG_KEY, default `lgtm:agent-status`); its values:
 * - `pending`: the enroll handler sent an install command ({@link AGENT_TAGS.command}) at
 *   {@link AGENT_TAGS.pendingSince}; a duplicate event inside the command timeout is ignored.
 * - `success`: the status handler saw the command succeed and wrote {@link AGENT_TAGS.version}
 *   and {@link AGENT_TAGS.configVersion}. The enroll handler treats a value starting with
 *   `success` together with a version tag equal to the pinned Alloy version as enrolled, so a
 *   replayed event does nothing while a pinned-version change re-enrolls.
 * - `failed`: the status handler saw the command fail; the next event or reconciliation retries.
 *
 * The lifecycle tags are written only for Auto Scaling launches in lifecycle-hook mode: the status
 * handler completes the action `(lifecycle-group, lifecycle-hook, instance ID)` when the command
 * ends, then removes both tags. Group and hook are two tags rather than one `<group>/<hook>` value
 * because both names may contain `/` and together may exceed the 256-character tag value limit.
 */
export const AGENT_TAGS = {
  /** Alloy version installed by the last successful enrollment (written by the status handler). */
  version: 'lgtm:agent-version',
  /** Parameter Store version of the agent config installed by it (written by the status handler). */
  configVersion: 'lgtm:agent-config-version',
  /** ISO-8601 time the pending install command was sent (written by the enroll handler). */
  pendingSince: 'lgtm:agent-pending-since',
  /** ID of the pending install command (written by the enroll handler). */
  command: 'lgtm:agent-command',
  /** Auto Scaling group whose launch lifecycle action waits for the enrollment result. */
  lifecycleGroup: 'lgtm:lifecycle-group',
  /** Lifecycle hook of that action. */
  lifecycleHook: 'lgtm:lifecycle-hook',
  /**
   * Tenant of the installed agent (written by the status handler with the success status). The
   * config refresh targets `SendCommand` at this tag and {@link AGENT_TAGS.platform}, so it reaches
   * exactly the enrolled agents of one (tenant, platform) in one call.
   */
  tenant: 'lgtm:agent-tenant',
  /** `linux` or `windows`: the platform of the installed agent (written with {@link AGENT_TAGS.tenant}). */
  platform: 'lgtm:agent-platform',
} as const;

/** Values of the status tag. */
export const AGENT_STATUS = {
  pending: 'pending',
  success: 'success',
  failed: 'failed',
} as const;

/** Every tag key the enroll handler writes besides the status tag (for an `aws:TagKeys` IAM condition). */
export const ENROLL_WRITTEN_TAG_KEYS: readonly string[] = [
  AGENT_TAGS.pendingSince,
  AGENT_TAGS.command,
  AGENT_TAGS.lifecycleGroup,
  AGENT_TAGS.lifecycleHook,
];

/**
 * Written by the status handler when an install command fails: the Run Command status that ended
 * it (Failed, TimedOut, Cancelled, …), next to the `failed` status. Removed after a later success.
 */
export const AGENT_FAILURE_TAG = 'lgtm:agent-failure';

/** Every tag key the status handler writes besides the status tag (for an `aws:TagKeys` IAM condition on CreateTags). */
export const STATUS_WRITTEN_TAG_KEYS: readonly string[] = [
  AGENT_TAGS.version,
  AGENT_TAGS.configVersion,
  AGENT_TAGS.tenant,
  AGENT_TAGS.platform,
  AGENT_FAILURE_TAG,
];

/** Every tag key the status handler deletes (for an `aws:TagKeys` IAM condition on DeleteTags). */
export const STATUS_DELETED_TAG_KEYS: readonly string[] = [AGENT_TAGS.lifecycleGroup, AGENT_TAGS.lifecycleHook, AGENT_FAILURE_TAG];
