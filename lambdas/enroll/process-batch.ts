import type { Logger } from '@aws-lambda-powertools/logger';
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateTagsCommand, type EC2Client, type Tag } from '@aws-sdk/client-ec2';
import type { EventBridgeClient, PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { SendCommandCommand, type SSMClient } from '@aws-sdk/client-ssm';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { chunk, errorMessage, errorName, isThrottlingError } from '../shared/aws';
import { putEvents } from '../shared/bus';
import { sendToDeadLetterQueue } from '../shared/dead-letter';
import { ENROLLMENT_OUTCOME } from '../shared/event-types';
import { completeLifecycleAction } from '../shared/lifecycle';
import { claimLaunches } from './claims';
import {
  agentConfigParameterName,
  buildInstallCommand,
  type InstallCommand,
  lifecycleTags,
  pendingTags,
  SEND_COMMAND_CHUNK,
} from './command';
import { decideInstance, lifecycleResultOnSkip, type WaitReason } from './decide';
import type { InstanceFacts } from './lookup';
import { describeInstances, describeLifecycleStates, describeManagedNodes, getAgentConfigs, PENDING_WAIT, type Platform } from './lookup';
import { BatchCounters, type InstanceOutcome, METRIC } from './outcomes';
import { type EnrollRequest, type LifecycleContext, type ParsedRecord, parseRecord } from './requests';
import { planRetry } from './retry';
import type { EnrollSettings, LifecycleResult } from './settings';
import {
  type Deferred,
  FIRST_LOOK_AFTER_SECONDS,
  firstLookDelaySeconds,
  openEnvelope,
  sendEnvelopes,
  waitDelaySeconds,
  waitingRequest,
} from './wait-envelope';

export interface EnrollClients {
  readonly dynamodb: DynamoDBClient;
  readonly ec2: EC2Client;
  readonly ssm: SSMClient;
  readonly sqs: SQSClient;
  readonly eventBridge: EventBridgeClient;
  readonly autoScaling: AutoScalingClient;
}

export interface EnrollDependencies {
  readonly clients: EnrollClients;
  readonly settings: EnrollSettings;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** Clock, for tests. */
  readonly now?: () => Date;
}

/** DetailType of the event published when an instance asks for a tenant outside the allowed list. */
export const REFUSED_DETAIL_TYPE = ENROLLMENT_OUTCOME.refused;
/** Dead-letter `reason` attribute values. */
export const DEAD_LETTER_REASON = {
  malformed: 'malformed-event',
  notManaged: 'ssm-not-managed-before-deadline',
  configMissing: 'agent-config-missing-before-deadline',
} as const;

/**
 * Requests one invocation processes: about 40 look-up and command calls at most, well inside the
 * function's timeout; the rest of a batch of envelopes goes back at once for the next invocation.
 */
export const MAX_REQUESTS_PER_INVOCATION = 2_000;
/** Within this many seconds of its deadline a waiting instance is described again: is it gone, or to be dead-lettered? */
const DESCRIBE_AGAIN_BEFORE_DEADLINE_SECONDS = 60;
/** A request from an envelope whose dead-letter forwarding or lifecycle completion failed comes back after this long. */
const DEAD_LETTER_RETRY_SECONDS = 30;
/** CreateTags takes at most 1000 resource IDs. */
const CREATE_TAGS_CHUNK = 1000;

/**
 * Processes one SQS batch of enrollment events and returns the records to retry.
 *
 * Every record ends one of four ways: done (every instance enrolled or skipped on purpose),
 * retried (waiting for SSM: sent back in an envelope to the next shared slot; after an error:
 * reported as a batch item failure, or put in the next envelope when it came in one),
 * dead-lettered with a reason (malformed, or not ready before the deadline), or ignored on
 * purpose with a logged reason (test notifications, non-running states).
 */
export async function processBatch(event: SQSEvent, deps: EnrollDependencies): Promise<SQSBatchResponse> {
  return new EnrollBatch(deps, deps.now?.() ?? new Date()).run(event.Records);
}

interface TrackedInstance {
  /** Latest deadline start among the requests naming it (the most lenient "not visible yet" grace). */
  startedAt: Date;
  lifecycle?: LifecycleContext;
}

interface DeadLetter {
  readonly record: SQSRecord;
  readonly reason: string;
  readonly detail: string;
  readonly instanceIds?: readonly string[];
}

class EnrollBatch {
  private readonly settings: EnrollSettings;
  private readonly clients: EnrollClients;
  private readonly logger: Logger;
  private readonly outcomes = new Map<string, InstanceOutcome>();
  private readonly counters = new BatchCounters();
  /** Request message ID → the envelope it came in. */
  private readonly carriers = new Map<string, string>();
  /** Facts that came in envelopes, for instances waiting for SSM. */
  private readonly carried = new Map<string, InstanceFacts>();
  /** Every instance's facts in this batch, described or carried. */
  private facts: ReadonlyMap<string, InstanceFacts> = new Map();

  constructor(
    private readonly deps: EnrollDependencies,
    private readonly now: Date,
  ) {
    this.settings = deps.settings;
    this.clients = deps.clients;
    this.logger = deps.logger;
  }

  async run(batch: readonly SQSRecord[]): Promise<SQSBatchResponse> {
    // Envelopes of waiting requests are opened: their requests are processed like any record.
    const records: SQSRecord[] = [];
    const invalidEnvelopes: DeadLetter[] = [];
    for (const record of batch) {
      const opened = openEnvelope(record);
      if (opened === undefined) {
        records.push(record);
        continue;
      }
      if ('invalid' in opened) {
        invalidEnvelopes.push({ record, reason: DEAD_LETTER_REASON.malformed, detail: opened.invalid });
        continue;
      }
      for (const { record: request, facts } of opened) {
        this.carriers.set(request.messageId, record.messageId);
        records.push(request);
        for (const instance of facts) this.carried.set(instance.instanceId, instance);
      }
    }
    // Envelopes meet in one batch: what one invocation cannot do in its time is passed on at once.
    const overflow = records.splice(MAX_REQUESTS_PER_INVOCATION);
    this.counters.add(METRIC.eventsReceived, records.length);
    const parsed = records.map((record) => parseRecord(record, this.settings.eventSource));
    // An instance that started moments ago cannot be SSM-managed yet: its first look waits, at no cost.
    const tooFresh = new Set(
      parsed.filter((item) => item.kind === 'request' && this.tooFreshToLook(item.record, item.request)).map((item) => item.record),
    );

    const instances = this.trackInstances(parsed.filter((item) => !tooFresh.has(item.record)));
    try {
      if (instances.size > 0) await this.enroll(instances);
    } catch (error) {
      // A defect, not an AWS error (those are handled per call): retry the requests, and still
      // dead-letter the malformed records below rather than failing the whole batch.
      this.failAll([...instances.keys()], 'unexpected-error', error);
    }

    const failures = new Set<string>();
    const deadLetters: DeadLetter[] = [...invalidEnvelopes];
    const deferred: Deferred[] = overflow.map((record) => this.deferral(record, 0));
    for (const item of parsed) {
      switch (item.kind) {
        case 'malformed':
          this.counters.add(METRIC.malformedEvents);
          this.logger.warn('malformed event', {
            messageId: item.record.messageId,
            reason: DEAD_LETTER_REASON.malformed,
            detail: item.detail,
          });
          deadLetters.push({ record: item.record, reason: DEAD_LETTER_REASON.malformed, detail: item.detail });
          break;
        case 'ignored':
          this.counters.add(METRIC.ignoredEvents);
          this.logger.info('event ignored', { messageId: item.record.messageId, reason: item.reason, detail: item.detail });
          break;
        case 'request':
          if (tooFresh.has(item.record)) {
            deferred.push(this.deferral(item.record, firstLookDelaySeconds(this.now, item.request.eventTime)));
            this.counters.add(METRIC.notManagedYet, item.request.instanceIds.length);
            break;
          }
          await this.resolveRequest(item.record, item.request, { failures, deadLetters, deferred });
          break;
      }
    }

    const undelivered = new Set(await this.sendToDeadLetterQueue(deadLetters));
    for (const { record } of deadLetters) {
      if (undelivered.has(record.messageId)) this.retryLater(record, { failures, deferred }, DEAD_LETTER_RETRY_SECONDS);
    }
    for (const carrier of await this.sendEnvelopes(deferred)) failures.add(carrier);
    this.publishMetrics();
    // Only the batch's own messages can fail: a request from an envelope fails its envelope.
    const ids = new Set([...failures].map((messageId) => this.carriers.get(messageId) ?? messageId));
    return { batchItemFailures: [...ids].map((itemIdentifier) => ({ itemIdentifier })) };
  }

  /** A first `running` event younger than {@link FIRST_LOOK_AFTER_SECONDS}: looking now would only find it not managed. */
  private tooFreshToLook(record: SQSRecord, request: EnrollRequest): boolean {
    return (
      request.eventType === 'state-change' &&
      request.receiveCount === 1 &&
      !this.carriers.has(record.messageId) &&
      this.now.getTime() - request.eventTime.getTime() < FIRST_LOOK_AFTER_SECONDS * 1000
    );
  }

  /**
   * A record to process again later. One that came in an envelope goes into the next envelope
   * (failing the envelope would process its other requests again); any other is retried by the queue.
   */
  private retryLater(record: SQSRecord, out: { failures: Set<string>; deferred: Deferred[] }, delaySeconds: number): void {
    if (this.carriers.has(record.messageId)) out.deferred.push(this.deferral(record, delaySeconds));
    else out.failures.add(record.messageId);
  }

  /** `record` as a request for the next envelope, with the message that carried it here. */
  private deferral(record: SQSRecord, delaySeconds: number, facts: readonly InstanceFacts[] = []): Deferred {
    return {
      request: waitingRequest(record, this.now, facts),
      delaySeconds,
      carrierMessageId: this.carriers.get(record.messageId) ?? record.messageId,
    };
  }

  /** Sends the deferred requests; returns the messages to retry because their envelope was not sent. */
  private async sendEnvelopes(deferred: readonly Deferred[]): Promise<string[]> {
    if (deferred.length === 0) return [];
    const result = await sendEnvelopes(this.clients.sqs, this.settings.queueUrl, deferred);
    this.counters.add(METRIC.deferred, deferred.length);
    if (result.errors.length > 0) {
      this.logger.warn('waiting requests not sent in an envelope; their messages will be retried', {
        errors: result.errors,
        messageIds: [...result.unsentCarriers],
      });
    }
    return [...result.unsentCarriers];
  }

  /** Unique instances across the batch, keeping the lifecycle action (if any) waiting for each. */
  private trackInstances(parsed: readonly ParsedRecord[]): Map<string, TrackedInstance> {
    const instances = new Map<string, TrackedInstance>();
    for (const item of parsed) {
      if (item.kind !== 'request') continue;
      for (const instanceId of item.request.instanceIds) {
        const tracked = instances.get(instanceId);
        if (tracked === undefined) {
          instances.set(instanceId, { startedAt: item.request.startedAt, lifecycle: item.request.lifecycle });
        } else {
          if (item.request.startedAt > tracked.startedAt) tracked.startedAt = item.request.startedAt;
          tracked.lifecycle ??= item.request.lifecycle;
        }
      }
    }
    return instances;
  }

  private async enroll(instances: Map<string, TrackedInstance>): Promise<void> {
    // An instance waiting for SSM is described once, and again only near its deadline (gone, or dead-lettered?).
    const fresh = [...instances].filter(([instanceId, tracked]) => {
      const remaining = tracked.startedAt.getTime() / 1000 + this.settings.enrollDeadlineSeconds - this.now.getTime() / 1000;
      return !this.carried.has(instanceId) || remaining <= DESCRIBE_AGAIN_BEFORE_DEADLINE_SECONDS;
    });
    const described = await describeInstances(
      this.clients.ec2,
      fresh.map(([instanceId]) => instanceId),
    );
    for (const failed of described.failed) this.failAll(failed.items, 'describe-instances-failed', failed.error);
    const freshIds = new Set(fresh.map(([instanceId]) => instanceId));
    this.facts = new Map([...[...this.carried].filter(([instanceId]) => !freshIds.has(instanceId)), ...described.found]);

    const candidates = new Map<string, { tenant: string; platform: Platform }>();
    const refused: Array<{ instanceId: string; tenant: string }> = [];
    for (const [instanceId, tracked] of instances) {
      if (this.outcomes.has(instanceId)) continue;
      const decision = decideInstance(this.facts.get(instanceId), {
        settings: this.settings,
        now: this.now,
        startedAt: tracked.startedAt,
        lifecycle: tracked.lifecycle !== undefined,
      });
      switch (decision.action) {
        case 'skip':
          this.setOutcome(instanceId, { status: 'skipped', reason: decision.reason, detail: decision.detail });
          break;
        case 'wait':
          this.setOutcome(instanceId, { status: 'waiting', reason: decision.reason, detail: decision.detail });
          break;
        case 'refuse':
          refused.push({ instanceId, tenant: decision.tenant });
          this.setOutcome(instanceId, {
            status: 'skipped',
            reason: 'tenant-refused',
            detail: `tenant ${JSON.stringify(decision.tenant)} is not in the allowed list`,
          });
          break;
        case 'enroll':
          candidates.set(instanceId, { tenant: decision.tenant, platform: decision.platform });
          break;
      }
    }

    const ready = await this.checkManaged(candidates);
    await this.sendInstallCommands(await this.claim(ready, this.facts, instances));
    await this.writeLifecycleTags(instances);
    await this.publishRefusals(refused);
    await this.handleLifecycleSkips(instances);
  }

  /**
   * Keeps the launches this invocation claims (see claims.ts): a launch another invocation claimed
   * is skipped as in flight (a waiting lifecycle action checks again until that command ends), and
   * a claim that could not be written is retried with its record.
   */
  private async claim(
    ready: Map<string, { tenant: string; platform: Platform }>,
    facts: ReadonlyMap<string, InstanceFacts>,
    instances: Map<string, TrackedInstance>,
  ): Promise<Map<string, { tenant: string; platform: Platform }>> {
    if (ready.size === 0) return ready;
    const claims = [...ready.keys()].map((instanceId) => ({ instanceId, launchTime: facts.get(instanceId)?.launchTime ?? 'unknown' }));
    const result = await claimLaunches(
      this.clients.dynamodb,
      this.settings.claimTableName,
      claims,
      this.now,
      this.settings.commandTimeoutSeconds,
    );
    for (const failed of result.failed) this.failAll(failed.instanceIds, 'claim-failed', failed.error);
    for (const instanceId of result.taken) {
      const detail = 'another invocation claimed this launch and sends its install command';
      if (instances.get(instanceId)?.lifecycle !== undefined) {
        this.setOutcome(instanceId, { status: 'waiting', reason: 'lifecycle-install-in-flight', detail });
      } else {
        this.setOutcome(instanceId, { status: 'skipped', reason: 'enrollment-in-flight', detail });
      }
    }
    return new Map([...ready].filter(([instanceId]) => result.claimed.has(instanceId)));
  }

  /** Keeps the candidates that SSM manages and sees online; the others wait. */
  private async checkManaged(candidates: Map<string, { tenant: string; platform: Platform }>) {
    const ready = new Map<string, { tenant: string; platform: Platform }>();
    if (candidates.size === 0) return ready;
    const managed = await describeManagedNodes(this.clients.ssm, [...candidates.keys()]);
    for (const failed of managed.failed) {
      if (errorName(failed.error) === 'InvalidInstanceId') {
        // Raised for instances SSM has never seen: the usual state right after launch.
        for (const instanceId of failed.items) {
          this.setOutcome(instanceId, { status: 'waiting', reason: 'ssm-not-managed', detail: errorMessage(failed.error) });
        }
      } else {
        this.failAll(failed.items, 'describe-instance-information-failed', failed.error);
      }
    }
    for (const [instanceId, target] of candidates) {
      if (this.outcomes.has(instanceId)) continue;
      const node = managed.found.get(instanceId);
      if (node === undefined) {
        this.setOutcome(instanceId, { status: 'waiting', reason: 'ssm-not-managed', detail: 'not registered with Systems Manager yet' });
      } else if (node.pingStatus !== 'Online') {
        this.setOutcome(instanceId, { status: 'waiting', reason: 'ssm-not-online', detail: `SSM agent ping status is ${node.pingStatus}` });
      } else {
        ready.set(instanceId, target);
      }
    }
    return ready;
  }

  private async sendInstallCommands(ready: Map<string, { tenant: string; platform: Platform }>): Promise<void> {
    if (ready.size === 0) return;
    const groups = new Map<string, { tenant: string; platform: Platform; parameterName: string; instanceIds: string[] }>();
    for (const [instanceId, { tenant, platform }] of ready) {
      const parameterName = agentConfigParameterName(this.settings, tenant, platform);
      const group = groups.get(parameterName) ?? { tenant, platform, parameterName, instanceIds: [] };
      group.instanceIds.push(instanceId);
      groups.set(parameterName, group);
    }

    const configs = await getAgentConfigs(this.clients.ssm, [...groups.keys()]);
    const failedNames = new Map(configs.failed.flatMap((failed) => failed.items.map((name) => [name, failed.error] as const)));

    for (const group of groups.values()) {
      const lookupError = failedNames.get(group.parameterName);
      if (lookupError !== undefined) {
        this.failAll(group.instanceIds, 'get-parameters-failed', lookupError);
        continue;
      }
      const config = configs.found.get(group.parameterName);
      if (config === undefined) {
        for (const instanceId of group.instanceIds) {
          this.setOutcome(instanceId, {
            status: 'waiting',
            reason: 'agent-config-missing',
            detail: `parameter ${group.parameterName} not found`,
          });
        }
        continue;
      }

      // One call at a time: SendCommand has a low request rate, and the SDK's adaptive retry
      // slows down further once it is throttled.
      for (const instanceIds of chunk(group.instanceIds, SEND_COMMAND_CHUNK)) {
        const sent = await this.sendInstallCommand({
          tenant: group.tenant,
          platform: group.platform,
          instanceIds,
          config: config.value,
          configVersion: config.version,
        });
        for (const { commandId, instanceIds: commanded } of sent) {
          await this.writeTags(commanded, pendingTags(this.settings, commandId, this.now), { failRecordsOnError: false });
        }
      }
    }
  }

  /**
   * Names the waiting launch lifecycle action on instances whose command was just sent, and on
   * instances whose command was already in flight when their lifecycle event arrived (the EC2
   * `running` event often comes first), so the status handler completes it when the command ends.
   * One CreateTags call per (group, hook).
   */
  private async writeLifecycleTags(instances: Map<string, TrackedInstance>): Promise<void> {
    const writes = new Map<string, { lifecycle: LifecycleContext; instanceIds: string[] }>();
    for (const [instanceId, { lifecycle }] of instances) {
      const outcome = this.outcomes.get(instanceId);
      const commandRunning = outcome?.status === 'enrolled' || (outcome?.status === 'skipped' && outcome.reason === 'enrollment-in-flight');
      if (lifecycle === undefined || !commandRunning) continue;
      const key = JSON.stringify([lifecycle.groupName, lifecycle.hookName]);
      const write = writes.get(key) ?? { lifecycle, instanceIds: [] };
      write.instanceIds.push(instanceId);
      writes.set(key, write);
    }
    for (const { lifecycle, instanceIds } of writes.values()) {
      await this.writeTags(instanceIds, lifecycleTags(lifecycle), { failRecordsOnError: true });
    }
  }

  /**
   * Sends one chunk's install command and records each instance's outcome; returns the commands
   * actually sent. SendCommand rejects the whole call with InvalidInstanceId when any one instance
   * is not reachable (its agent went offline between the look-up and the send) without saying
   * which, so the chunk is halved until the unreachable instances are isolated: they wait and are
   * re-checked, and the others are not held back with them.
   */
  private async sendInstallCommand(command: InstallCommand): Promise<Array<{ commandId: string; instanceIds: readonly string[] }>> {
    const { instanceIds, tenant, platform } = command;
    try {
      const result = await this.clients.ssm.send(new SendCommandCommand(buildInstallCommand(this.settings, command)));
      const commandId = result.Command?.CommandId ?? 'unknown';
      for (const instanceId of instanceIds) this.setOutcome(instanceId, { status: 'enrolled', commandId });
      this.logger.info('install command sent', { commandId, tenant, platform, instanceIds, configVersion: command.configVersion });
      return [{ commandId, instanceIds }];
    } catch (error) {
      if (errorName(error) !== 'InvalidInstanceId') {
        this.failAll(instanceIds, isThrottlingError(error) ? 'send-command-throttled' : 'send-command-failed', error, { tenant, platform });
        return [];
      }
      if (instanceIds.length === 1) {
        this.setOutcome(instanceIds[0] as string, {
          status: 'waiting',
          reason: 'ssm-not-online',
          detail: `SendCommand: ${errorMessage(error)}`,
        });
        return [];
      }
      const half = Math.ceil(instanceIds.length / 2);
      return [
        ...(await this.sendInstallCommand({ ...command, instanceIds: instanceIds.slice(0, half) })),
        ...(await this.sendInstallCommand({ ...command, instanceIds: instanceIds.slice(half) })),
      ];
    }
  }

  /**
   * Writes the same tags on many instances. Failing to write the pending tags after a command was
   * sent is logged but not retried (a retry would send a second install command); failing to write
   * lifecycle tags retries the records, since without them the launch would wait for the hook's
   * timeout.
   */
  private async writeTags(instanceIds: readonly string[], tags: Tag[], { failRecordsOnError }: { failRecordsOnError: boolean }) {
    for (const resources of chunk(instanceIds, CREATE_TAGS_CHUNK)) {
      try {
        await this.clients.ec2.send(new CreateTagsCommand({ Resources: [...resources], Tags: tags }));
      } catch (error) {
        this.counters.add(METRIC.tagWriteFailures, resources.length);
        if (failRecordsOnError) {
          this.failAll(resources, 'create-tags-failed', error, { tagKeys: tags.map((tag) => tag.Key) });
        } else {
          this.logger.error('tags not written after sending the install command', {
            instanceIds: resources,
            tagKeys: tags.map((tag) => tag.Key),
            errorName: errorName(error),
            errorMessage: errorMessage(error),
          });
        }
      }
    }
  }

  /** Each entry is sent once: a refused entry, or every entry of a failed call, retries the records of its instances. */
  private async publishRefusals(refused: ReadonlyArray<{ instanceId: string; tenant: string }>): Promise<void> {
    const entries: PutEventsRequestEntry[] = refused.map(({ instanceId, tenant }) => ({
      EventBusName: this.settings.eventBusName,
      Source: this.settings.eventSource,
      DetailType: REFUSED_DETAIL_TYPE,
      Time: this.now,
      Detail: JSON.stringify({
        instanceId,
        tenant,
        reason: 'tenant-not-allowed',
        tenantTagKey: this.settings.tenantTagKey,
        allowedTenants: [...this.settings.allowedTenants],
      }),
    }));
    // Instances by cause: the entries of a failed call share its error and one log line.
    const failures = new Map<unknown, string[]>();
    for (const { index, errorCode, errorMessage: message, error } of await putEvents(this.clients.eventBridge, entries, { attempts: 1 })) {
      const cause = error ?? Object.assign(new Error(message), { name: errorCode });
      failures.set(cause, [...(failures.get(cause) ?? []), (refused[index] as { instanceId: string }).instanceId]);
    }
    for (const [cause, instanceIds] of failures) this.failAll(instanceIds, 'put-events-failed', cause);
  }

  /**
   * Skipped on purpose, or the launch's install already ended: do not hold the launch until the hook
   * times out. Only actions still waiting are completed (one batched look-up), since the status
   * handler has usually completed them already; if the look-up fails, every one is completed.
   */
  private async handleLifecycleSkips(instances: Map<string, TrackedInstance>): Promise<void> {
    const releases: Array<{ instanceId: string; lifecycle: LifecycleContext; result: LifecycleResult }> = [];
    for (const [instanceId, tracked] of instances) {
      const outcome = this.outcomes.get(instanceId);
      if (!tracked.lifecycle || outcome?.status !== 'skipped') continue;
      const result = lifecycleResultOnSkip(outcome.reason, this.settings.lifecycleFailureResult);
      if (result !== undefined) releases.push({ instanceId, lifecycle: tracked.lifecycle, result });
    }
    if (releases.length === 0) return;

    const states = await describeLifecycleStates(
      this.clients.autoScaling,
      releases.map(({ instanceId }) => instanceId),
    );
    const unchecked = new Set(states.failed.flatMap(({ items }) => items));
    for (const { items, error } of states.failed) {
      this.logger.warn('DescribeAutoScalingInstances failed; completing the lifecycle actions unchecked', {
        instanceIds: items,
        errorName: errorName(error),
        errorMessage: errorMessage(error),
      });
    }
    for (const { instanceId, lifecycle, result } of releases) {
      const state = states.found.get(instanceId);
      if (!unchecked.has(instanceId) && state !== PENDING_WAIT) {
        this.logger.info('lifecycle action no longer waiting', { instanceId, ...lifecycle, lifecycleState: state ?? 'not in a group' });
        continue;
      }
      const error = await this.completeLifecycleAction(instanceId, lifecycle, result);
      if (error !== undefined) this.failAll([instanceId], 'complete-lifecycle-action-failed', error);
    }
  }

  /** Returns the error, if any; an action that is no longer pending counts as done. */
  private async completeLifecycleAction(instanceId: string, lifecycle: LifecycleContext, result: LifecycleResult): Promise<unknown> {
    try {
      const completion = await completeLifecycleAction(this.clients.autoScaling, { ...lifecycle, instanceId, result });
      if (completion.completed) {
        this.counters.add(METRIC.lifecycleActionsCompleted);
        this.logger.info('lifecycle action completed', { instanceId, ...lifecycle, result });
      } else {
        this.logger.info('lifecycle action already completed', { instanceId, ...lifecycle });
      }
      return undefined;
    } catch (error) {
      return error;
    }
  }

  private async resolveRequest(
    record: SQSRecord,
    request: EnrollRequest,
    out: { failures: Set<string>; deadLetters: DeadLetter[]; deferred: Deferred[] },
  ): Promise<void> {
    const outcomes = request.instanceIds.map((instanceId) => ({ instanceId, outcome: this.outcomeOf(instanceId) }));
    const errors = outcomes.filter(({ outcome }) => outcome.status === 'error');
    const elapsedSeconds = (this.now.getTime() - request.startedAt.getTime()) / 1000;
    const remainingSeconds = this.settings.enrollDeadlineSeconds - elapsedSeconds;
    if (errors.length > 0) {
      this.retryLater(record, out, planRetry(request.receiveCount, Math.max(remainingSeconds, 1), this.settings).delaySeconds);
      this.counters.add(METRIC.retriedRecords);
      this.logger.warn('event will be retried after errors', {
        messageId: record.messageId,
        eventId: request.eventId,
        errors: errors.map(({ instanceId, outcome }) => ({ instanceId, ...outcome })),
      });
      return;
    }

    const notReady = outcomes.flatMap(({ instanceId, outcome }) =>
      outcome.status === 'waiting' ? [{ instanceId, reason: outcome.reason }] : [],
    );
    // The status handler completes a lifecycle action when the install command ends, from the hook
    // tags written above. If it ran just before those tags were written (the command from the
    // running event ending as the lifecycle event arrives), nobody would: so the record comes back
    // until the command has ended, and handleLifecycleSkips completes what is still waiting.
    const lifecycleWaits: Array<{ instanceId: string; reason: WaitReason }> = request.lifecycle
      ? outcomes.flatMap(({ instanceId, outcome }) =>
          outcome.status === 'skipped' && outcome.reason === 'enrollment-in-flight'
            ? [{ instanceId, reason: 'lifecycle-install-in-flight' as const }]
            : [],
        )
      : [];
    const waiting = [...notReady, ...lifecycleWaits];
    if (waiting.length === 0) return;

    const waitingIds = waiting.map(({ instanceId }) => instanceId);
    const reasons = [...new Set(waiting.map(({ reason }) => reason))];
    if (remainingSeconds > 0) {
      const delaySeconds = waitDelaySeconds(this.now, elapsedSeconds, remainingSeconds);
      // Only a wait for SSM keeps its facts: an install in flight must be looked at again.
      const facts = waiting.every(({ reason }) => reason === 'ssm-not-managed' || reason === 'ssm-not-online')
        ? waitingIds.flatMap((instanceId) => this.facts.get(instanceId) ?? [])
        : [];
      out.deferred.push(this.deferral(record, delaySeconds, facts));
      this.logger.info('instances not ready, event comes back at the next slot', {
        messageId: record.messageId,
        instanceIds: waitingIds,
        reasons,
        receiveCount: request.receiveCount,
        delaySeconds,
        remainingSeconds: Math.floor(remainingSeconds),
      });
      return;
    }

    if (notReady.length === 0) {
      // Only the install in flight is left: its result completes the action (the hook tags are
      // written), or the hook's own timeout does.
      this.logger.warn('enrollment deadline passed with the install still in flight; its result completes the lifecycle action', {
        messageId: record.messageId,
        instanceIds: waitingIds,
      });
      return;
    }
    if (request.lifecycle) {
      // A lifecycle event names exactly one instance.
      const lifecycleInstance = waitingIds[0] as string;
      const error = await this.completeLifecycleAction(lifecycleInstance, request.lifecycle, this.settings.lifecycleFailureResult);
      if (error !== undefined) {
        // Keep the record: dead-lettering it now would leave the launch waiting for the hook's timeout.
        this.failAll([lifecycleInstance], 'complete-lifecycle-action-failed', error);
        this.retryLater(record, out, DEAD_LETTER_RETRY_SECONDS);
        return;
      }
    }
    const reason = reasons.includes('agent-config-missing') ? DEAD_LETTER_REASON.configMissing : DEAD_LETTER_REASON.notManaged;
    const detail = `not ready ${this.settings.enrollDeadlineSeconds}s after the event: ${waiting
      .map(({ instanceId, reason: waitReason }) => `${instanceId} ${waitReason}`)
      .join(', ')}`;
    this.logger.error('enrollment deadline passed, event dead-lettered', {
      messageId: record.messageId,
      reason,
      instanceIds: waitingIds,
      detail,
    });
    out.deadLetters.push({ record, reason, detail, instanceIds: waitingIds });
  }

  /** Forwards records to the dead-letter queue; returns the message IDs that could not be forwarded. */
  private async sendToDeadLetterQueue(deadLetters: readonly DeadLetter[]): Promise<string[]> {
    const { sent, unsent } = await sendToDeadLetterQueue(
      this.clients.sqs,
      this.settings.deadLetterQueueUrl,
      deadLetters.map(({ record, reason, detail, instanceIds }) => ({
        record,
        reason,
        detail,
        attributes: instanceIds && instanceIds.length > 0 ? { instanceIds: instanceIds.join(',') } : undefined,
      })),
    );
    for (const _ of sent) this.counters.add(METRIC.deadLettered);
    if (unsent.length > 0) this.logger.error('could not forward to the dead-letter queue; records will be retried', { unsent });
    return unsent.map(({ messageId }) => messageId);
  }

  private setOutcome(instanceId: string, outcome: InstanceOutcome): void {
    this.outcomes.set(instanceId, outcome);
    switch (outcome.status) {
      case 'enrolled':
        this.counters.add(METRIC.instancesEnrolled);
        break;
      case 'skipped':
        if (outcome.reason === 'tenant-refused') {
          this.counters.add(METRIC.tenantRefused);
          this.logger.warn('enrollment refused', { instanceId, reason: outcome.reason, detail: outcome.detail });
        } else {
          this.counters.skipped(outcome.reason);
          this.logger.info('instance skipped', { instanceId, reason: outcome.reason, detail: outcome.detail });
        }
        break;
      case 'waiting':
        this.counters.add(METRIC.notManagedYet);
        break;
      case 'error':
        this.counters.add(METRIC.enrollErrors);
        break;
    }
  }

  /** Marks instances as failed (their records are retried) and logs why. */
  private failAll(instanceIds: readonly string[], reason: string, error: unknown, context: Record<string, unknown> = {}): void {
    const detail = `${errorName(error)}: ${errorMessage(error)}`;
    const level = isThrottlingError(error) ? 'warn' : 'error';
    this.logger[level](`${reason}; records will be retried`, {
      reason,
      instanceIds,
      errorName: errorName(error),
      errorMessage: errorMessage(error),
      ...context,
    });
    for (const instanceId of instanceIds) {
      const previous = this.outcomes.get(instanceId);
      // An instance already enrolled keeps that outcome in the counts; its record is retried all the same.
      if (previous?.status === 'error') continue;
      if (previous !== undefined) this.uncount(previous);
      this.setOutcome(instanceId, { status: 'error', reason, detail });
    }
  }

  private uncount(outcome: InstanceOutcome): void {
    if (outcome.status === 'waiting') this.counters.add(METRIC.notManagedYet, -1);
  }

  private outcomeOf(instanceId: string): InstanceOutcome {
    return this.outcomes.get(instanceId) ?? { status: 'error', reason: 'not-processed', detail: 'no outcome recorded' };
  }

  private publishMetrics(): void {
    const { metrics } = this.deps;
    for (const name of Object.values(METRIC)) {
      const value = this.counters.counts.get(name) ?? 0;
      if (value > 0 || name === METRIC.eventsReceived) metrics.addMetric(name, MetricUnit.Count, value);
    }
    for (const [reason, count] of this.counters.skippedByReason) {
      const single = metrics.singleMetric();
      single.addDimension('reason', reason);
      single.addMetric(METRIC.skipped, MetricUnit.Count, count);
    }
  }
}
