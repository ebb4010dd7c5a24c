/**
 * Runs the real status handler entry against mocked AWS (see ../harness/entry.ts) and reports what
 * the handler returned or threw, and the commands sent.
 *
 * Input: the EventBridge event as JSON in HARNESS_EVENT; HARNESS_FAIL=throttle makes ListCommands
 * fail; the handler's variables in the environment.
 */
import { CreateTagsCommand, DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { ListCommandsCommand, SSMClient } from '@aws-sdk/client-ssm';
import { handler } from '../../../lambdas/status/index';
import { mockClient } from '../../support/sdk-call-recorder';
import { oneReservation } from '../harness/ec2';
import { outcomeOf, runHandlerEntry } from '../harness/entry';
import { inputsOf } from '../harness/fake-account';

const ssm = mockClient(SSMClient);
const ec2 = mockClient(EC2Client);
const eventBridge = mockClient(EventBridgeClient);
if (process.env.HARNESS_FAIL === 'throttle') {
  ssm.on(ListCommandsCommand).rejects(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }));
} else {
  ssm.on(ListCommandsCommand).resolves({
    Commands: [
      {
        CommandId: 'e8d3c0e4-71f7-4491-898f-c9b35bee5f3b',
        Parameters: { Tenant: ['team-a'], AlloyVersion: ['1.21.0'], ConfigVersion: ['2'], Action: ['install'] },
      },
    ],
  });
}
ec2.on(DescribeInstancesCommand).resolves(
  oneReservation({
    InstanceId: 'i-0abcd1111ef223344',
    State: { Name: 'running', Code: 16 },
    Tags: [
      { Key: 'lgtm:agent-status', Value: 'pending' },
      { Key: 'lgtm:agent-command', Value: 'e8d3c0e4-71f7-4491-898f-c9b35bee5f3b' },
    ],
  }),
);
ec2.on(CreateTagsCommand).resolves({});
eventBridge.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'event-from-harness' }] });

runHandlerEntry('LgtmFleet-Status', async (event, context) => ({
  ...(await outcomeOf(handler(event, context))),
  createTags: inputsOf(ec2.commandCalls(CreateTagsCommand)),
  putEvents: inputsOf(eventBridge.commandCalls(PutEventsCommand)),
}));
