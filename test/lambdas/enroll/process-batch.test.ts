import { CompleteLifecycleActionCommand, DescribeAutoScalingInstancesCommand } from '@aws-sdk/client-auto-scaling';
import { CreateTagsCommand, DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import { DescribeInstanceInformationCommand, GetParametersCommand, SendCommandCommand } from '@aws-sdk/client-ssm';
import type { SQSRecord } from 'aws-lambda';
import { planRetry } from '../../../lambdas/enroll/retry';
import { loadSampleEvent, sqsRecord } from '../fixtures';
import { agentConfigValue, awsError, FakeAws, testSettings } from './fake-aws';

const RUNNING = loadSampleEvent('ec2-instance-running.json');
const PENDING = loadSampleEvent('ec2-instance-pending.json');
const LIFECYCLE = loadSampleEvent('autoscaling-launch-lifecycle-action.json');

const RUNNING_ID = 'i-0abcd1111ef223344';
const LIFECYCLE_ID = 'i-0fedc9876ba543210';
const RUNNING_TIME = new Date('2026-11-23T12:30:34Z');
/** A minute after the sample `running` event. */
const NOW = new Date(RUNNING_TIME.getTime() + 60_000);

function runningEvent(instanceId: string, time = RUNNING.time as string): Record<string, unknown> {
  return {
    ...RUNNING,
    time,
    resources: [`arn:aws:ec2:ap-northeast-2:123456789012:instance/${instanceId}`],
    detail: { 'instance-id': instanceId, state: 'running' },
  };
}

function reconcileEvent(instanceIds: string[], source = 'lgtm-fleet'): Record<string, unknown> {
  return {
    version: '0',
    id: '5f1d0c7e-reconcile',
    'detail-type': 'Reconcile Enrollment',
    source,
    account: '123456789012',
    time: RUNNING.time,
    region: 'ap-northeast-2',
    resources: [],
    detail: { instanceIds },
  };
}

const PENDING_TAGS = (commandId: string) => [
  { Key: 'lgtm:agent-status', Value: 'pending' },
  { Key: 'lgtm:agent-pending-since', Value: NOW.toISOString() },
  { Key: 'lgtm:agent-command', Value: commandId },
];

describe('a running event', () => {
  test('sends the install command for the tagged tenant, with the config reference and its current version, then tags the instance', async () => {
    const aws = new FakeAws([{ id: RUNNING_ID, tags: { 'lgtm:tenant': 'team-a', Name: 'api-1' } }]);

    const response = await aws.process([sqsRecord(RUNNING)], NOW);

    expect(response).toEqual({ batchItemFailures: [] });
    expect(aws.ec2.commandCalls(DescribeInstancesCommand).map((call) => call.args[0].input)).toEqual([
      { Filters: [{ Name: 'instance-id', Values: [RUNNING_ID] }], MaxResults: 1000 },
    ]);
    expect(aws.ssm.commandCalls(DescribeInstanceInformationCommand).map((call) => call.args[0].input)).toEqual([
      { Filters: [{ Key: 'InstanceIds', Values: [RUNNING_ID] }], MaxResults: 50 },
    ]);
    expect(aws.ssm.commandCalls(GetParametersCommand).map((call) => call.args[0].input)).toEqual([
      { Names: ['/LgtmFleet/agent/team-a/linux'] },
    ]);
    expect(aws.sendCommands()).toEqual([
      {
        DocumentName: 'LgtmFleet-InstallAlloy-Linux',
        InstanceIds: [RUNNING_ID],
        Parameters: {
          AgentConfig: [agentConfigValue('/LgtmFleet/agent/team-a/linux', 2)],
          Tenant: ['team-a'],
          AlloyVersion: ['1.21.0'],
          ConfigVersion: ['2'],
          Action: ['install'],
          StopLegacyAgents: ['true'],
        },
        TimeoutSeconds: 600,
        MaxConcurrency: '50',
        MaxErrors: '100%',
        Comment: 'lgtm-fleet enroll team-a linux',
        CloudWatchOutputConfig: { CloudWatchOutputEnabled: true, CloudWatchLogGroupName: '/LgtmFleet/enroll-commands' },
      },
    ]);
    expect(aws.ec2.commandCalls(CreateTagsCommand).map((call) => call.args[0].input)).toEqual([
      { Resources: [RUNNING_ID], Tags: PENDING_TAGS('command-1') },
    ]);
    expect(aws.metricValues.get('InstancesEnrolled')).toBe(1);
    expect(aws.metricValues.get('EventsReceived')).toBe(1);
    expect(aws.deadLetters()).toEqual([]);
    expect(aws.visibilityChanges()).toEqual([]);
  });

  test('a Windows instance gets the Windows document and the Windows config', async () => {
    const aws = new FakeAws([{ id: RUNNING_ID, platform: 'windows' }]);

    await aws.process([sqsRecord(RUNNING)], NOW);

    const [command] = aws.sendCommands();
    expect(command?.DocumentName).toBe('LgtmFleet-InstallAlloy-Windows');
    expect(command?.Parameters?.AgentConfig).toEqual([agentConfigValue('/LgtmFleet/agent/aws-rag-ec2/windows', 7)]);
    expect(command?.Parameters?.ConfigVersion).toEqual(['7']);
    expect(command?.Comment).toBe('lgtm-fleet enroll aws-rag-ec2 windows');
  });

  test('without COMMAND_LOG_GROUP the command sends no CloudWatch output config', async () => {
    const aws = new FakeAws([{ id: RUNNING_ID }]);

    await aws.process([sqsRecord(RUNNING)], NOW, testSettings({ COMMAND_LOG_GROUP: '' }));

    expect(aws.sendCommands()[0]).not.toHaveProperty('CloudWatchOutputConfig');
  });

  test('Linux arm64 is enrolled; Windows arm64 and Mac instances are skipped as unsupported', async () => {
    const aws = new FakeAws([
      { id: 'i-00000000000000a01', architecture: 'arm64' },
      { id: 'i-00000000000000a02', architecture: 'arm64', platform: 'windows' },
      { id: 'i-00000000000000a03', architecture: 'arm64_mac' },
    ]);

    const response = await aws.process(
      ['i-00000000000000a01', 'i-00000000000000a02', 'i-00000000000000a03'].map((id) => sqsRecord(runningEvent(id))),
      NOW,
    );

    expect(response.batchItemFailures).toEqual([]);
    expect(aws.sendCommands().map((command) => command.InstanceIds)).toEqual([['i-00000000000000a01']]);
    expect(aws.skippedByReason.get('unsupported-platform')).toBe(2);
  });
});

describe('waiting for Systems Manager', () => {
  test('an instance not yet managed waits in an envelope that comes back at the next 25 s slot; its message is done', async () => {
    const aws = new FakeAws([{ id: RUNNING_ID, ssm: 'none' }]);
    const record = sqsRecord(RUNNING, { receiveCount: 1, firstReceivedAt: new Date(RUNNING_TIME.getTime() + 5_000) });

    const response = await aws.process([record], NOW);

    expect(response).toEqual({ batchItemFailures: [] });
    const [envelope, ...others] = aws.envelopes();
    expect(others).toEqual([]);
    expect(envelope?.requests).toEqual([
      {
        messageId: record.messageId,
        body: record.body,
        receiveCount: 1,
        firstReceivedAt: RUNNING_TIME.getTime() + 5_000,
        facts: [expect.objectContaining({ instanceId: RUNNING_ID, state: 'running' })],
      },
    ]);
    // NOW is 12:31:34: the next 25 s boundary is 12:31:40.
    expect(envelope?.delaySeconds).toBe(6);
    expect(aws.visibilityChanges()).toEqual([]);
    expect(aws.sendCommands()).toEqual([]);
    expect(aws.metricValues.get('NotManagedYet')).toBe(1);
    expect(aws.metricValues.get('DeferredRequests')).toBe(1);
  });

  test('slots widen as a launch ages (25 s, 45 s after 3 min, 60 s after 10 min) and never pass the deadline', async () => {
    const settings = testSettings({ ENROLL_DEADLINE_SECONDS: '3600' });
    const at = (minutesOld: number) => sqsRecord(runningEvent(RUNNING_ID, new Date(NOW.getTime() - minutesOld * 60_000).toISOString()));
    const delays: Array<number | undefined> = [];
    for (const record of [at(1), at(4), at(11), at(59.9)]) {
      const aws = new FakeAws([{ id: RUNNING_ID, ssm: 'ConnectionLost' }]);
      await aws.process([record], NOW, settings);
      delays.push(aws.envelopes()[0]?.delaySeconds);
    }
    // 12:31:34 → 12:31:40, 12:32:15, 12:32:00; and the deadline 6 s away.
    expect(delays).toEqual([6, 41, 26, 6]);
  });

  test('a running event younger than 20 s is not looked at: it waits for the first slot 20 s or more after the event, at no cost', async () => {
    const aws = new FakeAws([{ id: RUNNING_ID }]);
    const record = sqsRecord(RUNNING);

    const response = await aws.process([record], new Date(RUNNING_TIME.getTime() + 8_000));

    expect(response.batchItemFailures).toEqual([]);
    // 12:30:34 + 20 s = 12:30:54 → the slot at 12:31:15, 33 s after 12:30:42.
    expect(aws.envelopes().map((envelope) => envelope.delaySeconds)).toEqual([33]);
    expect(aws.callsByCommand()).toEqual({ SendMessageBatchCommand: 1 });
  });

  test('requests of one batch waiting for the same slot travel in one envelope', async () => {
    const ids = ['i-00000000000000c01', 'i-00000000000000c02', 'i-00000000000000c03'];
    const aws = new FakeAws(ids.map((id) => ({ id, ssm: 'none' as const })));
    const records = ids.map((id) => sqsRecord(runningEvent(id)));

    await aws.process(records, NOW);

    expect(aws.envelopes().map((envelope) => envelope.requests.map((request) => request.messageId))).toEqual([
      records.map((record) => record.messageId),
    ]);
    expect(aws.sqs.commandCalls(SendMessageBatchCommand)).toHaveLength(1);
  });

  test('an envelope is opened: its requests are processed as records, the deadline runs from their first receipt', async () => {
    const aws = new FakeAws([
      { id: 'i-00000000000000c01' },
      { id: 'i-00000000000000c02', ssm: 'none' },
      { id: 'i-00000000000000c03', ssm: 'none' },
    ]);
    const inner = ['i-00000000000000c01', 'i-00000000000000c02', 'i-00000000000000c03'].map((id) => sqsRecord(runningEvent(id)));
    await aws.process(inner, NOW);
    const [envelope] = aws.envelopes();
    const envelopeRecord = sqsRecord(JSON.parse(envelope?.body as string), { messageId: 'envelope-1' });
    aws.resetCalls();
    // The third one's event is replayed much later: its deadline has passed by the time the envelope is read.
    const later = new Date(RUNNING_TIME.getTime() + 600_000);

    const response = await aws.process([envelopeRecord], later);

    expect(response).toEqual({ batchItemFailures: [] });
    expect(aws.sendCommands().flatMap((command) => command.InstanceIds)).toEqual([]);
    expect(aws.envelopes()[0]?.requests.map((request) => [request.messageId, request.receiveCount])).toEqual([
      [inner[1]?.messageId, 2],
      [inner[2]?.messageId, 2],
    ]);
  });

  test('an instance waiting for SSM is described once: its facts travel in the envelope; only near the deadline is it described again', async () => {
    const aws = new FakeAws([{ id: RUNNING_ID, ssm: 'none', tags: { 'lgtm:tenant': 'team-a' } }]);
    await aws.process([sqsRecord(RUNNING)], NOW);
    const [first] = aws.takeEnvelopeRecords();
    expect(aws.envelopes()[0]?.requests[0]?.facts).toEqual([
      expect.objectContaining({ instanceId: RUNNING_ID, tags: [['lgtm:tenant', 'team-a']] }),
    ]);
    aws.resetCalls();

    await aws.process([first as SQSRecord], new Date(NOW.getTime() + 20_000));
    expect(aws.callsByCommand()).toEqual({ DescribeInstanceInformationCommand: 1, SendMessageBatchCommand: 1 });
    const [second] = aws.takeEnvelopeRecords();
    aws.resetCalls();

    // Terminated meanwhile, and 50 s before the deadline: described again, and skipped as gone, not dead-lettered.
    aws.add({ id: RUNNING_ID, state: 'terminated' });
    const response = await aws.process([second as SQSRecord], new Date(RUNNING_TIME.getTime() + 850_000));
    expect(response.batchItemFailures).toEqual([]);
    expect(aws.ec2.commandCalls(DescribeInstancesCommand)).toHaveLength(1);
    expect(aws.deadLetters()).toEqual([]);
    expect(aws.envelopes()).toEqual([]);
  });

  test('the tenant comes from the facts described first: it is enrolled into team-a when SSM sees it', async () => {
    const aws = new FakeAws([{ id: RUNNING_ID, ssm: 'none', tags: { 'lgtm:tenant': 'team-a' } }]);
    await aws.process([sqsRecord(RUNNING)], NOW);
    aws.add({ id: RUNNING_ID, ssm: 'Online', tags: { 'lgtm:tenant': 'team-a' } });

    await aws.process(aws.takeEnvelopeRecords(), new Date(NOW.getTime() + 20_000));

    expect(aws.sendCommands().map((command) => [command.InstanceIds, command.Parameters?.Tenant])).toEqual([[[RUNNING_ID], ['team-a']]]);
  });

  test('a request from an envelope that fails is put in the next envelope; the envelope itself is not retried', async () => {
    const aws = new FakeAws([{ id: RUNNING_ID }]);
    const envelopeRecord = sqsRecord(
      {
        envelope: 'lgtm-fleet/enroll-wait',
        requests: [{ messageId: 'm-1', body: JSON.stringify(RUNNING), receiveCount: 3, firstReceivedAt: RUNNING_TIME.getTime() }],
      },
      { messageId: 'envelope-2' },
    );
    aws.ssm.on(SendCommandCommand).rejects(awsError('ThrottlingException', 'Rate exceeded'));

    const response = await aws.process([envelopeRecord], NOW);

    expect(response).toEqual({ batchItemFailures: [] });
    expect(aws.envelopes().map((envelope) => [envelope.requests[0]?.messageId, envelope.requests[0]?.receiveCount])).toEqual([['m-1', 4]]);
  });

  test('a broken envelope is dead-lettered as malformed, with what is wrong; the other records go on', async () => {
    const aws = new FakeAws([{ id: RUNNING_ID }]);
    const broken = sqsRecord(
      { envelope: 'lgtm-fleet/enroll-wait', requests: [{ messageId: 'm-1', receiveCount: 0 }] },
      { messageId: 'envelope-x' },
    );
    const running = sqsRecord(RUNNING);

    const response = await aws.process([broken, running], NOW);

    expect(response.batchItemFailures).toEqual([]);
    expect(aws.deadLetters()).toEqual([
      expect.objectContaining({
        Id: 'envelope-x',
        MessageAttributes: expect.objectContaining({
          reason: { DataType: 'String', StringValue: 'malformed-event' },
          detail: { DataType: 'String', StringValue: expect.stringContaining('invalid envelope of waiting requests') },
        }),
      }),
    ]);
    expect(aws.sendCommands().flatMap((command) => command.InstanceIds)).toEqual([RUNNING_ID]);
  });

  test('when the envelope cannot be sent, the messages it carried are retried by the queue', async () => {
    const aws = new FakeAws([{ id: RUNNING_ID, ssm: 'none' }]);
    aws.sqs.on(SendMessageBatchCommand).rejects(awsError('ThrottlingException', 'Rate exceeded'));
    const record = sqsRecord(RUNNING);

    const response = await aws.process([record], NOW);

    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: record.messageId }] });
  });

  test('past the deadline the event is dead-lettered with the reason and the instance, and not retried', async () => {
    const aws = new FakeAws([{ id: RUNNING_ID, ssm: 'none' }]);
    const record = sqsRecord(RUNNING, { receiveCount: 12 });
    const afterDeadline = new Date(RUNNING_TIME.getTime() + 901_000);

    const response = await aws.process([record], afterDeadline);

    expect(response).toEqual({ batchItemFailures: [] });
    expect(aws.sqs.commandCalls(SendMessageBatchCommand).map((call) => call.args[0].input.QueueUrl)).toEqual([
      'https://sqs.ap-northeast-2.amazonaws.com/123456789012/LgtmFleet-Enroll-DLQ',
    ]);
    expect(aws.deadLetters()).toEqual([
      {
        Id: record.messageId,
        MessageBody: record.body,
        MessageAttributes: {
          reason: { DataType: 'String', StringValue: 'ssm-not-managed-before-deadline' },
          detail: { DataType: 'String', StringValue: `not ready 900s after the event: ${RUNNING_ID} ssm-not-managed` },
          sourceMessageId: { DataType: 'String', StringValue: record.messageId },
          instanceIds: { DataType: 'String', StringValue: RUNNING_ID },
        },
      },
    ]);
    expect(aws.visibilityChanges()).toEqual([]);
    expect(aws.metricValues.get('DeadLettered')).toBe(1);
  });

  test('the deadline runs from the first receipt when that is later than the event (replays, redrives)', async () => {
    const aws = new FakeAws([{ id: RUNNING_ID, ssm: 'none' }]);
    const afterEventDeadline = new Date(RUNNING_TIME.getTime() + 1_000_000);
    const redriven = sqsRecord(RUNNING, { firstReceivedAt: new Date(afterEventDeadline.getTime() - 60_000) });

    const response = await aws.process([redriven], afterEventDeadline);

    expect(response.batchItemFailures).toEqual([]);
    expect(aws.deferred()).toEqual([redriven.messageId]);
    expect(aws.deadLetters()).toEqual([]);
  });

  test('InvalidInstanceId from SendCommand (agent went offline) is retried like an unmanaged instance', async () => {
    const aws = new FakeAws([{ id: RUNNING_ID }]);
    aws.ssm.on(SendCommandCommand).rejects(awsError('InvalidInstanceId', 'Instances [[i-0abcd1111ef223344]] not in a valid state'));
    const record = sqsRecord(RUNNING);

    const response = await aws.process([record], NOW);

    expect(response.batchItemFailures).toEqual([]);
    expect(aws.deferred()).toEqual([record.messageId]);
    expect(aws.ec2.commandCalls(CreateTagsCommand)).toHaveLength(0);
  });

  test('one unreachable instance among several is isolated by halving the chunk; the others are enrolled now', async () => {
    const ids = ['i-00000000000000a11', 'i-00000000000000a12', 'i-00000000000000a13', 'i-00000000000000a14', 'i-00000000000000a15'];
    const aws = new FakeAws(ids.map((id) => ({ id })));
    const unreachable = 'i-00000000000000a14';
    aws.ssm.on(SendCommandCommand).callsFake((input) => {
      if (input.InstanceIds.includes(unreachable)) throw awsError('InvalidInstanceId', 'Instances not in a valid state for account');
      return { Command: { CommandId: `command-${input.InstanceIds.join('+')}` } };
    });
    const records = ids.map((id) => sqsRecord(runningEvent(id)));

    const response = await aws.process(records, NOW);

    expect(aws.sendCommands().map((command) => command.InstanceIds)).toEqual([
      ids,
      ['i-00000000000000a11', 'i-00000000000000a12', 'i-00000000000000a13'],
      ['i-00000000000000a14', 'i-00000000000000a15'],
      ['i-00000000000000a14'],
      ['i-00000000000000a15'],
    ]);
    expect(aws.ec2.commandCalls(CreateTagsCommand).map((call) => call.args[0].input.Resources)).toEqual([
      ['i-00000000000000a11', 'i-00000000000000a12', 'i-00000000000000a13'],
      ['i-00000000000000a15'],
    ]);
    expect(response.batchItemFailures).toEqual([]);
    expect(aws.deferred()).toEqual([records[3]?.messageId]);
  });

  test('a missing agent config parameter waits like an unmanaged instance, then is dead-lettered with its own reason', async () => {
    const aws = new FakeAws([{ id: RUNNING_ID }]);
    aws.parameters.delete('/LgtmFleet/agent/aws-rag-ec2/linux');

    const early = await aws.process([sqsRecord(RUNNING)], NOW);
    const late = await aws.process([sqsRecord(RUNNING, { receiveCount: 10 })], new Date(RUNNING_TIME.getTime() + 901_000));

    expect(early.batchItemFailures).toEqual([]);
    expect(aws.deferred()).toHaveLength(1);
    expect(late.batchItemFailures).toEqual([]);
    expect(aws.deadLetters().map((entry) => entry.MessageAttributes?.reason?.StringValue)).toEqual([
      'agent-config-missing-before-deadline',
    ]);
    expect(aws.sendCommands()).toEqual([]);
  });

  test('an instance still pending in EC2, or not visible yet, waits; one long invisible is taken as gone', async () => {
    const aws = new FakeAws([{ id: RUNNING_ID, state: 'pending' }]);
    const pendingRecord = sqsRecord(RUNNING);
    const invisible = sqsRecord(runningEvent('i-0000000000000dead'));

    const early = await aws.process([pendingRecord, invisible], NOW);
    expect(early.batchItemFailures).toEqual([]);
    expect(aws.deferred().sort()).toEqual([invisible.messageId, pendingRecord.messageId].sort());

    const later = await aws.process([sqsRecord(runningEvent('i-0000000000000dead'))], new Date(RUNNING_TIME.getTime() + 180_000));
    expect(later.batchItemFailures).toEqual([]);
    expect(aws.skippedByReason.get('instance-gone')).toBe(1);
  });
});

