import { callsFor } from '../../../lambdas/status/calls';
import type { OutcomePlan } from '../../../lambdas/status/decide';
import { testSettings } from './fake-aws';
import { LIFECYCLE_PLAN as LIFECYCLE, RECORD_PLAN as RECORD, invocationResult as resultOf } from './step-fixtures';

const settings = testSettings();

const INSTALL = { action: 'install', tenant: 'team-a', alloyVersion: '1.21.0', configVersion: '2' } as const;

describe('callsFor', () => {
  test('a recorded success publishes Agent Enrolled with the command facts before it writes the tags', () => {
    const result = resultOf('Success');
    const calls = callsFor(RECORD, result, INSTALL, settings);

    expect(calls.map((call) => call.step)).toEqual(['put-events', 'create-tags']);
    expect(calls[0]).toEqual({
      step: 'put-events',
      entry: {
        EventBusName: settings.eventBusName,
        Source: settings.eventSource,
        DetailType: 'Agent Enrolled',
        Time: result.time,
        Detail: expect.any(String),
      },
    });
    const detail = calls[0]?.step === 'put-events' ? JSON.parse(calls[0].entry.Detail ?? '') : undefined;
    // The full detail is checked against the fake account in process-event.test.ts.
    expect(detail).toMatchObject({ tenant: 'team-a', platform: 'linux', alloyVersion: '1.21.0', configVersion: '2', status: 'Success' });
    expect(calls[1]).toEqual({ step: 'create-tags', tags: RECORD.writeTags });
  });

  test('a failure of a command no longer listed publishes Agent Enrollment Failed with null facts', () => {
    const plan: OutcomePlan = { ...RECORD, outcome: 'failure' };
    const [publish] = callsFor(plan, resultOf('Failed'), undefined, settings);

    expect(publish?.step === 'put-events' && publish.entry.DetailType).toBe('Agent Enrollment Failed');
    expect(publish?.step === 'put-events' && JSON.parse(publish.entry.Detail ?? '')).toMatchObject({
      tenant: null,
      alloyVersion: null,
      configVersion: null,
      status: 'Failed',
    });
  });

  test('a waiting lifecycle action is completed after the tag write, then its tags are deleted with the stale ones', () => {
    const stale = { Key: 'lgtm:agent-failure', Value: 'Failed' };
    const calls = callsFor({ ...RECORD, lifecycle: LIFECYCLE, staleTags: [stale] }, resultOf('Success'), INSTALL, settings);

    expect(calls.slice(1)).toEqual([
      { step: 'create-tags', tags: RECORD.writeTags },
      { step: 'complete-lifecycle-action', lifecycle: LIFECYCLE },
      {
        step: 'delete-tags',
        tags: [stale, { Key: 'lgtm:lifecycle-group', Value: 'web' }, { Key: 'lgtm:lifecycle-hook', Value: 'lgtm-enroll' }],
      },
    ]);
  });

  test('a duplicate delivery still completes a waiting lifecycle action, and does nothing else', () => {
    const duplicate: OutcomePlan = {
      ...RECORD,
      publish: false,
      writeTags: [],
      lifecycle: LIFECYCLE,
      skip: { reason: 'duplicate', detail: '' },
    };

    expect(callsFor(duplicate, resultOf('Success'), INSTALL, settings).map((call) => call.step)).toEqual([
      'complete-lifecycle-action',
      'delete-tags',
    ]);
  });

  test('a superseded result makes no call', () => {
    const superseded: OutcomePlan = { ...RECORD, publish: false, writeTags: [], skip: { reason: 'superseded', detail: '' } };

    expect(callsFor(superseded, resultOf('Success'), INSTALL, settings)).toEqual([]);
  });
});
