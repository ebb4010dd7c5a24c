import { Duration } from 'aws-cdk-lib/core';

/** Source of the events lgtm-fleet publishes on its own bus. */
export const EVENT_SOURCE = 'lgtm-fleet';
/** Auto Scaling groups opt into lifecycle-hook enrollment by naming a launch hook with this prefix. */
export const LIFECYCLE_HOOK_PREFIX = 'lgtm-enroll';
/** Status tag on enrolled instances. */
export const STATUS_TAG_KEY = 'lgtm:agent-status';
/** Install command timeout; a `pending` status younger than this counts as in flight. */
export const COMMAND_TIMEOUT_SECONDS = '900';
/**
 * How long a failed record stays hidden before the queue delivers it again. Requests waiting for
 * SSM do not use it: they come back in envelopes on shared slots (lambdas/enroll/wait-envelope.ts).
 */
export const ENROLL_QUEUE_VISIBILITY = Duration.seconds(120);
