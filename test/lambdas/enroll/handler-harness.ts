/**
 * Runs the real enroll handler entry (environment read at module load, module-level clients,
 * the middy chain with the Powertools middlewares) against mocked AWS, then prints the response
 * and the commands sent as the last line of stdout.
 *
 * It runs in its own Node process (started by handler.test.ts through tsx) because @middy/core 7
 * ships only an ES module, which Jest's CommonJS module runtime cannot load on this Node version.
 *
 * Input: the SQS event as JSON in HARNESS_EVENT; the handler's variables in the environment.
 */
import { DynamoDBClient, TransactWriteItemsCommand } from '@aws-sdk/client-dynamodb';
import { CreateTagsCommand, DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DescribeInstanceInformationCommand, GetParametersCommand, SendCommandCommand, SSMClient } from '@aws-sdk/client-ssm';
import type { Context, SQSEvent } from 'aws-lambda';
import { handler } from '../../../lambdas/enroll/index';
import { mockClient } from '../../support/sdk-call-recorder';
import { RESULT_MARKER } from '../handler-process';

async function main(): Promise<void> {
  // Class-level mocks stub the prototype, so they also cover the clients the handler module created on import.
  const dynamodb = mockClient(DynamoDBClient);
  dynamodb.on(TransactWriteItemsCommand).resolves({});
  const ec2 = mockClient(EC2Client);
  const ssm = mockClient(SSMClient);
  const sqs = mockClient(SQSClient);
  ec2.on(DescribeInstancesCommand).resolves({
    Reservations: [
      {
        Instances: [
          {
            InstanceId: 'i-0abcd1111ef223344',
            State: { Name: 'running', Code: 16 },
            Architecture: 'x86_64',
            PlatformDetails: 'Linux/UNIX',
            Tags: [{ Key: 'lgtm:tenant', Value: 'team-a' }],
          },
        ],
      },
    ],
  });
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

  const event = JSON.parse(process.env.HARNESS_EVENT ?? '{"Records":[]}') as SQSEvent;
  const context = {
    functionName: 'LgtmFleet-Enroll',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:ap-northeast-2:123456789012:function:LgtmFleet-Enroll',
    memoryLimitInMB: '256',
    awsRequestId: 'request-from-harness',
    logGroupName: '/aws/lambda/LgtmFleet-Enroll',
    logStreamName: 'stream',
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => 60_000,
  } as Context;

  const response = await handler(event, context);
  const report = {
    response,
    sendCommands: ssm.commandCalls(SendCommandCommand).map((call) => call.args[0].input),
    sqsCalls: sqs.calls().length,
  };
  process.stdout.write(`\n${RESULT_MARKER}${JSON.stringify(report)}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}\n`);
  process.exit(1);
});
