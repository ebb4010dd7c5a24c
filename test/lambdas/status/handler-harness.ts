/**
 * Runs the real status handler entry (environment read at module load, module-level clients, the
 * middy chain with the Powertools middlewares) against mocked AWS, then prints what the handler
 * returned or threw, and the commands sent, as the last line of stdout.
 *
 * It runs in its own Node process (started by handler.test.ts through tsx) because @middy/core 7
 * ships only an ES module, which Jest's CommonJS module runtime cannot load on this Node version.
 *
 * Input: the EventBridge event as JSON in HARNESS_EVENT; HARNESS_FAIL=throttle makes ListCommands
 * fail; the handler's variables in the environment.
 */
import { CreateTagsCommand, DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { ListCommandsCommand, SSMClient } from '@aws-sdk/client-ssm';
import type { Context } from 'aws-lambda';
import { handler } from '../../../lambdas/status/index';
import { mockClient } from '../../support/sdk-call-recorder';
import { RESULT_MARKER } from '../handler-process';

async function main(): Promise<void> {
  // Class-level mocks stub the prototype, so they also cover the clients the handler module created on import.
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
  ec2.on(DescribeInstancesCommand).resolves({
    Reservations: [
      {
        Instances: [
          {
            InstanceId: 'i-0abcd1111ef223344',
            State: { Name: 'running', Code: 16 },
            Tags: [
              { Key: 'lgtm:agent-status', Value: 'pending' },
              { Key: 'lgtm:agent-command', Value: 'e8d3c0e4-71f7-4491-898f-c9b35bee5f3b' },
            ],
          },
        ],
      },
    ],
  });
  ec2.on(CreateTagsCommand).resolves({});
  eventBridge.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'event-from-harness' }] });

  const event: unknown = JSON.parse(process.env.HARNESS_EVENT ?? '{}');
  const context = {
    functionName: 'LgtmFleet-Status',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:ap-northeast-2:123456789012:function:LgtmFleet-Status',
    memoryLimitInMB: '256',
    awsRequestId: 'request-from-harness',
    logGroupName: '/aws/lambda/LgtmFleet-Status',
    logStreamName: 'stream',
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => 60_000,
  } as Context;

  let outcome: { response: unknown } | { error: { name: string; message: string } };
  try {
    outcome = { response: await handler(event, context) };
  } catch (error) {
    outcome = { error: { name: (error as Error).name, message: (error as Error).message } };
  }
  const report = {
    ...outcome,
    createTags: ec2.commandCalls(CreateTagsCommand).map((call) => call.args[0].input),
    putEvents: eventBridge.commandCalls(PutEventsCommand).map((call) => call.args[0].input),
  };
  process.stdout.write(`\n${RESULT_MARKER}${JSON.stringify(report)}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}\n`);
  process.exit(1);
});
