import type { ECSClient } from '@aws-sdk/client-ecs';
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { SSMClient } from '@aws-sdk/client-ssm';
import type { AgentCredentials } from '../shared/agent-credential';
import { operationOf, step } from '../shared/aws';
import { putEvents, type UnpublishedEntry } from '../shared/bus';
import { type DeadLetter, type DeadLetterResult, sendToDeadLetterQueue } from '../shared/dead-letter';
import { deployRevision, describeServiceRevision, failedRevision, makeCopies, pruneCopies, restartService } from './deployed-config';
import { type PendingOutcome, toPutEventsEntry } from './outcomes';
import { getParameters, getParametersByPath } from './parameters';
import type { FailedDeployment } from './plan-jobs';
import {
  type AgentRollout,
  decideServiceRollout,
  type ParameterFacts,
  type ParameterReads,
  type Rollout,
  type ServiceRollout,
} from './plan-rollout';
import { findRefreshCommand, sendRefreshCommand, withAgentCredential } from './rollout';
import type { RefreshSettings } from './settings';

/**
 * The execute steps: every AWS call of a batch, made as the plans ask. A call that fails comes back
 * as data (which operation, which error) for the resolve steps to judge, never as an exception that
 * would lose the rest of the batch.
 */

export interface RefreshClients {
  readonly ssm: SSMClient;
  readonly ecs: ECSClient;
  readonly eventBridge: EventBridgeClient;
  readonly sqs: SQSClient;
  /** Secrets Manager, for the tenants' agent credentials (read and cached across invocations). */
  readonly agentCredentials: AgentCredentials;
}

/** Reads the current versions in one go, before any rollout (a failed call is kept per name, see parameters.ts). */
export async function lookUpParameters(reads: ParameterReads, ssm: SSMClient): Promise<ParameterFacts> {
  const agents =
    reads.agentNames.length > 0
      ? await getParameters(ssm, reads.agentNames)
      : { found: new Map(), missing: new Set<string>(), failed: new Map() };
  // Every service file at once: a service is checked against all the files its new tasks will read.
  const services = reads.servicePath !== undefined ? await getParametersByPath(ssm, reads.servicePath) : { found: new Map() };
  return { agents, services };
}

/** What became of the copies the replaced revision no longer needs: deleted, or left for the next rollout. */
export type PruneResult = { readonly deleted: readonly string[] } | { readonly error: unknown };

export type RolloutResult =
  /** An earlier command or deployment (`id`) already carries the files. */
  (
    | { readonly kind: 'already-applied'; readonly id: string }
    /** The command sent or the deployment started. */
    | { readonly kind: 'started'; readonly id: string }
    /** A call failed after the SDK's retries. */
    | { readonly kind: 'call-failed'; readonly operation: string; readonly error: unknown }
  ) & {
    /** Service files no task definition delivers (see decideServiceRollout). */
    readonly undelivered?: readonly string[];
    readonly pruned?: PruneResult;
  };

export function runRollout(
  rollout: Rollout,
  clients: RefreshClients,
  settings: Pick<RefreshSettings, 'clusterArn' | 'agentCredentialSecretPrefix'>,
): Promise<RolloutResult> {
  return rollout.kind === 'agents'
    ? runAgentRollout(rollout, clients, settings.agentCredentialSecretPrefix)
    : runServiceRollout(rollout, clients, settings.clusterArn);
}

/**
 * ListCommands for an earlier refresh command of the same version, else SendCommand, with the
 * tenant's agent credential written into the config (GetSecretValue, with tenant binding).
 */
async function runAgentRollout(rollout: AgentRollout, clients: RefreshClients, secretPrefix: string | undefined): Promise<RolloutResult> {
  const { ssm } = clients;
  let operation = 'ListCommands';
  try {
    const earlier = await findRefreshCommand(ssm, rollout.document, rollout.comment, rollout.since);
    if (earlier) return { kind: 'already-applied', id: earlier.id };
    operation = 'GetSecretValue';
    // A manual refresh reads the credential afresh: it is how a rotated one reaches the agents at once.
    const command = await withAgentCredential(rollout.command, clients.agentCredentials, secretPrefix, { fresh: rollout.manual });
    operation = 'SendCommand';
    return { kind: 'started', id: await sendRefreshCommand(ssm, command) };
  } catch (error) {
    return { kind: 'call-failed', operation: operationOf(error) ?? operation, error };
  }
}

