import type { PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import type { SQSRecord } from 'aws-lambda';
import { chunk, errorMessage, errorName, type LookupResult } from '../shared/aws';
import type { UnpublishedEntry } from '../shared/bus';
import type { Platform } from '../shared/contract';
import { ENROLLMENT_OUTCOME } from '../shared/event-types';
import type { ManagedNode } from '../shared/managed-nodes';
import type { ClaimResult, LaunchClaim } from './claims';
import { agentConfigParameterName, type InstallCommand, SEND_COMMAND_CHUNK } from './command';
import { decideInstance, lifecycleResultOnSkip } from './decide';
import { type AgentConfigs, type InstanceFacts, PENDING_WAIT } from './lookup';
import type { Failure, InstanceOutcome, Verdicts } from './outcomes';
import type { EnrollRequest, LifecycleContext, ParsedRecord } from './requests';
import type { EnrollSettings, LifecycleResult } from './settings';
import { FIRST_LOOK_AFTER_SECONDS } from './wait-envelope';

/**
 * The plan step: what to do with the batch's instances, decided from the requests, the facts
 * looked up so far and the settings. Pure: no AWS calls, and the only clock is the `now` passed
 * in. execute.ts makes the calls in between and records what these functions conclude.
 */

/** DetailType of the event published when an instance asks for a tenant outside the allowed list. */
export const REFUSED_DETAIL_TYPE = ENROLLMENT_OUTCOME.refused;
/** Within this many seconds of its deadline a waiting instance is described again: is it gone, or to be dead-lettered? */
const DESCRIBE_AGAIN_BEFORE_DEADLINE_SECONDS = 60;

/** One instance of the batch, whichever requests name it. */
export interface TrackedInstance {
  /** Latest deadline start among the requests naming it (the most lenient "not visible yet" grace). */
  readonly startedAt: Date;
  readonly lifecycle?: LifecycleContext;
}

/** What an instance is enrolled with: the tenant's config for its platform. */
export interface InstallTarget {
  readonly tenant: string;
  readonly platform: Platform;
}

/**
 * The requests whose first look waits for a later slot, and the instances the other requests name.
 * A first `running` event younger than {@link FIRST_LOOK_AFTER_SECONDS} cannot be SSM-managed
 * yet: looking now would only find it not managed, so its first look waits, at no cost.
 */
export function planLooks(
  records: readonly ParsedRecord[],
  carriers: ReadonlyMap<string, string>,
  now: Date,
): { readonly firstLookLater: ReadonlySet<SQSRecord>; readonly instances: ReadonlyMap<string, TrackedInstance> } {
  const requests = records.flatMap((item) => (item.kind === 'request' ? [item] : []));
  const firstLookLater = new Set(
    requests.filter(({ record, request }) => isTooFreshToLook(record, request, carriers, now)).map(({ record }) => record),
  );
  const instances = trackInstances(requests.filter(({ record }) => !firstLookLater.has(record)).map(({ request }) => request));
  return { firstLookLater, instances };
}

/** The first delivery of a young `running` event; a request from an envelope has been looked at already. */
function isTooFreshToLook(record: SQSRecord, request: EnrollRequest, carriers: ReadonlyMap<string, string>, now: Date): boolean {
  return (
    request.eventType === 'state-change' &&
    request.receiveCount === 1 &&
    !carriers.has(record.messageId) &&
    now.getTime() - request.eventTime.getTime() < FIRST_LOOK_AFTER_SECONDS * 1000
  );
}

/** Unique instances across the requests, keeping the lifecycle action (if any) waiting for each. */
function trackInstances(requests: readonly EnrollRequest[]): Map<string, TrackedInstance> {
  const instances = new Map<string, TrackedInstance>();
  for (const request of requests) {
    for (const instanceId of request.instanceIds) {
      const tracked = instances.get(instanceId);
      instances.set(instanceId, {
        startedAt: tracked === undefined || request.startedAt > tracked.startedAt ? request.startedAt : tracked.startedAt,
        lifecycle: tracked?.lifecycle ?? request.lifecycle,
      });
    }
  }
  return instances;
}

/**
 * The instances to describe: an instance waiting for SSM came with its facts and is described once,
 * then again only near its deadline (is it gone, or to be dead-lettered?).
 */
export function instancesToDescribe(
  instances: ReadonlyMap<string, TrackedInstance>,
  carried: ReadonlyMap<string, InstanceFacts>,
  settings: EnrollSettings,
  now: Date,
): string[] {
  return [...instances]
    .filter(([instanceId, tracked]) => {
      const remaining = tracked.startedAt.getTime() / 1000 + settings.enrollDeadlineSeconds - now.getTime() / 1000;
      return !carried.has(instanceId) || remaining <= DESCRIBE_AGAIN_BEFORE_DEADLINE_SECONDS;
    })
    .map(([instanceId]) => instanceId);
}

/** Every instance's facts: described now, or else as carried in an envelope. */
export function knownFacts(
  carried: ReadonlyMap<string, InstanceFacts>,
  described: readonly string[],
  found: ReadonlyMap<string, InstanceFacts>,
): Map<string, InstanceFacts> {
  const describedNow = new Set(described);
  return new Map([...[...carried].filter(([instanceId]) => !describedNow.has(instanceId)), ...found]);
}

export interface Decisions extends Verdicts {
  /** Instances to enroll once SSM sees them online. */
  readonly candidates: ReadonlyMap<string, InstallTarget>;
  /** Instances asking for a tenant outside the allowed list: published as refused. */
  readonly refused: ReadonlyArray<{ readonly instanceId: string; readonly tenant: string }>;
}

/** {@link decideInstance} for every instance without an outcome yet. */
export function decideInstances(
  instances: ReadonlyMap<string, TrackedInstance>,
  facts: ReadonlyMap<string, InstanceFacts>,
  decided: ReadonlyMap<string, InstanceOutcome>,
  settings: EnrollSettings,
  now: Date,
): Decisions {
  const outcomes: Array<[string, InstanceOutcome]> = [];
  const candidates = new Map<string, InstallTarget>();
  const refused: Array<{ instanceId: string; tenant: string }> = [];
  for (const [instanceId, { startedAt, lifecycle }] of instances) {
    if (decided.has(instanceId)) continue;
    const decision = decideInstance(facts.get(instanceId), { settings, now, startedAt, lifecycle: lifecycle !== undefined });
    switch (decision.action) {
      case 'skip':
        outcomes.push([instanceId, { status: 'skipped', reason: decision.reason, detail: decision.detail }]);
        break;
      case 'wait':
        outcomes.push([instanceId, { status: 'waiting', reason: decision.reason, detail: decision.detail }]);
        break;
      case 'refuse':
        refused.push({ instanceId, tenant: decision.tenant });
        outcomes.push([
          instanceId,
          { status: 'skipped', reason: 'tenant-refused', detail: `tenant ${JSON.stringify(decision.tenant)} is not in the allowed list` },
        ]);
        break;
      case 'enroll':
        candidates.set(instanceId, { tenant: decision.tenant, platform: decision.platform });
        break;
    }
  }
  return { outcomes, failures: [], candidates, refused };
}

/** Keeps the candidates that SSM manages and sees online; the others wait. */
export function sortBySsmStatus(
  candidates: ReadonlyMap<string, InstallTarget>,
  managed: LookupResult<string, ManagedNode>,
): Verdicts & { readonly ready: Map<string, InstallTarget> } {
  const outcomes: Array<[string, InstanceOutcome]> = [];
  const failures: Failure[] = [];
  for (const { items, error } of managed.failed) {
    if (errorName(error) === 'InvalidInstanceId') {
      // Raised for instances SSM has never seen: the usual state right after launch.
      for (const instanceId of items)
        outcomes.push([instanceId, { status: 'waiting', reason: 'ssm-not-managed', detail: errorMessage(error) }]);
    } else {
      failures.push({ instanceIds: items, reason: 'describe-instance-information-failed', error });
    }
  }
  const unanswered = new Set(managed.failed.flatMap(({ items }) => items));
  const ready = new Map<string, InstallTarget>();
  for (const [instanceId, target] of candidates) {
    if (unanswered.has(instanceId)) continue;
    const node = managed.found.get(instanceId);
    if (node === undefined) {
      outcomes.push([instanceId, { status: 'waiting', reason: 'ssm-not-managed', detail: 'not registered with Systems Manager yet' }]);
    } else if (node.pingStatus !== 'Online') {
      outcomes.push([instanceId, { status: 'waiting', reason: 'ssm-not-online', detail: `SSM agent ping status is ${node.pingStatus}` }]);
    } else {
      ready.set(instanceId, target);
    }
  }
  return { outcomes, failures, ready };
}

/** The launches to claim (see claims.ts): one per instance, by its launch time. */
export function launchClaims(ready: ReadonlyMap<string, InstallTarget>, facts: ReadonlyMap<string, InstanceFacts>): LaunchClaim[] {
  return [...ready.keys()].map((instanceId) => ({ instanceId, launchTime: facts.get(instanceId)?.launchTime ?? 'unknown' }));
}

/**
 * Keeps the launches this invocation claimed: a launch another invocation claimed is skipped as in
 * flight (a waiting lifecycle action checks again until that command ends), and a claim that could
 * not be written is retried with its record.
 */
export function sortByClaim(
  ready: ReadonlyMap<string, InstallTarget>,
  result: ClaimResult,
  instances: ReadonlyMap<string, TrackedInstance>,
): Verdicts & { readonly claimed: Map<string, InstallTarget> } {
  const detail = 'another invocation claimed this launch and sends its install command';
  return {
    failures: result.failed.map(({ instanceIds, error }) => ({ instanceIds, reason: 'claim-failed', error })),
    outcomes: [...result.taken].map((instanceId): [string, InstanceOutcome] =>
      instances.get(instanceId)?.lifecycle !== undefined
        ? [instanceId, { status: 'waiting', reason: 'lifecycle-install-in-flight', detail }]
        : [instanceId, { status: 'skipped', reason: 'enrollment-in-flight', detail }],
    ),
    claimed: new Map([...ready].filter(([instanceId]) => result.claimed.has(instanceId))),
  };
}

/** Instances that share one agent config: one config look-up, and one command per {@link SEND_COMMAND_CHUNK}. */
export interface InstallGroup extends InstallTarget {
  readonly parameterName: string;
  readonly instanceIds: readonly string[];
}

export function groupByConfig(claimed: ReadonlyMap<string, InstallTarget>, settings: EnrollSettings): InstallGroup[] {
  const groups = new Map<string, InstallGroup & { instanceIds: string[] }>();
  for (const [instanceId, { tenant, platform }] of claimed) {
    const parameterName = agentConfigParameterName(settings, tenant, platform);
    const group = groups.get(parameterName) ?? { tenant, platform, parameterName, instanceIds: [] };
    group.instanceIds.push(instanceId);
    groups.set(parameterName, group);
  }
  return [...groups.values()];
}

/**
 * The install commands for the groups whose config was read, one per {@link SEND_COMMAND_CHUNK}
 * instances; a missing config waits like an unmanaged instance, and a failed look-up retries.
 */
export function installCommands(
  groups: readonly InstallGroup[],
  configs: AgentConfigs,
): Verdicts & { readonly commands: InstallCommand[] } {
  const lookupErrors = new Map(configs.failed.flatMap(({ items, error }) => items.map((name) => [name, error] as const)));
  const outcomes: Array<[string, InstanceOutcome]> = [];
  const failures: Failure[] = [];
  const commands: InstallCommand[] = [];
  for (const { tenant, platform, parameterName, instanceIds } of groups) {
    const lookupError = lookupErrors.get(parameterName);
    const config = configs.found.get(parameterName);
    if (lookupError !== undefined) {
      failures.push({ instanceIds, reason: 'get-parameters-failed', error: lookupError });
    } else if (config === undefined) {
      const detail = `parameter ${parameterName} not found`;
      for (const instanceId of instanceIds) outcomes.push([instanceId, { status: 'waiting', reason: 'agent-config-missing', detail }]);
    } else {
      for (const ids of chunk(instanceIds, SEND_COMMAND_CHUNK)) {
        commands.push({ tenant, platform, instanceIds: ids, config: config.value, configVersion: config.version });
      }
    }
  }
  return { outcomes, failures, commands };
}

/**
 * The launch lifecycle actions to name on instances whose command was just sent, or was already in
 * flight when their lifecycle event arrived (the EC2 `running` event often comes first), so the
 * status handler completes them when the command ends: one tag write per (group, hook).
 */
export function lifecycleTagWrites(
  instances: ReadonlyMap<string, TrackedInstance>,
  outcomes: ReadonlyMap<string, InstanceOutcome>,
): Array<{ readonly lifecycle: LifecycleContext; readonly instanceIds: readonly string[] }> {
  const writes = new Map<string, { lifecycle: LifecycleContext; instanceIds: string[] }>();
  for (const [instanceId, { lifecycle }] of instances) {
    const outcome = outcomes.get(instanceId);
    const commandRunning = outcome?.status === 'enrolled' || (outcome?.status === 'skipped' && outcome.reason === 'enrollment-in-flight');
    if (lifecycle === undefined || !commandRunning) continue;
    const key = JSON.stringify([lifecycle.groupName, lifecycle.hookName]);
    const write = writes.get(key) ?? { lifecycle, instanceIds: [] };
    write.instanceIds.push(instanceId);
    writes.set(key, write);
  }
  return [...writes.values()];
}

/** One `Agent Enrollment Refused` event per refused instance. */
export function refusalEvents(
  refused: ReadonlyArray<{ readonly instanceId: string; readonly tenant: string }>,
  settings: EnrollSettings,
  now: Date,
): PutEventsRequestEntry[] {
  return refused.map(({ instanceId, tenant }) => ({
    EventBusName: settings.eventBusName,
    Source: settings.eventSource,
    DetailType: REFUSED_DETAIL_TYPE,
    Time: now,
    Detail: JSON.stringify({
      instanceId,
      tenant,
      reason: 'tenant-not-allowed',
      tenantTagKey: settings.tenantTagKey,
      allowedTenants: [...settings.allowedTenants],
    }),
  }));
}

/** The refusals not published, by cause: the entries of a failed call share its error (and one log line). */
export function unpublishedRefusals(
  refused: ReadonlyArray<{ readonly instanceId: string }>,
  unpublished: readonly UnpublishedEntry[],
): Failure[] {
  const byCause = new Map<unknown, string[]>();
  for (const { index, errorCode, errorMessage: message, error } of unpublished) {
    const cause = error ?? Object.assign(new Error(message), { name: errorCode });
    byCause.set(cause, [...(byCause.get(cause) ?? []), (refused[index] as { instanceId: string }).instanceId]);
  }
  return [...byCause].map(([error, instanceIds]) => ({ instanceIds, reason: 'put-events-failed', error }));
}

/** A launch held by its lifecycle hook, and the result to release it with. */
export interface LifecycleRelease {
  readonly instanceId: string;
  readonly lifecycle: LifecycleContext;
  readonly result: LifecycleResult;
}

/**
 * Skipped on purpose, or the launch's install already ended: the lifecycle actions not to hold
 * until the hook times out (see {@link lifecycleResultOnSkip}).
 */
export function lifecycleReleases(
  instances: ReadonlyMap<string, TrackedInstance>,
  outcomes: ReadonlyMap<string, InstanceOutcome>,
  failureResult: LifecycleResult,
): LifecycleRelease[] {
  return [...instances].flatMap(([instanceId, { lifecycle }]) => {
    const outcome = outcomes.get(instanceId);
    if (lifecycle === undefined || outcome?.status !== 'skipped') return [];
    const result = lifecycleResultOnSkip(outcome.reason, failureResult);
    return result === undefined ? [] : [{ instanceId, lifecycle, result }];
  });
}

/**
 * Each release with the lifecycle state that shows its action no longer waits (the status handler
 * has usually completed it already), or without one when it is to be completed: still waiting, or
 * not known because the look-up failed.
 */
export function releasesToComplete(
  releases: readonly LifecycleRelease[],
  states: LookupResult<string, string>,
): Array<{ readonly release: LifecycleRelease; readonly doneAs?: string }> {
  const unchecked = new Set(states.failed.flatMap(({ items }) => items));
  return releases.map((release) => {
    const state = states.found.get(release.instanceId);
    return unchecked.has(release.instanceId) || state === PENDING_WAIT ? { release } : { release, doneAs: state ?? 'not in a group' };
  });
}
