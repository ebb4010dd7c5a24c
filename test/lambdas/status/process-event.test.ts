import { CompleteLifecycleActionCommand } from '@aws-sdk/client-auto-scaling';
import { CreateTagsCommand, DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { ListCommandsCommand } from '@aws-sdk/client-ssm';
import { loadSampleEvent } from '../fixtures';
import {
  awsError,
  COMMAND_ID,
  FakeAws,
  INSTALL_PARAMETERS,
  INSTANCE_ID,
  invocationEvent,
  pendingTags,
  REQUESTED_AT,
  testSettings,
} from './fake-aws';

const SUCCESS = invocationEvent('Success');
const FAILED = loadSampleEvent('ssm-command-invocation-status-failed.json');
const LIFECYCLE_TAGS = { 'lgtm:lifecycle-group': 'rag-api-asg', 'lgtm:lifecycle-hook': 'lgtm-agent-enrollment' };
const RELOAD_ID = '0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d';

function reloadEvent(status: string): Record<string, unknown> {
  return invocationEvent(status, { 'command-id': RELOAD_ID, 'requested-date-time': '2026-11-23T13:10:00.000Z' });
}

function withReloadCommand(aws: FakeAws, configVersion = '3'): FakeAws {
  aws.commands.set(RELOAD_ID, {
    parameters: { ...INSTALL_PARAMETERS, ConfigVersion: [configVersion], Action: ['reload'] },
    requestedAt: new Date('2026-11-23T13:10:00.000Z'),
  });
  return aws;
}

describe('an install command that succeeded', () => {
  test('looks the command and the instance up once each, publishes Agent Enrolled, then writes the status and versions', async () => {
    const aws = new FakeAws();

    const result = await aws.process(SUCCESS);

    expect(aws.listCommandsCalls()).toEqual([{ CommandId: COMMAND_ID }]);
    expect(aws.ec2.commandCalls(DescribeInstancesCommand).map((call) => call.args[0].input)).toEqual([
      { Filters: [{ Name: 'instance-id', Values: [INSTANCE_ID] }] },
    ]);
    expect(aws.publishedEntries()).toEqual([
      {
        EventBusName: 'LgtmFleet',
        Source: 'lgtm-fleet',
        DetailType: 'Agent Enrolled',
        Time: new Date('2026-11-23T12:36:01Z'),
        Detail: expect.any(String),
      },
    ]);
    expect(aws.publishedEvents()[0]?.detail).toEqual({
      instanceId: INSTANCE_ID,
      tenant: 'team-a',
      platform: 'linux',
      alloyVersion: '1.21.0',
      configVersion: '2',
      commandId: COMMAND_ID,
      status: 'Success',
      action: 'install',
    });
    expect(aws.createTagsCalls()).toEqual([
      {
        Resources: [INSTANCE_ID],
        Tags: [
          { Key: 'lgtm:agent-status', Value: 'success' },
          { Key: 'lgtm:agent-version', Value: '1.21.0' },
          { Key: 'lgtm:agent-config-version', Value: '2' },
          { Key: 'lgtm:agent-tenant', Value: 'team-a' },
          { Key: 'lgtm:agent-platform', Value: 'linux' },
        ],
      },
    ]);
    expect(aws.writes).toEqual(['PutEvents', 'CreateTags']);
    expect(aws.lifecycleCalls()).toEqual([]);
    expect(aws.deleteTagsCalls()).toEqual([]);
    expect(result).toEqual({
      result: 'recorded',
      instanceId: INSTANCE_ID,
      commandId: COMMAND_ID,
      action: 'install',
      outcome: 'success',
      published: true,
      tagged: true,
    });
    expect(aws.metricValues.get('AgentEnrolled')).toBe(1);
    expect(aws.metricValues.get('AgentEnrollmentFailed')).toBeUndefined();
  });

  test('the Windows document names the platform', async () => {
    const aws = new FakeAws();

    await aws.process(invocationEvent('Success', { 'document-name': 'lgtm-install-alloy-windows' }));

    expect(aws.publishedEvents()[0]?.detail.platform).toBe('windows');
  });

  test('a failure tag left by an earlier attempt is removed', async () => {
    const aws = new FakeAws({ [INSTANCE_ID]: { tags: pendingTags({ 'lgtm:agent-failure': 'TimedOut' }) } });

    await aws.process(SUCCESS);

    expect(aws.deleteTagsCalls()).toEqual([{ Resources: [INSTANCE_ID], Tags: [{ Key: 'lgtm:agent-failure', Value: 'TimedOut' }] }]);
    expect(aws.tagsOf()).not.toHaveProperty('lgtm:agent-failure');
  });
});

describe('an install command that failed', () => {
  test('the sample Failed event tags the instance failed with the status and publishes Agent Enrollment Failed', async () => {
    const aws = new FakeAws();

    const result = await aws.process(FAILED);

    expect(aws.createTagsCalls()).toEqual([
      {
        Resources: [INSTANCE_ID],
        Tags: [
          { Key: 'lgtm:agent-status', Value: 'failed' },
          { Key: 'lgtm:agent-failure', Value: 'Failed' },
        ],
      },
    ]);
    expect(aws.publishedEvents()).toEqual([
      {
        detailType: 'Agent Enrollment Failed',
        detail: {
          instanceId: INSTANCE_ID,
          tenant: 'team-a',
          platform: 'linux',
          alloyVersion: '1.21.0',
          configVersion: '2',
          commandId: COMMAND_ID,
          status: 'Failed',
          action: 'install',
        },
      },
    ]);
    expect(aws.tagsOf()).toMatchObject({ 'lgtm:agent-status': 'failed' });
    expect(aws.tagsOf()).not.toHaveProperty('lgtm:agent-version');
    expect(result).toMatchObject({ result: 'recorded', outcome: 'failure', tagged: true });
    expect(aws.metricValues.get('AgentEnrollmentFailed')).toBe(1);
    expect(aws.metricValues.get('AgentEnrolled')).toBeUndefined();
  });

  test.each(['TimedOut', 'Cancelled'])('%s is a failure too', async (status) => {
    const aws = new FakeAws();

    await aws.process(invocationEvent(status));

    expect(aws.createTagsCalls()[0]?.Tags).toEqual([
      { Key: 'lgtm:agent-status', Value: 'failed' },
      { Key: 'lgtm:agent-failure', Value: status },
    ]);
    expect(aws.publishedEvents()[0]).toMatchObject({ detailType: 'Agent Enrollment Failed', detail: { status } });
  });
});

describe('a launch waiting on a lifecycle hook', () => {
  test('success completes the action with CONTINUE after tagging, then removes the lifecycle tags', async () => {
    const aws = new FakeAws({ [INSTANCE_ID]: { tags: pendingTags(LIFECYCLE_TAGS) } });

    const result = await aws.process(SUCCESS);

    expect(aws.lifecycleCalls()).toEqual([
      {
        AutoScalingGroupName: 'rag-api-asg',
        LifecycleHookName: 'lgtm-agent-enrollment',
        InstanceId: INSTANCE_ID,
        LifecycleActionResult: 'CONTINUE',
      },
    ]);
    expect(aws.deleteTagsCalls()).toEqual([
      {
        Resources: [INSTANCE_ID],
        Tags: [
          { Key: 'lgtm:lifecycle-group', Value: 'rag-api-asg' },
          { Key: 'lgtm:lifecycle-hook', Value: 'lgtm-agent-enrollment' },
        ],
      },
    ]);
    expect(aws.writes).toEqual(['PutEvents', 'CreateTags', 'CompleteLifecycleAction', 'DeleteTags']);
    expect(result).toMatchObject({ lifecycleResult: 'CONTINUE' });
    expect(aws.metricValues.get('LifecycleCompleted')).toBe(1);
  });

  test('failure completes the action with LIFECYCLE_FAILURE_RESULT', async () => {
    const aws = new FakeAws({ [INSTANCE_ID]: { tags: pendingTags(LIFECYCLE_TAGS) } });

    await aws.process(FAILED);

    expect(aws.lifecycleCalls().map((call) => call.LifecycleActionResult)).toEqual(['ABANDON']);
    expect(aws.deleteTagsCalls()).toHaveLength(1);
    expect(aws.tagsOf()).not.toHaveProperty('lgtm:lifecycle-group');
  });

  test('LIFECYCLE_FAILURE_RESULT defaults to CONTINUE', async () => {
    const aws = new FakeAws({ [INSTANCE_ID]: { tags: pendingTags(LIFECYCLE_TAGS) } });

    await aws.process(FAILED, testSettings({ LIFECYCLE_FAILURE_RESULT: '' }));

    expect(aws.lifecycleCalls().map((call) => call.LifecycleActionResult)).toEqual(['CONTINUE']);
  });

  test('an action no longer waiting counts as done: the tags are still removed and nothing is thrown', async () => {
    const aws = new FakeAws({ [INSTANCE_ID]: { tags: pendingTags(LIFECYCLE_TAGS) } });
    aws.autoScaling
      .on(CompleteLifecycleActionCommand)
      .rejects(awsError('ValidationError', `No active Lifecycle Action found with instance ID ${INSTANCE_ID}`));

    const result = await aws.process(SUCCESS);

    expect(aws.lifecycleCalls()).toHaveLength(1);
    expect(aws.deleteTagsCalls()).toHaveLength(1);
    expect(result).toMatchObject({ result: 'recorded', lifecycleResult: 'CONTINUE' });
    expect(aws.metricValues.get('LifecycleCompleted')).toBeUndefined();
  });

  test('another ValidationError is thrown', async () => {
    const aws = new FakeAws({ [INSTANCE_ID]: { tags: pendingTags(LIFECYCLE_TAGS) } });
    aws.autoScaling.on(CompleteLifecycleActionCommand).rejects(awsError('ValidationError', 'No hook named lgtm-agent-enrollment'));

    await expect(aws.process(SUCCESS)).rejects.toMatchObject({ name: 'ValidationError' });
    expect(aws.deleteTagsCalls()).toEqual([]);
  });

  test('a retry after the completion failed completes it without a second tag write or event', async () => {
    const aws = new FakeAws({ [INSTANCE_ID]: { tags: pendingTags(LIFECYCLE_TAGS) } });
    aws.autoScaling.on(CompleteLifecycleActionCommand).rejectsOnce(awsError('ThrottlingException', 'Rate exceeded')).resolves({});

    await expect(aws.process(SUCCESS)).rejects.toMatchObject({ name: 'ThrottlingException' });
    const result = await aws.process(SUCCESS);

    expect(aws.createTagsCalls()).toHaveLength(1);
    expect(aws.publishedEntries()).toHaveLength(1);
    expect(aws.lifecycleCalls()).toHaveLength(2);
    expect(aws.deleteTagsCalls()).toHaveLength(1);
    expect(result).toMatchObject({ skipped: 'duplicate', published: false, lifecycleResult: 'CONTINUE' });
  });
});

describe('stale and repeated results', () => {
  test('a second delivery of the same result writes and publishes nothing more', async () => {
    const aws = new FakeAws();

    await aws.process(SUCCESS);
    const second = await aws.process(SUCCESS);

    expect(aws.createTagsCalls()).toHaveLength(1);
    expect(aws.publishedEntries()).toHaveLength(1);
    expect(second).toMatchObject({ result: 'recorded', published: false, tagged: false, skipped: 'duplicate' });
    expect(aws.metricValues.get('AgentEnrolled')).toBe(1);
    expect(aws.skippedByReason.get('duplicate')).toBe(1);
  });

  test('a second delivery of a failure writes and publishes nothing more', async () => {
    const aws = new FakeAws();

    await aws.process(FAILED);
    await aws.process(FAILED);

    expect(aws.createTagsCalls()).toHaveLength(1);
    expect(aws.publishedEntries()).toHaveLength(1);
  });

  test('a result for an older command does not overwrite the status of the newer one', async () => {
    const newer = { 'lgtm:agent-command': 'ffffffff-1111-4222-8333-444444444444', 'lgtm:agent-pending-since': '2026-11-23T12:50:00.000Z' };
    const aws = new FakeAws({ [INSTANCE_ID]: { tags: pendingTags({ ...newer, ...LIFECYCLE_TAGS }) } });

    const result = await aws.process(FAILED);

    expect(aws.createTagsCalls()).toEqual([]);
    expect(aws.publishedEntries()).toEqual([]);
    expect(aws.lifecycleCalls()).toEqual([]);
    expect(aws.tagsOf()).toMatchObject({ 'lgtm:agent-status': 'pending', ...newer });
    expect(result).toMatchObject({ result: 'recorded', skipped: 'superseded', published: false, tagged: false });
    expect(aws.skippedByReason.get('superseded')).toBe(1);
  });

  test('a command tag older than the command (its own tag write was lost) does not supersede it', async () => {
    const older = { 'lgtm:agent-command': 'eeeeeeee-1111-4222-8333-444444444444', 'lgtm:agent-pending-since': '2026-11-23T11:00:00.000Z' };
    const aws = new FakeAws({ [INSTANCE_ID]: { tags: pendingTags(older) } });

    const result = await aws.process(SUCCESS);

    expect(aws.createTagsCalls()).toHaveLength(1);
    expect(aws.publishedEntries()).toHaveLength(1);
    expect(result).not.toHaveProperty('skipped');
  });
});

describe('instances that are gone', () => {
  test('an instance EC2 no longer lists is not tagged, and the outcome is still published', async () => {
    const aws = new FakeAws({});

    const result = await aws.process(SUCCESS);

    expect(aws.createTagsCalls()).toEqual([]);
    expect(aws.publishedEvents().map((event) => event.detailType)).toEqual(['Agent Enrolled']);
    expect(result).toMatchObject({ result: 'recorded', skipped: 'instance-gone', published: true, tagged: false });
    expect(aws.skippedByReason.get('instance-gone')).toBe(1);
  });

  test('a terminated instance is not tagged and its lifecycle action is left alone', async () => {
    const aws = new FakeAws({ [INSTANCE_ID]: { state: 'terminated', tags: pendingTags(LIFECYCLE_TAGS) } });

    const result = await aws.process(FAILED);

    expect(aws.createTagsCalls()).toEqual([]);
    expect(aws.lifecycleCalls()).toEqual([]);
    expect(aws.publishedEntries()).toHaveLength(1);
    expect(result).toMatchObject({ skipped: 'instance-gone' });
  });

  test('an instance that disappears before the tag write is reported gone, not retried', async () => {
    const aws = new FakeAws({ [INSTANCE_ID]: { tags: pendingTags(LIFECYCLE_TAGS) } });
    aws.ec2.on(CreateTagsCommand).rejects(awsError('InvalidInstanceID.NotFound', `The instance ID '${INSTANCE_ID}' does not exist`));

    const result = await aws.process(SUCCESS);

    expect(result).toMatchObject({ skipped: 'instance-gone', tagged: false, published: true });
    expect(aws.lifecycleCalls()).toEqual([]);
    expect(aws.deleteTagsCalls()).toEqual([]);
  });
});

describe('events that are not acted on', () => {
  test.each(['InProgress', 'Pending', 'Delayed', 'Cancelling'])('status %s is ignored without any call', async (status) => {
    const aws = new FakeAws();

    const result = await aws.process(invocationEvent(status));

    expect(result).toEqual({ result: 'ignored', reason: 'in-progress-status', detail: `status ${status} is not final` });
    expect(aws.totalCalls()).toBe(0);
    expect(aws.metricValues.get('IgnoredEvents')).toBe(1);
  });

  test('another document is ignored', async () => {
    const aws = new FakeAws();

    const result = await aws.process(invocationEvent('Success', { 'document-name': 'AWS-RunShellScript' }));

    expect(result).toMatchObject({ result: 'ignored', reason: 'other-document' });
    expect(aws.totalCalls()).toBe(0);
  });

  test.each([
    ['not an object', 'not an event', /detail-type missing/],
    ['the command-level status event', loadSampleEvent('ssm-command-status-success.json'), /EC2 Command Status-change Notification/],
    ['no instance ID', invocationEvent('Success', { 'instance-id': '' }), /detail\.instance-id/],
    ['an instance ID that is not EC2', invocationEvent('Success', { 'instance-id': 'mi-0123456789abcdef0' }), /detail\.instance-id/],
  ])('a malformed event (%s) is recorded without any call or exception', async (_name, event, detail) => {
    const aws = new FakeAws();

    const result = await aws.process(event);

    expect(result).toEqual({ result: 'malformed', detail: expect.stringMatching(detail) });
    expect(aws.totalCalls()).toBe(0);
    expect(aws.metricValues.get('MalformedEvents')).toBe(1);
  });
});

describe('AWS errors are thrown so the invocation is retried', () => {
  test('throttling that outlasts the SDK retries', async () => {
    const aws = new FakeAws();
    aws.ssm.on(ListCommandsCommand).rejects(awsError('ThrottlingException', 'Rate exceeded'));

    await expect(aws.process(SUCCESS)).rejects.toMatchObject({ name: 'ThrottlingException' });
    expect(aws.publishedEntries()).toEqual([]);
    expect(aws.createTagsCalls()).toEqual([]);
  });

  test('access denied on the tag write', async () => {
    const aws = new FakeAws();
    aws.ec2.on(CreateTagsCommand).rejects(awsError('UnauthorizedOperation', 'You are not authorized to perform this operation.'));

    await expect(aws.process(SUCCESS)).rejects.toMatchObject({ name: 'UnauthorizedOperation' });
    expect(aws.tagsOf()).toMatchObject({ 'lgtm:agent-status': 'pending' });
  });

  test('access denied on the look-up', async () => {
    const aws = new FakeAws();
    aws.ec2.on(DescribeInstancesCommand).rejects(awsError('AccessDeniedException', 'not authorized'));

    await expect(aws.process(FAILED)).rejects.toMatchObject({ name: 'AccessDeniedException' });
  });

  test('an event PutEvents rejects; the status is not written, so the retry publishes it', async () => {
    const aws = new FakeAws();
    aws.eventBridge
      .on(PutEventsCommand)
      .resolvesOnce({ FailedEntryCount: 1, Entries: [{ ErrorCode: 'InternalFailure', ErrorMessage: 'try again' }] })
      .resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'event-1' }] });

    await expect(aws.process(SUCCESS)).rejects.toMatchObject({ name: 'InternalFailure', message: expect.stringContaining('try again') });
    expect(aws.createTagsCalls()).toEqual([]);

    await aws.process(SUCCESS);
    expect(aws.publishedEntries()).toHaveLength(2);
    expect(aws.createTagsCalls()).toHaveLength(1);
  });

  test('a response counting a failed entry it does not mark is a rejection too: thrown, the status not written', async () => {
    const aws = new FakeAws();
    aws.eventBridge.on(PutEventsCommand).resolves({ FailedEntryCount: 1, Entries: [{ EventId: 'event-1' }] });

    await expect(aws.process(SUCCESS)).rejects.toMatchObject({ name: 'FailedEntryCount' });
    expect(aws.createTagsCalls()).toEqual([]);
  });

  test('PutEvents failing as a whole: its own error is thrown, the status not written', async () => {
    const aws = new FakeAws();
    const denied = awsError('AccessDeniedException', 'not authorized to perform: events:PutEvents');
    aws.eventBridge.on(PutEventsCommand).rejects(denied);

    await expect(aws.process(SUCCESS)).rejects.toBe(denied);
    expect(aws.publishedEntries()).toHaveLength(1);
    expect(aws.createTagsCalls()).toEqual([]);
  });
});