describe('errors', () => {
  test('throttling that outlasts the SDK retries fails the record so the queue retries it; nothing is tagged or dropped', async () => {
    const aws = new FakeAws([{ id: RUNNING_ID }]);
    aws.ssm.on(SendCommandCommand).rejects(awsError('ThrottlingException', 'Rate exceeded'));
    const warn = jest.spyOn(aws.logger, 'warn');
    const record = sqsRecord(RUNNING);

    const response = await aws.process([record], NOW);

    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: record.messageId }] });
    expect(aws.ssm.commandCalls(SendCommandCommand)).toHaveLength(1);
    expect(aws.ec2.commandCalls(CreateTagsCommand)).toHaveLength(0);
    expect(aws.deadLetters()).toEqual([]);
    expect(warn).toHaveBeenCalledWith(
      'send-command-throttled; records will be retried',
      expect.objectContaining({ instanceIds: [RUNNING_ID], errorName: 'ThrottlingException' }),
    );
  });

  test('access denied on SendCommand fails only that group’s records, with the reason logged', async () => {
    const aws = new FakeAws([
      { id: RUNNING_ID, tags: { 'lgtm:tenant': 'team-a' } },
      { id: 'i-00000000000000b02', platform: 'windows' },
    ]);
    aws.ssm
      .on(SendCommandCommand, { DocumentName: 'LgtmFleet-InstallAlloy-Linux' })
      .rejects(awsError('AccessDeniedException', 'not authorized to perform: ssm:SendCommand'));
    const error = jest.spyOn(aws.logger, 'error');
    const linux = sqsRecord(RUNNING);
    const windows = sqsRecord(runningEvent('i-00000000000000b02'));

    const response = await aws.process([linux, windows], NOW);

    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: linux.messageId }] });
    expect(aws.sendCommands().map((command) => command.DocumentName)).toEqual([
      'LgtmFleet-InstallAlloy-Linux',
      'LgtmFleet-InstallAlloy-Windows',
    ]);
    expect(aws.ec2.commandCalls(CreateTagsCommand).map((call) => call.args[0].input.Resources)).toEqual([['i-00000000000000b02']]);
    expect(error).toHaveBeenCalledWith(
      'send-command-failed; records will be retried',
      expect.objectContaining({
        reason: 'send-command-failed',
        instanceIds: [RUNNING_ID],
        errorName: 'AccessDeniedException',
        errorMessage: 'not authorized to perform: ssm:SendCommand',
        tenant: 'team-a',
        platform: 'linux',
      }),
    );
    expect(aws.metricValues.get('EnrollErrors')).toBe(1);
  });

  test('a failed DescribeInstances retries every event in the batch but still dead-letters malformed ones', async () => {
    const aws = new FakeAws([{ id: RUNNING_ID }]);
    aws.ec2.on(DescribeInstancesCommand).rejects(awsError('UnauthorizedOperation'));
    const good = sqsRecord(RUNNING);
    const bad = sqsRecord('not json');

    const response = await aws.process([good, bad], NOW);

    expect(response.batchItemFailures).toEqual([{ itemIdentifier: good.messageId }]);
    expect(aws.deadLetters().map((entry) => entry.Id)).toEqual([bad.messageId]);
    expect(aws.ssm.calls()).toHaveLength(0);
  });

  test('a failed DescribeInstanceInformation retries the records; InvalidInstanceId from it means not managed yet', async () => {
    const aws = new FakeAws([{ id: RUNNING_ID }]);
    aws.ssm.on(DescribeInstanceInformationCommand).rejectsOnce(awsError('InternalServerError')).rejectsOnce(awsError('InvalidInstanceId'));

    const first = await aws.process([sqsRecord(RUNNING)], NOW);
    const second = await aws.process([sqsRecord(RUNNING)], NOW);

    // The error retries the record through the queue; InvalidInstanceId puts it in an envelope.
    expect(first.batchItemFailures).toHaveLength(1);
    expect(second.batchItemFailures).toEqual([]);
    expect(aws.deferred()).toHaveLength(1);
    expect(aws.sendCommands()).toEqual([]);
  });

  test('a failed pending-tag write after a sent command is logged, not retried (a retry would install twice)', async () => {
    const aws = new FakeAws([{ id: RUNNING_ID }]);
    aws.ec2.on(CreateTagsCommand).rejects(awsError('RequestLimitExceeded'));
    const error = jest.spyOn(aws.logger, 'error');

    const response = await aws.process([sqsRecord(RUNNING)], NOW);

    expect(response.batchItemFailures).toEqual([]);
    expect(aws.sendCommands()).toHaveLength(1);
    expect(error).toHaveBeenCalledWith(
      'tags not written after sending the install command',
      expect.objectContaining({ instanceIds: [RUNNING_ID] }),
    );
    expect(aws.metricValues.get('TagWriteFailures')).toBe(1);
  });

  test('an unexpected failure in the enrollment path retries the requests but still dead-letters malformed records', async () => {
    const aws = new FakeAws([{ id: RUNNING_ID, tags: { 'lgtm:opt-out': 'true' } }]);
    // Any defect will do: here logging the skip throws.
    jest.spyOn(aws.logger, 'info').mockImplementation(() => {
      throw new TypeError('defect');
    });
    const good = sqsRecord(RUNNING);
    const bad = sqsRecord('not json');

    const response = await aws.process([good, bad], NOW);

    expect(response.batchItemFailures).toEqual([{ itemIdentifier: good.messageId }]);
    expect(aws.deadLetters().map((entry) => entry.Id)).toEqual([bad.messageId]);
  });

  test('a dead-letter queue that refuses a message keeps the record for retry', async () => {
    const aws = new FakeAws();
    aws.sqs.on(SendMessageBatchCommand).callsFake((input) => ({
      Successful: [],
      Failed: input.Entries.map((entry: { Id: string }) => ({ Id: entry.Id, Code: 'InternalError', SenderFault: false })),
    }));
    const bad = sqsRecord('{');

    const response = await aws.process([bad], NOW);

    expect(response.batchItemFailures).toEqual([{ itemIdentifier: bad.messageId }]);
  });
});

