import type { OutcomePlan } from '../../../lambdas/status/decide';
import type { CallOutcome } from '../../../lambdas/status/execute';
import { failureReport, lifecycleReport, resolveRecorded, resolveUnrecorded, resultContext } from '../../../lambdas/status/resolve';
import { awsError } from '../fixtures';
import { invocationResult, LIFECYCLE_PLAN as LIFECYCLE, RECORD_PLAN as RECORD } from './step-fixtures';

const result = invocationResult('Success');
const context = resultContext(result);

const PUBLISHED: CallOutcome = { step: 'put-events' };

describe('resolveUnrecorded', () => {
  test('a malformed event is counted and warned about, and returned without a retry', () => {
    expect(resolveUnrecorded({ kind: 'malformed', detail: 'bad' }, 'e-1')).toEqual({
      result: { result: 'malformed', detail: 'bad' },
      report: {
        counts: [{ name: 'MalformedEvents' }],
        logs: [{ level: 'warn', message: 'malformed event', fields: { reason: 'malformed-event', detail: 'bad', eventId: 'e-1' } }],
      },
    });
  });

  test('an ignored event is counted and logged with its reason', () => {
    const { result: returned, report } = resolveUnrecorded(
      { kind: 'ignored', reason: 'in-progress-status', detail: 'not final' },
      undefined,
    );

    expect(returned).toEqual({ result: 'ignored', reason: 'in-progress-status', detail: 'not final' });
    expect(report.counts).toEqual([{ name: 'IgnoredEvents' }]);
    expect(report.logs[0]).toMatchObject({ level: 'info', message: 'event ignored', fields: { reason: 'in-progress-status' } });
  });
});

describe('resolveRecorded', () => {
  test('tags written and a lifecycle action completed: recorded, counted as enrolled', () => {
    const done: CallOutcome[] = [
      PUBLISHED,
      { step: 'create-tags', instanceFound: true },
      { step: 'complete-lifecycle-action', lifecycle: LIFECYCLE, completion: { completed: true } },
    ];
    const { result: returned, report } = resolveRecorded({ result, plan: { ...RECORD, lifecycle: LIFECYCLE }, done, context });

    expect(returned).toEqual({
      result: 'recorded',
      instanceId: result.instanceId,
      commandId: result.commandId,
      action: 'install',
      outcome: 'success',
      published: true,
      tagged: true,
      lifecycleResult: 'CONTINUE',
    });
    expect(report.counts).toEqual([{ name: 'AgentEnrolled' }]);
    expect(report.logs).toEqual([
      {
        level: 'info',
        message: 'command result recorded',
        fields: {
          ...context,
          action: 'install',
          outcome: 'success',
          published: true,
          tagKeys: ['lgtm:agent-status'],
          lifecycleResult: 'CONTINUE',
          ...LIFECYCLE,
        },
      },
    ]);
  });

  test('CreateTags finding no instance turns the result into an instance-gone skip, counted per reason', () => {
    const done: CallOutcome[] = [PUBLISHED, { step: 'create-tags', instanceFound: false }];
    const { result: returned, report } = resolveRecorded({ result, plan: { ...RECORD, lifecycle: LIFECYCLE }, done, context });

    expect(returned).toMatchObject({ tagged: false, published: true, skipped: 'instance-gone' });
    expect(returned).not.toHaveProperty('lifecycleResult');
    expect(report.counts).toEqual([{ name: 'AgentEnrolled' }, { name: 'Skipped' }, { name: 'Skipped', reason: 'instance-gone' }]);
    expect(report.logs[0]).toMatchObject({
      message: 'command result not written to tags',
      fields: { reason: 'instance-gone', detail: 'CreateTags: instance not found' },
    });
  });

  test('a planned skip without a publish counts only the skip', () => {
    const plan: OutcomePlan = { ...RECORD, publish: false, writeTags: [], skip: { reason: 'duplicate', detail: 'already' } };
    const { result: returned, report } = resolveRecorded({ result, plan, done: [], context });

    expect(returned).toMatchObject({ published: false, tagged: false, skipped: 'duplicate' });
    expect(report.counts).toEqual([{ name: 'Skipped' }, { name: 'Skipped', reason: 'duplicate' }]);
  });

  test.each([
    ['reload', 'success', 'ConfigReloaded'],
    ['reload', 'failure', 'ConfigReloadFailed'],
    ['install', 'failure', 'AgentEnrollmentFailed'],
  ] as const)('a published %s %s is counted as %s', (action, outcome, metric) => {
    const { report } = resolveRecorded({ result, plan: { ...RECORD, action, outcome, writeTags: [] }, done: [PUBLISHED], context });

    expect(report.counts).toEqual([{ name: metric }]);
  });
});

describe('lifecycleReport', () => {
  test('a completed action is counted; one no longer waiting is only logged, with Auto Scaling’s message', () => {
    const completed = lifecycleReport(
      [PUBLISHED, { step: 'complete-lifecycle-action', lifecycle: LIFECYCLE, completion: { completed: true } }],
      context,
    );
    const gone = lifecycleReport(
      [{ step: 'complete-lifecycle-action', lifecycle: LIFECYCLE, completion: { completed: false, detail: 'No active Lifecycle Action' } }],
      context,
    );

    expect(completed).toEqual({
      counts: [{ name: 'LifecycleCompleted' }],
      logs: [{ level: 'info', message: 'lifecycle action completed', fields: { ...context, ...LIFECYCLE } }],
    });
    expect(gone).toEqual({
      counts: [],
      logs: [
        {
          level: 'info',
          message: 'lifecycle action no longer waiting',
          fields: { ...context, ...LIFECYCLE, detail: 'No active Lifecycle Action' },
        },
      ],
    });
    expect(lifecycleReport([PUBLISHED, { step: 'create-tags', instanceFound: true }], context)).toEqual({ counts: [], logs: [] });
  });
});

describe('failureReport', () => {
  test('names the failed step and the error, for the retry to follow', () => {
    const report = failureReport({ step: 'create-tags', error: awsError('AccessDeniedException', 'denied') }, context);

    expect(report).toEqual({
      counts: [],
      logs: [
        {
          level: 'error',
          message: 'command result not recorded; the invocation will be retried',
          fields: { ...context, step: 'create-tags', errorName: 'AccessDeniedException', errorMessage: 'denied' },
        },
      ],
    });
  });
});
