import { AutoScalingClient, CompleteLifecycleActionCommand, type CompleteLifecycleActionCommandInput } from '@aws-sdk/client-auto-scaling';
import {
  CreateTagsCommand,
  type CreateTagsCommandInput,
  DeleteTagsCommand,
  type DeleteTagsCommandInput,
  DescribeInstancesCommand,
  EC2Client,
} from '@aws-sdk/client-ec2';
import { EventBridgeClient, PutEventsCommand, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { ListCommandsCommand, type ListCommandsCommandInput, SSMClient } from '@aws-sdk/client-ssm';
import type { StatusEnvironment } from '../../../lambdas/shared/contract';
import { processEvent, type StatusDependencies, type StatusResult } from '../../../lambdas/status/process-event';
import { loadStatusSettings, type StatusSettings } from '../../../lambdas/status/settings';
import { mockClient } from '../../support/sdk-call-recorder';
import { awsError, loadSampleEvent } from '../fixtures';
import { putEvents } from '../harness/bus';
import { createTags, deleteTags, describeInstances } from '../harness/ec2';
import { entriesOf, FakeAccount, inputsOf, REGION } from '../harness/fake-account';
import { settingsWith } from '../harness/settings';

/** Re-exported for the tests that build errors beside this fake. */
export { awsError };

/** The environment the CDK construct is expected to give the status function (document names as in the sample events). */
export const TEST_ENV = {
  STATUS_TAG_KEY: 'lgtm:agent-status',
  EVENT_BUS_NAME: 'LgtmFleet',
  EVENT_SOURCE: 'lgtm-fleet',
  // Not the default, so a test can tell the configured result from a hard-coded CONTINUE.
  LIFECYCLE_FAILURE_RESULT: 'ABANDON',
  LINUX_DOCUMENT_NAME: 'lgtm-install-alloy-linux',
  WINDOWS_DOCUMENT_NAME: 'lgtm-install-alloy-windows',
} satisfies StatusEnvironment;

export const testSettings = settingsWith(TEST_ENV, loadStatusSettings);

const FAILED_SAMPLE = loadSampleEvent('ssm-command-invocation-status-failed.json');
const COMMAND_SUCCESS_SAMPLE = loadSampleEvent('ssm-command-status-success.json');
const FAILED_DETAIL = FAILED_SAMPLE.detail as Record<string, string>;

export const INSTANCE_ID = FAILED_DETAIL['instance-id'] as string;
export const COMMAND_ID = FAILED_DETAIL['command-id'] as string;
/** When the samples' command was sent. */
export const REQUESTED_AT = new Date(FAILED_DETAIL['requested-date-time'] as string);

/**
 * An invocation status change of the samples' command on the samples' instance: the sample
 * invocation event (Failed) with another status; Success takes the time of the sample command-level
 * Success event.
 */
export function invocationEvent(status: string, detail: Record<string, string> = {}): Record<string, unknown> {
  const success = status === 'Success';
  return {
    ...FAILED_SAMPLE,
    id: `${FAILED_SAMPLE.id as string}-${status}`,
    time: success ? COMMAND_SUCCESS_SAMPLE.time : FAILED_SAMPLE.time,
    detail: { ...FAILED_DETAIL, status, ...detail },
  };
}

/** Parameters of the samples' command as the enroll handler sends them. */
export const INSTALL_PARAMETERS: Record<string, string[]> = {
  AgentConfig: ['{{ssm:/LgtmFleet/agent/team-a/linux}}'],
  Tenant: ['team-a'],
  AlloyVersion: ['1.21.0'],
  ConfigVersion: ['2'],
  Action: ['install'],
  StopLegacyAgents: ['true'],
};

/** Tags the enroll handler leaves on an instance while the samples' command runs. */
export function pendingTags(extra: Record<string, string> = {}): Record<string, string> {
  return {
    'lgtm:tenant': 'team-a',
    'lgtm:agent-status': 'pending',
    'lgtm:agent-pending-since': '2026-11-23T12:33:57.100Z',
    'lgtm:agent-command': COMMAND_ID,
    ...extra,
  };
}

export interface FakeInstance {
  /** Default running. */
  state?: string;
  tags: Record<string, string>;
}

export interface FakeCommand {
  readonly parameters: Record<string, string[]>;
  readonly requestedAt?: Date;
  readonly documentName?: string;
}

/**
 * Mocked AWS clients behaving like a small account: instances answer DescribeInstances and keep the
 * tags written to them (so a second delivery sees the first one's tags), commands answer
 * ListCommands, everything else succeeds.
 */
export class FakeAws extends FakeAccount {
  readonly ec2Client = new EC2Client({ region: REGION });
  readonly ssmClient = new SSMClient({ region: REGION });
  readonly eventBridgeClient = new EventBridgeClient({ region: REGION });
  readonly autoScalingClient = new AutoScalingClient({ region: REGION });

  readonly ec2 = mockClient(this.ec2Client);
  readonly ssm = mockClient(this.ssmClient);
  readonly eventBridge = mockClient(this.eventBridgeClient);
  readonly autoScaling = mockClient(this.autoScalingClient);

  readonly instances = new Map<string, FakeInstance>();
  readonly commands = new Map<string, FakeCommand>();
  /** Order of the calls that change something, by command name. */
  readonly writes: string[] = [];

  constructor(instances: Record<string, FakeInstance> = { [INSTANCE_ID]: { tags: pendingTags() } }) {
    super('status');
    for (const [id, instance] of Object.entries(instances)) this.instances.set(id, { ...instance, tags: { ...instance.tags } });
    this.commands.set(COMMAND_ID, { parameters: INSTALL_PARAMETERS, requestedAt: REQUESTED_AT });
    this.stubDefaults();
  }

  dependencies(settings: StatusSettings = testSettings()): StatusDependencies {
    return {
      clients: { ec2: this.ec2Client, ssm: this.ssmClient, eventBridge: this.eventBridgeClient, autoScaling: this.autoScalingClient },
      settings,
      logger: this.logger,
      metrics: this.metrics,
    };
  }

  process(event: unknown, settings?: StatusSettings): Promise<StatusResult> {
    return processEvent(event, this.dependencies(settings));
  }

  listCommandsCalls(): ListCommandsCommandInput[] {
    return inputsOf(this.ssm.commandCalls(ListCommandsCommand));
  }

  createTagsCalls(): CreateTagsCommandInput[] {
    return inputsOf(this.ec2.commandCalls(CreateTagsCommand));
  }

  deleteTagsCalls(): DeleteTagsCommandInput[] {
    return inputsOf(this.ec2.commandCalls(DeleteTagsCommand));
  }

  lifecycleCalls(): CompleteLifecycleActionCommandInput[] {
    return inputsOf(this.autoScaling.commandCalls(CompleteLifecycleActionCommand));
  }

  publishedEntries(): PutEventsRequestEntry[] {
    return entriesOf(this.eventBridge.commandCalls(PutEventsCommand));
  }

  /** The published events' DetailType and parsed Detail. */
  publishedEvents(): Array<{ detailType: string | undefined; detail: Record<string, unknown> }> {
    return this.publishedEntries().map((entry) => ({ detailType: entry.DetailType, detail: JSON.parse(entry.Detail ?? '{}') }));
  }

  tagsOf(instanceId: string = INSTANCE_ID): Record<string, string> | undefined {
    return this.instances.get(instanceId)?.tags;
  }

  protected mockedClients() {
    return [this.ec2, this.ssm, this.eventBridge, this.autoScaling];
  }

  private stubDefaults(): void {
    this.ssm.on(ListCommandsCommand).callsFake((input: ListCommandsCommandInput) => {
      const command = input.CommandId ? this.commands.get(input.CommandId) : undefined;
      if (command === undefined) return { Commands: [] };
      return {
        Commands: [
          {
            CommandId: input.CommandId,
            DocumentName: command.documentName ?? 'lgtm-install-alloy-linux',
            Parameters: command.parameters,
            RequestedDateTime: command.requestedAt,
            Status: 'Success',
          },
        ],
      };
    });
    this.ec2.on(DescribeInstancesCommand).callsFake((input) =>
      describeInstances(
        [...this.instances].map(([id, instance]) => ({ id, ...instance })),
        input,
      ),
    );
    this.ec2.on(CreateTagsCommand).callsFake((input: CreateTagsCommandInput) => {
      this.writes.push('CreateTags');
      createTags(input, (id) => this.instances.get(id));
      return {};
    });
    this.ec2.on(DeleteTagsCommand).callsFake((input: DeleteTagsCommandInput) => {
      this.writes.push('DeleteTags');
      deleteTags(input, (id) => this.instances.get(id));
      return {};
    });
    this.eventBridge.on(PutEventsCommand).callsFake((input) => {
      this.writes.push('PutEvents');
      return putEvents(input);
    });
    this.autoScaling.on(CompleteLifecycleActionCommand).callsFake(() => {
      this.writes.push('CompleteLifecycleAction');
      return {};
    });
  }
}
