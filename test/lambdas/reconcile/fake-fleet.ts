import { DescribeInstancesCommand, type DescribeInstancesCommandInput, EC2Client } from '@aws-sdk/client-ec2';
import { EventBridgeClient, PutEventsCommand, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { DescribeInstanceInformationCommand, type DescribeInstanceInformationCommandInput, SSMClient } from '@aws-sdk/client-ssm';
import { type ReconcileDependencies, type ReconcileSummary, reconcile } from '../../../lambdas/reconcile/reconcile';
import { loadReconcileSettings, type ReconcileSettings } from '../../../lambdas/reconcile/settings';
import type { ReconcileEnvironment } from '../../../lambdas/shared/contract';
import { mockClient } from '../../support/sdk-call-recorder';
import { awsError } from '../fixtures';
import { acceptAll, type PutEventsBehaviour, putEvents, refuseAt } from '../harness/bus';
import { describeInstances } from '../harness/ec2';
import { FakeAccount, inputsOf, REGION } from '../harness/fake-account';
import { copyingInputs } from '../harness/listing';
import { settingsWith } from '../harness/settings';
import { describeInstanceInformation, type ManagedInstanceShape } from '../harness/ssm';

/** Re-exported for the tests that build errors and PutEvents answers beside this fake. */
export { acceptAll, awsError, refuseAt };

/** The environment the CDK construct is expected to give the reconcile function. */
export const TEST_ENV = {
  EVENT_BUS_NAME: 'LgtmFleet',
  EVENT_SOURCE: 'lgtm-fleet',
  TENANT_TAG_KEY: 'lgtm:tenant',
  OPT_OUT_TAG_KEY: 'lgtm:opt-out',
  SCOPE_TAG_KEY: '',
  SCOPE_TAG_VALUES: '',
  STATUS_TAG_KEY: 'lgtm:agent-status',
  DEFAULT_TENANT: 'aws-rag-ec2',
  // The stack gives its tenants; unset, every tenant is requested and the enroll handler alone refuses the others.
  ALLOWED_TENANTS: '',
  ALLOY_VERSION: '1.21.0',
  COMMAND_TIMEOUT_SECONDS: '900',
  RETRY_FAILED_AFTER_SECONDS: '3600',
  MAX_INSTANCES_PER_RUN: '500',
} satisfies ReconcileEnvironment;

export const testSettings = settingsWith(TEST_ENV, loadReconcileSettings);

/** A valid EC2 instance ID (17 hex digits) from a number. */
export function instanceId(n: number): string {
  return `i-${n.toString(16).padStart(17, '0')}`;
}

export type FleetInstance = ManagedInstanceShape;

export interface FleetOptions {
  /**
   * Most instances EC2 puts in one DescribeInstances page whatever MaxResults asks for: the
   * service may return fewer items than MaxResults, with a NextToken, and callers must follow it.
   */
  readonly ec2PageLimit?: number;
  /** The same for DescribeInstanceInformation. */
  readonly ssmPageLimit?: number;
}

export interface LogLine {
  readonly level: 'info' | 'warn' | 'error';
  readonly message: string;
  readonly extra: Record<string, unknown>;
}

/**
 * Mocked AWS clients behaving like an account's fleet: DescribeInstances and
 * DescribeInstanceInformation honour the filters the handler uses and the real page-size limits,
 * with NextToken paging; PutEvents checks its limits and succeeds unless told otherwise.
 */
export class FakeFleet extends FakeAccount {
  readonly ec2Client = new EC2Client({ region: REGION });
  readonly ssmClient = new SSMClient({ region: REGION });
  readonly eventBridgeClient = new EventBridgeClient({ region: REGION });

  readonly ec2 = mockClient(this.ec2Client);
  readonly ssm = mockClient(this.ssmClient);
  readonly eventBridge = mockClient(this.eventBridgeClient);

  readonly instances: FleetInstance[] = [];
  readonly logs: LogLine[] = [];
  readonly sleeps: number[] = [];

  /** Behaviours for the next PutEvents calls, in order; the default accepts every entry. */
  private readonly putEventsQueue: PutEventsBehaviour[] = [];
  /** Listing inputs, copied as each page was asked for. */
  private readonly describeInstancesSent: DescribeInstancesCommandInput[] = [];
  private readonly describeInstanceInformationSent: DescribeInstanceInformationCommandInput[] = [];

  constructor(
    instances: readonly FleetInstance[] = [],
    private readonly options: FleetOptions = {},
  ) {
    super('reconcile');
    this.instances.push(...instances);
    this.stubDefaults();
    for (const level of ['info', 'warn', 'error'] as const) {
      jest.spyOn(this.logger, level).mockImplementation((message: unknown, ...extras: unknown[]) => {
        const extra = Object.assign({}, ...extras.filter((item) => typeof item === 'object' && item !== null)) as Record<string, unknown>;
        this.logs.push({ level, message: String(message), extra });
      });
    }
  }

  dependencies(now: Date, settings: ReconcileSettings = testSettings()): ReconcileDependencies {
    return {
      clients: { ec2: this.ec2Client, ssm: this.ssmClient, eventBridge: this.eventBridgeClient },
      settings,
      logger: this.logger,
      metrics: this.metrics,
      now: () => now,
      random: () => 0.5,
      sleep: async (milliseconds) => {
        this.sleeps.push(milliseconds);
      },
    };
  }

  run(now: Date, settings?: ReconcileSettings): Promise<ReconcileSummary> {
    return reconcile(this.dependencies(now, settings));
  }

  /** Queues the behaviour of the next PutEvents call. */
  onNextPutEvents(behaviour: PutEventsBehaviour): this {
    this.putEventsQueue.push(behaviour);
    return this;
  }

  putEventsCalls(): PutEventsRequestEntry[][] {
    return inputsOf(this.eventBridge.commandCalls(PutEventsCommand)).map((input) => input.Entries ?? []);
  }

  /** Instance IDs of every `Reconcile Enrollment` entry sent, in order (including entries sent twice). */
  requestedIds(): string[] {
    return this.putEventsCalls()
      .flat()
      .flatMap((entry) => (JSON.parse(entry.Detail ?? '{}') as { instanceIds: string[] }).instanceIds);
  }

  /** Input of every DescribeInstanceInformation call the fleet answered (not those a test's own `on(…)` answered), in order, as sent. */
  describeInstanceInformationInputs(): DescribeInstanceInformationCommandInput[] {
    return [...this.describeInstanceInformationSent];
  }

  /** Input of every DescribeInstances call the fleet answered (not those a test's own `on(…)` answered), in order, as sent. */
  describeInstancesInputs(): DescribeInstancesCommandInput[] {
    return [...this.describeInstancesSent];
  }

  logged(message: string | RegExp): LogLine | undefined {
    return this.logs.find((line) => (typeof message === 'string' ? line.message === message : message.test(line.message)));
  }

  protected mockedClients() {
    return [this.ec2, this.ssm, this.eventBridge];
  }

  private stubDefaults(): void {
    this.ec2
      .on(DescribeInstancesCommand)
      .callsFake(copyingInputs(this.describeInstancesSent, (input) => describeInstances(this.instances, input, this.options.ec2PageLimit)));
    this.ssm
      .on(DescribeInstanceInformationCommand)
      .callsFake(
        copyingInputs(this.describeInstanceInformationSent, (input) =>
          describeInstanceInformation(this.instances, input, this.options.ssmPageLimit),
        ),
      );
    // The next queued behaviour answers the next call that passes PutEvents' limits.
    this.eventBridge
      .on(PutEventsCommand)
      .callsFake(async (input) => putEvents(input, (entries) => (this.putEventsQueue.shift() ?? acceptAll)(entries)));
  }
}
