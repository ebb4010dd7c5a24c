import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import {
  AutoScalingClient,
  CompleteLifecycleActionCommand,
  type CompleteLifecycleActionCommandInput,
  DescribeAutoScalingInstancesCommand,
  type DescribeAutoScalingInstancesCommandInput,
} from '@aws-sdk/client-auto-scaling';
import {
  DynamoDBClient,
  TransactionCanceledException,
  TransactWriteItemsCommand,
  type TransactWriteItemsCommandInput,
} from '@aws-sdk/client-dynamodb';
import { CreateTagsCommand, DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { EventBridgeClient, PutEventsCommand, type PutEventsCommandInput } from '@aws-sdk/client-eventbridge';
import {
  ChangeMessageVisibilityBatchCommand,
  type ChangeMessageVisibilityBatchCommandInput,
  SendMessageBatchCommand,
  type SendMessageBatchCommandInput,
  SQSClient,
} from '@aws-sdk/client-sqs';
import {
  DescribeInstanceInformationCommand,
  type DescribeInstanceInformationCommandInput,
  GetParametersCommand,
  SendCommandCommand,
  type SendCommandCommandInput,
  SSMClient,
} from '@aws-sdk/client-ssm';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { type EnrollDependencies, processBatch } from '../../../lambdas/enroll/process-batch';
import type { WaitingRequest } from '../../../lambdas/enroll/wait-envelope';
import { mockClient } from '../../support/sdk-call-recorder';

import { awsError, type ManagedInstanceShape, recordMetrics, toEc2Instance } from '../fixtures';

/** Re-exported for the tests that build errors beside this fake. */
export { awsError };

import { type EnrollSettings, loadEnrollSettings } from '../../../lambdas/enroll/settings';

/** The environment the CDK construct is expected to give the enroll function. */
export const TEST_ENV: Record<string, string> = {
  CLAIM_TABLE_NAME: 'LgtmFleet-EnrollClaims',
  LINUX_DOCUMENT_NAME: 'LgtmFleet-InstallAlloy-Linux',
  WINDOWS_DOCUMENT_NAME: 'LgtmFleet-InstallAlloy-Windows',
  PARAMETER_PREFIX: '/LgtmFleet',
  TENANT_TAG_KEY: 'lgtm:tenant',
  OPT_OUT_TAG_KEY: 'lgtm:opt-out',
  ALLOWED_TENANTS: 'aws-rag-ec2, team-a',
  DEFAULT_TENANT: 'aws-rag-ec2',
  STATUS_TAG_KEY: 'lgtm:agent-status',
  ALLOY_VERSION: '1.21.0',
  STOP_LEGACY_AGENTS: 'true',
  ENROLL_DEADLINE_SECONDS: '900',
  QUEUE_URL: 'https://sqs.ap-northeast-2.amazonaws.com/123456789012/LgtmFleet-Enroll',
  DEAD_LETTER_QUEUE_URL: 'https://sqs.ap-northeast-2.amazonaws.com/123456789012/LgtmFleet-Enroll-DLQ',
  EVENT_BUS_NAME: 'LgtmFleet',
  EVENT_SOURCE: 'lgtm-fleet',
  COMMAND_TIMEOUT_SECONDS: '600',
  COMMAND_LOG_GROUP: '/LgtmFleet/enroll-commands',
};

export function testSettings(overrides: Record<string, string> = {}): EnrollSettings {
  return loadEnrollSettings({ ...TEST_ENV, ...overrides });
}

export type FakeInstance = ManagedInstanceShape;

/**
 * Mocked AWS clients behaving like a small account: instances answer DescribeInstances and
 * DescribeInstanceInformation (with the real paging limits), agent config parameters answer
 * GetParameters, everything else succeeds.
 */
/** The value the fake Parameter Store holds for an agent config parameter at a version. */
export function agentConfigValue(name: string, version: number): string {
  return `// agent config ${name} v${version}\n`;
}

export class FakeAws {
  readonly dynamodbClient = new DynamoDBClient({ region: 'ap-northeast-2' });
  readonly ec2Client = new EC2Client({ region: 'ap-northeast-2' });
  readonly ssmClient = new SSMClient({ region: 'ap-northeast-2' });
  readonly sqsClient = new SQSClient({ region: 'ap-northeast-2' });
  readonly eventBridgeClient = new EventBridgeClient({ region: 'ap-northeast-2' });
  readonly autoScalingClient = new AutoScalingClient({ region: 'ap-northeast-2' });

  readonly dynamodb = mockClient(this.dynamodbClient);
  readonly ec2 = mockClient(this.ec2Client);
  readonly ssm = mockClient(this.ssmClient);
  readonly sqs = mockClient(this.sqsClient);
  readonly eventBridge = mockClient(this.eventBridgeClient);
  readonly autoScaling = mockClient(this.autoScalingClient);

  readonly instances = new Map<string, FakeInstance>();
  /**
   * Auto Scaling lifecycle state by instance. An instance without an entry is a launch waiting on
   * its hook (`Pending:Wait`) until CompleteLifecycleAction moves it on; `null` means in no group.
   */
  readonly lifecycleStates = new Map<string, string | null>();
  /** Parameter name → current version. */
  readonly parameters = new Map<string, number>([
    ['/LgtmFleet/agent/aws-rag-ec2/linux', 3],
    ['/LgtmFleet/agent/aws-rag-ec2/windows', 7],
    ['/LgtmFleet/agent/team-a/linux', 2],
    ['/LgtmFleet/agent/team-a/windows', 1],
  ]);

  /** Launch claims by key → expiry (epoch seconds), shared by every invocation on this fake. */
  readonly claims = new Map<string, number>();

  readonly logger = new Logger({ serviceName: 'enroll', logLevel: 'SILENT' });
  readonly metrics = new Metrics({ namespace: 'LgtmFleetTest', serviceName: 'enroll' });
  /** Every metric added, by name (summed), and skipped counts by reason. */
  readonly metricValues = new Map<string, number>();
  readonly skippedByReason = new Map<string, number>();

  private commandCounter = 0;

  constructor(instances: readonly FakeInstance[] = []) {
    for (const instance of instances) this.instances.set(instance.id, instance);
    this.stubDefaults();
    recordMetrics(this.metrics, this.metricValues, this.skippedByReason);
  }

  add(...instances: FakeInstance[]): this {
    for (const instance of instances) this.instances.set(instance.id, instance);
    return this;
  }

  dependencies(now: Date, settings: EnrollSettings = testSettings()): EnrollDependencies {
    return {
      clients: {
        dynamodb: this.dynamodbClient,
        ec2: this.ec2Client,
        ssm: this.ssmClient,
        sqs: this.sqsClient,
        eventBridge: this.eventBridgeClient,
        autoScaling: this.autoScalingClient,
      },
      settings,
      logger: this.logger,
      metrics: this.metrics,
      now: () => now,
    };
  }

  process(records: SQSRecord[], now: Date, settings?: EnrollSettings): Promise<SQSBatchResponse> {
    const event: SQSEvent = { Records: records };
    return processBatch(event, this.dependencies(now, settings));
  }

  sendCommands(): SendCommandCommandInput[] {
    return this.ssm.commandCalls(SendCommandCommand).map((call) => call.args[0].input);
  }

  /** Entries sent to the dead-letter queue. */
  deadLetters(): NonNullable<SendMessageBatchCommandInput['Entries']> {
    return this.sqs
      .commandCalls(SendMessageBatchCommand)
      .filter((call) => call.args[0].input.QueueUrl === TEST_ENV.DEAD_LETTER_QUEUE_URL)
      .flatMap((call) => call.args[0].input.Entries ?? []);
  }

  /** Envelopes of waiting requests sent back to the enrollment queue, with their delays. */
  envelopes(): Array<{ delaySeconds: number | undefined; requests: WaitingRequest[]; body: string }> {
    return this.sqs
      .commandCalls(SendMessageBatchCommand)
      .filter((call) => call.args[0].input.QueueUrl === TEST_ENV.QUEUE_URL)
      .flatMap((call) => call.args[0].input.Entries ?? [])
      .map((entry) => ({
        delaySeconds: entry.DelaySeconds,
        requests: (JSON.parse(entry.MessageBody as string) as { requests: WaitingRequest[] }).requests,
        body: entry.MessageBody as string,
      }));
  }

  /** The envelopes sent so far, as the queue would deliver them (all visible at their slot), then forgotten. */
  takeEnvelopeRecords(): SQSRecord[] {
    const records = this.envelopes()
      .slice(this.envelopesTaken)
      .map((envelope, index) => envelopeRecord(envelope.body, `envelope-${this.envelopesTaken + index + 1}`));
    this.envelopesTaken += records.length;
    return records;
  }

  private envelopesTaken = 0;

  /** Message IDs of the requests deferred into envelopes. */
  deferred(): string[] {
    return this.envelopes().flatMap((envelope) => envelope.requests.map((request) => request.messageId));
  }

  visibilityChanges(): NonNullable<ChangeMessageVisibilityBatchCommandInput['Entries']> {
    return this.sqs.commandCalls(ChangeMessageVisibilityBatchCommand).flatMap((call) => call.args[0].input.Entries ?? []);
  }

  refusals(): NonNullable<PutEventsCommandInput['Entries']> {
    return this.eventBridge.commandCalls(PutEventsCommand).flatMap((call) => call.args[0].input.Entries ?? []);
  }

  /** Number of AWS API calls made, across all clients. */
  totalCalls(): number {
    return [this.dynamodb, this.ec2, this.ssm, this.sqs, this.eventBridge, this.autoScaling].reduce(
      (sum, stub) => sum + stub.calls().length,
      0,
    );
  }

  callsByCommand(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const stub of [this.dynamodb, this.ec2, this.ssm, this.sqs, this.eventBridge, this.autoScaling]) {
      for (const call of stub.calls()) {
        const name = (call.args[0] as object).constructor.name;
        counts[name] = (counts[name] ?? 0) + 1;
      }
    }
    return counts;
  }

  resetCalls(): void {
    for (const stub of [this.ec2, this.ssm, this.sqs, this.eventBridge, this.autoScaling]) stub.resetHistory();
    this.envelopesTaken = 0;
  }

  private stubDefaults(): void {
    // A conditional transaction, atomic as DynamoDB's: every claim written, or none and the reasons.
    this.dynamodb.on(TransactWriteItemsCommand).callsFake((input: TransactWriteItemsCommandInput) => {
      const items = (input.TransactItems ?? []).map((item) => item.Put);
      if (items.length > 100) throw Object.assign(new Error('at most 100 items'), { name: 'ValidationException' });
      const reasons = items.map((put) => {
        const key = put?.Item?.launch?.S as string;
        const now = Number(put?.ExpressionAttributeValues?.[':now']?.N);
        const held = this.claims.get(key);
        return { Code: held !== undefined && held >= now ? 'ConditionalCheckFailed' : 'None' };
      });
      if (reasons.some((reason) => reason.Code !== 'None')) {
        throw new TransactionCanceledException({ message: 'Transaction cancelled', $metadata: {}, CancellationReasons: reasons });
      }
      for (const put of items) this.claims.set(put?.Item?.launch?.S as string, Number(put?.Item?.expiresAt?.N));
      return {};
    });
    this.ec2.on(DescribeInstancesCommand).callsFake((input) => {
      const ids: string[] = input.Filters?.find((filter: { Name?: string }) => filter.Name === 'instance-id')?.Values ?? [];
      if (ids.length > 200) throw Object.assign(new Error('too many filter values'), { name: 'InvalidParameterValue' });
      const found = ids.flatMap((id) => {
        const instance = this.instances.get(id);
        return instance ? [toEc2Instance(instance)] : [];
      });
      return { Reservations: found.length > 0 ? [{ Instances: found }] : [] };
    });
    this.ssm.on(DescribeInstanceInformationCommand).callsFake((input: DescribeInstanceInformationCommandInput) => {
      const ids = input.Filters?.find((filter) => filter.Key === 'InstanceIds')?.Values ?? [];
      const maxResults = input.MaxResults ?? 10;
      if (maxResults < 5 || maxResults > 50) throw Object.assign(new Error('MaxResults must be 5-50'), { name: 'ValidationException' });
      const nodes = ids.flatMap((id) => {
        const instance = this.instances.get(id);
        if (!instance || (instance.ssm ?? 'Online') === 'none') return [];
        return [
          {
            InstanceId: id,
            PingStatus: instance.ssm ?? 'Online',
            PlatformType: instance.platform === 'windows' ? 'Windows' : 'Linux',
            ResourceType: 'EC2Instance',
          },
        ];
      });
      const offset = Number(input.NextToken ?? 0);
      const page = nodes.slice(offset, offset + maxResults);
      const next = offset + maxResults < nodes.length ? String(offset + maxResults) : undefined;
      return { InstanceInformationList: page, NextToken: next };
    });
    this.ssm.on(GetParametersCommand).callsFake((input: { Names: string[] }) => {
      if (input.Names.length > 10) throw Object.assign(new Error('at most 10 names'), { name: 'ValidationException' });
      return {
        Parameters: input.Names.filter((name) => this.parameters.has(name)).map((name) => ({
          Name: name,
          Type: 'String',
          Value: agentConfigValue(name, this.parameters.get(name) ?? 0),
          Version: this.parameters.get(name),
        })),
        InvalidParameters: input.Names.filter((name) => !this.parameters.has(name)),
      };
    });
    this.ssm.on(SendCommandCommand).callsFake((input: SendCommandCommandInput) => {
      if ((input.InstanceIds ?? []).length > 50) throw Object.assign(new Error('at most 50 instance IDs'), { name: 'ValidationException' });
      this.commandCounter += 1;
      return { Command: { CommandId: `command-${this.commandCounter}`, InstanceIds: input.InstanceIds, DocumentName: input.DocumentName } };
    });
    this.ec2.on(CreateTagsCommand).resolves({});
    this.eventBridge.on(PutEventsCommand).callsFake((input: PutEventsCommandInput) => {
      if ((input.Entries ?? []).length > 10) throw Object.assign(new Error('at most 10 entries'), { name: 'ValidationException' });
      return { FailedEntryCount: 0, Entries: (input.Entries ?? []).map((_, index) => ({ EventId: `event-${index}` })) };
    });
    this.sqs.on(SendMessageBatchCommand).callsFake((input: SendMessageBatchCommandInput) => ({
      Successful: (input.Entries ?? []).map((entry) => ({ Id: entry.Id, MessageId: `dlq-${entry.Id}`, MD5OfMessageBody: 'x' })),
      Failed: [],
    }));
    this.sqs.on(ChangeMessageVisibilityBatchCommand).callsFake((input: ChangeMessageVisibilityBatchCommandInput) => ({
      Successful: (input.Entries ?? []).map((entry) => ({ Id: entry.Id })),
      Failed: [],
    }));
    const lifecycleState = (id: string) => (this.lifecycleStates.has(id) ? this.lifecycleStates.get(id) : 'Pending:Wait');
    this.autoScaling.on(DescribeAutoScalingInstancesCommand).callsFake((input: DescribeAutoScalingInstancesCommandInput) => {
      const ids = input.InstanceIds ?? [];
      if (ids.length > 50) throw Object.assign(new Error('at most 50 instance IDs'), { name: 'ValidationError' });
      return {
        AutoScalingInstances: ids.flatMap((id) => {
          const state = lifecycleState(id);
          return state ? [{ InstanceId: id, AutoScalingGroupName: 'rag-api-asg', LifecycleState: state }] : [];
        }),
      };
    });
    this.autoScaling.on(CompleteLifecycleActionCommand).callsFake((input: CompleteLifecycleActionCommandInput) => {
      const id = input.InstanceId ?? '';
      if (lifecycleState(id) !== 'Pending:Wait') {
        throw Object.assign(new Error(`No active Lifecycle Action found with instance ID ${id}`), { name: 'ValidationError' });
      }
      this.lifecycleStates.set(id, input.LifecycleActionResult === 'ABANDON' ? 'Terminating' : 'Pending:Proceed');
      return {};
    });
  }
}

/** An envelope as an SQS record (a new message: first receipt, receive count 1). */
export function envelopeRecord(body: string, messageId: string): SQSRecord {
  return {
    messageId,
    receiptHandle: `receipt-${messageId}`,
    body,
    attributes: {
      ApproximateReceiveCount: '1',
      SentTimestamp: '0',
      SenderId: 'enroll',
      ApproximateFirstReceiveTimestamp: '0',
    },
    messageAttributes: {},
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: 'arn:aws:sqs:ap-northeast-2:123456789012:LgtmFleet-Enroll',
    awsRegion: 'ap-northeast-2',
  };
}
