/**
 * Runs the real refresh handler entry (environment read at module load, module-level clients, the
 * middy chain with the Powertools middlewares) against mocked AWS, then prints the response and the
 * calls made as the last line of stdout.
 *
 * It runs in its own Node process (started by handler.test.ts through tsx) because @middy/core 7
 * ships only an ES module, which Jest's CommonJS module runtime cannot load on this Node version.
 *
 * Input: the SQS event as JSON in HARNESS_EVENT; the handler's variables in the environment.
 */
import { ECSClient, UpdateServiceCommand } from '@aws-sdk/client-ecs';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { GetParametersCommand, ListCommandsCommand, SendCommandCommand, SSMClient } from '@aws-sdk/client-ssm';
import type { Context, SQSEvent } from 'aws-lambda';
import { handler } from '../../../lambdas/refresh/index';
import { mockClient } from '../../support/sdk-call-recorder';
import { RESULT_MARKER } from '../handler-process';

async function main(): Promise<void> {
  // Class-level mocks stub the prototype, so they also cover the clients the handler module created on import.
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
  sqs.on(SendMessageBatchCommand).callsFake((input: { Entries: Array<{ Id: string }> }) => ({
    Successful: input.Entries.map((entry) => ({ Id: entry.Id, MessageId: `dlq-${entry.Id}`, MD5OfMessageBody: 'x' })),
    Failed: [],
  }));

  const event = JSON.parse(process.env.HARNESS_EVENT ?? '{"Records":[]}') as SQSEvent;
  const context = {
    functionName: 'lgtm-Refresh',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:ap-northeast-2:123456789012:function:lgtm-Refresh',
    memoryLimitInMB: '256',
    awsRequestId: 'request-from-harness',
    logGroupName: '/aws/lambda/lgtm-Refresh',
    logStreamName: 'stream',
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => 60_000,
  } as Context;

  const response = await handler(event, context);
  const report = {
    response,
    sendCommands: ssm.commandCalls(SendCommandCommand).map((call) => call.args[0].input),
    published: eventBridge.commandCalls(PutEventsCommand).flatMap((call) => call.args[0].input.Entries ?? []),
    deadLetters: sqs
      .commandCalls(SendMessageBatchCommand)
      .flatMap((call) => call.args[0].input.Entries ?? [])
      .map((entry) => entry.Id),
  };
  process.stdout.write(`\n${RESULT_MARKER}${JSON.stringify(report)}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}\n`);
  process.exit(1);
});
