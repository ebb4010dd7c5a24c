import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import {
  DescribeInstancesCommand,
  type DescribeInstancesCommandInput,
  type DescribeInstancesCommandOutput,
  EC2Client,
} from '@aws-sdk/client-ec2';
import {
  EventBridgeClient,
  PutEventsCommand,
  type PutEventsCommandInput,
  type PutEventsCommandOutput,
  type PutEventsRequestEntry,
} from '@aws-sdk/client-eventbridge';
import {
  DescribeInstanceInformationCommand,
  type DescribeInstanceInformationCommandInput,
  type DescribeInstanceInformationCommandOutput,
  SSMClient,
} from '@aws-sdk/client-ssm';
import { type ReconcileDependencies, type ReconcileSummary, reconcile } from '../../../lambdas/reconcile/reconcile';
import { mockClient } from '../../support/sdk-call-recorder';

import { awsError, type ManagedInstanceShape, recordMetrics, toEc2Instance } from '../fixtures';

/** Re-exported for the tests that build errors beside this fake. */
export { awsError };

import { loadReconcileSettings, type ReconcileSettings } from '../../../lambdas/reconcile/settings';

/** The environment the CDK construct is expected to give the reconcile function. */
export const TEST_ENV: Record<string, string> = {
  EVENT_BUS_NAME: 'LgtmFleet',
  EVENT_SOURCE: 'lgtm-fleet',
  TENANT_TAG_KEY: 'lgtm:tenant',
  OPT_OUT_TAG_KEY: 'lgtm:opt-out',
  STATUS_TAG_KEY: 'lgtm:agent-status',
  DEFAULT_TENANT: 'aws-rag-ec2',
  ALLOY_VERSION: '1.21.0',
  COMMAND_TIMEOUT_SECONDS: '900',
  RETRY_FAILED_AFTER_SECONDS: '3600',
  MAX_INSTANCES_PER_RUN: '500',
};

export function testSettings(overrides: Record<string, string> = {}): ReconcileSettings {
  return loadReconcileSettings({ ...TEST_ENV, ...overrides });
}

/** A valid EC2 instance ID (17 hex digits) from a number. */
export function instanceId(n: number): string {
  return `i-${n.toString(16).padStart(17, '0')}`;
}

export interface FleetInstance extends ManagedInstanceShape {
  /** Default EC2Instance; ManagedInstance for a hybrid-activated machine (then `id` is an mi- ID). */
  readonly ssmResourceType?: 'EC2Instance' | 'ManagedInstance';
  /**
   * SSM refuses this ID in an `InstanceIds` filter with InvalidInstanceId, failing the whole call
   * (as for an instance shutting down after DescribeInstances listed it). Default false.
   */
  readonly ssmRefusesId?: boolean;
}

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

type PutEventsBehaviour = (entries: PutEventsRequestEntry[]) => PutEventsCommandOutput | Promise<PutEventsCommandOutput>;

/**
 * Mocked AWS clients behaving like an account's fleet: DescribeInstances and
 * DescribeInstanceInformation honour the filters the handler uses and the real page-size limits,
 * with NextToken paging; PutEvents checks its limits and succeeds unless told otherwise.
 */
export class FakeFleet {
  readonly ec2Client = new EC2Client({ region: 'ap-northeast-2' });
  readonly ssmClient = new SSMClient({ region: 'ap-northeast-2' });
  readonly eventBridgeClient = new EventBridgeClient({ region: 'ap-northeast-2' });

  readonly ec2 = mockClient(this.ec2Client);
  readonly ssm = mockClient(this.ssmClient);
  readonly eventBridge = mockClient(this.eventBridgeClient);

  readonly instances: FleetInstance[] = [];
  readonly logger = new Logger({ serviceName: 'reconcile', logLevel: 'SILENT' });
  readonly metrics = new Metrics({ namespace: 'LgtmFleetTest', serviceName: 'reconcile' });
  readonly metricValues = new Map<string, number>();
  readonly logs: LogLine[] = [];
  readonly sleeps: number[] = [];

  /** Behaviours for the next PutEvents calls, in order; the default accepts every entry. */
  private readonly putEventsQueue: PutEventsBehaviour[] = [];
  /**
   * Listing inputs copied as each page was asked for: the SDK's paginators send every page with one
   * input object and only change its NextToken, so commandCalls() would show the last token on every call.
   */
  private readonly describeInstancesSent: DescribeInstancesCommandInput[] = [];
  private readonly describeInstanceInformationSent: DescribeInstanceInformationCommandInput[] = [];

  constructor(
    instances: readonly FleetInstance[] = [],
    private readonly options: FleetOptions = {},
  ) {
    this.instances.push(...instances);
    this.stubDefaults();
    recordMetrics(this.metrics, this.metricValues);
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
    return this.eventBridge.commandCalls(PutEventsCommand).map((call) => call.args[0].input.Entries ?? []);
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

  callsByCommand(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const stub of [this.ec2, this.ssm, this.eventBridge]) {
      for (const call of stub.calls()) {
        const name = (call.args[0] as object).constructor.name;
        counts[name] = (counts[name] ?? 0) + 1;
      }
    }
    return counts;
  }

  totalCalls(): number {
    return [this.ec2, this.ssm, this.eventBridge].reduce((sum, stub) => sum + stub.calls().length, 0);
  }

  logged(message: string | RegExp): LogLine | undefined {
    return this.logs.find((line) => (typeof message === 'string' ? line.message === message : message.test(line.message)));
  }

