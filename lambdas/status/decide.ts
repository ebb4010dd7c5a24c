import type { Tag } from '@aws-sdk/client-ec2';
import type { LifecycleResult } from '../shared/lifecycle';
import { AGENT_FAILURE_TAG, AGENT_STATUS, AGENT_TAGS } from '../shared/tags';
import type { CommandAction, CommandFacts, InstanceTags } from './lookup';
import type { InvocationResult, Outcome } from './requests';
import type { StatusSettings } from './settings';

/** Why the instance's tags are left as they are. Low-cardinality: also a metric dimension. */
export type SkipReason = 'instance-gone' | 'superseded' | 'duplicate';

export interface LifecyclePlan {
  readonly groupName: string;
  readonly hookName: string;
  readonly result: LifecycleResult;
}

/** What to do about one command result: computed from the look-ups alone, carried out by process-event.ts. */
export interface OutcomePlan {
  readonly action: CommandAction;
  readonly outcome: Outcome;
  /** Whether to publish `Agent Enrolled` / `Agent Enrollment Failed`. */
  readonly publish: boolean;
  /** Tags to write, in one CreateTags call; empty for none. */
  readonly writeTags: readonly Tag[];
  /** A launch lifecycle action waiting for this install, completed and then untagged. */
  readonly lifecycle?: LifecyclePlan;
  /** Tags that no longer apply (a failure tag after a success), deleted with the lifecycle tags. */
  readonly staleTags: readonly Tag[];
  /** Set when the status is not written, with the reason. */
  readonly skip?: { readonly reason: SkipReason; readonly detail: string };
}

export interface PlanInput {
  readonly result: InvocationResult;
  /** The command's parameters; undefined when Run Command no longer lists it. */
  readonly command: CommandFacts | undefined;
  /** Undefined when EC2 no longer lists the instance. */
  readonly instance: InstanceTags | undefined;
}

const GONE_STATES: ReadonlySet<string> = new Set(['shutting-down', 'terminated']);

/**
 * The result is recorded unless it would be wrong or redundant:
 * - the instance is gone: nothing to tag, the outcome is still published;
 * - a newer command was sent to the instance since: its result decides the status (superseded);
 * - the tags already show this result (a duplicate delivery, or a retry after a later step failed):
 *   no second tag write or event, but a lifecycle action still waiting is completed.
 *
 * A command Run Command no longer lists is taken as an install of unknown versions: the status is
 * recorded without version tags, so the enroll handler's version check installs again later.
 */
export function planOutcome(input: PlanInput, settings: StatusSettings): OutcomePlan {
  const { result, command, instance } = input;
  const action = command?.action ?? 'install';
  const base = { action, outcome: result.outcome, publish: true, writeTags: [], staleTags: [] };

  if (instance === undefined || GONE_STATES.has(instance.state)) {
    const detail = instance === undefined ? 'not returned by DescribeInstances' : `instance state is ${instance.state}`;
    return { ...base, skip: { reason: 'instance-gone', detail } };
  }
  const newer = newerCommand(result, command, instance.tags);
  if (newer !== undefined) {
    return { ...base, publish: false, skip: { reason: 'superseded', detail: newer } };
  }
  return action === 'reload'
    ? planReload(result, command, instance.tags, base)
    : planInstall(result, command, instance.tags, settings, base);
}

type Base = Pick<OutcomePlan, 'action' | 'outcome' | 'publish' | 'writeTags' | 'staleTags'>;

function planInstall(
  result: InvocationResult,
  command: CommandFacts | undefined,
  tags: ReadonlyMap<string, string>,
  settings: StatusSettings,
  base: Base,
): OutcomePlan {
  const succeeded = result.outcome === 'success';
  const status = succeeded ? AGENT_STATUS.success : AGENT_STATUS.failed;
  const lifecycle = waitingLifecycle(tags, succeeded ? 'CONTINUE' : settings.lifecycleFailureResult);
  const withLifecycle = lifecycle ? { lifecycle } : {};

  if (tags.get(settings.statusTagKey) === status && tags.get(AGENT_TAGS.command) === result.commandId) {
    return {
      ...base,
      ...withLifecycle,
      publish: false,
      skip: { reason: 'duplicate', detail: `status is already ${status} for command ${result.commandId}` },
    };
  }

  const writeTags: Tag[] = [{ Key: settings.statusTagKey, Value: status }];
  if (succeeded) {
    if (command?.alloyVersion) writeTags.push({ Key: AGENT_TAGS.version, Value: command.alloyVersion });
    if (command?.configVersion) writeTags.push({ Key: AGENT_TAGS.configVersion, Value: command.configVersion });
    // Config refresh addresses the enrolled agents of a (tenant, platform) by these two tags.
    if (command?.tenant) {
      writeTags.push({ Key: AGENT_TAGS.tenant, Value: command.tenant }, { Key: AGENT_TAGS.platform, Value: result.platform });
    }
  } else {
    writeTags.push({ Key: AGENT_FAILURE_TAG, Value: result.status });
  }
  const failureTag = tags.get(AGENT_FAILURE_TAG);
  const staleTags = succeeded && failureTag !== undefined ? [{ Key: AGENT_FAILURE_TAG, Value: failureTag }] : [];
  return { ...base, ...withLifecycle, writeTags, staleTags };
}

/**
 * A config reload (sent by the config-refresh flow) only moves the config-version tag forward on
 * success; a failed reload leaves the tags as they are (the previous config keeps running) and is
 * reported by the published event alone. Never completes a lifecycle action: those wait for installs.
 */
function planReload(
  result: InvocationResult,
  command: CommandFacts | undefined,
  tags: ReadonlyMap<string, string>,
  base: Base,
): OutcomePlan {
  const version = command?.configVersion;
  if (result.outcome !== 'success' || version === undefined) return base;
  const current = tags.get(AGENT_TAGS.configVersion);
  if (current === version) {
    return { ...base, publish: false, skip: { reason: 'duplicate', detail: `config version is already ${version}` } };
  }
  if (current !== undefined && Number(current) > Number(version)) {
    return { ...base, publish: false, skip: { reason: 'superseded', detail: `config version ${current} is newer than ${version}` } };
  }
  return { ...base, writeTags: [{ Key: AGENT_TAGS.configVersion, Value: version }] };
}

/**
 * The command tag names the last command the enroll handler sent, and the pending-since tag when.
 * A different command sent after this one supersedes it. A tag older than this command does not:
 * its own tag write was lost, or it is a command that writes no tag (a config reload).
 */
function newerCommand(result: InvocationResult, command: CommandFacts | undefined, tags: ReadonlyMap<string, string>): string | undefined {
  const latest = tags.get(AGENT_TAGS.command);
  if (!latest || latest === result.commandId) return undefined;
  const requestedAt = result.requestedAt ?? command?.requestedAt;
  const latestSentAt = Date.parse(tags.get(AGENT_TAGS.pendingSince) ?? '');
  if (requestedAt !== undefined && Number.isFinite(latestSentAt) && latestSentAt < requestedAt.getTime()) return undefined;
  const since = Number.isFinite(latestSentAt) ? ` sent ${new Date(latestSentAt).toISOString()}` : '';
  return `a newer command ${latest}${since} decides the status`;
}

function waitingLifecycle(tags: ReadonlyMap<string, string>, result: LifecycleResult): LifecyclePlan | undefined {
  const groupName = tags.get(AGENT_TAGS.lifecycleGroup);
  const hookName = tags.get(AGENT_TAGS.lifecycleHook);
  return groupName && hookName ? { groupName, hookName, result } : undefined;
}
