import { SendCommandCommand } from '@aws-sdk/client-ssm';
import type { SQSRecord } from 'aws-lambda';
import type { EnrollSettings } from '../../../lambdas/enroll/settings';
import { loadSampleEvent, sqsRecord } from '../fixtures';
import { FakeAws, type FakeInstance, testSettings } from './fake-aws';

/**
 * A burst of 1,000 launches delivered in batches of 100 (the event source mapping's batch size).
 * The design target is at most 0.2 AWS API calls per instance, and no SendCommand over 50 IDs.
 */
const RUNNING = loadSampleEvent('ec2-instance-running.json');
const LAUNCHES = 1000;
const BATCH_SIZE = 100;
const NOW = new Date('2026-11-23T12:31:34Z');

function fleet(describe: (index: number) => Partial<FakeInstance>): FakeInstance[] {
  return Array.from({ length: LAUNCHES }, (_, index) => ({ id: `i-${index.toString(16).padStart(17, '0')}`, ...describe(index) }));
}

function batchesOf(instances: readonly FakeInstance[]): SQSRecord[][] {
  const records = instances.map((instance) => sqsRecord({ ...RUNNING, detail: { 'instance-id': instance.id, state: 'running' } }));
  return Array.from({ length: Math.ceil(records.length / BATCH_SIZE) }, (_, index) =>
    records.slice(index * BATCH_SIZE, (index + 1) * BATCH_SIZE),
  );
}

async function processAll(aws: FakeAws, batches: SQSRecord[][], now = NOW, settings?: EnrollSettings): Promise<SQSRecord[]> {
  const failed: SQSRecord[] = [];
  for (const batch of batches) {
    const response = await aws.process(batch, now, settings);
    const failedIds = new Set(response.batchItemFailures.map((failure) => failure.itemIdentifier));
    failed.push(...batch.filter((record) => failedIds.has(record.messageId)));
  }
  return failed;
}

function expectEveryInstanceCommandedOnce(aws: FakeAws, instances: readonly FakeInstance[]) {
  const commands = aws.ssm.commandCalls(SendCommandCommand).map((call) => call.args[0].input);
  const commanded = commands.flatMap((command) => command.InstanceIds ?? []);
  expect(Math.max(...commands.map((command) => command.InstanceIds?.length ?? 0))).toBeLessThanOrEqual(50);
  expect(commanded).toHaveLength(instances.length);
  expect(new Set(commanded)).toEqual(new Set(instances.map((instance) => instance.id)));
}

test('1,000 launches of SSM-online instances, one tenant: at most 0.2 calls per instance', async () => {
  const instances = fleet(() => ({}));
  const aws = new FakeAws(instances);

  const failed = await processAll(aws, batchesOf(instances));

  expect(failed).toEqual([]);
  expectEveryInstanceCommandedOnce(aws, instances);
  // Per batch of 100: DescribeInstances 1, DescribeInstanceInformation 2, GetParameters 1, one claim transaction, SendCommand 2, CreateTags 2.
  expect(aws.callsByCommand()).toEqual({
    TransactWriteItemsCommand: 10,
    DescribeInstancesCommand: 10,
    DescribeInstanceInformationCommand: 20,
    GetParametersCommand: 10,
    SendCommandCommand: 20,
    CreateTagsCommand: 20,
  });
  expect(aws.totalCalls() / LAUNCHES).toBeLessThanOrEqual(0.2);
});

test('1,000 launches over two tenants and both platforms stay within 0.2 calls per instance', async () => {
  const instances = fleet(
    (index): Partial<FakeInstance> => ({
      platform: index % 4 === 0 ? 'windows' : 'linux',
      tags: index % 2 === 0 ? { 'lgtm:tenant': 'team-a' } : {},
    }),
  );
  const aws = new FakeAws(instances);

  const failed = await processAll(aws, batchesOf(instances));

  expect(failed).toEqual([]);
  expectEveryInstanceCommandedOnce(aws, instances);
  expect(aws.totalCalls() / LAUNCHES).toBeLessThanOrEqual(0.2);
});