describe('instances skipped on purpose', () => {
  test('an untagged instance gets the default tenant', async () => {
    const aws = new FakeAws([{ id: RUNNING_ID }]);

    await aws.process([sqsRecord(RUNNING)], NOW);

    expect(aws.sendCommands()[0]?.Parameters?.Tenant).toEqual(['aws-rag-ec2']);
    expect(aws.sendCommands()[0]?.Parameters?.AgentConfig).toEqual([agentConfigValue('/LgtmFleet/agent/aws-rag-ec2/linux', 3)]);
  });

  test('an untagged instance is skipped when there is no default tenant', async () => {
    const aws = new FakeAws([{ id: RUNNING_ID, tags: { 'lgtm:tenant': '  ' } }]);
    const info = jest.spyOn(aws.logger, 'info');

    const response = await aws.process([sqsRecord(RUNNING)], NOW, testSettings({ DEFAULT_TENANT: '' }));

    expect(response.batchItemFailures).toEqual([]);
    expect(aws.sendCommands()).toEqual([]);
    expect(aws.ssm.commandCalls(DescribeInstanceInformationCommand)).toHaveLength(0);
    expect(info).toHaveBeenCalledWith('instance skipped', expect.objectContaining({ instanceId: RUNNING_ID, reason: 'untagged' }));
    expect(aws.skippedByReason).toEqual(new Map([['untagged', 1]]));
  });

  test('an opted-out instance is skipped', async () => {
    const aws = new FakeAws([{ id: RUNNING_ID, tags: { 'lgtm:tenant': 'team-a', 'lgtm:opt-out': 'TRUE' } }]);

    const response = await aws.process([sqsRecord(RUNNING)], NOW);

    expect(response.batchItemFailures).toEqual([]);
    expect(aws.sendCommands()).toEqual([]);
    expect(aws.skippedByReason.get('opted-out')).toBe(1);
  });

  test('a tenant outside the allowed list is refused with a metric and an event', async () => {
    const aws = new FakeAws([{ id: RUNNING_ID, tags: { 'lgtm:tenant': 'intruder' } }]);
    const warn = jest.spyOn(aws.logger, 'warn');

    const response = await aws.process([sqsRecord(RUNNING)], NOW);

    expect(response.batchItemFailures).toEqual([]);
    expect(aws.sendCommands()).toEqual([]);
    expect(aws.refusals()).toEqual([
      {
        EventBusName: 'LgtmFleet',
        Source: 'lgtm-fleet',
        DetailType: 'Agent Enrollment Refused',
        Time: NOW,
        Detail: JSON.stringify({
          instanceId: RUNNING_ID,
          tenant: 'intruder',
          reason: 'tenant-not-allowed',
          tenantTagKey: 'lgtm:tenant',
          allowedTenants: ['aws-rag-ec2', 'team-a'],
        }),
      },
    ]);
    expect(aws.metricValues.get('TenantRefused')).toBe(1);
    expect(warn).toHaveBeenCalledWith('enrollment refused', expect.objectContaining({ instanceId: RUNNING_ID, reason: 'tenant-refused' }));
  });

  test('refusals are published ten to a PutEvents call, and a failed entry retries its record', async () => {
    const ids = Array.from({ length: 12 }, (_, index) => `i-${String(index).padStart(17, '0')}`);
    const aws = new FakeAws(ids.map((id) => ({ id, tags: { 'lgtm:tenant': 'intruder' } })));
    aws.eventBridge.on(PutEventsCommand).callsFake((input) => ({
      FailedEntryCount: 1,
      Entries: input.Entries.map((_: unknown, index: number) =>
        index === 0 ? { ErrorCode: 'InternalFailure', ErrorMessage: 'try again' } : { EventId: 'e' },
      ),
    }));
    const records = ids.map((id) => sqsRecord(runningEvent(id)));

    const response = await aws.process(records, NOW);

    expect(aws.eventBridge.commandCalls(PutEventsCommand).map((call) => call.args[0].input.Entries?.length)).toEqual([10, 2]);
    expect(response.batchItemFailures.map((failure) => failure.itemIdentifier)).toEqual([records[0]?.messageId, records[10]?.messageId]);
  });

  test('a PutEvents call failing as a whole retries the records of its ten refusals, not those of the next call', async () => {
    const ids = Array.from({ length: 12 }, (_, index) => `i-${String(index).padStart(17, '0')}`);
    const aws = new FakeAws(ids.map((id) => ({ id, tags: { 'lgtm:tenant': 'intruder' } })));
    aws.eventBridge
      .on(PutEventsCommand)
      .rejectsOnce(awsError('AccessDeniedException', 'not authorized to perform: events:PutEvents'))
      .callsFake((input) => ({ FailedEntryCount: 0, Entries: input.Entries.map(() => ({ EventId: 'e' })) }));
    const error = jest.spyOn(aws.logger, 'error');
    const records = ids.map((id) => sqsRecord(runningEvent(id)));

    const response = await aws.process(records, NOW);

    expect(aws.eventBridge.commandCalls(PutEventsCommand).map((call) => call.args[0].input.Entries?.length)).toEqual([10, 2]);
    expect(response.batchItemFailures.map((failure) => failure.itemIdentifier)).toEqual(
      records.slice(0, 10).map((record) => record.messageId),
    );
    // One log line for the failed call, naming its ten instances.
    expect(error).toHaveBeenCalledTimes(1);
    expect(error).toHaveBeenCalledWith(
      'put-events-failed; records will be retried',
      expect.objectContaining({ instanceIds: ids.slice(0, 10), errorName: 'AccessDeniedException' }),
    );
  });

  test('terminated, stopped and unknown instances are skipped with their reasons', async () => {
    const aws = new FakeAws([
      { id: 'i-00000000000000c01', state: 'terminated' },
      { id: 'i-00000000000000c02', state: 'shutting-down' },
      { id: 'i-00000000000000c03', state: 'stopped' },
    ]);
    const info = jest.spyOn(aws.logger, 'info');
    const ids = ['i-00000000000000c01', 'i-00000000000000c02', 'i-00000000000000c03', 'i-00000000000000c04'];

    const response = await aws.process(
      ids.map((id) => sqsRecord(runningEvent(id))),
      new Date(RUNNING_TIME.getTime() + 300_000),
    );

    expect(response.batchItemFailures).toEqual([]);
    expect(aws.sendCommands()).toEqual([]);
    expect(aws.skippedByReason).toEqual(
      new Map([
        ['instance-gone', 3],
        ['instance-not-running', 1],
      ]),
    );
    expect(info).toHaveBeenCalledWith('instance skipped', {
      instanceId: 'i-00000000000000c04',
      reason: 'instance-gone',
      detail: 'not returned by DescribeInstances',
    });
    expect(info).toHaveBeenCalledWith('instance skipped', {
      instanceId: 'i-00000000000000c03',
      reason: 'instance-not-running',
      detail: 'instance state is stopped',
    });
  });
});

