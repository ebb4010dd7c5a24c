import * as z from 'zod/mini';
import { EC2_STATE_CHANGE, LIFECYCLE_LAUNCH, MAX_RECONCILE_INSTANCES, RECONCILE_ENROLLMENT, TEST_NOTIFICATION } from './event-types';
import { eventTime, instanceId, nonEmpty } from './schema';

/**
 * Schemas of the events the enroll handler consumes (their names: lambdas/shared/event-types.ts).
 * Only the fields the code reads are declared; unknown fields pass through (AWS adds fields to
 * its events over time).
 */

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
