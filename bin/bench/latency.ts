import { SendCommandCommand } from '@aws-sdk/client-ssm';
import type { SQSRecord } from 'aws-lambda';
import type { EnrollSettings } from '../../lambdas/enroll/settings';
import { ENROLL_QUEUE_VISIBILITY } from '../../lib/enrollment/enrollment';
import { envelopeRecord, FakeAws, type FakeInstance, testSettings } from '../../test/lambdas/enroll/fake-aws';
import { loadSampleEvent } from '../../test/lambdas/fixtures';
import { CALLS_PER_INSTANCE_TARGET } from './burst';
import { errorRow, installJestSpyOn, progress, type Row, row } from './table';

/**
 * Enrollment latency on a virtual clock: a burst of launches whose SSM agents register after a
 * realistic spread of delays, delivered through a simulated SQS queue (batches of 100, the
 * visibility timeout the stack sets, the delays the handler asks for) to the enroll handler's
 * batch logic against the handler tests' fake AWS; the requests it defers come back in the envelopes it sends. What counts is the latency we add: the install
 * command's time minus the moment SSM reports the instance online.
 */

export const ADDED_LATENCY_TARGET = { p50Seconds: 15, p99Seconds: 60 } as const;
const BURSTS = [100, 1_000, 10_000];
/** The event source mapping's batch size and batching window (lib/enrollment/enrollment.ts). */
const BATCH_SIZE = 100;
const BATCHING_WINDOW_SECONDS = 5;
/** Events of a burst arrive within this window. */
const ARRIVAL_WINDOW_SECONDS = 60;
const VISIBILITY_SECONDS = ENROLL_QUEUE_VISIBILITY.toSeconds();
const SETTINGS = { ...testSettings(), queueVisibilityTimeoutSeconds: VISIBILITY_SECONDS };
const T0 = Date.parse('2026-11-23T12:30:00Z');
const RUNNING = loadSampleEvent('ec2-instance-running.json');

/** A small deterministic PRNG (mulberry32): the same burst on every run. */
export function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Seconds from launch until SSM reports the instance online: log-normal with a median of 45 s for
 * Linux and 150 s for Windows (its agent starts after a longer boot), clipped to 20 s … 10 min, so
 * most register within a minute or three and a long tail takes minutes.
 */