  private stubDefaults(): void {
    this.ec2.on(DescribeInstancesCommand).callsFake((input: DescribeInstancesCommandInput): DescribeInstancesCommandOutput => {
      this.describeInstancesSent.push({ ...input });
      const maxResults = input.MaxResults ?? 1000;
      if (maxResults < 5 || maxResults > 1000) throw awsError('InvalidParameterValue', 'MaxResults must be 5-1000');
      if (input.InstanceIds !== undefined && input.MaxResults !== undefined) {
        throw awsError('InvalidParameterCombination', 'The parameter instancesSet cannot be used with the parameter maxResults');
      }
      const filterValues = (name: string) => input.Filters?.find((filter) => filter.Name === name)?.Values;
      const states = filterValues('instance-state-name');
      const ids = filterValues('instance-id');
      if (ids !== undefined && ids.length > 200) throw awsError('InvalidParameterValue', 'too many filter values');
      const matching = this.instances.filter(
        (instance) =>
          instance.id.startsWith('i-') &&
          (states === undefined || states.includes(instance.state ?? 'running')) &&
          (ids === undefined || ids.includes(instance.id)),
      );
      const { items, nextToken } = page(matching, input.NextToken, Math.min(maxResults, this.options.ec2PageLimit ?? maxResults));
      // Several instances per reservation, as for instances launched together.
      const reservations = [];
      for (let start = 0; start < items.length; start += 3) {
        reservations.push({ ReservationId: `r-${start}`, Instances: items.slice(start, start + 3).map(toEc2Instance) });
      }
      return { Reservations: reservations, NextToken: nextToken, $metadata: {} };
    });

    this.ssm
      .on(DescribeInstanceInformationCommand)
      .callsFake((input: DescribeInstanceInformationCommandInput): DescribeInstanceInformationCommandOutput => {
        this.describeInstanceInformationSent.push({ ...input });
        const maxResults = input.MaxResults ?? 10;
        if (maxResults < 5 || maxResults > 50) throw awsError('ValidationException', 'MaxResults must be 5-50');
        if (input.InstanceInformationFilterList !== undefined && input.Filters !== undefined) {
          throw awsError('ValidationException', 'InstanceInformationFilterList and Filters cannot be used together');
        }
        const filterValues = (key: string) => input.Filters?.find((filter) => filter.Key === key)?.Values;
        const pingStatuses = filterValues('PingStatus');
        const resourceTypes = filterValues('ResourceType');
        const instanceIds = filterValues('InstanceIds');
        const named = instanceIds === undefined ? undefined : new Set(instanceIds);
        const refused = this.instances.filter((instance) => instance.ssmRefusesId && named?.has(instance.id)).map(({ id }) => id);
        if (refused.length > 0) throw awsError('InvalidInstanceId', `Instances [${refused.join(', ')}] not in a valid state for account`);
        const matching = this.instances.filter((instance) => {
          const ping = instance.ssm ?? 'Online';
          return (
            ping !== 'none' &&
            (named === undefined || named.has(instance.id)) &&
            (pingStatuses === undefined || pingStatuses.includes(ping)) &&
            (resourceTypes === undefined || resourceTypes.includes(instance.ssmResourceType ?? 'EC2Instance'))
          );
        });
        const { items, nextToken } = page(matching, input.NextToken, Math.min(maxResults, this.options.ssmPageLimit ?? maxResults));
        return {
          InstanceInformationList: items.map((instance) => ({
            InstanceId: instance.id,
            PingStatus: (instance.ssm ?? 'Online') as never,
            PlatformType: instance.platform === 'windows' ? 'Windows' : 'Linux',
            ResourceType: instance.ssmResourceType ?? 'EC2Instance',
          })),
          NextToken: nextToken,
          $metadata: {},
        };
      });

    this.eventBridge.on(PutEventsCommand).callsFake(async (input: PutEventsCommandInput) => {
      const entries = input.Entries ?? [];
      if (entries.length < 1 || entries.length > 10) throw awsError('ValidationException', 'PutEvents takes 1 to 10 entries');
      if (Buffer.byteLength(JSON.stringify(entries)) > 256 * 1024) throw awsError('ValidationException', 'request larger than 256 KB');
      const behaviour = this.putEventsQueue.shift() ?? acceptAll;
      return behaviour(entries);
    });
  }
}

/** PutEvents accepting every entry. */
export function acceptAll(entries: PutEventsRequestEntry[]): PutEventsCommandOutput {
  return { FailedEntryCount: 0, Entries: entries.map((_, index) => ({ EventId: `event-${index}` })), $metadata: {} };
}

/** PutEvents refusing the entries at the given positions. */
export function refuseAt(...positions: number[]): PutEventsBehaviour {
  return (entries) => ({
    FailedEntryCount: positions.length,
    Entries: entries.map((_, index) =>
      positions.includes(index) ? { ErrorCode: 'InternalFailure', ErrorMessage: 'Internal service error' } : { EventId: `event-${index}` },
    ),
    $metadata: {},
  });
}

function page<T>(items: readonly T[], token: string | undefined, size: number): { items: T[]; nextToken: string | undefined } {
  const offset = token === undefined ? 0 : Number(token.replace(/^page-/, ''));
  if (!Number.isInteger(offset)) throw awsError('InvalidNextToken', `bad token ${token}`);
  const end = offset + size;
  return { items: items.slice(offset, end), nextToken: end < items.length ? `page-${end}` : undefined };
}
