import { ec2StateChangeEvent, enrollmentEvent, lifecycleLaunchEvent, reconcileEnrollmentEvent } from '../../../lambdas/shared/events';
import { loadSampleEvent } from '../fixtures';

describe('event schemas', () => {
  test('the sample EC2 state-change events parse', () => {
    for (const name of ['ec2-instance-running.json', 'ec2-instance-pending.json']) {
      const result = ec2StateChangeEvent.safeParse(loadSampleEvent(name));
      expect(result.success).toBe(true);
    }
    expect(ec2StateChangeEvent.parse(loadSampleEvent('ec2-instance-running.json')).detail).toEqual({
      'instance-id': 'i-0abcd1111ef223344',
      state: 'running',
    });
  });

  test('the sample lifecycle event parses with the fields needed to complete the action', () => {
    const event = lifecycleLaunchEvent.parse(loadSampleEvent('autoscaling-launch-lifecycle-action.json'));
    expect(event.detail).toMatchObject({
      EC2InstanceId: 'i-0fedc9876ba543210',
      AutoScalingGroupName: 'rag-api-asg',
      LifecycleHookName: 'lgtm-agent-enrollment',
      LifecycleTransition: 'autoscaling:EC2_INSTANCE_LAUNCHING',
    });
  });

  test('other sample events are not enrollment events', () => {
    for (const name of ['ssm-command-status-success.json', 'parameter-store-change-update.json']) {
      expect(enrollmentEvent.safeParse(loadSampleEvent(name)).success).toBe(false);
    }
  });

  test('a reconcile event names 1 to 50 valid instance IDs', () => {
    const event = (instanceIds: string[]) => ({
      id: 'x',
      'detail-type': 'Reconcile Enrollment',
      source: 'lgtm-fleet',
      time: '2026-11-23T12:00:00Z',
      detail: { instanceIds },
    });
    expect(reconcileEnrollmentEvent.safeParse(event(['i-0abcd1111ef223344'])).success).toBe(true);
    expect(reconcileEnrollmentEvent.safeParse(event([])).success).toBe(false);
    expect(reconcileEnrollmentEvent.safeParse(event(['i-XYZ'])).success).toBe(false);
    expect(reconcileEnrollmentEvent.safeParse(event(Array.from({ length: 51 }, () => 'i-0abcd1111ef223344'))).success).toBe(false);
  });

  test('an event time must be an ISO-8601 timestamp', () => {
    const running = loadSampleEvent('ec2-instance-running.json');
    expect(ec2StateChangeEvent.safeParse({ ...running, time: 'yesterday' }).success).toBe(false);
  });
});
