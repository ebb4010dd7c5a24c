/**
 * Runs the real refresh handler entry against mocked AWS (see ../harness/entry.ts) and reports the
 * response and the calls made.
 *
 * Input: the SQS event as JSON in HARNESS_EVENT; the handler's variables in the environment.
 */
import { ECSClient, UpdateServiceCommand } from '@aws-sdk/client-ecs';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { GetParametersCommand, ListCommandsCommand, SendCommandCommand, SSMClient } from '@aws-sdk/client-ssm';
import type { SQSEvent } from 'aws-lambda';
import { handler } from '../../../lambdas/refresh/index';
import { mockClient } from '../../support/sdk-call-recorder';
import { acceptMessages } from '../harness/bus';
import { runHandlerEntry } from '../harness/entry';
import { entriesOf, inputsOf } from '../harness/fake-account';

const ssm = mockClient(SSMClient);
const ecs = mockClient(ECSClient);
const eventBridge = mockClient(EventBridgeClient);
const sqs = mockClient(SQSClient);
ssm.on(GetParametersCommand).resolves({
  Parameters: [
    {
      Name: '/lgtm/agent/aws-rag-ec2/linux',
      Type: 'String',
      Value: 'prometheus.exporter.unix "host" { }\n',
      Version: 6,
      LastModifiedDate: new Date('2026-11-23T12:40:47.500Z'),
    },
  ],
  InvalidParameters: [],
});
ssm.on(ListCommandsCommand).resolves({ Commands: [] });
ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'command-from-harness' } });
ecs.on(UpdateServiceCommand).rejects(new Error('no service change expected'));
eventBridge.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'event-1' }] });
sqs.on(SendMessageBatchCommand).callsFake(acceptMessages);

runHandlerEntry<SQSEvent>(
  'lgtm-Refresh',
  async (event, context) => ({
    response: await handler(event, context),
    sendCommands: inputsOf(ssm.commandCalls(SendCommandCommand)),
    published: entriesOf(eventBridge.commandCalls(PutEventsCommand)),
    deadLetters: entriesOf(sqs.commandCalls(SendMessageBatchCommand)).map((entry) => entry.Id),
  }),
  '{"Records":[]}',
);