/**
 * DescribeServices and the values its revision's copies hold (GetParameters), then what
 * decideServiceRollout asks: nothing, UpdateService alone, or PutParameter, RegisterTaskDefinition,
 * UpdateService and the deletion of copies no revision needs any more.
 */
async function runServiceRollout(rollout: ServiceRollout, { ssm, ecs }: RefreshClients, clusterArn: string): Promise<RolloutResult> {
  const { serviceArn } = rollout;
  let operation = 'DescribeServices';
  let undelivered: readonly string[] | undefined;
  try {
    const current = await describeServiceRevision(ecs, clusterArn, serviceArn);
    const running = await getParameters(
      ssm,
      current.files.map((file) => file.name),
    );
    const failed = running.failed.values().next();
    if (!failed.done) throw failed.value;
    const values = new Map([...running.found].map(([name, state]) => [name, state.value]));
    const decision = decideServiceRollout(current, values, rollout);
    undelivered = decision.undelivered;
    if (decision.kind === 'already-applied') return { kind: 'already-applied', id: decision.deploymentId, undelivered };
    operation = 'RegisterTaskDefinition';
    if (decision.kind === 'restart') return { kind: 'started', id: await restartService(ecs, clusterArn, serviceArn), undelivered };
    await step('PutParameter', () => makeCopies(ssm, decision.copies));
    const deployed = await deployRevision(ecs, clusterArn, serviceArn, decision.revision);
    const pruned = await pruneOldCopies(ssm, decision.prune.configNames, decision.prune.keep);
    return { kind: 'started', id: deployed.deploymentId, undelivered, pruned };
  } catch (error) {
    return { kind: 'call-failed', operation: operationOf(error) ?? operation, error, undelivered };
  }
}

/** Deletes copies no revision needs any more; a failure only leaves them for the next rollout. */
async function pruneOldCopies(ssm: SSMClient, configNames: readonly string[], keep: ReadonlySet<string>): Promise<PruneResult> {
  try {
    return { deleted: await pruneCopies(ssm, configNames, keep) };
  } catch (error) {
    return { error };
  }
}

/** Which revision each failed deployment was rolling out, or why that could not be told. */
export type RevisionLookup = { readonly revision: Awaited<ReturnType<typeof failedRevision>> } | { readonly error: unknown };

/** Looks up each failed deployment's revision while ECS still lists the deployment (one result per deployment, in order). */
export async function describeFailedDeployments(
  deployments: readonly FailedDeployment[],
  ecs: ECSClient,
  clusterArn: string,
): Promise<RevisionLookup[]> {
  const lookups: RevisionLookup[] = [];
  for (const { serviceArn, deploymentId } of deployments) {
    try {
      lookups.push({ revision: await failedRevision(ecs, clusterArn, serviceArn, deploymentId) });
    } catch (error) {
      lookups.push({ error });
    }
  }
  return lookups;
}

/** Puts the outcomes on the bus; returns those that could not be published. */
export async function publishOutcomes(
  outcomes: readonly PendingOutcome[],
  eventBridge: EventBridgeClient,
  bus: Pick<RefreshSettings, 'eventBusName' | 'eventSource'>,
): Promise<UnpublishedEntry[]> {
  if (outcomes.length === 0) return [];
  return putEvents(
    eventBridge,
    outcomes.map(({ outcome }) => toPutEventsEntry(outcome, bus)),
  );
}

export async function forwardDeadLetters(deadLetters: readonly DeadLetter[], sqs: SQSClient, queueUrl: string): Promise<DeadLetterResult> {
  if (deadLetters.length === 0) return { sent: [], unsent: [] };
  return sendToDeadLetterQueue(sqs, queueUrl, deadLetters);
}
