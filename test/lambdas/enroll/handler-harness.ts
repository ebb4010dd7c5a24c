/**
 * Runs the real enroll handler entry against mocked AWS (see ../harness/entry.ts) and reports the
 * response and the commands sent.
 *
 * Input: the SQS event as JSON in HARNESS_EVENT; the handler's variables in the environment.
 */
import { DynamoDBClient, TransactWriteItemsCommand } from '@aws-sdk/client-dynamodb';
import { CreateTagsCommand, DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DescribeInstanceInformationCommand, GetParametersCommand, SendCommandCommand, SSMClient } from '@aws-sdk/client-ssm';
import type { SQSEvent } from 'aws-lambda';
import { handler } from '../../../lambdas/enroll/index';
import { mockClient } from '../../support/sdk-call-recorder';
import { oneReservation } from '../harness/ec2';
import { runHandlerEntry } from '../harness/entry';
import { inputsOf } from '../harness/fake-account';

const dynamodb = mockClient(DynamoDBClient);
dynamodb.on(TransactWriteItemsCommand).resolves({});
const ec2 = mockClient(EC2Client);
const ssm = mockClient(SSMClient);
const sqs = mockClient(SQSClient);
ec2.on(DescribeInstancesCommand).resolves(
  oneReservation({
    InstanceId: 'i-0abcd1111ef223344',
    State: { Name: 'running', Code: 16 },
    Architecture: 'x86_64',
    PlatformDetails: 'Linux/UNIX',
    Tags: [{ Key: 'lgtm:tenant', Value: 'team-a' }],
  }),
);
ec2.on(CreateTagsCommand).resolves({});
ssm
  .on(DescribeInstanceInformationCommand)
  .resolves({ InstanceInformationList: [{ InstanceId: 'i-0abcd1111ef223344', PingStatus: 'Online' }] });
ssm.on(GetParametersCommand).resolves({
  Parameters: [{ Name: '/LgtmFleet/agent/team-a/linux', Version: 4, Value: '// agent config team-a linux v4' }],
  InvalidParameters: [],
});
ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'command-from-harness' } });
sqs.on(SendMessageBatchCommand).rejects(Object.assign(new Error('The specified queue does not exist.'), { name: 'QueueDoesNotExist' }));

runHandlerEntry<SQSEvent>(
  'LgtmFleet-Enroll',
  async (event, context) => ({
    response: await handler(event, context),
    sendCommands: inputsOf(ssm.commandCalls(SendCommandCommand)),
    sqsCalls: sqs.calls().length,
  }),
  '{"Records":[]}',
);
