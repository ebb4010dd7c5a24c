import * as z from 'zod/mini';

/**
 * Schemas of the EventBridge events the handlers consume. Only the fields the code reads are
 * declared; unknown fields pass through (AWS adds fields to its events over time).
 */

export const INSTANCE_ID_PATTERN = /^i-[0-9a-f]{8,17}$/;

const instanceId = z.string().check(z.regex(INSTANCE_ID_PATTERN, 'not an EC2 instance ID (i-…)'));
const nonEmpty = z.string().check(z.minLength(1));
/** EventBridge `time`: ISO-8601 UTC, e.g. 2026-11-23T12:30:34Z. */
const eventTime = z.iso.datetime({ offset: true });

export const EC2_STATE_CHANGE = 'EC2 Instance State-change Notification';
export const LIFECYCLE_LAUNCH = 'EC2 Instance-launch Lifecycle Action';
export const RECONCILE_ENROLLMENT = 'Reconcile Enrollment';

export const LAUNCHING_TRANSITION = 'autoscaling:EC2_INSTANCE_LAUNCHING';
export const TEST_NOTIFICATION = 'autoscaling:TEST_NOTIFICATION';

/** At most this many instances in one `Reconcile Enrollment` event (one SendCommand's worth). */
export const MAX_RECONCILE_INSTANCES = 50;

export const ec2StateChangeEvent = z.object({
  id: nonEmpty,
  'detail-type': z.literal(EC2_STATE_CHANGE),
  source: z.literal('aws.ec2'),
  time: eventTime,
  detail: z.object({
    'instance-id': instanceId,
    state: nonEmpty,
  }),
});
export type Ec2StateChangeEvent = z.infer<typeof ec2StateChangeEvent>;

export const lifecycleLaunchEvent = z.object({
  id: nonEmpty,
  'detail-type': z.literal(LIFECYCLE_LAUNCH),
  source: z.literal('aws.autoscaling'),
  time: eventTime,
  detail: z.object({
    LifecycleTransition: nonEmpty,
    AutoScalingGroupName: nonEmpty,
    LifecycleHookName: z.optional(z.string()),
    LifecycleActionToken: z.optional(z.string()),
    // Absent from test notifications; required for a launch (checked by the consumer).
    EC2InstanceId: z.optional(instanceId),
  }),
});
export type LifecycleLaunchEvent = z.infer<typeof lifecycleLaunchEvent>;

/** Sent by lgtm-fleet's scheduled backstop (source: the project's EVENT_SOURCE). */
export const reconcileEnrollmentEvent = z.object({
  id: nonEmpty,
  'detail-type': z.literal(RECONCILE_ENROLLMENT),
  source: nonEmpty,
  time: eventTime,
  detail: z.object({
    instanceIds: z.array(instanceId).check(z.minLength(1), z.maxLength(MAX_RECONCILE_INSTANCES)),
  }),
});
export type ReconcileEnrollmentEvent = z.infer<typeof reconcileEnrollmentEvent>;

export const enrollmentEvent = z.discriminatedUnion('detail-type', [ec2StateChangeEvent, lifecycleLaunchEvent, reconcileEnrollmentEvent]);
export type EnrollmentEvent = z.infer<typeof enrollmentEvent>;

/**
 * The message Auto Scaling sends straight to a hook's notification target (not through
 * EventBridge) when the hook is created.
 */
export const autoScalingTestNotification = z.object({
  Event: z.literal(TEST_NOTIFICATION),
});

/** A short, single-line description of why a value failed a schema (for logs and DLQ attributes). */
export function describeIssues(error: z.core.$ZodError, maxIssues = 3): string {
  return error.issues
    .slice(0, maxIssues)
    .map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : '(root)'}: ${issue.message}`)
    .join('; ');
}

export const COMMAND_INVOCATION_STATUS_CHANGE = 'EC2 Command Invocation Status-change Notification';

/** Run Command's per-instance status change, one event per (command, instance) transition. */
export const commandInvocationStatusEvent = z.object({
  id: nonEmpty,
  'detail-type': z.literal(COMMAND_INVOCATION_STATUS_CHANGE),
  source: z.literal('aws.ssm'),
  time: eventTime,
  detail: z.object({
    'command-id': nonEmpty,
    // The name the command was sent with (a name or an ARN).
    'document-name': nonEmpty,
    'instance-id': instanceId,
    status: nonEmpty,
    // Read leniently: only used to tell an older command from a newer one.
    'requested-date-time': z.optional(z.string()),
  }),
});
export type CommandInvocationStatusEvent = z.infer<typeof commandInvocationStatusEvent>;