describe('malformed and foreign events', () => {
  test('each malformed record goes to the dead-letter queue with its reason while the rest of the batch is processed', async () => {
    const aws = new FakeAws([{ id: RUNNING_ID }]);
    const warn = jest.spyOn(aws.logger, 'warn');
    const notJson = sqsRecord('{"detail-type": ');
    const unknownType = sqsRecord({ ...RUNNING, 'detail-type': 'EC2 Spot Instance Interruption Warning' });
    const badInstanceId = sqsRecord({ ...RUNNING, detail: { 'instance-id': 'i-NOT-AN-ID', state: 'running' } });
    const wrongSource = sqsRecord(reconcileEvent([RUNNING_ID], 'someone-else'));
    const good = sqsRecord(RUNNING);

    const response = await aws.process([notJson, unknownType, badInstanceId, wrongSource, good], NOW);

    expect(response).toEqual({ batchItemFailures: [] });
    expect(aws.sendCommands().map((command) => command.InstanceIds)).toEqual([[RUNNING_ID]]);
    const deadLetters = aws.deadLetters();
    expect(deadLetters.map((entry) => [entry.Id, entry.MessageBody, entry.MessageAttributes?.reason?.StringValue])).toEqual([
      [notJson.messageId, notJson.body, 'malformed-event'],
      [unknownType.messageId, unknownType.body, 'malformed-event'],
      [badInstanceId.messageId, badInstanceId.body, 'malformed-event'],
      [wrongSource.messageId, wrongSource.body, 'malformed-event'],
    ]);
    expect(deadLetters.map((entry) => entry.MessageAttributes?.detail?.StringValue)).toEqual([
      expect.stringMatching(/^body is not JSON: /),
      'unsupported event: detail-type "EC2 Spot Instance Interruption Warning"',
      expect.stringMatching(/^invalid "EC2 Instance State-change Notification" event: detail\.instance-id: not an EC2 instance ID/),
      '"Reconcile Enrollment" from unexpected source "someone-else"',
    ]);
    expect(aws.metricValues.get('MalformedEvents')).toBe(4);
    expect(aws.metricValues.get('DeadLettered')).toBe(4);
    expect(warn).toHaveBeenCalledWith(
      'malformed event',
      expect.objectContaining({ messageId: notJson.messageId, reason: 'malformed-event' }),
    );
  });

  test('test notifications and non-running states are ignored on purpose, without a dead letter', async () => {
    const aws = new FakeAws();
    const info = jest.spyOn(aws.logger, 'info');
    const rawTest = sqsRecord({
      AccountId: '123456789012',
      RequestId: 'c8e4a4a2-1a52-4b7e-8f6b-0cfc1d1e0f57',
      AutoScalingGroupARN: 'arn:aws:autoscaling:ap-northeast-2:123456789012:autoScalingGroup:x:autoScalingGroupName/rag-api-asg',
      AutoScalingGroupName: 'rag-api-asg',
      Service: 'AWS Auto Scaling',
      Event: 'autoscaling:TEST_NOTIFICATION',
      Time: '2026-11-23T12:00:00.000Z',
    });
    const bridgedTest = sqsRecord({
      ...LIFECYCLE,
      detail: {
        AutoScalingGroupName: 'rag-api-asg',
        LifecycleHookName: 'lgtm-agent-enrollment',
        LifecycleTransition: 'autoscaling:TEST_NOTIFICATION',
      },
    });
    const pending = sqsRecord(PENDING);

    const response = await aws.process([rawTest, bridgedTest, pending], NOW);

    expect(response).toEqual({ batchItemFailures: [] });
    expect(aws.totalCalls()).toBe(0);
    expect(info).toHaveBeenCalledWith(
      'event ignored',
      expect.objectContaining({ messageId: rawTest.messageId, reason: 'test-notification' }),
    );
    expect(info).toHaveBeenCalledWith(
      'event ignored',
      expect.objectContaining({ messageId: bridgedTest.messageId, reason: 'test-notification' }),
    );
    expect(info).toHaveBeenCalledWith(
      'event ignored',
      expect.objectContaining({ messageId: pending.messageId, reason: 'not-running-state' }),
    );
  });
});

