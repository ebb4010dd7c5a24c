import { CreateTagsCommand } from '@aws-sdk/client-ec2';
import type { SQSRecord } from 'aws-lambda';
import { chunk } from '../../lambdas/shared/aws';
import { ENROLL_QUEUE_VISIBILITY } from '../../lib/enrollment/enrollment';
import { FakeAws, type FakeInstance, testSettings } from '../../test/lambdas/enroll/fake-aws';
import { loadSampleEvent, sqsRecord } from '../../test/lambdas/fixtures';
import { errorRow, installJestSpyOn, median, progress, type Row, row } from './table';

export const CALLS_PER_INSTANCE_TARGET = 0.2;
export const MAX_IDS_PER_COMMAND = 50;
/** The event source mapping's batch size (lib/enrollment/enrollment.ts), as in test/lambdas/enroll/burst.test.ts. */
const BATCH_SIZE = 100;
const BURSTS = [100, 1_000, 10_000];
/** As deployed: a record not yet SSM-online comes back when its queue visibility expires. */
const SETTINGS = { ...testSettings(), queueVisibilityTimeoutSeconds: ENROLL_QUEUE_VISIBILITY.toSeconds() };
const RETRY_DELAY_MS = ENROLL_QUEUE_VISIBILITY.toMilliseconds();
/** Calls are deterministic; the handler time is the median of this many runs. */
const RUNS = 3;

type Scenario = 'online' | 'late' | 'asg';
const SCENARIOS: Record<Scenario, string> = {
  online: 'all SSM-online',
  late: 'not yet SSM-online on first delivery, online on the retry',
  asg: 'Auto Scaling launches with an lgtm-enroll hook: running event, then the lifecycle event while the install is in flight, checked again after the status handler released the launch',
};

interface BurstFigures {
  readonly calls: number;
  readonly maxIdsPerCommand: number;
  readonly handlerMs: number;
  readonly enrolled: number;
  /** Records still in the queue after the last delivery: 0 when every event was settled. */
  readonly unresolved: number;
}

/**
 * Bursts of launch events through the enroll handler's batch logic (processBatch) against the
 * mocked SDK of the handler tests, one tenant, Linux. Time is what processBatch takes, mocks included
 * (median of 3 runs).
 */
export async function benchBursts(): Promise<Row[]> {
  installJestSpyOn();
  const rows: Row[] = [];
  try {
    await burst(BATCH_SIZE, 'online'); // warm-up: JIT and lazy module initialization, not reported
  } catch (error) {
    return [errorRow('enrollment burst', error)];
  }
  for (const scenario of ['online', 'late', 'asg'] as const) {
    for (const size of BURSTS) {
      const label = `enrollment burst of ${size.toLocaleString('en-US')}, ${SCENARIOS[scenario]}`;
      progress(label);
      try {
        const runs: BurstFigures[] = [];
        for (let run = 0; run < RUNS; run += 1) runs.push(await burst(size, scenario));
        rows.push(burstRow(label, size, { ...runs[0], handlerMs: median(runs.map((figures) => figures.handlerMs)) }));
      } catch (error) {
        rows.push(errorRow(label, error));
      }
    }
  }
  return rows;
}

function burstRow(label: string, size: number, figures: BurstFigures): Row {
  const perInstance = figures.calls / size;
  const value = [
    `${perInstance.toFixed(3)} calls/instance`,
    `max ${figures.maxIdsPerCommand} IDs/SendCommand`,
    `${(figures.handlerMs / size).toFixed(3)} ms/event`,
    `${figures.enrolled.toLocaleString('en-US')} enrolled`,
    ...(figures.unresolved > 0 ? [`${figures.unresolved.toLocaleString('en-US')} records unresolved`] : []),
  ].join(' · ');
  const target = `≤ ${CALLS_PER_INSTANCE_TARGET} calls/instance, ≤ ${MAX_IDS_PER_COMMAND} IDs, all enrolled`;
  const passed =
    perInstance <= CALLS_PER_INSTANCE_TARGET &&
    figures.maxIdsPerCommand <= MAX_IDS_PER_COMMAND &&
    figures.enrolled === size &&
    figures.unresolved === 0;
  return row(label, value, target, passed);
}

