import { parseEvent } from '../../../lambdas/status/requests';
import { COMMAND_ID, INSTANCE_ID, invocationEvent, REQUESTED_AT, testSettings } from './fake-aws';

const settings = testSettings();

describe('parseEvent', () => {
  test('the sample invocation event becomes a failed result of a Linux document', () => {
    expect(parseEvent(invocationEvent('Failed'), settings)).toEqual({
      kind: 'result',
      result: {
        eventId: expect.any(String),
        time: new Date('2026-11-23T12:35:22Z'),
        instanceId: INSTANCE_ID,
        commandId: COMMAND_ID,
        documentName: 'lgtm-install-alloy-linux',
        platform: 'linux',
        status: 'Failed',
        outcome: 'failure',
        requestedAt: REQUESTED_AT,
      },
    });
  });

  test.each([
    ['Success', 'success'],
    ['Failed', 'failure'],
    ['TimedOut', 'failure'],
    ['Cancelled', 'failure'],
    ['Delivery Timed Out', 'failure'],
    ['Execution Timed Out', 'failure'],
    ['Undeliverable', 'failure'],
    ['Terminated', 'failure'],
  ])('final status %s is a %s', (status, outcome) => {
    const parsed = parseEvent(invocationEvent(status), settings);

    expect(parsed.kind === 'result' && parsed.result.outcome).toBe(outcome);
  });

  test('an unknown status is ignored with its own reason', () => {
    expect(parseEvent(invocationEvent('Exploded'), settings)).toMatchObject({ kind: 'ignored', reason: 'unknown-status' });
  });

  test('status matching is exact', () => {
    expect(parseEvent(invocationEvent('success'), settings)).toMatchObject({ kind: 'ignored', reason: 'unknown-status' });
  });

  test('a document named by its ARN is recognised', () => {
    const arn = 'arn:aws:ssm:ap-northeast-2:123456789012:document/lgtm-install-alloy-windows';

    const parsed = parseEvent(invocationEvent('Success', { 'document-name': arn }), settings);

    expect(parsed).toMatchObject({ kind: 'result', result: { platform: 'windows', documentName: 'lgtm-install-alloy-windows' } });
  });

  test('an unreadable requested time is left out rather than failing the event', () => {
    const parsed = parseEvent(invocationEvent('Success', { 'requested-date-time': 'soon' }), settings);

    expect(parsed.kind).toBe('result');
    expect(parsed.kind === 'result' && parsed.result).not.toHaveProperty('requestedAt');
  });

  test('a wrong source or a missing command ID is malformed', () => {
    expect(parseEvent({ ...invocationEvent('Success'), source: 'aws.ec2' }, settings)).toMatchObject({
      kind: 'malformed',
      detail: expect.stringContaining('source'),
    });
    expect(parseEvent(invocationEvent('Success', { 'command-id': '' }), settings)).toMatchObject({
      kind: 'malformed',
      detail: expect.stringContaining('detail.command-id'),
    });
  });
});