describe('idempotency', () => {
  test('duplicate events in one batch send one command entry per instance and all succeed', async () => {
    const aws = new FakeAws([{ id: RUNNING_ID }]);
    const records = [sqsRecord(RUNNING), sqsRecord(RUNNING), sqsRecord(reconcileEvent([RUNNING_ID, RUNNING_ID]))];

    const response = await aws.process(records, NOW);

    expect(response.batchItemFailures).toEqual([]);
    expect(aws.sendCommands().map((command) => command.InstanceIds)).toEqual([[RUNNING_ID]]);
    expect(aws.metricValues.get('InstancesEnrolled')).toBe(1);
  });

  test('a replay for an instance enrolled with the pinned version sends nothing', async () => {
    const aws = new FakeAws([{ id: RUNNING_ID, tags: { 'lgtm:agent-status': 'success', 'lgtm:agent-version': '1.21.0' } }]);

    const response = await aws.process([sqsRecord(RUNNING)], NOW);

    expect(response.batchItemFailures).toEqual([]);
    expect(aws.sendCommands()).toEqual([]);
    expect(aws.ssm.calls()).toHaveLength(0);
    expect(aws.skippedByReason.get('already-enrolled')).toBe(1);
  });

  test('an instance enrolled with another Alloy version, or whose enrollment failed, is enrolled again', async () => {
    const aws = new FakeAws([
      { id: 'i-00000000000000d01', tags: { 'lgtm:agent-status': 'success', 'lgtm:agent-version': '1.20.3' } },
      { id: 'i-00000000000000d02', tags: { 'lgtm:agent-status': 'failed', 'lgtm:agent-version': '1.21.0' } },
    ]);

    await aws.process([sqsRecord(reconcileEvent(['i-00000000000000d01', 'i-00000000000000d02']))], NOW);

    expect(aws.sendCommands().map((command) => command.InstanceIds)).toEqual([['i-00000000000000d01', 'i-00000000000000d02']]);
  });

  test('a duplicate while the command is in flight is skipped; a pending status older than the command timeout is enrolled again', async () => {
    const recent = new Date(NOW.getTime() - 120_000).toISOString();
    const stale = new Date(NOW.getTime() - 601_000).toISOString();
    const aws = new FakeAws([
      {
        id: 'i-00000000000000e01',
        tags: { 'lgtm:agent-status': 'pending', 'lgtm:agent-pending-since': recent, 'lgtm:agent-command': 'c-1' },
      },
      { id: 'i-00000000000000e02', tags: { 'lgtm:agent-status': 'pending', 'lgtm:agent-pending-since': stale } },
      { id: 'i-00000000000000e03', tags: { 'lgtm:agent-status': 'pending' } },
    ]);

    await aws.process([sqsRecord(reconcileEvent(['i-00000000000000e01', 'i-00000000000000e02', 'i-00000000000000e03']))], NOW);

    expect(aws.sendCommands().map((command) => command.InstanceIds)).toEqual([['i-00000000000000e02', 'i-00000000000000e03']]);
    expect(aws.skippedByReason.get('enrollment-in-flight')).toBe(1);
  });
});