export function ssmOnlineDelaySeconds(platform: 'linux' | 'windows', next: () => number): number {
  const median = platform === 'windows' ? 150 : 45;
  // Box-Muller: a standard normal from two uniforms; sigma 0.8 gives the long tail.
  const normal = Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
  return Math.min(600, Math.max(20, median * Math.exp(0.8 * normal)));
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

interface QueuedMessage {
  readonly messageId: string;
  readonly body: string;
  visibleAt: number;
  receiveCount: number;
  firstReceivedAt?: number;
}

export interface LatencyFigures {
  /** Added latency per enrolled instance, seconds, sorted. */
  readonly addedSeconds: readonly number[];
  readonly calls: number;
  readonly instances: number;
}

/**
 * One burst of `size` launches, 30 % Windows, with the enroll settings as deployed unless others
 * are given. Waiting requests come back the way the handler sends them: in envelopes, delayed to
 * their slot (lambdas/enroll/wait-envelope.ts); a record that failed comes back after the queue's
 * visibility timeout.
 */
export async function simulateBurst(size: number, seed = 7, settings: EnrollSettings = SETTINGS): Promise<LatencyFigures> {
  const visibilitySeconds = settings.queueVisibilityTimeoutSeconds ?? VISIBILITY_SECONDS;
  const next = random(seed + size);
  const onlineAt = new Map<string, number>();
  const instances: FakeInstance[] = [];
  let pending: QueuedMessage[] = [];
  for (let index = 0; index < size; index++) {
    const instanceId = `i-${index.toString(16).padStart(17, '0')}`;
    const platform = next() < 0.3 ? 'windows' : 'linux';
    const launchedAt = T0 + Math.round(next() * ARRIVAL_WINDOW_SECONDS * 1000);
    onlineAt.set(instanceId, launchedAt + ssmOnlineDelaySeconds(platform, next) * 1000);
    instances.push({ id: instanceId, platform, ssm: 'none' });
    // The running event reaches the queue a few seconds after launch.
    const body = JSON.stringify({
      ...RUNNING,
      time: new Date(launchedAt).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      detail: { 'instance-id': instanceId, state: 'running' },
    });
    pending.push({ messageId: `m-${instanceId}`, body, visibleAt: launchedAt + 5_000, receiveCount: 0 });
  }
  const aws = new FakeAws(instances);
  const sentAt = new Map<string, number>();
  // SSM registrations in time order, applied to the fake as the clock passes them.
  const registrations = instances
    .map((instance) => ({ instance, at: onlineAt.get(instance.id) ?? Number.POSITIVE_INFINITY }))
    .sort((a, b) => a.at - b.at);
  let registered = 0;
  let envelopesSeen = 0;

  while (pending.length > 0) {
    pending.sort((a, b) => a.visibleAt - b.visibleAt);
    // A poll returns when it holds a full batch or its batching window has passed.
    const now = Math.round(
      Math.min(
        (pending[0] as QueuedMessage).visibleAt + BATCHING_WINDOW_SECONDS * 1000,
        (pending[Math.min(BATCH_SIZE, pending.length) - 1] as QueuedMessage).visibleAt,
      ),
    );
    const batch = pending.filter((message) => message.visibleAt <= now).slice(0, BATCH_SIZE);
    while (registered < registrations.length && (registrations[registered] as { at: number }).at <= now) {
      aws.add({ ...(registrations[registered] as { instance: FakeInstance }).instance, ssm: 'Online' });
      registered++;
    }
    const records: SQSRecord[] = batch.map((message) => {
      message.receiveCount += 1;
      message.firstReceivedAt ??= now;
      const record = envelopeRecord(message.body, message.messageId);
      return {
        ...record,
        attributes: {
          ...record.attributes,
          ApproximateReceiveCount: String(message.receiveCount),
          ApproximateFirstReceiveTimestamp: String(message.firstReceivedAt),
        },
      };
    });
    const sendsBefore = aws.ssm.commandCalls(SendCommandCommand).length;
    const response = await aws.process(records, new Date(now), settings);
    for (const call of aws.ssm.commandCalls(SendCommandCommand).slice(sendsBefore)) {
      for (const id of call.args[0].input.InstanceIds ?? []) if (!sentAt.has(id)) sentAt.set(id, now);
    }
    const failed = new Set(response.batchItemFailures.map((failure) => failure.itemIdentifier));
    const done = new Set<QueuedMessage>();
    for (const message of batch) {
      if (!failed.has(message.messageId)) done.add(message);
      else message.visibleAt = now + visibilitySeconds * 1000;
    }
    pending = pending.filter((message) => !done.has(message));
    const envelopes = aws.envelopes();
    for (const envelope of envelopes.slice(envelopesSeen)) {
      envelopesSeen += 1;
      pending.push({
        messageId: `envelope-${envelopesSeen}`,
        body: envelope.body,
        visibleAt: now + (envelope.delaySeconds ?? 0) * 1000,
        receiveCount: 0,
      });
    }
  }
  const addedSeconds = [...sentAt].map(([id, at]) => (at - (onlineAt.get(id) ?? at)) / 1000).sort((a, b) => a - b);
  return { addedSeconds, calls: aws.totalCalls(), instances: size };
}

export async function benchLatency(): Promise<Row[]> {
  installJestSpyOn();
  const rows: Row[] = [];
  for (const size of BURSTS) {
    const label = `enrollment latency we add after SSM reports the instance online, burst of ${size.toLocaleString('en-US')} launches (30 % Windows; SSM online after 20 s to 10 min, median 45 s Linux, 150 s Windows), virtual clock`;
    progress(label);
    try {
      const figures = await simulateBurst(size);
      const p50 = percentile(figures.addedSeconds, 50);
      const p99 = percentile(figures.addedSeconds, 99);
      const max = figures.addedSeconds[figures.addedSeconds.length - 1];
      const perInstance = figures.calls / size;
      const value = `p50 ${p50.toFixed(0)} s · p99 ${p99.toFixed(0)} s · max ${max.toFixed(0)} s · ${perInstance.toFixed(3)} calls/instance · ${figures.addedSeconds.length.toLocaleString('en-US')} enrolled`;
      const target = `p50 ≤ ${ADDED_LATENCY_TARGET.p50Seconds} s, p99 ≤ ${ADDED_LATENCY_TARGET.p99Seconds} s, ≤ ${CALLS_PER_INSTANCE_TARGET} calls/instance`;
      const passed =
        p50 <= ADDED_LATENCY_TARGET.p50Seconds &&
        p99 <= ADDED_LATENCY_TARGET.p99Seconds &&
        perInstance <= CALLS_PER_INSTANCE_TARGET &&
        figures.addedSeconds.length === size;
      rows.push(row(label, value, target, passed));
    } catch (error) {
      rows.push(errorRow(label, error));
    }
  }
  return rows;
}
