import { TransactWriteItemsCommand } from '@aws-sdk/client-dynamodb';
import { SendCommandCommand } from '@aws-sdk/client-ssm';
import { claimLaunches } from '../../../lambdas/enroll/claims';
import { loadSampleEvent, sqsRecord } from '../fixtures';
import { awsError, FakeAws, type FakeInstance } from './fake-aws';

const NOW = new Date('2026-11-23T12:31:34Z');
const TABLE = 'LgtmFleet-EnrollClaims';
const RUNNING = loadSampleEvent('ec2-instance-running.json');
const id = (index: number) => `i-${index.toString(16).padStart(17, '0')}`;
const claim = (index: number, launchTime = '2026-11-23T12:30:00.000Z') => ({ instanceId: id(index), launchTime });

describe('claimLaunches', () => {
  test('claims free launches, 100 to a transaction', async () => {
    const aws = new FakeAws();
    const result = await claimLaunches(
      aws.dynamodbClient,
      TABLE,
      Array.from({ length: 150 }, (_, i) => claim(i)),
      NOW,
      600,
    );
    expect(result.claimed.size).toBe(150);
    expect(aws.dynamodb.commandCalls(TransactWriteItemsCommand).map((c) => c.args[0].input.TransactItems?.length)).toEqual([100, 50]);
  });

  test('a launch claimed by another invocation is taken; the others are written in a second transaction', async () => {
    const aws = new FakeAws();
    await claimLaunches(aws.dynamodbClient, TABLE, [claim(1)], NOW, 600);
    const result = await claimLaunches(aws.dynamodbClient, TABLE, [claim(0), claim(1), claim(2)], NOW, 600);
    expect([...result.taken]).toEqual([id(1)]);
    expect([...result.claimed].sort()).toEqual([id(0), id(2)]);
    expect(aws.dynamodb.commandCalls(TransactWriteItemsCommand)).toHaveLength(3);
  });

  test('an expired claim (past the command timeout) and a new launch of the same instance can be claimed again', async () => {
    const aws = new FakeAws();
    await claimLaunches(aws.dynamodbClient, TABLE, [claim(1)], NOW, 600);
    const later = new Date(NOW.getTime() + 601_000);
    expect((await claimLaunches(aws.dynamodbClient, TABLE, [claim(1)], later, 600)).claimed).toEqual(new Set([id(1)]));
    const restarted = await claimLaunches(aws.dynamodbClient, TABLE, [claim(1, '2026-11-23T13:00:00.000Z')], later, 600);
    expect(restarted.claimed).toEqual(new Set([id(1)]));
  });

  test.each([
    ['throttled', awsError('ProvisionedThroughputExceededException', 'Rate exceeded')],
    ['access denied', awsError('AccessDeniedException', 'not authorized to perform: dynamodb:PutItem')],
  ])('a claim that cannot be written (%s) is reported as failed, never as claimed', async (_, error) => {
    const aws = new FakeAws();
    aws.dynamodb.on(TransactWriteItemsCommand).rejects(error);
    const result = await claimLaunches(aws.dynamodbClient, TABLE, [claim(0), claim(1)], NOW, 600);
    expect(result.claimed.size).toBe(0);
    expect(result.failed).toEqual([{ instanceIds: [id(0), id(1)], error }]);
  });
});

describe('duplicate launch events processed by two invocations at once', () => {
  test('500 launches, 20% delivered twice, as two concurrent batches: every instance gets exactly one install command', async () => {
    const instances: FakeInstance[] = Array.from({ length: 500 }, (_, i) => ({ id: id(i) }));
    const aws = new FakeAws(instances);
    const record = (i: number) => sqsRecord({ ...RUNNING, detail: { 'instance-id': id(i), state: 'running' } });
    // Each invocation gets every instance once; a fifth of them appear in the other invocation too.
    const first = Array.from({ length: 300 }, (_, i) => record(i));
    const second = [...Array.from({ length: 200 }, (_, i) => record(300 + i)), ...Array.from({ length: 100 }, (_, i) => record(i * 3))];

    const [a, b] = await Promise.all([aws.process(first.slice(0, 100), NOW), aws.process(second.slice(0, 100), NOW)]);
    const rest = await Promise.all([
      aws.process(first.slice(100, 200), NOW),
      aws.process(second.slice(100, 200), NOW),
      aws.process(first.slice(200), NOW),
      aws.process(second.slice(200), NOW),
    ]);

    for (const response of [a, b, ...rest]) expect(response.batchItemFailures).toEqual([]);
    const commanded = aws.ssm.commandCalls(SendCommandCommand).flatMap((call) => call.args[0].input.InstanceIds ?? []);
    expect(commanded).toHaveLength(500);
    expect(new Set(commanded).size).toBe(500);
    expect(aws.skippedByReason.get('enrollment-in-flight')).toBe(100);
  });
});