describe('Auto Scaling lifecycle hooks', () => {
  const LIFECYCLE_NOW = new Date('2026-11-23T12:32:10Z');
  const LIFECYCLE_TAGS = [
    { Key: 'lgtm:lifecycle-group', Value: 'rag-api-asg' },
    { Key: 'lgtm:lifecycle-hook', Value: 'lgtm-agent-enrollment' },
  ];

  test('an enrolled lifecycle instance carries the hook in its tags for the status handler', async () => {
    const aws = new FakeAws([{ id: LIFECYCLE_ID }]);

    const response = await aws.process([sqsRecord(LIFECYCLE)], LIFECYCLE_NOW);

    expect(response.batchItemFailures).toEqual([]);
    expect(aws.sendCommands().map((command) => command.InstanceIds)).toEqual([[LIFECYCLE_ID]]);
    expect(aws.ec2.commandCalls(CreateTagsCommand).map((call) => call.args[0].input)).toEqual([
      {
        Resources: [LIFECYCLE_ID],
        Tags: [
          { Key: 'lgtm:agent-status', Value: 'pending' },
          { Key: 'lgtm:agent-pending-since', Value: LIFECYCLE_NOW.toISOString() },
          { Key: 'lgtm:agent-command', Value: 'command-1' },
        ],
      },
      { Resources: [LIFECYCLE_ID], Tags: LIFECYCLE_TAGS },
    ]);
    expect(aws.autoScaling.calls()).toHaveLength(0);
  });

  test('the running event and the lifecycle event of one launch in one batch make one command and keep the hook', async () => {
    const aws = new FakeAws([{ id: LIFECYCLE_ID }]);

    await aws.process([sqsRecord(runningEvent(LIFECYCLE_ID)), sqsRecord(LIFECYCLE)], LIFECYCLE_NOW);

    expect(aws.sendCommands()).toHaveLength(1);
    expect(aws.ec2.commandCalls(CreateTagsCommand).map((call) => call.args[0].input.Tags)).toContainEqual(LIFECYCLE_TAGS);
  });

  const IN_FLIGHT = { 'lgtm:agent-status': 'pending', 'lgtm:agent-pending-since': '2026-11-23T12:31:00Z', 'lgtm:agent-command': 'c-9' };
  const HOOK_TAGS = { 'lgtm:lifecycle-group': 'rag-api-asg', 'lgtm:lifecycle-hook': 'lgtm-agent-enrollment' };
  const completions = (aws: FakeAws) =>
    aws.autoScaling.commandCalls(CompleteLifecycleActionCommand).map((call) => call.args[0].input.LifecycleActionResult);

  test('a lifecycle event arriving while the command from the running event is in flight adds the hook tags and comes back to check', async () => {
    const aws = new FakeAws([{ id: LIFECYCLE_ID, tags: IN_FLIGHT }]);
    const record = sqsRecord(LIFECYCLE);

    const response = await aws.process([record], LIFECYCLE_NOW);

    // The status handler may have read the tags just before these were written: the request comes back.
    expect(response.batchItemFailures).toEqual([]);
    expect(aws.deferred()).toEqual([record.messageId]);
    expect(aws.sendCommands()).toEqual([]);
    expect(aws.ec2.commandCalls(CreateTagsCommand).map((call) => call.args[0].input)).toEqual([
      { Resources: [LIFECYCLE_ID], Tags: LIFECYCLE_TAGS },
    ]);
    expect(completions(aws)).toEqual([]);
    expect(aws.skippedByReason.get('enrollment-in-flight')).toBe(1);
  });

  test('a running event while the command is in flight is done at once: only a lifecycle action needs the check', async () => {
    const aws = new FakeAws([{ id: LIFECYCLE_ID, tags: IN_FLIGHT }]);

    const response = await aws.process([sqsRecord(runningEvent(LIFECYCLE_ID))], LIFECYCLE_NOW);

    expect(response.batchItemFailures).toEqual([]);
    expect(aws.ec2.commandCalls(CreateTagsCommand)).toHaveLength(0);
  });

  test('back after the install succeeded, with the hook tags still there (the status handler ran first), it continues the launch', async () => {
    const aws = new FakeAws([{ id: LIFECYCLE_ID, tags: { 'lgtm:agent-status': 'success', 'lgtm:agent-version': '1.21.0', ...HOOK_TAGS } }]);

    const response = await aws.process([sqsRecord(LIFECYCLE, { receiveCount: 2 })], LIFECYCLE_NOW);

    expect(response.batchItemFailures).toEqual([]);
    expect(aws.sendCommands()).toEqual([]);
    expect(completions(aws)).toEqual(['CONTINUE']);
    expect(aws.metricValues.get('LifecycleActionsCompleted')).toBe(1);
  });

  test('back after the install failed, it ends the launch with the failure result and does not install again', async () => {
    const aws = new FakeAws([{ id: LIFECYCLE_ID, tags: { 'lgtm:agent-status': 'failed', 'lgtm:agent-command': 'c-9', ...HOOK_TAGS } }]);

    const response = await aws.process(
      [sqsRecord(LIFECYCLE, { receiveCount: 2 })],
      LIFECYCLE_NOW,
      testSettings({ LIFECYCLE_FAILURE_RESULT: 'ABANDON' }),
    );

    expect(response.batchItemFailures).toEqual([]);
    expect(aws.sendCommands()).toEqual([]);
    expect(completions(aws)).toEqual(['ABANDON']);
    expect(aws.skippedByReason.get('enrollment-failed')).toBe(1);
  });

  test('back after the status handler completed the action itself, one look-up finds it done and nothing is completed again', async () => {
    const aws = new FakeAws([{ id: LIFECYCLE_ID, tags: { 'lgtm:agent-status': 'success', 'lgtm:agent-version': '1.21.0' } }]);
    aws.lifecycleStates.set(LIFECYCLE_ID, 'InService');

    const response = await aws.process([sqsRecord(LIFECYCLE, { receiveCount: 2 })], LIFECYCLE_NOW);

    expect(response.batchItemFailures).toEqual([]);
    expect(aws.autoScaling.commandCalls(DescribeAutoScalingInstancesCommand).map((call) => call.args[0].input.InstanceIds)).toEqual([
      [LIFECYCLE_ID],
    ]);
    expect(completions(aws)).toEqual([]);
  });

  test('lifecycle actions are looked up 50 instances per call, and only the waiting ones are completed', async () => {
    const ids = Array.from({ length: 120 }, (_, index) => `i-0000000000000${String(index).padStart(4, '0')}`);
    const aws = new FakeAws(ids.map((id) => ({ id, tags: { 'lgtm:opt-out': 'true' } })));
    for (const id of ids.slice(0, 100)) aws.lifecycleStates.set(id, 'InService');
    const records = ids.map((id) => sqsRecord({ ...LIFECYCLE, detail: { ...(LIFECYCLE.detail as object), EC2InstanceId: id } }));

    const response = await aws.process(records, LIFECYCLE_NOW);

    expect(response.batchItemFailures).toEqual([]);
    expect(aws.autoScaling.commandCalls(DescribeAutoScalingInstancesCommand).map((call) => call.args[0].input.InstanceIds?.length)).toEqual(
      [50, 50, 20],
    );
    expect(aws.autoScaling.commandCalls(CompleteLifecycleActionCommand).map((call) => call.args[0].input.InstanceId)).toEqual(
      ids.slice(100),
    );
  });

  test('when the look-up fails, every action is completed unchecked; one no longer waiting counts as done', async () => {
    const aws = new FakeAws([{ id: LIFECYCLE_ID, tags: { 'lgtm:opt-out': 'true' } }]);
    aws.lifecycleStates.set(LIFECYCLE_ID, 'InService');
    aws.autoScaling.on(DescribeAutoScalingInstancesCommand).rejects(awsError('Throttling', 'Rate exceeded'));

    const response = await aws.process([sqsRecord(LIFECYCLE)], LIFECYCLE_NOW);

    expect(response.batchItemFailures).toEqual([]);
    expect(completions(aws)).toEqual(['CONTINUE']);
    expect(aws.metricValues.get('LifecycleActionsCompleted') ?? 0).toBe(0);
  });

  test('past the deadline with the install still in flight, the record ends: the result of the install completes the action', async () => {
    const afterDeadline = new Date(Date.parse(LIFECYCLE.time as string) + 950_000);
    const sentRecently = new Date(afterDeadline.getTime() - 60_000).toISOString();
    const aws = new FakeAws([{ id: LIFECYCLE_ID, tags: { ...IN_FLIGHT, 'lgtm:agent-pending-since': sentRecently } }]);

    const response = await aws.process([sqsRecord(LIFECYCLE, { receiveCount: 5 })], afterDeadline);

    expect(response.batchItemFailures).toEqual([]);
    expect(aws.deadLetters()).toEqual([]);
    expect(completions(aws)).toEqual([]);
    expect(aws.ec2.commandCalls(CreateTagsCommand).map((call) => call.args[0].input.Tags)).toEqual([LIFECYCLE_TAGS]);
  });

  test('a failed install is retried for a running or reconcile event, but a lifecycle action is not held for it', async () => {
    const failed = { 'lgtm:agent-status': 'failed', 'lgtm:agent-version': '1.21.0' };
    const aws = new FakeAws([{ id: LIFECYCLE_ID, tags: failed }]);

    await aws.process([sqsRecord(LIFECYCLE)], LIFECYCLE_NOW);
    expect(aws.sendCommands()).toEqual([]);
    expect(completions(aws)).toEqual(['CONTINUE']);

    const again = new FakeAws([{ id: LIFECYCLE_ID, tags: failed }]);
    await again.process([sqsRecord(runningEvent(LIFECYCLE_ID))], LIFECYCLE_NOW);
    expect(again.sendCommands().map((command) => command.InstanceIds)).toEqual([[LIFECYCLE_ID]]);
  });

  test.each([
    ['opted out', { 'lgtm:opt-out': 'true' }],
    ['refused', { 'lgtm:tenant': 'intruder' }],
    ['already enrolled', { 'lgtm:agent-status': 'success', 'lgtm:agent-version': '1.21.0' }],
  ])('a lifecycle instance skipped on purpose (%s) continues its launch right away', async (_case, tags) => {
    const aws = new FakeAws([{ id: LIFECYCLE_ID, tags }]);

    const response = await aws.process([sqsRecord(LIFECYCLE)], LIFECYCLE_NOW);

    expect(response.batchItemFailures).toEqual([]);
    expect(aws.sendCommands()).toEqual([]);
    expect(aws.ec2.commandCalls(CreateTagsCommand)).toHaveLength(0);
    expect(aws.autoScaling.commandCalls(CompleteLifecycleActionCommand).map((call) => call.args[0].input)).toEqual([
      {
        AutoScalingGroupName: 'rag-api-asg',
        LifecycleHookName: 'lgtm-agent-enrollment',
        InstanceId: LIFECYCLE_ID,
        LifecycleActionResult: 'CONTINUE',
      },
    ]);
    expect(aws.metricValues.get('LifecycleActionsCompleted')).toBe(1);
  });

  test('completing an action that is no longer pending counts as done; any other error retries the record', async () => {
    const aws = new FakeAws([{ id: LIFECYCLE_ID, tags: { 'lgtm:opt-out': 'true' } }]);
    aws.autoScaling
      .on(CompleteLifecycleActionCommand)
      .rejectsOnce(awsError('ValidationError', `No active Lifecycle Action found with instance ID ${LIFECYCLE_ID}`))
      .rejectsOnce(awsError('Throttling'));
    const first = await aws.process([sqsRecord(LIFECYCLE)], LIFECYCLE_NOW);
    const record = sqsRecord(LIFECYCLE);
    const second = await aws.process([record], LIFECYCLE_NOW);

    expect(first.batchItemFailures).toEqual([]);
    expect(second.batchItemFailures).toEqual([{ itemIdentifier: record.messageId }]);
  });

  test('a lifecycle instance not managed before the deadline completes its action with the configured result and is dead-lettered', async () => {
    const aws = new FakeAws([{ id: LIFECYCLE_ID, ssm: 'none' }]);
    const afterDeadline = new Date(Date.parse(LIFECYCLE.time as string) + 950_000);

    const response = await aws.process([sqsRecord(LIFECYCLE)], afterDeadline, testSettings({ LIFECYCLE_FAILURE_RESULT: 'ABANDON' }));

    expect(response.batchItemFailures).toEqual([]);
    expect(aws.autoScaling.commandCalls(CompleteLifecycleActionCommand).map((call) => call.args[0].input)).toEqual([
      {
        AutoScalingGroupName: 'rag-api-asg',
        LifecycleHookName: 'lgtm-agent-enrollment',
        InstanceId: LIFECYCLE_ID,
        LifecycleActionResult: 'ABANDON',
      },
    ]);
    expect(aws.deadLetters().map((entry) => entry.MessageAttributes?.reason?.StringValue)).toEqual(['ssm-not-managed-before-deadline']);
  });
});

