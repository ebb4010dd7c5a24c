import { parseEvent } from '../../../lambdas/ring-forget/requests';
import { STOPPED_TASK, stoppedTask, TASK_ADDRESS } from './fake-ring-page';

describe('parseEvent', () => {
  test('reads the task, why it stopped and the address of its network interface from the sample event', () => {
    expect(parseEvent(STOPPED_TASK)).toEqual({
      kind: 'stopped-task',
      task: {
        eventId: '3c5a1e7b-9f2d-4b8e-a6c1-7d0e2f9b4a13',
        taskArn:
          'arn:aws:ecs:ap-northeast-2:123456789012:task/LgtmFleet-NetworkCluster17B54D11-Qm8XrT2vLp4c/6f0c2a9e41b84d7c9e3f5a2b1c0d8e47',
        group: 'service:LgtmFleet-MimirBackendService1965E86A-x7KpQ2mZr9Tw',
        stopCode: 'EssentialContainerExited',
        stoppedReason: 'Essential container in task exited',
        address: TASK_ADDRESS,
      },
    });
  });

  test('the address comes from the network interface, not from another kind of attachment', () => {
    const attachments = [
      { type: 'elastic-inference', details: [{ name: 'privateIPv4Address', value: '10.9.9.9' }] },
      { type: 'eni', details: [{ name: 'privateIPv4Address', value: '10.0.1.7' }] },
    ];

    expect(parseEvent(stoppedTask({ attachments }))).toMatchObject({ kind: 'stopped-task', task: { address: '10.0.1.7' } });
  });

  test('without group, stop code or reason the task is still read', () => {
    const parsed = parseEvent(stoppedTask({ group: undefined, stopCode: undefined, stoppedReason: undefined }));

    expect(parsed).toMatchObject({ kind: 'stopped-task', task: { address: TASK_ADDRESS } });
    expect(Object.keys((parsed as { task: object }).task).sort()).toEqual(['address', 'eventId', 'taskArn']);
  });

  test.each(['10.0.3.256', '::1', '10.0.3.142 ', ''])('%j as the address is malformed, naming the field', (value) => {
    const attachments = [{ type: 'eni', details: [{ name: 'privateIPv4Address', value }] }];

    expect(parseEvent(stoppedTask({ attachments }))).toEqual({
      kind: 'malformed',
      detail: `detail.attachments.0.details.0.value: privateIPv4Address is not an IPv4 address: ${JSON.stringify(value)}`,
    });
  });
});