describe('a config reload', () => {
  test('success moves only the config-version tag forward and leaves a waiting lifecycle action to the install', async () => {
    const aws = withReloadCommand(
      new FakeAws({ [INSTANCE_ID]: { tags: pendingTags({ ...LIFECYCLE_TAGS, 'lgtm:agent-config-version': '2' }) } }),
    );

    const result = await aws.process(reloadEvent('Success'));

    expect(aws.listCommandsCalls()).toEqual([{ CommandId: RELOAD_ID }]);
    expect(aws.createTagsCalls()).toEqual([{ Resources: [INSTANCE_ID], Tags: [{ Key: 'lgtm:agent-config-version', Value: '3' }] }]);
    expect(aws.lifecycleCalls()).toEqual([]);
    expect(aws.publishedEvents()).toEqual([
      { detailType: 'Agent Enrolled', detail: expect.objectContaining({ action: 'reload', configVersion: '3', commandId: RELOAD_ID }) },
    ]);
    expect(result).toMatchObject({ action: 'reload', outcome: 'success', tagged: true });
    expect(aws.metricValues.get('ConfigReloaded')).toBe(1);
    expect(aws.metricValues.get('AgentEnrolled')).toBeUndefined();
  });

  test('failure leaves the tags and publishes the failure', async () => {
    const aws = withReloadCommand(new FakeAws());

    await aws.process(reloadEvent('Failed'));

    expect(aws.createTagsCalls()).toEqual([]);
    expect(aws.publishedEvents()).toEqual([
      { detailType: 'Agent Enrollment Failed', detail: expect.objectContaining({ action: 'reload', status: 'Failed' }) },
    ]);
    expect(aws.metricValues.get('ConfigReloadFailed')).toBe(1);
  });

  test('a reload of an older config than the one recorded changes nothing', async () => {
    const aws = withReloadCommand(new FakeAws({ [INSTANCE_ID]: { tags: pendingTags({ 'lgtm:agent-config-version': '4' }) } }), '3');

    const result = await aws.process(reloadEvent('Success'));

    expect(aws.createTagsCalls()).toEqual([]);
    expect(aws.publishedEntries()).toEqual([]);
    expect(result).toMatchObject({ skipped: 'superseded' });
  });
});

