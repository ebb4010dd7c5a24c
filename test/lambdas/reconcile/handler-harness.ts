/**
 * Runs the real reconcile handler entry (environment read at module load, module-level clients,
 * the middy chain with the Powertools middlewares) against mocked AWS, then prints the result and
 * the PutEvents calls as the last line of stdout.
 *
 * It runs in its own Node process (started by handler.test.ts through tsx) because @middy/core 7
 * ships only an ES module, which Jest's CommonJS module runtime cannot load on this Node version.
 *
 * Input: the scheduled event as JSON in HARNESS_EVENT; HARNESS_PUT_EVENTS=denied makes PutEvents
 * fail; the handler's variables in the environment.
 */
import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { DescribeInstanceInformationCommand, SSMClient } from '@aws-sdk/client-ssm';
import type { Context } from 'aws-lambda';
import { handler } from '../../../lambdas/reconcile/index';
import { mockClient } from '../../support/sdk-call-recorder';
import { RESULT_MARKER } from '../handler-process';

async function main(): Promise<void> {
  // Class-level mocks stub the prototype, so they also cover the clients the handler module created on import.
  const ec2 = mockClient(EC2Client);
  const ssm = mockClient(SSMClient);
  const eventBridge = mockClient(EventBridgeClient);
  ec2.on(DescribeInstancesCommand).resolves({
    Reservations: [
      {
        Instances: [
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
        ],
      },
    ],
  });
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

  const event: unknown = JSON.parse(process.env.HARNESS_EVENT ?? '{}');
  const context = {
    functionName: 'LgtmFleet-Reconcile',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:ap-northeast-2:123456789012:function:LgtmFleet-Reconcile',
    memoryLimitInMB: '256',
    awsRequestId: 'request-from-harness',
    logGroupName: '/aws/lambda/LgtmFleet-Reconcile',
    logStreamName: 'stream',
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => 60_000,
  } as Context;

  const summary = await handler(event, context);
  const report = {
    summary,
    putEvents: eventBridge.commandCalls(PutEventsCommand).map((call) => call.args[0].input),
  };
  process.stdout.write(`\n${RESULT_MARKER}${JSON.stringify(report)}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}\n`);
  process.exit(1);
});