test('1,000 launches not yet SSM-managed on first delivery wait in 10 envelopes, read back together: 0.2 calls per instance in all', async () => {
  const unmanaged = fleet(() => ({ ssm: 'none' }));
  const aws = new FakeAws(unmanaged);

  expect(await processAll(aws, batchesOf(unmanaged))).toEqual([]);
  // Per batch of 100: DescribeInstances 1, DescribeInstanceInformation 2, one envelope (no visibility change per record).
  expect(aws.callsByCommand()).toEqual({
    DescribeInstancesCommand: 10,
    DescribeInstanceInformationCommand: 20,
    SendMessageBatchCommand: 10,
  });

  // Every envelope ends on the same slot: the queue delivers the ten in one batch.
  const online = unmanaged.map((instance) => ({ ...instance, ssm: 'Online' as const }));
  aws.add(...online);
  expect(await processAll(aws, [aws.takeEnvelopeRecords()], new Date(NOW.getTime() + 15_000))).toEqual([]);

  expectEveryInstanceCommandedOnce(aws, online);
  expect(aws.takeEnvelopeRecords()).toEqual([]);
  expect(aws.totalCalls() / LAUNCHES).toBeLessThanOrEqual(0.2);
});

test('1,000 Auto Scaling launches with a hook: the lifecycle events checked again after the status handler cost at most 0.2 calls per instance in all', async () => {
  // As deployed: the queue's visibility timeout is known, so the first retry needs no visibility change.
  const settings = testSettings({ QUEUE_VISIBILITY_TIMEOUT_SECONDS: '120' });
  const instances = fleet(() => ({}));
  const aws = new FakeAws(instances);
  expect(await processAll(aws, batchesOf(instances), NOW, settings)).toEqual([]);
  const afterRunning = aws.totalCalls();

  // The lifecycle events arrive while the installs are in flight.
  const sentAt = NOW.toISOString();
  aws.add(...instances.map((instance) => ({ ...instance, tags: { 'lgtm:agent-status': 'pending', 'lgtm:agent-pending-since': sentAt } })));
  const lifecycle = loadSampleEvent('autoscaling-launch-lifecycle-action.json');
  const records = instances.map((instance) =>
    sqsRecord({ ...lifecycle, detail: { ...(lifecycle.detail as object), EC2InstanceId: instance.id } }),
  );
  const batches = Array.from({ length: LAUNCHES / BATCH_SIZE }, (_, index) => records.slice(index * BATCH_SIZE, (index + 1) * BATCH_SIZE));
  expect(await processAll(aws, batches, new Date(NOW.getTime() + 30_000), settings)).toEqual([]);
  expect(aws.deferred()).toHaveLength(LAUNCHES);

  // The status handler records each success and releases each launch; the requests come back once, together.
  aws.add(...instances.map((instance) => ({ ...instance, tags: { 'lgtm:agent-status': 'success', 'lgtm:agent-version': '1.21.0' } })));
  for (const instance of instances) aws.lifecycleStates.set(instance.id, 'InService');
  expect(await processAll(aws, [aws.takeEnvelopeRecords()], new Date(NOW.getTime() + 45_000), settings)).toEqual([]);
  expect(aws.takeEnvelopeRecords()).toEqual([]);

  const { DescribeInstancesCommand, CreateTagsCommand, DescribeAutoScalingInstancesCommand, SendMessageBatchCommand, ...rest } =
    aws.callsByCommand();
  // Lifecycle records, per batch of 100: DescribeInstances 1 + hook CreateTags 1 + one envelope;
  // then all 1,000 at once: DescribeInstances 5 (200 a call) + DescribeAutoScalingInstances 20 (50 a call).
  expect(DescribeInstancesCommand).toBe(10 + 10 + 5);
  expect(CreateTagsCommand).toBe(20 + 10);
  expect(SendMessageBatchCommand).toBe(10);
  expect(DescribeAutoScalingInstancesCommand).toBe(20);
  expect(rest.CompleteLifecycleActionCommand).toBeUndefined();
  expect(aws.totalCalls() - afterRunning).toBe(10 + 10 + 10 + 5 + 20);
  expect(aws.totalCalls() / LAUNCHES).toBeLessThanOrEqual(0.2);
});