describe('a command Run Command no longer lists', () => {
  test.each([
    ['an empty list', () => ({ Commands: [] })],
    [
      'InvalidCommandId',
      () => {
        throw awsError('InvalidCommandId', 'Command not found');
      },
    ],
  ])('(%s) is recorded as an install of unknown versions: status only, nulls in the event', async (_name, answer) => {
    const aws = new FakeAws();
    aws.ssm.on(ListCommandsCommand).callsFake(answer);

    const result = await aws.process(SUCCESS);

    expect(aws.createTagsCalls()).toEqual([{ Resources: [INSTANCE_ID], Tags: [{ Key: 'lgtm:agent-status', Value: 'success' }] }]);
    expect(aws.publishedEvents()[0]?.detail).toEqual({
      instanceId: INSTANCE_ID,
      tenant: null,
      platform: 'linux',
      alloyVersion: null,
      configVersion: null,
      commandId: COMMAND_ID,
      status: 'Success',
      action: 'install',
    });
    expect(result).toMatchObject({ action: 'install', tagged: true });
    expect(aws.metricValues.get('CommandsNotFound')).toBe(1);
  });

  test('the requested time in the event still tells an older command from a newer one', async () => {
    const newer = { 'lgtm:agent-command': 'ffffffff-1111-4222-8333-444444444444', 'lgtm:agent-pending-since': '2026-11-23T12:50:00.000Z' };
    const aws = new FakeAws({ [INSTANCE_ID]: { tags: pendingTags(newer) } });
    aws.commands.clear();

    expect(REQUESTED_AT < new Date(newer['lgtm:agent-pending-since'])).toBe(true);
    await expect(aws.process(SUCCESS)).resolves.toMatchObject({ skipped: 'superseded' });
    expect(aws.createTagsCalls()).toEqual([]);
  });
});
