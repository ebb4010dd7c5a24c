import type { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { EC2Client } from '@aws-sdk/client-ec2';
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { SSMClient } from '@aws-sdk/client-ssm';
import type { AgentCredentials } from '../shared/agent-credential';
import { errorMessage, errorName, isThrottlingError } from '../shared/aws';
import { putEvents } from '../shared/bus';
import { type DeadLetter, sendToDeadLetterQueue } from '../shared/dead-letter';
import { completeLifecycleAction } from '../shared/lifecycle';
import { claimLaunches } from './claims';
import { type CommandDelivery, createTags, type InstallCommand, lifecycleTags, pendingTags, sendInstallCommand } from './command';
import { describeInstances, describeLifecycleStates, describeManagedNodes, getAgentConfigs, type InstanceFacts } from './lookup';
import { type Ledger, METRIC, recordFailure, recordOutcome, recordVerdicts } from './outcomes';
import {
  decideInstances,
  groupByConfig,
  type InstallTarget,
  installCommands,
  instancesToDescribe,
  knownFacts,
  type LifecycleRelease,
  launchClaims,
  lifecycleReleases,
  lifecycleTagWrites,
  refusalEvents,
  releasesToComplete,
  sortByClaim,
  sortBySsmStatus,
  type TrackedInstance,
  unpublishedRefusals,
} from './plan';
import type { EnrollSettings } from './settings';
import { type Deferred, sendEnvelopes } from './wait-envelope';

/**
 * The execute step: the AWS calls the plan asks for, one stage after another, each stage's answer
 * handed to the plan's next decision. A failed call becomes data: the instances it was about are
 * recorded as failed (their records are retried), and the other instances go on.
 */

export interface EnrollClients {
  readonly dynamodb: DynamoDBClient;
  readonly ec2: EC2Client;
  readonly ssm: SSMClient;
  readonly sqs: SQSClient;
  readonly eventBridge: EventBridgeClient;
  readonly autoScaling: AutoScalingClient;
  /** Secrets Manager, for the tenants' agent credentials (read and cached across invocations). */
  readonly agentCredentials: AgentCredentials;
}

/** What the calls of one invocation share. */
export interface Invocation {
  readonly clients: EnrollClients;
  readonly settings: EnrollSettings;
  readonly now: Date;
  readonly ledger: Ledger;
}

/**
 * Enrolls the batch's instances: describes them, decides, checks SSM, claims the launches, sends
 * the install commands, names the lifecycle hooks, publishes refusals and releases the launches
 * skipped on purpose. Returns every instance's facts, described now or carried.
 */
export async function enrollInstances(
  run: Invocation,
  instances: ReadonlyMap<string, TrackedInstance>,
  carried: ReadonlyMap<string, InstanceFacts>,
): Promise<ReadonlyMap<string, InstanceFacts>> {
  const { clients, settings, now, ledger } = run;
  const toDescribe = instancesToDescribe(instances, carried, settings, now);
  const described = await describeInstances(clients.ec2, toDescribe);
  for (const { items, error } of described.failed)
    recordFailure(ledger, { instanceIds: items, reason: 'describe-instances-failed', error });
  const facts = knownFacts(carried, toDescribe, described.found);

  const decisions = decideInstances(instances, facts, ledger.outcomes, settings, now);
  recordVerdicts(ledger, decisions);
  const ready = await checkManaged(run, decisions.candidates);
  const claimed = await claim(run, ready, facts, instances);
  await sendInstallCommands(run, claimed);
  await writeLifecycleTags(run, instances);
  await publishRefusals(run, decisions.refused);
  await releaseLifecycleActions(run, instances);
  return facts;
}

async function checkManaged(run: Invocation, candidates: ReadonlyMap<string, InstallTarget>): Promise<ReadonlyMap<string, InstallTarget>> {
  if (candidates.size === 0) return candidates;
  const sorted = sortBySsmStatus(candidates, await describeManagedNodes(run.clients.ssm, [...candidates.keys()]));
  recordVerdicts(run.ledger, sorted);
  return sorted.ready;
}

async function claim(
  run: Invocation,
  ready: ReadonlyMap<string, InstallTarget>,
  facts: ReadonlyMap<string, InstanceFacts>,
  instances: ReadonlyMap<string, TrackedInstance>,
): Promise<ReadonlyMap<string, InstallTarget>> {
  if (ready.size === 0) return ready;
  const { clients, settings, now } = run;
  const result = await claimLaunches(
    clients.dynamodb,
    settings.claimTableName,
    launchClaims(ready, facts),
    now,
    settings.commandTimeoutSeconds,
  );
  const sorted = sortByClaim(ready, result, instances);
  recordVerdicts(run.ledger, sorted);
  return sorted.claimed;
}

async function sendInstallCommands(run: Invocation, claimed: ReadonlyMap<string, InstallTarget>): Promise<void> {
  if (claimed.size === 0) return;
  const groups = groupByConfig(claimed, run.settings);
  const configs = await getAgentConfigs(
    run.clients.ssm,
    groups.map(({ parameterName }) => parameterName),
  );
  const planned = installCommands(groups, configs);
  recordVerdicts(run.ledger, planned);
  // One call at a time: SendCommand has a low request rate, and the SDK's adaptive retry slows
  // down further once it is throttled.
  for (const plannedCommand of planned.commands) {
    const command = await withAgentCredential(run, plannedCommand);
    if (command === undefined) continue;
    const deliveries = await sendInstallCommand(run.clients.ssm, run.settings, command);
    for (const delivery of deliveries) recordDelivery(run.ledger, command, delivery);
    for (const delivery of deliveries) {
      if (delivery.status === 'sent') await writePendingTags(run, delivery.commandId, delivery.instanceIds);
    }
  }
}

/**
 * The command with its tenant's agent credential in the config (tenant binding on), or as planned.
 * A credential that cannot be read fails the command's records like a failed send: they are retried.
 */
async function withAgentCredential(run: Invocation, command: InstallCommand): Promise<InstallCommand | undefined> {
  const { tenant, platform, instanceIds } = command;
  try {
    return {
      ...command,
      config: await run.clients.agentCredentials.writeInto(command.config, tenant, run.settings.agentCredentialSecretPrefix),
    };
  } catch (error) {
    const reason = isThrottlingError(error) ? 'agent-credential-throttled' : 'agent-credential-failed';
    recordFailure(run.ledger, { instanceIds, reason, error, context: { tenant, platform } });
    return undefined;
  }
}

/** An unreachable instance waits and is re-checked like one SSM does not see online; a failed call retries its records. */
function recordDelivery(ledger: Ledger, command: InstallCommand, delivery: CommandDelivery): void {
  const { tenant, platform, configVersion } = command;
  switch (delivery.status) {
    case 'sent': {
      const { commandId, instanceIds } = delivery;
      for (const instanceId of instanceIds) recordOutcome(ledger, instanceId, { status: 'enrolled', commandId });
      ledger.logger.info('install command sent', { commandId, tenant, platform, instanceIds, configVersion });
      break;
    }
    case 'unreachable': {
      const detail = `SendCommand: ${errorMessage(delivery.error)}`;
      recordOutcome(ledger, delivery.instanceId, { status: 'waiting', reason: 'ssm-not-online', detail });
      break;
    }
    case 'failed': {
      const { instanceIds, error } = delivery;
      const reason = isThrottlingError(error) ? 'send-command-throttled' : 'send-command-failed';
      recordFailure(ledger, { instanceIds, reason, error, context: { tenant, platform } });
      break;
    }
  }
}

/** Failing to write them is logged but not retried: a retry would send a second install command. */
async function writePendingTags(run: Invocation, commandId: string, instanceIds: readonly string[]): Promise<void> {
  const tags = pendingTags(run.settings, commandId, run.now);
  for (const { items, error } of await createTags(run.clients.ec2, instanceIds, tags)) {
    run.ledger.counters.add(METRIC.tagWriteFailures, items.length);
    run.ledger.logger.error('tags not written after sending the install command', {
      instanceIds: items,
      tagKeys: tags.map((tag) => tag.Key),
      errorName: errorName(error),
      errorMessage: errorMessage(error),
    });
  }
}

/** Failing to write them retries the records: without them the launch would wait for the hook's timeout. */
async function writeLifecycleTags(run: Invocation, instances: ReadonlyMap<string, TrackedInstance>): Promise<void> {
  for (const { lifecycle, instanceIds } of lifecycleTagWrites(instances, run.ledger.outcomes)) {
    const tags = lifecycleTags(lifecycle);
    for (const { items, error } of await createTags(run.clients.ec2, instanceIds, tags)) {
      run.ledger.counters.add(METRIC.tagWriteFailures, items.length);
      recordFailure(run.ledger, {
        instanceIds: items,
        reason: 'create-tags-failed',
        error,
        context: { tagKeys: tags.map((tag) => tag.Key) },
      });
    }
  }
}

/** Each entry is sent once: a refused entry, or every entry of a failed call, retries the records of its instances. */
async function publishRefusals(
  run: Invocation,
  refused: ReadonlyArray<{ readonly instanceId: string; readonly tenant: string }>,
): Promise<void> {
  const unpublished = await putEvents(run.clients.eventBridge, refusalEvents(refused, run.settings, run.now), { attempts: 1 });
  for (const failure of unpublishedRefusals(refused, unpublished)) recordFailure(run.ledger, failure);
}

/**
 * Completes the lifecycle actions of launches skipped on purpose, or whose install already ended.
 * Only actions still waiting are completed (one batched look-up), since the status handler has
 * usually completed them already; if the look-up fails, every one is completed.
 */
async function releaseLifecycleActions(run: Invocation, instances: ReadonlyMap<string, TrackedInstance>): Promise<void> {
  const { clients, settings, ledger } = run;
  const releases = lifecycleReleases(instances, ledger.outcomes, settings.lifecycleFailureResult);
  if (releases.length === 0) return;
  const states = await describeLifecycleStates(
    clients.autoScaling,
    releases.map(({ instanceId }) => instanceId),
  );
  for (const { items, error } of states.failed) {
    ledger.logger.warn('DescribeAutoScalingInstances failed; completing the lifecycle actions unchecked', {
      instanceIds: items,
      errorName: errorName(error),
      errorMessage: errorMessage(error),
    });
  }
  for (const { release, doneAs } of releasesToComplete(releases, states)) {
    const { instanceId, lifecycle } = release;
    if (doneAs !== undefined) {
      ledger.logger.info('lifecycle action no longer waiting', { instanceId, ...lifecycle, lifecycleState: doneAs });
      continue;
    }
    const error = await completeLifecycle(run, release);
    if (error !== undefined) recordFailure(ledger, { instanceIds: [instanceId], reason: 'complete-lifecycle-action-failed', error });
  }
}

/** Returns the error, if any; an action that is no longer pending counts as done. */
export async function completeLifecycle(run: Invocation, { instanceId, lifecycle, result }: LifecycleRelease): Promise<unknown> {
  try {
    const completion = await completeLifecycleAction(run.clients.autoScaling, { ...lifecycle, instanceId, result });
    if (completion.completed) {
      run.ledger.counters.add(METRIC.lifecycleActionsCompleted);
      run.ledger.logger.info('lifecycle action completed', { instanceId, ...lifecycle, result });
    } else {
      run.ledger.logger.info('lifecycle action already completed', { instanceId, ...lifecycle });
    }
    return undefined;
  } catch (error) {
    return error;
  }
}

/** Forwards records to the dead-letter queue; returns the message IDs that could not be forwarded. */
export async function forwardDeadLetters(run: Invocation, deadLetters: readonly DeadLetter[]): Promise<string[]> {
  const { sent, unsent } = await sendToDeadLetterQueue(run.clients.sqs, run.settings.deadLetterQueueUrl, deadLetters);
  run.ledger.counters.add(METRIC.deadLettered, sent.length);
  if (unsent.length > 0) run.ledger.logger.error('could not forward to the dead-letter queue; records will be retried', { unsent });
  return unsent.map(({ messageId }) => messageId);
}

/** Sends the deferred requests in envelopes; returns the messages to retry because their envelope was not sent. */
export async function sendDeferred(run: Invocation, deferred: readonly Deferred[]): Promise<string[]> {
  if (deferred.length === 0) return [];
  const result = await sendEnvelopes(run.clients.sqs, run.settings.queueUrl, deferred);
  run.ledger.counters.add(METRIC.deferred, deferred.length);
  if (result.errors.length > 0) {
    run.ledger.logger.warn('waiting requests not sent in an envelope; their messages will be retried', {
      errors: result.errors,
      messageIds: [...result.unsentCarriers],
    });
  }
  return [...result.unsentCarriers];
}
