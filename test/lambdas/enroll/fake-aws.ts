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
import { EventBridgeClient, PutEventsCommand, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import {
  ChangeMessageVisibilityBatchCommand,
  type ChangeMessageVisibilityBatchRequestEntry,
  SendMessageBatchCommand,
  type SendMessageBatchRequestEntry,
  SQSClient,
} from '@aws-sdk/client-sqs';
import {
  DescribeInstanceInformationCommand,
  GetParametersCommand,
  SendCommandCommand,
  type SendCommandCommandInput,
  SSMClient,
} from '@aws-sdk/client-ssm';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { type EnrollDependencies, processBatch } from '../../../lambdas/enroll/process-batch';
import { type EnrollSettings, loadEnrollSettings } from '../../../lambdas/enroll/settings';
import type { WaitingRequest } from '../../../lambdas/enroll/wait-envelope';
import { AgentCredentials } from '../../../lambdas/shared/agent-credential';
import { agentCredentialSecretPrefixOf, type EnrollEnvironment } from '../../../lambdas/shared/contract';
import { mockClient } from '../../support/sdk-call-recorder';
import { awsError } from '../fixtures';
import { acceptMessages, acceptVisibilityChanges, putEvents } from '../harness/bus';
import { describeInstances } from '../harness/ec2';
import { entriesOf, FakeAccount, inputsOf, REGION } from '../harness/fake-account';
import { agentCredentialSecrets, getSecretValue } from '../harness/secrets';
import { settingsWith } from '../harness/settings';
import { describeInstanceInformation, getParameters, type ManagedInstanceShape } from '../harness/ssm';

/** Re-exported for the tests that build errors beside this fake. */
export { awsError };

/** The environment the CDK construct is expected to give the enroll function. */
export const TEST_ENV = {
  CLAIM_TABLE_NAME: 'LgtmFleet-EnrollClaims',
  LINUX_DOCUMENT_NAME: 'LgtmFleet-InstallAlloy-Linux',
  WINDOWS_DOCUMENT_NAME: 'LgtmFleet-InstallAlloy-Windows',
  PARAMETER_PREFIX: '/LgtmFleet',
  TENANT_TAG_KEY: 'lgtm:tenant',
  OPT_OUT_TAG_KEY: 'lgtm:opt-out',
  SCOPE_TAG_KEY: '',
  SCOPE_TAG_VALUES: '',
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
  LIFECYCLE_FAILURE_RESULT: 'CONTINUE',
  // The stack gives the queue's visibility timeout; unset, the retry delays start from the handler's
  // own base, and the tests of the queue's timing set it.
  QUEUE_VISIBILITY_TIMEOUT_SECONDS: '',
} satisfies EnrollEnvironment;

export const testSettings = settingsWith(TEST_ENV, loadEnrollSettings);

/** The agent credentials' prefix the stack sets with `ingest.tenantBinding` (TEST_ENV leaves it out, as the default stack does). */
export const SECRET_PREFIX = agentCredentialSecretPrefixOf('LgtmFleet');
export const bindingSettings = (): EnrollSettings => testSettings({ AGENT_CREDENTIAL_SECRET_PREFIX: SECRET_PREFIX });

export type FakeInstance = ManagedInstanceShape;

/** The value the fake Parameter Store holds for an agent config parameter at a version. */
export function agentConfigValue(name: string, version: number): string {
  return `// agent config ${name} v${version}\n`;
}

/**
 * Mocked AWS clients behaving like a small account: instances answer DescribeInstances and
 * DescribeInstanceInformation (with the real paging limits), agent config parameters answer
 * GetParameters, launch claims are conditional DynamoDB writes, Auto Scaling launches wait on
 * their hook, everything else succeeds.
 */
export class FakeAws extends FakeAccount {
  readonly dynamodbClient = new DynamoDBClient({ region: REGION });
  readonly ec2Client = new EC2Client({ region: REGION });
  readonly ssmClient = new SSMClient({ region: REGION });
  readonly sqsClient = new SQSClient({ region: REGION });
  readonly eventBridgeClient = new EventBridgeClient({ region: REGION });
  readonly autoScalingClient = new AutoScalingClient({ region: REGION });
  readonly secretsManagerClient = new SecretsManagerClient({ region: REGION });

  readonly dynamodb = mockClient(this.dynamodbClient);
  readonly ec2 = mockClient(this.ec2Client);
  readonly ssm = mockClient(this.ssmClient);
  readonly sqs = mockClient(this.sqsClient);
  readonly eventBridge = mockClient(this.eventBridgeClient);
  readonly autoScaling = mockClient(this.autoScalingClient);
  readonly secretsManager = mockClient(this.secretsManagerClient);
  /** One per function, as at module level in the handler: its cache outlives an invocation. */
  readonly agentCredentials = new AgentCredentials(
    () => this.secretsManagerClient,
    () => this.clock,
  );
  /** The clock the credential cache reads: the `now` of the latest batch. */
  private clock = 0;
  /** Secret name → value: each allowed tenant's agent credential. */
  readonly secrets = agentCredentialSecrets(SECRET_PREFIX, ['aws-rag-ec2', 'team-a']);

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

  /** The value of an agent config parameter at a version. */
  configText: (name: string, version: number) => string = agentConfigValue;

  /** Launch claims by key → expiry (epoch seconds), shared by every invocation on this fake. */
  readonly claims = new Map<string, number>();

  private commandCounter = 0;
  private envelopesTaken = 0;

  constructor(instances: readonly FakeInstance[] = []) {
    super('enroll');
    this.add(...instances);
    this.stubDefaults();
  }

  add(...instances: FakeInstance[]): this {
    for (const instance of instances) this.instances.set(instance.id, instance);
    return this;
  }

  dependencies(now: Date, settings: EnrollSettings = testSettings()): EnrollDependencies {
    this.clock = now.getTime();
    return {
      clients: {
        dynamodb: this.dynamodbClient,
        ec2: this.ec2Client,
        ssm: this.ssmClient,
        sqs: this.sqsClient,
        eventBridge: this.eventBridgeClient,
        autoScaling: this.autoScalingClient,
        agentCredentials: this.agentCredentials,
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
    return inputsOf(this.ssm.commandCalls(SendCommandCommand));
  }

  /** Entries sent to the dead-letter queue. */
  deadLetters(): SendMessageBatchRequestEntry[] {
    return this.messagesTo(TEST_ENV.DEAD_LETTER_QUEUE_URL);
  }

  /** Envelopes of waiting requests sent back to the enrollment queue, with their delays. */
  envelopes(): Array<{ delaySeconds: number | undefined; requests: WaitingRequest[]; body: string }> {
    return this.messagesTo(TEST_ENV.QUEUE_URL).map((entry) => ({
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

  /** Message IDs of the requests deferred into envelopes. */
  deferred(): string[] {
    return this.envelopes().flatMap((envelope) => envelope.requests.map((request) => request.messageId));
  }

  visibilityChanges(): ChangeMessageVisibilityBatchRequestEntry[] {
    return entriesOf(this.sqs.commandCalls(ChangeMessageVisibilityBatchCommand));
  }

  refusals(): PutEventsRequestEntry[] {
    return entriesOf(this.eventBridge.commandCalls(PutEventsCommand));
  }

  /** Forgets the calls made so far (DynamoDB's stay counted) and which envelopes were taken. */
  override resetCalls(): void {
    super.resetCalls();
    this.envelopesTaken = 0;
  }

  protected mockedClients() {
    return [this.dynamodb, this.ec2, this.ssm, this.sqs, this.eventBridge, this.autoScaling, this.secretsManager];
  }

  private messagesTo(queueUrl: string): SendMessageBatchRequestEntry[] {
    return entriesOf(this.sqs.commandCalls(SendMessageBatchCommand).filter((call) => call.args[0].input.QueueUrl === queueUrl));
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
    this.ec2.on(DescribeInstancesCommand).callsFake((input) => describeInstances(this.instances.values(), input));
    this.ec2.on(CreateTagsCommand).resolves({});
    this.ssm.on(DescribeInstanceInformationCommand).callsFake((input) => describeInstanceInformation(this.instances.values(), input));
    this.ssm.on(GetParametersCommand).callsFake((input) =>
      getParameters(input, (name) => {
        const version = this.parameters.get(name);
        return version === undefined ? undefined : { Name: name, Type: 'String', Value: this.configText(name, version), Version: version };
      }),
    );
    this.ssm.on(SendCommandCommand).callsFake((input: SendCommandCommandInput) => {
      if ((input.InstanceIds ?? []).length > 50) throw Object.assign(new Error('at most 50 instance IDs'), { name: 'ValidationException' });
      this.commandCounter += 1;
      return { Command: { CommandId: `command-${this.commandCounter}`, InstanceIds: input.InstanceIds, DocumentName: input.DocumentName } };
    });
    this.eventBridge.on(PutEventsCommand).callsFake((input) => putEvents(input));
    this.secretsManager.on(GetSecretValueCommand).callsFake((input) => getSecretValue(this.secrets, input));
    this.sqs.on(SendMessageBatchCommand).callsFake(acceptMessages);
    this.sqs.on(ChangeMessageVisibilityBatchCommand).callsFake(acceptVisibilityChanges);
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
