import { CompleteLifecycleActionCommand, DescribeAutoScalingInstancesCommand } from '@aws-sdk/client-auto-scaling';
import { TransactWriteItemsCommand } from '@aws-sdk/client-dynamodb';
import { CreateTagsCommand, DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import { DescribeServicesCommand, UpdateServiceCommand } from '@aws-sdk/client-ecs';
import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import {
  DescribeInstanceInformationCommand,
  GetParametersCommand,
  ListCommandsCommand,
  SendCommandCommand,
  type SendCommandCommandInput,
} from '@aws-sdk/client-ssm';
import { Duration } from 'aws-cdk-lib';
import type { SQSRecord } from 'aws-lambda';
import { receivesUntilDeadline } from '../../lambdas/enroll/retry';
import type { EnrollSettings } from '../../lambdas/enroll/settings';
import { ENROLL_QUEUE_VISIBILITY, enrollMaxReceiveCount } from '../../lib/enrollment/enrollment';
import { awsError, FakeAws as EnrollAws, testSettings as enrollSettings } from './enroll/fake-aws';
import {
  acceptedEvents,
  type Classified,
  classify,
  deliveredDeadLetters,
  FINAL_STATES,
  type FinalState,
  loggedReasons,
  parseBody,
  recordLogs,
  settle,
  timeoutError,
} from './fault-table';
import { loadSampleEvent, SAMPLE_LAUNCH_TIME, sqsRecord } from './fixtures';
import { FakeFleet, type FleetInstance, instanceId, refuseAt } from './reconcile/fake-fleet';
import {
  ALLOY_CONFIG,
  changeEvent,
  deploymentEvent,
  edited as editedRefreshConfig,
  FakeAws as RefreshAws,
  serviceArn,
} from './refresh/fake-aws';
import { INSTANCE_ID, invocationEvent, pendingTags, FakeAws as StatusAws } from './status/fake-aws';

/**
 * Fault injection (issue 7, item 2): for every handler a table of faults, each asserting the final
 * state of every event involved: done, skipped with a recorded reason, retried (batch item failure
 * or a thrown invocation) or dead-lettered with a reason. The state is read back from what the
 * harness observes (batch response, thrown error, DLQ entries the queue accepted, log lines,
 * accepted bus events, successful SDK calls), never from the handler's own return value, so an
 * event that is silently dropped classifies as `unaccounted` and fails its row.
 *
 * The mocked clients do not retry: a rejection here is an error that outlasted the SDK's retries.
 */

interface Row {
  readonly fault: string;
  /** One final state per event, in the order the row's events are given. */
  readonly expected: readonly FinalState[];
  readonly run: () => Promise<Classified[]>;
}

function runTable(rows: readonly Row[]): void {
  test.each(rows.map((row) => [row.fault, row] as const))('%s', async (_fault, row) => {
    const states = await row.run();
    // Generic: every event ends in exactly one of the four states.
    for (const state of states) expect(FINAL_STATES).toContain(state);
    // Specific: the state this fault must lead to.
    expect(states).toEqual(row.expected);
  });
}

const FAIL_FIRST_SQS_ENTRY = (input: { Entries?: Array<{ Id?: string }> }) => ({
  Successful: (input.Entries ?? []).slice(1).map((entry) => ({ Id: entry.Id, MessageId: `m-${entry.Id}`, MD5OfMessageBody: 'x' })),
  Failed: (input.Entries ?? []).slice(0, 1).map((entry) => ({ Id: entry.Id, Code: 'InternalError', SenderFault: false })),
});

// ---------------------------------------------------------------------------------------------
// enroll: SQS batch; per record.

const RUNNING = loadSampleEvent('ec2-instance-running.json');
const PENDING = loadSampleEvent('ec2-instance-pending.json');
const RUNNING_ID = 'i-0abcd1111ef223344';
const RUNNING_TIME = new Date('2026-11-23T12:30:34Z');
const ENROLL_NOW = new Date(RUNNING_TIME.getTime() + 60_000);
const AFTER_DEADLINE = new Date(RUNNING_TIME.getTime() + 901_000);

function runningEvent(id: string): Record<string, unknown> {
  return {
    ...RUNNING,
    resources: [`arn:aws:ec2:ap-northeast-2:123456789012:instance/${id}`],
    detail: { 'instance-id': id, state: 'running' },
  };
}

/** Instance IDs an enroll record names (EC2 state change, lifecycle action or reconcile request). */
function enrollInstanceIds(record: SQSRecord): string[] {
  const detail = parseBody(record.body)?.detail as Record<string, unknown> | undefined;
  if (detail === undefined) return [];
  const ids = [detail['instance-id'], detail.EC2InstanceId, ...(Array.isArray(detail.instanceIds) ? detail.instanceIds : [])];
  return [...new Set(ids.filter((id): id is string => typeof id === 'string'))];
}

/** The enroll settings at the longest deadline, the receives its retry schedule takes, and the queue's limit. */
function longDeadline(): { settings: EnrollSettings; receives: number; maxReceiveCount: number } {
  const settings = enrollSettings({
    ENROLL_DEADLINE_SECONDS: String(720 * 60),
    QUEUE_VISIBILITY_TIMEOUT_SECONDS: String(ENROLL_QUEUE_VISIBILITY.toSeconds()),
  });
  return {
    settings,
    receives: receivesUntilDeadline(720 * 60, settings),
    maxReceiveCount: enrollMaxReceiveCount(Duration.minutes(720)),
  };
}

async function runEnroll(aws: EnrollAws, records: SQSRecord[], now = ENROLL_NOW, settings?: EnrollSettings): Promise<Classified[]> {
  const logs = recordLogs(aws.logger);
  const response = await aws.process(records, now, settings);
  const failures = new Set(response.batchItemFailures.map((failure) => failure.itemIdentifier));
  const deferred = new Set(aws.deferred());
  const deadLetters = await deliveredDeadLetters(aws.sqs.commandCalls(SendMessageBatchCommand));
  const commanded = new Set(
    (await settle<SendCommandCommandInput, unknown>(aws.ssm.commandCalls(SendCommandCommand)))
      .filter(({ output }) => output !== undefined)
      .flatMap(({ input }) => input.InstanceIds ?? []),
  );
  return records.map((record) => {
    const ignored = loggedReasons(logs, ['event ignored'], (extra) => extra.messageId === record.messageId);
    const perInstance = enrollInstanceIds(record).map((id) => ({
      done: commanded.has(id),
      skipReasons: loggedReasons(logs, ['instance skipped', 'enrollment refused'], (extra) => extra.instanceId === id),
    }));
    // Every instance the record names must be enrolled or skipped with a reason; one neither is a loss.
    const allAccounted = perInstance.length > 0 && perInstance.every((item) => item.done || item.skipReasons.length > 0);
    return classify({
      // Waiting requests come back in an envelope instead of failing their message.
      retried: failures.has(record.messageId) || deferred.has(record.messageId),
      deadLetterReason: deadLetters.get(record.messageId),
      skipReasons: [...ignored, ...(allAccounted ? perInstance.flatMap((item) => item.skipReasons) : [])],
      done: allAccounted,
    });
  });
}

describe('enroll', () => {
  runTable([
    {
      fault: 'none (control): a running instance is enrolled',
      expected: ['done'],
      run: () => runEnroll(new EnrollAws([{ id: RUNNING_ID }]), [sqsRecord(RUNNING)]),
    },
    {
      fault: 'ThrottlingException from SendCommand past the SDK retries',
      expected: ['retried'],
      run: () => {
        const aws = new EnrollAws([{ id: RUNNING_ID }]);
        aws.ssm.on(SendCommandCommand).rejects(awsError('ThrottlingException', 'Rate exceeded'));
        return runEnroll(aws, [sqsRecord(RUNNING)]);
      },
    },
    {
      fault: 'TimeoutError from DescribeInstances',
      expected: ['retried'],
      run: () => {
        const aws = new EnrollAws([{ id: RUNNING_ID }]);
        aws.ec2.on(DescribeInstancesCommand).rejects(timeoutError());
        return runEnroll(aws, [sqsRecord(RUNNING)]);
      },
    },
    {
      fault: 'RequestTimeout from DescribeInstanceInformation',
      expected: ['retried'],
      run: () => {
        const aws = new EnrollAws([{ id: RUNNING_ID }]);
        aws.ssm.on(DescribeInstanceInformationCommand).rejects(awsError('RequestTimeout', 'Request timed out'));
        return runEnroll(aws, [sqsRecord(RUNNING)]);
      },
    },
    {
      fault: 'InvalidInstanceId from SendCommand (agent went offline)',
      expected: ['retried'],
      run: () => {
        const aws = new EnrollAws([{ id: RUNNING_ID }]);
        aws.ssm.on(SendCommandCommand).rejects(awsError('InvalidInstanceId', 'Instances not in a valid state'));
        return runEnroll(aws, [sqsRecord(RUNNING)]);
      },
    },
    {
      fault: 'InvalidInstanceId from SendCommand until past the enrollment deadline',
      expected: ['dead-lettered'],
      run: () => {
        const aws = new EnrollAws([{ id: RUNNING_ID }]);
        aws.ssm.on(SendCommandCommand).rejects(awsError('InvalidInstanceId', 'Instances not in a valid state'));
        return runEnroll(aws, [sqsRecord(RUNNING, { receiveCount: 12 })], AFTER_DEADLINE);
      },
    },
    {
      fault: 'AccessDeniedException from SendCommand',
      expected: ['retried'],
      run: () => {
        const aws = new EnrollAws([{ id: RUNNING_ID }]);
        aws.ssm.on(SendCommandCommand).rejects(awsError('AccessDeniedException', 'not authorized to perform: ssm:SendCommand'));
        return runEnroll(aws, [sqsRecord(RUNNING)]);
      },
    },
    {
      fault: 'AccessDeniedException from GetParameters',
      expected: ['retried'],
      run: () => {
        const aws = new EnrollAws([{ id: RUNNING_ID }]);
        aws.ssm.on(GetParametersCommand).rejects(awsError('AccessDeniedException', 'not authorized to perform: ssm:GetParameters'));
        return runEnroll(aws, [sqsRecord(RUNNING)]);
      },
    },
    {
      fault: 'partial batch failure: SendMessageBatch to the DLQ fails one of two entries',
      expected: ['retried', 'dead-lettered'],
      run: () => {
        const aws = new EnrollAws();
        aws.sqs.on(SendMessageBatchCommand).callsFake(FAIL_FIRST_SQS_ENTRY);
        return runEnroll(aws, [sqsRecord('not json'), sqsRecord('{')]);
      },
    },
    {
      fault: 'long deadline (enrollment.deadlineMinutes 720): still not SSM-managed after 6 h, below the queue’s maxReceiveCount',
      expected: ['retried'],
      run: () => {
        const { settings, receives, maxReceiveCount } = longDeadline();
        const halfway = Math.floor(receives / 2);
        if (halfway <= 50 || halfway >= maxReceiveCount)
          throw new Error(`receive ${halfway} is not past the old 50 and below ${maxReceiveCount}`);
        const aws = new EnrollAws([{ id: RUNNING_ID, ssm: 'none' }]);
        return runEnroll(aws, [sqsRecord(RUNNING, { receiveCount: halfway })], new Date(RUNNING_TIME.getTime() + 6 * 3600_000), settings);
      },
    },
    {
      fault:
        'long deadline (720 min): still not SSM-managed at its last receive, the deadline: dead-lettered by the handler, with its reason',
      expected: ['dead-lettered'],
      run: () => {
        const { settings, receives, maxReceiveCount } = longDeadline();
        // SQS would move the message itself (no reason, no lifecycle result) only after maxReceiveCount receives.
        if (receives >= maxReceiveCount) throw new Error(`the deadline takes ${receives} receives, the queue allows ${maxReceiveCount}`);
        const aws = new EnrollAws([{ id: RUNNING_ID, ssm: 'none' }]);
        return runEnroll(
          aws,
          [sqsRecord(RUNNING, { receiveCount: receives })],
          new Date(RUNNING_TIME.getTime() + 720 * 60_000 + 1_000),
          settings,
        );
      },
    },
    {
      fault: 'partial batch failure: SendMessageBatch refuses the envelope of a waiting record (the queue retries the record)',
      expected: ['retried'],
      run: async () => {
        const aws = new EnrollAws([{ id: RUNNING_ID, ssm: 'none' }]);
        aws.sqs.on(SendMessageBatchCommand).callsFake(FAIL_FIRST_SQS_ENTRY);
        const record = sqsRecord(RUNNING, { receiveCount: 2 });
        const response = await aws.process([record], ENROLL_NOW);
        if (response.batchItemFailures[0]?.itemIdentifier !== record.messageId) throw new Error('the record was not retried');
        return ['retried'];
      },
    },
    {
      fault: 'partial batch failure: PutEvents refuses one of two refusal events',
      expected: ['retried', 'skipped'],
      run: () => {
        const ids = ['i-00000000000000f01', 'i-00000000000000f02'];
        const aws = new EnrollAws(ids.map((id) => ({ id, tags: { 'lgtm:tenant': 'intruder' } })));
        aws.eventBridge.on(PutEventsCommand).callsFake((input: { Entries: unknown[] }) => ({
          FailedEntryCount: 1,
          Entries: input.Entries.map((_, index) =>
            index === 0 ? { ErrorCode: 'InternalFailure', ErrorMessage: 'try again' } : { EventId: 'e' },
          ),
        }));
        return runEnroll(
          aws,
          ids.map((id) => sqsRecord(runningEvent(id))),
        );
      },
    },
    {
      fault: 'malformed: body is not JSON',
      expected: ['dead-lettered'],
      run: () => runEnroll(new EnrollAws(), [sqsRecord('{"detail-type": ')]),
    },
    {
      fault: 'malformed: wrong detail-type',
      expected: ['dead-lettered'],
      run: () => runEnroll(new EnrollAws(), [sqsRecord({ ...RUNNING, 'detail-type': 'EC2 Spot Instance Interruption Warning' })]),
    },
    {
      fault: 'malformed: instance ID missing',
      expected: ['dead-lettered'],
      run: () => runEnroll(new EnrollAws(), [sqsRecord({ ...RUNNING, detail: { state: 'running' } })]),
    },
    {
      fault: 'not actionable: a pending-state event',
      expected: ['skipped'],
      run: () => runEnroll(new EnrollAws(), [sqsRecord(PENDING)]),
    },
    {
      fault: 'duplicate: the same event twice in one batch',
      expected: ['done', 'done'],
      run: () => runEnroll(new EnrollAws([{ id: RUNNING_ID }]), [sqsRecord(RUNNING), sqsRecord(RUNNING)]),
    },
    {
      fault: 'duplicate: replay for an instance already enrolled',
      expected: ['skipped'],
      run: () =>
        runEnroll(new EnrollAws([{ id: RUNNING_ID, tags: { 'lgtm:agent-status': 'success', 'lgtm:agent-version': '1.21.0' } }]), [
          sqsRecord(RUNNING),
        ]),
    },
    {
      fault: 'duplicate: the same launch already claimed by a concurrent invocation',
      expected: ['skipped'],
      run: () => {
        const aws = new EnrollAws([{ id: RUNNING_ID }]);
        // The other invocation's claim, within the command timeout: it sends the command, this one does not.
        aws.claims.set(`${RUNNING_ID}#${SAMPLE_LAUNCH_TIME.toISOString()}`, Math.floor(ENROLL_NOW.getTime() / 1000) + 600);
        return runEnroll(aws, [sqsRecord(RUNNING)]);
      },
    },
    {
      fault: 'ThrottlingException from the launch claim (DynamoDB) past the SDK retries',
      expected: ['retried'],
      run: () => {
        const aws = new EnrollAws([{ id: RUNNING_ID }]);
        aws.dynamodb.on(TransactWriteItemsCommand).rejects(awsError('ThrottlingException', 'Rate exceeded'));
        return runEnroll(aws, [sqsRecord(RUNNING)]);
      },
    },
    {
      fault: 'duplicate: replay while the install command is in flight',
      expected: ['skipped'],
      run: () => {
        const since = new Date(ENROLL_NOW.getTime() - 120_000).toISOString();
        const tags = { 'lgtm:agent-status': 'pending', 'lgtm:agent-pending-since': since, 'lgtm:agent-command': 'c-1' };
        return runEnroll(new EnrollAws([{ id: RUNNING_ID, tags }]), [sqsRecord(RUNNING)]);
      },
    },
    {
      fault: 'race: lifecycle event while the install from the running event is in flight',
      expected: ['retried'],
      run: () => {
        const since = new Date(ENROLL_NOW.getTime() - 30_000).toISOString();
        const tags = { 'lgtm:agent-status': 'pending', 'lgtm:agent-pending-since': since, 'lgtm:agent-command': 'c-1' };
        const lifecycle = loadSampleEvent('autoscaling-launch-lifecycle-action.json') as { detail: { EC2InstanceId: string } };
        return runEnroll(new EnrollAws([{ id: lifecycle.detail.EC2InstanceId, tags }]), [sqsRecord(lifecycle)]);
      },
    },
    {
      fault: 'ThrottlingException from DescribeAutoScalingInstances before releasing an opted-out launch (released unchecked)',
      expected: ['skipped'],
      run: () => {
        const lifecycle = loadSampleEvent('autoscaling-launch-lifecycle-action.json') as { detail: { EC2InstanceId: string } };
        const aws = new EnrollAws([{ id: lifecycle.detail.EC2InstanceId, tags: { 'lgtm:opt-out': 'true' } }]);
        aws.autoScaling.on(DescribeAutoScalingInstancesCommand).rejects(awsError('Throttling', 'Rate exceeded'));
        return runEnroll(aws, [sqsRecord(lifecycle)]);
      },
    },
    {
      fault: 'deleted mid-flight: instance terminated before the look-up',
      expected: ['skipped'],
      run: () => runEnroll(new EnrollAws([{ id: RUNNING_ID, state: 'terminated' }]), [sqsRecord(RUNNING)]),
    },
    {
      fault: 'deleted mid-flight: instance long gone from DescribeInstances',
      expected: ['skipped'],
      run: () => runEnroll(new EnrollAws(), [sqsRecord(RUNNING)], new Date(RUNNING_TIME.getTime() + 300_000)),
    },
    {
      fault: 'deleted mid-flight: instance not (yet) in DescribeInstances right after the event',
      expected: ['retried'],
      run: () => runEnroll(new EnrollAws(), [sqsRecord(RUNNING)]),
    },
    {
      fault: 'deleted mid-flight: agent config parameter deleted before enrollment',
      expected: ['retried'],
      run: () => {
        const aws = new EnrollAws([{ id: RUNNING_ID }]);
        aws.parameters.delete('/LgtmFleet/agent/aws-rag-ec2/linux');
        return runEnroll(aws, [sqsRecord(RUNNING)]);
      },
    },
    {
      fault: 'deleted mid-flight: agent config parameter still missing at the deadline',
      expected: ['dead-lettered'],
      run: () => {
        const aws = new EnrollAws([{ id: RUNNING_ID }]);
        aws.parameters.delete('/LgtmFleet/agent/aws-rag-ec2/linux');
        return runEnroll(aws, [sqsRecord(RUNNING, { receiveCount: 10 })], AFTER_DEADLINE);
      },
    },
  ]);
});

// ---------------------------------------------------------------------------------------------
// status: one EventBridge event per asynchronous invocation; retried = the invocation throws.

const SUCCESS = invocationEvent('Success');
const LIFECYCLE_TAGS = { 'lgtm:lifecycle-group': 'rag-api-asg', 'lgtm:lifecycle-hook': 'lgtm-agent-enrollment' };

async function runStatus(aws: StatusAws, event: unknown, earlierDeliveries: unknown[] = []): Promise<Classified[]> {
  for (const earlier of earlierDeliveries) await aws.process(earlier);
  for (const stub of [aws.ec2, aws.ssm, aws.eventBridge, aws.autoScaling]) stub.resetHistory();
  const logs = recordLogs(aws.logger);
  let threw = false;
  try {
    await aws.process(event);
  } catch {
    threw = true;
  }
  const published = await acceptedEvents(aws.eventBridge.commandCalls(PutEventsCommand));
  const tagged = (await settle(aws.ec2.commandCalls(CreateTagsCommand))).some(({ output }) => output !== undefined);
  return [
    classify({
      retried: threw,
      skipReasons: loggedReasons(logs, ['malformed event', 'event ignored', 'command result not written to tags'], () => true),
      done: logs.some((line) => line.message === 'command result recorded') && (published.length > 0 || tagged),
    }),
  ];
}

describe('status', () => {
  runTable([
    {
      fault: 'none (control): a Success result is recorded',
      expected: ['done'],
      run: () => runStatus(new StatusAws(), SUCCESS),
    },
    {
      fault: 'ThrottlingException from ListCommands past the SDK retries',
      expected: ['retried'],
      run: () => {
        const aws = new StatusAws();
        aws.ssm.on(ListCommandsCommand).rejects(awsError('ThrottlingException', 'Rate exceeded'));
        return runStatus(aws, SUCCESS);
      },
    },
    {
      fault: 'TimeoutError from DescribeInstances',
      expected: ['retried'],
      run: () => {
        const aws = new StatusAws();
        aws.ec2.on(DescribeInstancesCommand).rejects(timeoutError());
        return runStatus(aws, SUCCESS);
      },
    },
    {
      fault: 'AccessDeniedException from CreateTags',
      expected: ['retried'],
      run: () => {
        const aws = new StatusAws();
        aws.ec2.on(CreateTagsCommand).rejects(awsError('AccessDeniedException', 'not authorized'));
        return runStatus(aws, SUCCESS);
      },
    },
    {
      fault: 'ThrottlingException from CompleteLifecycleAction',
      expected: ['retried'],
      run: () => {
        const aws = new StatusAws({ [INSTANCE_ID]: { tags: pendingTags(LIFECYCLE_TAGS) } });
        aws.autoScaling.on(CompleteLifecycleActionCommand).rejects(awsError('Throttling', 'Rate exceeded'));
        return runStatus(aws, SUCCESS);
      },
    },
    {
      fault: 'partial failure: PutEvents reports the outcome entry Failed',
      expected: ['retried'],
      run: () => {
        const aws = new StatusAws();
        aws.eventBridge
          .on(PutEventsCommand)
          .resolves({ FailedEntryCount: 1, Entries: [{ ErrorCode: 'InternalFailure', ErrorMessage: 'x' }] });
        return runStatus(aws, SUCCESS);
      },
    },
    {
      fault: 'malformed: not an event object',
      expected: ['skipped'],
      run: () => runStatus(new StatusAws(), 'not an event'),
    },
    {
      fault: 'malformed: wrong detail-type (command-level status event)',
      expected: ['skipped'],
      run: () => runStatus(new StatusAws(), loadSampleEvent('ssm-command-status-success.json')),
    },
    {
      fault: 'malformed: instance ID missing',
      expected: ['skipped'],
      run: () => runStatus(new StatusAws(), invocationEvent('Success', { 'instance-id': '' })),
    },
    {
      fault: 'not actionable: a non-final status',
      expected: ['skipped'],
      run: () => runStatus(new StatusAws(), invocationEvent('InProgress')),
    },
    {
      fault: 'duplicate: the same result delivered again',
      expected: ['skipped'],
      run: () => runStatus(new StatusAws(), SUCCESS, [SUCCESS]),
    },
    {
      fault: 'deleted mid-flight: instance gone from DescribeInstances',
      expected: ['skipped'],
      run: () => runStatus(new StatusAws({}), SUCCESS),
    },
    {
      fault: 'deleted mid-flight: instance gone before the tag write (InvalidInstanceID.NotFound)',
      expected: ['skipped'],
      run: () => {
        const aws = new StatusAws();
        aws.ec2.on(CreateTagsCommand).rejects(awsError('InvalidInstanceID.NotFound', 'does not exist'));
        return runStatus(aws, SUCCESS);
      },
    },
    {
      fault: 'deleted mid-flight: command no longer listed by ListCommands',
      expected: ['done'],
      run: () => {
        const aws = new StatusAws();
        aws.commands.clear();
        return runStatus(aws, SUCCESS);
      },
    },
    {
      fault: 'deleted mid-flight: ListCommands answers InvalidCommandId',
      expected: ['done'],
      run: () => {
        const aws = new StatusAws();
        aws.ssm.on(ListCommandsCommand).rejects(awsError('InvalidCommandId', 'Command not found'));
        return runStatus(aws, SUCCESS);
      },
    },
  ]);
});

// ---------------------------------------------------------------------------------------------
// reconcile: one scheduled invocation (its event is not read); the state of the one instance the
// row is about. retried = the run throws (the next scheduled run repeats it).

const RECONCILE_NOW = new Date('2026-11-23T12:30:00Z');
const TARGET = instanceId(0x501);

async function runReconcile(fleet: FakeFleet): Promise<Classified[]> {
  let threw = false;
  try {
    await fleet.run(RECONCILE_NOW);
  } catch {
    threw = true;
  }
  const requested = (await acceptedEvents(fleet.eventBridge.commandCalls(PutEventsCommand))).flatMap((event) =>
    Array.isArray(event.detail.instanceIds) ? event.detail.instanceIds : [],
  );
  const finished = fleet.logs.find((line) => line.message === 'reconciliation finished');
  const skippedByReason = (finished?.extra.skippedByReason ?? {}) as Record<string, number>;
  // The run logs skips as counts per reason. A row expecting a skip has the target alone in its
  // fleet, so a count is its reason; rows with more instances expect the target requested.
  const skipReasons = requested.includes(TARGET) ? [] : Object.keys(skippedByReason).filter((reason) => (skippedByReason[reason] ?? 0) > 0);
  return [classify({ retried: threw, skipReasons, done: requested.includes(TARGET) })];
}

function fleetOf(instance: Partial<FleetInstance> = {}): FakeFleet {
  return new FakeFleet([{ id: TARGET, ...instance }]);
}

describe('reconcile', () => {
  runTable([
    {
      fault: 'none (control): an unenrolled instance is requested',
      expected: ['done'],
      run: () => runReconcile(fleetOf()),
    },
    {
      fault: 'ThrottlingException from DescribeInstances past the SDK retries',
      expected: ['retried'],
      run: () => {
        const fleet = fleetOf();
        fleet.ec2.on(DescribeInstancesCommand).rejects(awsError('RequestLimitExceeded', 'Request limit exceeded.'));
        return runReconcile(fleet);
      },
    },
    {
      fault: 'TimeoutError from DescribeInstanceInformation',
      expected: ['retried'],
      run: () => {
        const fleet = fleetOf();
        fleet.ssm.on(DescribeInstanceInformationCommand).rejects(timeoutError());
        return runReconcile(fleet);
      },
    },
    {
      fault: 'AccessDeniedException from PutEvents',
      expected: ['retried'],
      run: () => {
        const fleet = fleetOf();
        fleet.eventBridge.on(PutEventsCommand).rejects(awsError('AccessDeniedException', 'not authorized to perform: events:PutEvents'));
        return runReconcile(fleet);
      },
    },
    {
      fault: 'partial failure: PutEvents refuses the entry, and again on the retry',
      expected: ['retried'],
      run: () => runReconcile(fleetOf().onNextPutEvents(refuseAt(0)).onNextPutEvents(refuseAt(0))),
    },
    {
      fault: 'partial failure: PutEvents refuses the entry once, accepts it on the retry',
      expected: ['done'],
      run: () => runReconcile(fleetOf().onNextPutEvents(refuseAt(0))),
    },
    {
      fault: 'duplicate: a run while the install command from the last one is in flight',
      expected: ['skipped'],
      run: () =>
        runReconcile(
          fleetOf({
            tags: { 'lgtm:agent-status': 'pending', 'lgtm:agent-pending-since': new Date(RECONCILE_NOW.getTime() - 120_000).toISOString() },
          }),
        ),
    },
    {
      fault: 'duplicate: an instance already enrolled with the pinned version',
      expected: ['skipped'],
      run: () => runReconcile(fleetOf({ tags: { 'lgtm:agent-status': 'success', 'lgtm:agent-version': '1.21.0' } })),
    },
    {
      fault: 'deleted mid-flight: EC2 lists the instance as running, SSM no longer knows it at the online check',
      expected: ['skipped'],
      run: () => {
        const fleet = fleetOf();
        // Terminated after DescribeInstances listed it: SSM has dropped it by the time it is asked.
        fleet.ssm.on(DescribeInstanceInformationCommand).resolves({ InstanceInformationList: [] });
        return runReconcile(fleet);
      },
    },
    {
      fault: 'InvalidInstanceId from DescribeInstanceInformation: a neighbour in the same chunk of IDs is shutting down',
      expected: ['done'],
      run: () => {
        const neighbour: FleetInstance = { id: instanceId(0x502), ssm: 'none', ssmRefusesId: true };
        // 60 enrolled instances more make asking by ID (1 call) cheaper than the full listing (2 pages).
        const enrolled = Array.from({ length: 60 }, (_, index) => ({
          id: instanceId(0x600 + index),
          tags: { 'lgtm:agent-status': 'success', 'lgtm:agent-version': '1.21.0' },
        }));
        return runReconcile(new FakeFleet([{ id: TARGET }, neighbour, ...enrolled]));
      },
    },
  ]);
});

// ---------------------------------------------------------------------------------------------
// refresh: SQS batch; per record.

const AGENT = '/lgtm/agent/team-a/linux';
const LOKI = '/lgtm/config/loki';

async function runRefresh(aws: RefreshAws, records: SQSRecord[]): Promise<Classified[]> {
  const logs = recordLogs(aws.logger);
  const response = await aws.process(records);
  const failures = new Set(response.batchItemFailures.map((failure) => failure.itemIdentifier));
  const deadLetters = await deliveredDeadLetters(aws.sqs.commandCalls(SendMessageBatchCommand));
  const published = await acceptedEvents(aws.eventBridge.commandCalls(PutEventsCommand));
  return records.map((record) => {
    const eventId = parseBody(record.body)?.id;
    const deploymentId = (parseBody(record.body)?.detail as { deploymentId?: unknown } | undefined)?.deploymentId;
    const about = published.filter(
      (event) =>
        (Array.isArray(event.detail.sourceEventIds) && event.detail.sourceEventIds.includes(eventId)) ||
        // A deployment's own state change is about that deployment.
        (deploymentId !== undefined && event.detail.deploymentId === deploymentId && event.detail.sourceEventIds === undefined),
    );
    // A Failed outcome that is not retried is final: the event is left alone with the reason on the bus.
    const busReasons = about
      .filter((event) => event.detailType === 'Config Refresh Skipped' || event.detailType === 'Config Refresh Failed')
      .map((event) => String(event.detail.reason ?? ''));
    const logReasons = [
      ...loggedReasons(logs, ['event ignored'], (extra) => extra.messageId === record.messageId),
      ...loggedReasons(logs, ['change superseded'], (extra) => extra.eventId === eventId),
    ];
    return classify({
      retried: failures.has(record.messageId),
      deadLetterReason: deadLetters.get(record.messageId),
      skipReasons: [...busReasons, ...logReasons],
      done: about.some((event) => event.detailType === 'Config Refresh Started' || event.detailType === 'Config Refresh Completed'),
    });
  });
}

function agentChanged(): RefreshAws {
  return new RefreshAws().put(AGENT, ALLOY_CONFIG, 3);
}

function lokiChanged(): RefreshAws {
  return new RefreshAws().put(LOKI, editedRefreshConfig(LOKI), 5);
}

/** Valid YAML that passes the checks; Loki refuses a field it does not know, so its tasks never become healthy. */
const REFUSED_BY_LOKI = `${editedRefreshConfig(LOKI)}unknown_field: true\n`;
const refused = (config: Map<string, string>) => [...config.values()].some((value) => value.includes('unknown_field'));

describe('refresh', () => {
  runTable([
    {
      fault:
        'the backend refuses a checked config: the deployment fails, the circuit breaker rolls back (its tasks and a replaced one run the previous version), Failed names version 5',
      expected: ['done', 'skipped'],
      run: async () => {
        const aws = new RefreshAws().put(LOKI, REFUSED_BY_LOKI, 5);
        const started = await runRefresh(aws, [sqsRecord(changeEvent(LOKI))]);
        const [failed] = aws.settle(serviceArn('loki'), (config) => !refused(config));
        if (refused(aws.services.get(serviceArn('loki'))?.running ?? new Map()) || refused(aws.replaceTask(serviceArn('loki')))) {
          throw new Error('a task runs the refused config after the rollback');
        }
        aws.resetCalls();
        const event = deploymentEvent('loki', failed?.eventName as string, failed?.deploymentId as string, 'tasks failed to start');
        const reported = await runRefresh(aws, [sqsRecord(event)]);
        const [outcome] = aws.published();
        if (outcome?.detail.version !== 5) throw new Error(`the failure names version ${String(outcome?.detail.version)}, not 5`);
        return [...started, ...reported];
      },
    },
    {
      fault: 'none (control): an agent config change is rolled out',
      expected: ['done'],
      run: () => runRefresh(agentChanged(), [sqsRecord(changeEvent(AGENT))]),
    },
    {
      fault: 'ThrottlingException from SendCommand past the SDK retries',
      expected: ['retried'],
      run: () => {
        const aws = agentChanged();
        aws.ssm.on(SendCommandCommand).rejects(awsError('ThrottlingException', 'Rate exceeded'));
        return runRefresh(aws, [sqsRecord(changeEvent(AGENT))]);
      },
    },
    {
      fault: 'TimeoutError from GetParameters',
      expected: ['retried'],
      run: () => {
        const aws = agentChanged();
        aws.ssm.on(GetParametersCommand).rejects(timeoutError());
        return runRefresh(aws, [sqsRecord(changeEvent(AGENT))]);
      },
    },
    {
      fault: 'AccessDeniedException from UpdateService',
      expected: ['retried'],
      run: () => {
        const aws = lokiChanged();
        aws.ecs.on(UpdateServiceCommand).rejects(awsError('AccessDeniedException', 'not authorized to perform: ecs:UpdateService'));
        return runRefresh(aws, [sqsRecord(changeEvent(LOKI))]);
      },
    },
    {
      fault: 'partial failure: PutEvents keeps refusing the outcome entry',
      expected: ['retried'],
      run: () => {
        const aws = agentChanged();
        aws.eventBridge
          .on(PutEventsCommand)
          .resolves({ FailedEntryCount: 1, Entries: [{ ErrorCode: 'InternalFailure', ErrorMessage: 'x' }] });
        return runRefresh(aws, [sqsRecord(changeEvent(AGENT))]);
      },
    },
    {
      fault: 'partial failure: PutEvents refuses the outcome entry once',
      expected: ['done'],
      run: () => {
        const aws = agentChanged();
        aws.eventBridge
          .on(PutEventsCommand)
          .resolvesOnce({ FailedEntryCount: 1, Entries: [{ ErrorCode: 'InternalFailure', ErrorMessage: 'x' }] })
          .resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'event-1' }] });
        return runRefresh(aws, [sqsRecord(changeEvent(AGENT))]);
      },
    },
    {
      fault: 'partial batch failure: SendMessageBatch to the DLQ fails one of two entries',
      expected: ['retried', 'dead-lettered'],
      run: () => {
        const aws = new RefreshAws();
        aws.sqs.on(SendMessageBatchCommand).callsFake(FAIL_FIRST_SQS_ENTRY);
        return runRefresh(aws, [sqsRecord('{ nope'), sqsRecord('nope')]);
      },
    },
    {
      fault: 'malformed: body is not JSON',
      expected: ['dead-lettered'],
      run: () => runRefresh(new RefreshAws(), [sqsRecord('{ nope')]),
    },
    {
      fault: 'malformed: wrong detail-type',
      expected: ['dead-lettered'],
      run: () => runRefresh(new RefreshAws(), [sqsRecord({ ...changeEvent(AGENT), 'detail-type': 'Something Else' })]),
    },
    {
      fault: 'malformed: parameter name missing',
      expected: ['dead-lettered'],
      run: () => runRefresh(new RefreshAws(), [sqsRecord({ ...changeEvent(AGENT), detail: { operation: 'Update' } })]),
    },
    {
      fault: 'not actionable: a parameter under the prefix that is no config',
      expected: ['skipped'],
      run: () => runRefresh(new RefreshAws(), [sqsRecord(changeEvent('/lgtm/something/else'))]),
    },
    {
      fault: 'refused by the checks: an empty agent config (Failed on the bus, not retried)',
      expected: ['skipped'],
      run: () => runRefresh(new RefreshAws().put(AGENT, '', 4), [sqsRecord(changeEvent(AGENT))]),
    },
    {
      fault: 'duplicate: the same change twice in one batch',
      expected: ['done', 'done'],
      run: () => {
        const event = changeEvent(AGENT);
        return runRefresh(agentChanged(), [sqsRecord(event), sqsRecord(event)]);
      },
    },
    {
      fault: 'duplicate: replay of a change already rolled out',
      expected: ['skipped'],
      run: async () => {
        const aws = agentChanged();
        const event = changeEvent(AGENT);
        await aws.process([sqsRecord(event)]);
        aws.resetCalls();
        return runRefresh(aws, [sqsRecord(event)]);
      },
    },
    {
      fault: 'deleted mid-flight: parameter deleted before refresh reads it',
      expected: ['skipped'],
      run: () => {
        const aws = new RefreshAws();
        aws.parameters.delete(AGENT);
        return runRefresh(aws, [sqsRecord(changeEvent(AGENT))]);
      },
    },
    {
      fault: 'deleted mid-flight: a Delete change (nothing pushed)',
      expected: ['skipped'],
      run: () => runRefresh(new RefreshAws(), [sqsRecord(changeEvent(AGENT, 'Delete'))]),
    },
    {
      fault: 'deleted mid-flight: ECS service not found (DescribeServices MISSING)',
      expected: ['retried'],
      run: () => {
        const aws = lokiChanged();
        aws.ecs.on(DescribeServicesCommand).resolves({ services: [], failures: [{ arn: serviceArn('loki'), reason: 'MISSING' }] });
        return runRefresh(aws, [sqsRecord(changeEvent(LOKI))]);
      },
    },
    {
      fault: 'deleted mid-flight: ECS service not found (UpdateService ServiceNotFoundException)',
      expected: ['retried'],
      run: () => {
        const aws = lokiChanged();
        aws.ecs.on(UpdateServiceCommand).rejects(awsError('ServiceNotFoundException', 'Service not found.'));
        return runRefresh(aws, [sqsRecord(changeEvent(LOKI))]);
      },
    },
  ]);
});

// ---------------------------------------------------------------------------------------------

describe('the classifier', () => {
  test('an event with no evidence at all (silently dropped) is unaccounted, and so fails every row', () => {
    expect(classify({ retried: false, skipReasons: [], done: false })).toBe('unaccounted');
    expect(FINAL_STATES).not.toContain('unaccounted');
  });

  test('a skip without a reason is no skip', () => {
    expect(classify({ retried: false, skipReasons: [''], done: false })).toBe('unaccounted');
  });

  test('an event both retried and accepted by the DLQ is ambiguous', () => {
    expect(classify({ retried: true, deadLetterReason: 'malformed-event', skipReasons: [], done: false })).toBe('ambiguous');
  });

  test('a dead letter without a reason attribute is not dead-lettered', () => {
    expect(classify({ retried: false, deadLetterReason: '', skipReasons: [], done: false })).toBe('unaccounted');
  });
});
