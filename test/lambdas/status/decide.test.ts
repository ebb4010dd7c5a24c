import { planOutcome } from '../../../lambdas/status/decide';
import type { CommandFacts, InstanceTags } from '../../../lambdas/status/lookup';
import type { InvocationResult } from '../../../lambdas/status/requests';
import { COMMAND_ID, INSTANCE_ID, pendingTags, REQUESTED_AT, testSettings } from './fake-aws';

const settings = testSettings();

function result(overrides: Partial<InvocationResult> = {}): InvocationResult {
  return {
    eventId: 'event-1',
    time: new Date('2026-11-23T12:36:01Z'),
    instanceId: INSTANCE_ID,
    commandId: COMMAND_ID,
    documentName: 'lgtm-install-alloy-linux',
    platform: 'linux',
    status: 'Success',
    outcome: 'success',
    requestedAt: REQUESTED_AT,
    ...overrides,
  };
}

const INSTALL: CommandFacts = { action: 'install', tenant: 'team-a', alloyVersion: '1.21.0', configVersion: '2' };

function instance(tags: Record<string, string>, state = 'running'): InstanceTags {
  return { state, tags: new Map(Object.entries(tags)) };
}

describe('planOutcome', () => {
  test('a command tag naming another command, with no time to compare, is trusted: superseded', () => {
    const tags = { 'lgtm:agent-command': 'other', 'lgtm:agent-status': 'pending' };

    expect(
      planOutcome({ result: result({ requestedAt: undefined }), command: undefined, instance: instance(tags) }, settings),
    ).toMatchObject({
      publish: false,
      writeTags: [],
      skip: { reason: 'superseded' },
    });
    expect(planOutcome({ result: result(), command: INSTALL, instance: instance(tags) }, settings).skip?.reason).toBe('superseded');
  });

  test('without a command tag the result is recorded (the enroll handler could not tag the instance)', () => {
    const plan = planOutcome({ result: result(), command: INSTALL, instance: instance({}) }, settings);

    expect(plan.skip).toBeUndefined();
    expect(plan.writeTags.map((tag) => tag.Key)).toEqual([
      'lgtm:agent-status',
      'lgtm:agent-version',
      'lgtm:agent-config-version',
      'lgtm:agent-tenant',
      'lgtm:agent-platform',
    ]);
  });

  test('a success status for another (older) command is not a duplicate', () => {
    const tags = pendingTags({
      'lgtm:agent-status': 'success',
      'lgtm:agent-command': 'older',
      'lgtm:agent-pending-since': '2026-11-01T00:00:00Z',
    });

    const plan = planOutcome({ result: result(), command: INSTALL, instance: instance(tags) }, settings);

    expect(plan.skip).toBeUndefined();
    expect(plan.publish).toBe(true);
  });

  test('a failure status for this command does not make a success a duplicate', () => {
    const plan = planOutcome(
      { result: result(), command: INSTALL, instance: instance(pendingTags({ 'lgtm:agent-status': 'failed' })) },
      settings,
    );

    expect(plan.skip).toBeUndefined();
  });

  test('the status tag key comes from the settings', () => {
    const custom = testSettings({ STATUS_TAG_KEY: 'acme:alloy' });

    const plan = planOutcome({ result: result(), command: INSTALL, instance: instance(pendingTags()) }, custom);

    expect(plan.writeTags[0]).toEqual({ Key: 'acme:alloy', Value: 'success' });
  });

  test('a lifecycle action is planned only when both lifecycle tags are set', () => {
    const groupOnly = pendingTags({ 'lgtm:lifecycle-group': 'rag-api-asg' });

    expect(planOutcome({ result: result(), command: INSTALL, instance: instance(groupOnly) }, settings).lifecycle).toBeUndefined();
  });

  test('a reload without a config version, or a failed one, writes no tags but is published', () => {
    const reload: CommandFacts = { action: 'reload', tenant: 'team-a' };

    expect(planOutcome({ result: result(), command: reload, instance: instance(pendingTags()) }, settings)).toMatchObject({
      publish: true,
      writeTags: [],
    });
    expect(
      planOutcome(
        {
          result: result({ status: 'Failed', outcome: 'failure' }),
          command: { ...reload, configVersion: '3' },
          instance: instance(pendingTags()),
        },
        settings,
      ),
    ).toMatchObject({ publish: true, writeTags: [], action: 'reload', outcome: 'failure' });
  });

  test('a reload on an instance without a config-version tag writes it', () => {
    const plan = planOutcome({ result: result(), command: { action: 'reload', configVersion: '3' }, instance: instance({}) }, settings);

    expect(plan.writeTags).toEqual([{ Key: 'lgtm:agent-config-version', Value: '3' }]);
  });

  test('config versions compare as numbers, not strings', () => {
    const tags = { 'lgtm:agent-config-version': '9' };

    const plan = planOutcome({ result: result(), command: { action: 'reload', configVersion: '10' }, instance: instance(tags) }, settings);

    expect(plan.writeTags).toEqual([{ Key: 'lgtm:agent-config-version', Value: '10' }]);
  });

  test('shutting-down counts as gone', () => {
    expect(planOutcome({ result: result(), command: INSTALL, instance: instance(pendingTags(), 'shutting-down') }, settings)).toMatchObject(
      {
        publish: true,
        writeTags: [],
        skip: { reason: 'instance-gone', detail: 'instance state is shutting-down' },
      },
    );
  });

  test('a stopped instance is still tagged', () => {
    expect(
      planOutcome({ result: result(), command: INSTALL, instance: instance(pendingTags(), 'stopped') }, settings).writeTags,
    ).toHaveLength(5);
  });
});
