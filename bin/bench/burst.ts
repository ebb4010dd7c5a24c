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

type Scenario = 'online' | 'late';
const SCENARIOS: Record<Scenario, string> = {
  online: 'all SSM-online',
  late: 'not yet SSM-online on first delivery, online on the retry',
};

interface BurstFigures {
  readonly calls: number;
  readonly maxIdsPerCommand: number;
  readonly handlerMs: number;
  readonly enrolled: number;
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
  for (const scenario of ['online', 'late'] as const) {
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
  ].join(' · ');
  const target = `≤ ${CALLS_PER_INSTANCE_TARGET} calls/instance, ≤ ${MAX_IDS_PER_COMMAND} IDs, all enrolled`;
  const passed = perInstance <= CALLS_PER_INSTANCE_TARGET && figures.maxIdsPerCommand <= MAX_IDS_PER_COMMAND && figures.enrolled === size;
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

  let retried = await deliver(records, firstDelivery);
  if (scenario === 'late') {
    aws.add(...instances.map((instance) => ({ ...instance, ssm: 'Online' as const })));
    const redelivered = retried.map((record) => ({ ...record, attributes: { ...record.attributes, ApproximateReceiveCount: '2' } }));
    retried = await deliver(redelivered, new Date(firstDelivery.getTime() + RETRY_DELAY_MS));
  }

  const commands = aws.sendCommands();
  return {
    calls: aws.totalCalls(),
    maxIdsPerCommand: Math.max(0, ...commands.map((command) => command.InstanceIds?.length ?? 0)),
    handlerMs,
    enrolled: new Set(commands.flatMap((command) => command.InstanceIds ?? [])).size,
  };
}