async function burst(size: number, scenario: Scenario): Promise<BurstFigures> {
  const running = loadSampleEvent('ec2-instance-running.json');
  const firstDelivery = new Date(Date.parse(String(running.time)) + 60_000);
  const instances: FakeInstance[] = Array.from({ length: size }, (_, index) => ({
    id: `i-${index.toString(16).padStart(17, '0')}`,
    ssm: scenario === 'late' ? 'none' : 'Online',
  }));
  const aws = new FakeAws(instances);
  const records = instances.map((instance) => sqsRecord({ ...running, detail: { 'instance-id': instance.id, state: 'running' } }));

  let handlerMs = 0;
  const deliver = async (pending: SQSRecord[], now: Date): Promise<SQSRecord[]> => {
    const failed: SQSRecord[] = [];
    for (const batch of chunk(pending, BATCH_SIZE)) {
      const start = performance.now();
      const response = await aws.process(batch, now, SETTINGS);
      handlerMs += performance.now() - start;
      const failedIds = new Set(response.batchItemFailures.map((failure) => failure.itemIdentifier));
      failed.push(...batch.filter((record) => failedIds.has(record.messageId)));
    }
    return failed;
  };

  // Failed records come back on their own; waiting requests in the envelopes the handler sent, all on one slot.
  const redeliver = async (pending: SQSRecord[], now: Date): Promise<SQSRecord[]> => {
    const failed = await deliver(
      [
        ...pending.map((record) => ({ ...record, attributes: { ...record.attributes, ApproximateReceiveCount: '2' } })),
        ...aws.takeEnvelopeRecords(),
      ],
      now,
    );
    // What one invocation passed on (over its share of a batch of envelopes) comes back at once.
    for (let round = 0; round < 20; round++) {
      const more = aws.takeEnvelopeRecords();
      if (more.length === 0) break;
      failed.push(...(await deliver(more, now)));
    }
    return failed;
  };

  let retried = await deliver(records, firstDelivery);
  if (scenario === 'late') {
    aws.add(...instances.map((instance) => ({ ...instance, ssm: 'Online' as const })));
    retried = await redeliver(retried, new Date(firstDelivery.getTime() + RETRY_DELAY_MS));
  }
  if (scenario === 'asg') {
    // The lifecycle events arrive while the installs are in flight: the handler sees the tags it wrote.
    applyTagWrites(aws, instances);
    const lifecycle = loadSampleEvent('autoscaling-launch-lifecycle-action.json');
    const lifecycleRecords = instances.map((instance) =>
      sqsRecord({ ...lifecycle, detail: { ...(lifecycle.detail as object), EC2InstanceId: instance.id } }),
    );
    const lifecycleDelivery = new Date(firstDelivery.getTime() + 30_000);
    retried.push(...(await deliver(lifecycleRecords, lifecycleDelivery)));
    // The status handler records each success and releases each launch (the hook tags were there).
    aws.add(
      ...instances.map((instance) => ({
        ...instance,
        tags: { 'lgtm:agent-status': 'success', 'lgtm:agent-version': SETTINGS.alloyVersion },
      })),
    );
    for (const instance of instances) aws.lifecycleStates.set(instance.id, 'InService');
    retried = await redeliver(retried, new Date(lifecycleDelivery.getTime() + RETRY_DELAY_MS));
  }

  const commands = aws.sendCommands();
  return {
    calls: aws.totalCalls(),
    maxIdsPerCommand: Math.max(0, ...commands.map((command) => command.InstanceIds?.length ?? 0)),
    handlerMs,
    enrolled: new Set(commands.flatMap((command) => command.InstanceIds ?? [])).size,
    unresolved: retried.length + aws.takeEnvelopeRecords().length,
  };
}

/** Gives the fake's instances the tags the handler wrote so far (the mocked CreateTags only records them). */
function applyTagWrites(aws: FakeAws, instances: FakeInstance[]): void {
  const tags = new Map(instances.map((instance) => [instance.id, { ...instance.tags }]));
  for (const call of aws.ec2.commandCalls(CreateTagsCommand)) {
    const { Resources = [], Tags = [] } = call.args[0].input;
    for (const id of Resources) {
      const current = tags.get(id);
      if (current) for (const { Key, Value } of Tags) if (Key) current[Key] = Value ?? '';
    }
  }
  aws.add(...instances.map((instance) => ({ ...instance, tags: tags.get(instance.id) })));
}
