/**
 * Runs the real reconcile handler entry against mocked AWS (see ../harness/entry.ts) and reports the
 * result and the PutEvents calls.
 *
 * Input: the scheduled event as JSON in HARNESS_EVENT; HARNESS_PUT_EVENTS=denied makes PutEvents
 * fail; the handler's variables in the environment.
 */
import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { DescribeInstanceInformationCommand, SSMClient } from '@aws-sdk/client-ssm';
import { handler } from '../../../lambdas/reconcile/index';
import { mockClient } from '../../support/sdk-call-recorder';
import { oneReservation } from '../harness/ec2';
import { runHandlerEntry } from '../harness/entry';
import { inputsOf } from '../harness/fake-account';

const ec2 = mockClient(EC2Client);
const ssm = mockClient(SSMClient);
const eventBridge = mockClient(EventBridgeClient);
ec2.on(DescribeInstancesCommand).resolves(
  oneReservation(
    { InstanceId: 'i-0abcd1111ef223344', State: { Name: 'running', Code: 16 }, Architecture: 'x86_64', Tags: [] },
    {
      InstanceId: 'i-0abcd2222ef223344',
      State: { Name: 'running', Code: 16 },
      Architecture: 'arm64',
      Tags: [
        { Key: 'lgtm:agent-status', Value: 'success' },
        { Key: 'lgtm:agent-version', Value: '1.21.0' },
      ],
    },
    { InstanceId: 'i-0abcd3333ef223344', State: { Name: 'running', Code: 16 }, Architecture: 'x86_64', Tags: [] },
  ),
);
ssm.on(DescribeInstanceInformationCommand).resolves({
  InstanceInformationList: [
    { InstanceId: 'i-0abcd1111ef223344', PingStatus: 'Online', ResourceType: 'EC2Instance' },
    { InstanceId: 'i-0abcd2222ef223344', PingStatus: 'Online', ResourceType: 'EC2Instance' },
  ],
});
if (process.env.HARNESS_PUT_EVENTS === 'denied') {
  eventBridge.on(PutEventsCommand).rejects(Object.assign(new Error('not authorized'), { name: 'AccessDeniedException' }));
} else {
  eventBridge.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'event-from-harness' }] });
}

runHandlerEntry('LgtmFleet-Reconcile', async (event, context) => ({
  summary: await handler(event, context),
  putEvents: inputsOf(eventBridge.commandCalls(PutEventsCommand)),
}));
