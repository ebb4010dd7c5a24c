import { SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import {
  type Deferred,
  ENVELOPE_MARKER,
  firstLookDelaySeconds,
  MAX_DELAY_SECONDS,
  type OpenedRequest,
  openEnvelope,
  REQUESTS_PER_ENVELOPE,
  SLOT_SECONDS,
  sendEnvelopes,
  waitDelaySeconds,
  waitingRequest,
} from '../../../lambdas/enroll/wait-envelope';
import { mockClient } from '../../support/sdk-call-recorder';
import { awsError, sqsRecord } from '../fixtures';

const QUEUE = 'https://sqs.ap-northeast-2.amazonaws.com/123456789012/LgtmFleet-Enroll';

function deferred(count: number, delaySeconds: number, bodyBytes = 100): Deferred[] {
  return Array.from({ length: count }, (_, index) => ({
    request: { messageId: `m-${delaySeconds}-${index}`, body: 'x'.repeat(bodyBytes), receiveCount: 1, firstReceivedAt: 0 },
    delaySeconds,
    carrierMessageId: `carrier-${index % 3}`,
  }));
}

describe('waitDelaySeconds', () => {
  test.each([0, 7, 59, 179.9, 180, 599, 600, 3000])('a request %s s old comes back exactly on a boundary of its slot', (age) => {
    for (let offset = 0; offset < 120; offset += 7) {
      const now = new Date(Date.UTC(2026, 10, 23, 12, 30, 0) + offset * 1000);
      const delay = waitDelaySeconds(now, age, 10_000);
      const slot = age < 180 ? SLOT_SECONDS[0] : age < 600 ? SLOT_SECONDS[1] : SLOT_SECONDS[2];
      expect((now.getTime() / 1000 + delay) % slot).toBe(0);
      expect(delay).toBeGreaterThanOrEqual(1);
      expect(delay).toBeLessThanOrEqual(slot);
    }
  });

  test('never past the deadline, never under 1 s, never over SQS’s 900 s', () => {
    const now = new Date(Date.UTC(2026, 10, 23, 12, 30, 5));
    expect(waitDelaySeconds(now, 30, 3.2)).toBe(4);
    expect(waitDelaySeconds(now, 30, 0.1)).toBe(1);
    expect(waitDelaySeconds(now, 30, 10_000)).toBeLessThanOrEqual(MAX_DELAY_SECONDS);
  });
});

test('firstLookDelaySeconds: the first slot boundary at least 20 s after the event', () => {
  const event = new Date(Date.UTC(2026, 10, 23, 12, 30, 34));
  // 12:30:54 → the 25 s boundary at 12:31:15.
  expect(firstLookDelaySeconds(new Date(event.getTime() + 3_000), event)).toBe(38);
  expect(firstLookDelaySeconds(new Date(event.getTime() + 19_000), event)).toBe(22);
});

describe('openEnvelope', () => {
  test('gives back each request as a record: its body and ID, one more receive, its first receipt', () => {
    const envelope = sqsRecord(
      { envelope: ENVELOPE_MARKER, requests: [{ messageId: 'm-1', body: '{"a":1}', receiveCount: 2, firstReceivedAt: 1_700_000_000_000 }] },
      { messageId: 'envelope' },
    );
    expect(openEnvelope(envelope)).toEqual([
      {
        record: expect.objectContaining({
          messageId: 'm-1',
          body: '{"a":1}',
          attributes: expect.objectContaining({ ApproximateReceiveCount: '3', ApproximateFirstReceiveTimestamp: '1700000000000' }),
        }),
        facts: [],
      },
    ]);
  });

  test('carries the facts of instances waiting for SSM through JSON, tags and all', () => {
    const facts = {
      instanceId: 'i-1',
      state: 'running',
      platform: 'windows' as const,
      architecture: 'x86_64',
      tags: new Map([['lgtm:tenant', 'team-a']]),
      launchTime: '2026-11-23T12:30:30.000Z',
    };
    const request = waitingRequest(sqsRecord({ a: 1 }, { messageId: 'm-1' }), new Date(0), [facts]);
    const [opened] = openEnvelope(sqsRecord({ envelope: ENVELOPE_MARKER, requests: [request] })) as OpenedRequest[];
    expect(opened?.facts).toEqual([facts]);
  });

  test('an event is no envelope; a broken envelope says what is wrong', () => {
    expect(openEnvelope(sqsRecord({ 'detail-type': 'EC2 Instance State-change Notification' }))).toBeUndefined();
    expect(openEnvelope(sqsRecord({ envelope: ENVELOPE_MARKER, requests: [{ messageId: 'm-1' }] }))).toEqual({
      invalid: expect.stringContaining('invalid envelope of waiting requests'),
    });
  });
});

describe('sendEnvelopes', () => {
  test('one envelope per delay, at most 100 requests or 200 KB each, ten envelopes a call', async () => {
    const sqs = new SQSClient({ region: 'ap-northeast-2' });
    const stub = mockClient(sqs);
    stub
      .on(SendMessageBatchCommand)
      .callsFake((input) => ({ Successful: input.Entries.map((entry: { Id: string }) => ({ Id: entry.Id })) }));
    const items = [...deferred(REQUESTS_PER_ENVELOPE * 10 + 1, 20), ...deferred(3, 40), ...deferred(5, 60, 90_000)];

    const result = await sendEnvelopes(sqs, QUEUE, items);

    const entries = stub.commandCalls(SendMessageBatchCommand).flatMap((call) => call.args[0].input.Entries ?? []);
    const sizes = entries.map((entry) => [
      entry.DelaySeconds,
      (JSON.parse(entry.MessageBody as string) as { requests: unknown[] }).requests.length,
    ]);
    expect(sizes).toEqual([...Array.from({ length: 10 }, () => [20, 100]), [20, 1], [40, 3], [60, 2], [60, 2], [60, 1]]);
    expect(stub.commandCalls(SendMessageBatchCommand).map((call) => call.args[0].input.Entries?.length)).toEqual([10, 5]);
    expect(result).toEqual({ unsentCarriers: new Set(), envelopes: 15, errors: [] });
  });

  test('a refused entry or a failed call names the carriers whose messages must be retried', async () => {
    const sqs = new SQSClient({ region: 'ap-northeast-2' });
    const stub = mockClient(sqs);
    stub
      .on(SendMessageBatchCommand)
      .resolvesOnce({ Successful: [], Failed: [{ Id: 'envelope-0', Code: 'InternalError', SenderFault: false, Message: 'x' }] })
      .rejects(awsError('ThrottlingException', 'Rate exceeded'));

    const refused = await sendEnvelopes(sqs, QUEUE, deferred(2, 20));
    const failed = await sendEnvelopes(sqs, QUEUE, deferred(1, 20));

    expect(refused.unsentCarriers).toEqual(new Set(['carrier-0', 'carrier-1']));
    expect(failed).toMatchObject({ unsentCarriers: new Set(['carrier-0']), errors: ['ThrottlingException: Rate exceeded'] });
  });
});
