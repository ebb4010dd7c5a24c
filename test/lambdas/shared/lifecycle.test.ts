import { AutoScalingClient, CompleteLifecycleActionCommand } from '@aws-sdk/client-auto-scaling';
import { completeLifecycleAction, type LifecycleAction } from '../../../lambdas/shared/lifecycle';
import { mockClient } from '../../support/sdk-call-recorder';
import { awsError } from '../fixtures';

const client = new AutoScalingClient({ region: 'ap-northeast-2' });
const autoScaling = mockClient(client);

const ACTION: LifecycleAction = {
  groupName: 'rag-api-asg',
  hookName: 'lgtm-agent-enrollment',
  instanceId: 'i-0fedc9876ba543210',
  result: 'ABANDON',
};

beforeEach(() => autoScaling.reset());

describe('completeLifecycleAction', () => {
  test('completes the action of the instance with the result', async () => {
    autoScaling.on(CompleteLifecycleActionCommand).resolves({});

    expect(await completeLifecycleAction(client, ACTION)).toEqual({ completed: true });

    expect(autoScaling.commandCalls(CompleteLifecycleActionCommand).map((call) => call.args[0].input)).toEqual([
      {
        AutoScalingGroupName: 'rag-api-asg',
        LifecycleHookName: 'lgtm-agent-enrollment',
        InstanceId: 'i-0fedc9876ba543210',
        LifecycleActionResult: 'ABANDON',
      },
    ]);
  });

  test('an action no longer waiting is reported with the message, not thrown', async () => {
    const message = 'No active Lifecycle Action found with instance ID i-0fedc9876ba543210';
    autoScaling.on(CompleteLifecycleActionCommand).rejects(awsError('ValidationError', message));

    expect(await completeLifecycleAction(client, ACTION)).toEqual({ completed: false, detail: message });
  });

  test.each([
    ['another validation error', awsError('ValidationError', 'No hook named lgtm-agent-enrollment')],
    ['throttling', awsError('Throttling', 'Rate exceeded')],
    ['access denied', awsError('AccessDenied', 'not authorized')],
  ])('%s is thrown', async (_case, error) => {
    autoScaling.on(CompleteLifecycleActionCommand).rejects(error);

    await expect(completeLifecycleAction(client, ACTION)).rejects.toBe(error);
  });
});
