import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import type { Instance } from '@aws-sdk/client-ec2';
import type { SQSRecord } from 'aws-lambda';

/** The repository root (the folder holding package.json). */
export const REPO_ROOT = findUp(__dirname, (dir) => fs.existsSync(path.join(dir, 'package.json')));

/**
 * Sample AWS events (EventBridge shapes of an EC2 state change, an Auto Scaling lifecycle action,
 * Parameter Store changes and Run Command status changes), owned by the project's tests.
 */
export const SAMPLE_EVENTS_DIR = path.join(REPO_ROOT, 'test', 'fixtures', 'events');

export function loadSampleEvent(name: string): Record<string, unknown> {
  return JSON.parse(fs.readFileSync(path.join(SAMPLE_EVENTS_DIR, name), 'utf8')) as Record<string, unknown>;
}

function findUp(start: string, found: (dir: string) => boolean): string {
  let dir = path.resolve(start);
  for (;;) {
    if (found(dir)) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`no package.json found above ${start}`);
    dir = parent;
  }
}

export interface RecordOptions {
  readonly messageId?: string;
  readonly receiveCount?: number;
  /** ApproximateFirstReceiveTimestamp; defaults to the event's `time`. */
  readonly firstReceivedAt?: Date;
}

let messageCounter = 0;

/** Wraps an EventBridge event (or any raw body) in an SQS record as Lambda's event source mapping delivers it. */
export function sqsRecord(body: unknown, options: RecordOptions = {}): SQSRecord {
  messageCounter += 1;
  const messageId = options.messageId ?? `00000000-0000-4000-8000-${String(messageCounter).padStart(12, '0')}`;
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  const eventTime = typeof body === 'object' && body !== null ? Date.parse(String((body as Record<string, unknown>).time)) : Number.NaN;
  const firstReceive = options.firstReceivedAt?.getTime() ?? (Number.isFinite(eventTime) ? eventTime : Date.parse('2026-11-23T12:30:40Z'));
  return {
    messageId,
    receiptHandle: `receipt-${messageId}`,
    body: text,
    attributes: {
      ApproximateReceiveCount: String(options.receiveCount ?? 1),
      SentTimestamp: String(firstReceive),
      SenderId: 'AIDAEVENTBRIDGE',
      ApproximateFirstReceiveTimestamp: String(firstReceive),
    },
    messageAttributes: {},
    md5OfBody: 'not-checked',
    eventSource: 'aws:sqs',
    eventSourceARN: 'arn:aws:sqs:ap-northeast-2:123456789012:LgtmFleet-Enroll',
    awsRegion: 'ap-northeast-2',
  };
}

/** An AWS SDK-style service error. */
export function awsError(name: string, message = name): Error {
  return Object.assign(new Error(message), { name, $fault: 'client', $metadata: { httpStatusCode: 400 } });
}

/** What the fakes know of an EC2 instance. */
export interface InstanceShape {
  readonly id: string;
  /** EC2 state; default running. */
  readonly state?: string;
  readonly platform?: 'linux' | 'windows';
  /** Default x86_64. */
  readonly architecture?: string;
  readonly tags?: Record<string, string>;
}

/** An instance as the fakes of the handlers that also ask SSM about it know it. */
export interface ManagedInstanceShape extends InstanceShape {
  /** SSM ping status; `none` = not registered with SSM. Default Online. */
  readonly ssm?: 'Online' | 'ConnectionLost' | 'none';
}

/**
 * Spies on a fake's Powertools Metrics: every metric added is summed by name into `totals`; with
 * `bySingleDimension`, each single metric (one dimension, the skip reason) is summed by that
 * dimension's value instead of being emitted.
 */
export function recordMetrics(metrics: Metrics, totals: Map<string, number>, bySingleDimension?: Map<string, number>): void {
  jest.spyOn(metrics, 'addMetric').mockImplementation((name, _unit, value) => {
    totals.set(name, (totals.get(name) ?? 0) + value);
    return metrics;
  });
  if (!bySingleDimension) return;
  jest.spyOn(metrics, 'singleMetric').mockImplementation(() => {
    let dimension = '';
    const single = {
      addDimension: (_name: string, value: string) => {
        dimension = value;
        return single;
      },
      addMetric: (_name: string, _unit: string, value: number) => {
        bySingleDimension.set(dimension, (bySingleDimension.get(dimension) ?? 0) + value);
        return single;
      },
    };
    return single as unknown as Metrics;
  });
}

/** The instance as DescribeInstances returns it. */
export function toEc2Instance(instance: InstanceShape): Instance {
  const windows = instance.platform === 'windows';
  return {
    InstanceId: instance.id,
    State: { Name: (instance.state ?? 'running') as never, Code: 16 },
    Architecture: (instance.architecture ?? 'x86_64') as never,
    // The API reports "windows" in lower case.
    ...(windows ? { Platform: 'windows' as never } : {}),
    PlatformDetails: windows ? 'Windows' : 'Linux/UNIX',
    Tags: Object.entries(instance.tags ?? {}).map(([Key, Value]) => ({ Key, Value })),
    LaunchTime: SAMPLE_LAUNCH_TIME,
  };
}

/** Launch time of every fake instance (the launch a claim is about). */
export const SAMPLE_LAUNCH_TIME = new Date('2026-11-23T12:29:50.000Z');
