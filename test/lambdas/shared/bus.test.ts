import { EventBridgeClient, PutEventsCommand, type PutEventsCommandInput, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { entrySize, PUT_EVENTS_MAX_BYTES, putEvents } from '../../../lambdas/shared/bus';
import { mockClient } from '../../support/sdk-call-recorder';
import { awsError } from '../fixtures';

const client = new EventBridgeClient({ region: 'ap-northeast-2' });
const eventBridge = mockClient(client);

function entries(count: number, detailBytes = 20): PutEventsRequestEntry[] {
  return Array.from({ length: count }, (_, index) => ({
    EventBusName: 'LgtmFleet',
    Source: 'lgtm-fleet',
    DetailType: 'Test',
    Detail: JSON.stringify({ n: index, pad: 'x'.repeat(Math.max(detailBytes - 20, 0)) }),
  }));
}

/** The `n` of each entry of each call, in order. */
function sentNumbers(): number[][] {
  return eventBridge
    .commandCalls(PutEventsCommand)
    .map((call) => (call.args[0].input.Entries ?? []).map((entry) => (JSON.parse(entry.Detail as string) as { n: number }).n));
}

/** PutEvents refusing the entries whose `n` is listed, accepting the others. */
function refusing(...numbers: number[]) {
  return (input: PutEventsCommandInput) => {
    const results = (input.Entries ?? []).map((entry) =>
      numbers.includes((JSON.parse(entry.Detail as string) as { n: number }).n)
        ? { ErrorCode: 'InternalFailure', ErrorMessage: 'try again' }
        : { EventId: 'event' },
    );
    return { FailedEntryCount: results.filter((result) => 'ErrorCode' in result).length, Entries: results };
  };
}

beforeEach(() => {
  eventBridge.reset();
  eventBridge.on(PutEventsCommand).callsFake(refusing());
});

describe('putEvents', () => {
  test('sends at most 10 entries a call, in order', async () => {
    expect(await putEvents(client, entries(23))).toEqual([]);

    expect(sentNumbers().map((call) => call.length)).toEqual([10, 10, 3]);
    expect(sentNumbers().flat()).toEqual(Array.from({ length: 23 }, (_, index) => index));
  });

  test('starts a new call before the entries of one would pass 256 KB', async () => {
    const large = entries(5, 100 * 1024);
    const size = entrySize(large[0] as PutEventsRequestEntry);
    expect(2 * size).toBeLessThanOrEqual(PUT_EVENTS_MAX_BYTES);
    expect(3 * size).toBeGreaterThan(PUT_EVENTS_MAX_BYTES);

    expect(await putEvents(client, large)).toEqual([]);

    expect(sentNumbers()).toEqual([[0, 1], [2, 3], [4]]);
  });

  test('counts an entry as EventBridge does: Time 14 bytes, then the UTF-8 bytes of Source, DetailType, Detail and Resources', () => {
    expect(entrySize({ EventBusName: 'not counted', Source: 'ab', DetailType: 'cd', Detail: '"é"', Resources: ['r1', 'r2'] })).toBe(
      2 + 2 + 4 + 4,
    );
    expect(entrySize({ Source: 'ab', Time: new Date() })).toBe(14 + 2);
  });

  test('sends refused entries again, up to 3 sends by default, and reports those still refused', async () => {
    eventBridge
      .on(PutEventsCommand)
      .callsFakeOnce(refusing(1, 4))
      .callsFakeOnce(refusing(4))
      .callsFakeOnce(refusing(4))
      .callsFake(refusing());

    const unpublished = await putEvents(client, entries(12));

    expect(sentNumbers()).toEqual([[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 4], [4], [10, 11]]);
    expect(unpublished).toEqual([{ index: 4, errorCode: 'InternalFailure', errorMessage: 'try again' }]);
  });

  test('attempts: 1 sends every entry once; the pause runs before each new send', async () => {
    eventBridge.on(PutEventsCommand).callsFake(refusing(0));
    const pauses: number[] = [];

    expect(await putEvents(client, entries(2), { attempts: 1 })).toEqual([
      { index: 0, errorCode: 'InternalFailure', errorMessage: 'try again' },
    ]);
    expect(sentNumbers()).toEqual([[0, 1]]);

    eventBridge.resetHistory();
    await putEvents(client, entries(2), { attempts: 2, pauseBeforeRetry: async () => void pauses.push(sentNumbers().length) });
    expect(sentNumbers()).toEqual([[0, 1], [0]]);
    expect(pauses).toEqual([1]);
  });

  test('an entry without an EventId is not published, even in a response that counts no failure', async () => {
    eventBridge.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'event' }] });

    expect(await putEvents(client, entries(2), { attempts: 1 })).toEqual([
      { index: 1, errorCode: 'NoEventId', errorMessage: 'no event ID returned' },
    ]);
  });

  test('a response counting more failures than its entries show fails every entry of the call', async () => {
    eventBridge.on(PutEventsCommand).resolves({ FailedEntryCount: 1, Entries: [{ EventId: 'event' }] });

    expect(await putEvents(client, entries(1), { attempts: 1 })).toEqual([
      { index: 0, errorCode: 'FailedEntryCount', errorMessage: 'PutEvents counted 1 failed entries but marked 0' },
    ]);
  });

  test('a call failing as a whole fails its entries with the error, and the next calls are still made', async () => {
    const denied = awsError('AccessDeniedException', 'not authorized');
    eventBridge.on(PutEventsCommand).rejectsOnce(denied).callsFake(refusing());

    const unpublished = await putEvents(client, entries(12));

    expect(sentNumbers().map((call) => call.length)).toEqual([10, 2]);
    expect(unpublished.map(({ index }) => index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(unpublished[0]).toEqual({ index: 0, errorCode: 'AccessDeniedException', errorMessage: 'not authorized', error: denied });
  });

  test('stopOnCallError: a call failing as a whole stops the publishing, the entries not sent reported with its error', async () => {
    const throttled = awsError('ThrottlingException', 'Rate exceeded');
    eventBridge.on(PutEventsCommand).callsFakeOnce(refusing(3)).rejects(throttled);

    const unpublished = await putEvents(client, entries(25), { attempts: 2, stopOnCallError: true });

    // The retry of entry 3 fails: 3 and every entry after the first call is left unpublished.
    expect(sentNumbers()).toEqual([[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [3]]);
    expect(unpublished.map(({ index }) => index)).toEqual([3, ...Array.from({ length: 15 }, (_, index) => 10 + index)]);
    expect(unpublished.every(({ error }) => error === throttled)).toBe(true);
  });
});
