import * as fs from 'node:fs';
import * as path from 'node:path';
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

/** Launch time of every fake instance (the launch a claim is about). */
export const SAMPLE_LAUNCH_TIME = new Date('2026-11-23T12:29:50.000Z');