describe('reconciliation events', () => {
  test('a record naming several instances is done only when all of them are done or skipped; otherwise it comes back whole', async () => {
    const aws = new FakeAws([
      { id: 'i-00000000000000f01' },
      { id: 'i-00000000000000f02', ssm: 'none' },
      { id: 'i-00000000000000f03', tags: { 'lgtm:opt-out': 'true' } },
    ]);
    const whole = sqsRecord(reconcileEvent(['i-00000000000000f01', 'i-00000000000000f02', 'i-00000000000000f03']));
    const done = sqsRecord(reconcileEvent(['i-00000000000000f01', 'i-00000000000000f03']));

    const response = await aws.process([whole, done], NOW);

    expect(response.batchItemFailures).toEqual([]);
    expect(aws.deferred()).toEqual([whole.messageId]);
    expect(aws.sendCommands().map((command) => command.InstanceIds)).toEqual([['i-00000000000000f01']]);
  });
});

describe('planRetry', () => {
  const defaults = { retryBaseSeconds: 30, retryMaxSeconds: 300, queueVisibilityTimeoutSeconds: undefined };
  test.each([
    [1, 900, 30],
    [2, 900, 60],
    [4, 900, 240],
    [5, 900, 300],
    [40, 900, 300],
    [3, 45.2, 46],
    [3, 0.2, 1],
  ])('without the queue timeout, receive %i with %ds left waits %ds, changing the visibility', (receiveCount, remaining, expected) => {
    expect(planRetry(receiveCount, remaining, defaults)).toEqual({ delaySeconds: expected, changeVisibility: true });
  });

  test.each([
    [1, 900, 60, false],
    [2, 900, 120, true],
    [4, 900, 300, true],
    [1, 20, 20, true],
  ])('with a 60 s queue timeout, receive %i with %ds left waits %ds (visibility change: %s)', (receiveCount, remaining, delay, change) => {
    expect(planRetry(receiveCount, remaining, { ...defaults, queueVisibilityTimeoutSeconds: 60 })).toEqual({
      delaySeconds: delay,
      changeVisibility: change,
    });
  });

  test('a queue timeout above the maximum is used as is', () => {
    expect(planRetry(3, 900, { ...defaults, queueVisibilityTimeoutSeconds: 360 })).toEqual({ delaySeconds: 360, changeVisibility: false });
  });
});
