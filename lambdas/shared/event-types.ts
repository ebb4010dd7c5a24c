/**
 * Detail types and limits of the enrollment events, apart from their schemas
 * (lambdas/shared/events.ts): the reconcile handler and the CDK app need the names only, and
 * importing the schemas' module would build every schema in their bundle at load.
 */

export const INSTANCE_ID_PATTERN = /^i-[0-9a-f]{8,17}$/;

export const EC2_STATE_CHANGE = 'EC2 Instance State-change Notification';
export const LIFECYCLE_LAUNCH = 'EC2 Instance-launch Lifecycle Action';
export const RECONCILE_ENROLLMENT = 'Reconcile Enrollment';
/** Run Command's per-instance status change, one event per (command, instance) transition. */
export const COMMAND_INVOCATION_STATUS_CHANGE = 'EC2 Command Invocation Status-change Notification';

/** Outcomes the enrollment functions publish on the project bus (and may publish nothing else). */
export const ENROLLMENT_OUTCOME = {
  /** Enroll: an instance asked for a tenant outside the allowed list. */
  refused: 'Agent Enrollment Refused',
  /** Status: the install command succeeded. */
  enrolled: 'Agent Enrolled',
  /** Status: the install command failed. */
  failed: 'Agent Enrollment Failed',
} as const;

export const LAUNCHING_TRANSITION = 'autoscaling:EC2_INSTANCE_LAUNCHING';
export const TEST_NOTIFICATION = 'autoscaling:TEST_NOTIFICATION';

/** At most this many instances in one `Reconcile Enrollment` event (one SendCommand's worth). */
export const MAX_RECONCILE_INSTANCES = 50;
