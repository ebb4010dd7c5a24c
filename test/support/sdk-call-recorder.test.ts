import { join } from 'node:path';
import { DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import { SSMClient } from '@aws-sdk/client-ssm';
import { FakeAws, TEST_ENV } from '../lambdas/enroll/fake-aws';
import { loadSampleEvent, sqsRecord } from '../lambdas/fixtures';
import { runHandlerProcess } from '../lambdas/handler-process';
import { mockClient } from './sdk-call-recorder';
import { recordedCalls, type SdkCall } from './sdk-call-records';

/**
 * The IAM coverage test is only as good as the recording: these tests prove that calls through
 * the handler tests' mocks land in it, attributed to the right handler, whichever way the mock was
 * made and wherever the handler ran. (This file is not under test/lambdas/, so none of its calls
 * reach the records the IAM coverage test reads.)
 */

function timesSent(call: SdkCall): number {
  return recordedCalls().find((c) => c.handler === call.handler && c.client === call.client && c.command === call.command)?.count ?? 0;
}

test('records each command sent through an instance mock for the handler whose tests made it, even after its history is cleared', async () => {
  const describeInstances = { handler: 'enroll', client: 'EC2Client', command: 'DescribeInstancesCommand' };
  const before = timesSent(describeInstances);
  // FakeAws mocks its clients in test/lambdas/enroll/fake-aws.ts.
  const aws = new FakeAws();

  await aws.ec2Client.send(new DescribeInstancesCommand({}));
  aws.ec2.resetHistory();
  await aws.ec2Client.send(new DescribeInstancesCommand({}));
  aws.ec2.reset();
  await aws.ec2Client.send(new DescribeInstancesCommand({}));

  expect(timesSent(describeInstances)).toBe(before + 3);
});

test('records the commands a handler harness sends through class mocks in its child process', () => {
  const sendCommand = { handler: 'enroll', client: 'SSMClient', command: 'SendCommandCommand' };
  const before = timesSent(sendCommand);

  const run = runHandlerProcess(join(__dirname, '..', 'lambdas', 'enroll', 'handler-harness.ts'), 'lgtm-fleet-enroll', TEST_ENV, {
    Records: [sqsRecord(loadSampleEvent('ec2-instance-running.json'))],
  });

  expect(run.status).toBe(0);
  expect(timesSent(sendCommand)).toBe(before + 1);
});

test('refuses a mock made outside test/lambdas/<handler>/, whose calls it could not attribute', () => {
  expect(() => mockClient(new SSMClient({ region: 'ap-northeast-2' }))).toThrow('call it from test/lambdas/<handler>/');
});
