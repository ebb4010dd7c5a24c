import type { RegisterTaskDefinitionCommandInput } from '@aws-sdk/client-ecs';
import type { SendCommandCommandInput } from '@aws-sdk/client-ssm';
import { agentParameterName, serviceConfigPath, serviceParameterName } from '../shared/contract';
import type { RefreshTarget } from '../shared/refresh-events';
import { checkConfig, type RefusalReason } from './checks';
import { type ConfigCopy, planRevision, revisionInput, type ServiceRevision } from './deployed-config';
import type { ParameterLookup, ParameterState } from './parameters';
import type { Job } from './plan-jobs';
import type { ParameterChange } from './requests';
import { buildRefreshCommand, documentFor, refreshComment } from './rollout';
import type { RefreshSettings } from './settings';
import { fileFormat, isServiceParameter } from './targets';

/**
 * Second planning step (pure): what one job does, given the current versions of its configs. A
 * change overwritten since is superseded; a config that fails a check is refused, with every file
 * that fails; otherwise the plan is a rollout: the files it delivers (all checked), the parameter and
 * version its outcome is about, and the earliest start of an earlier command or deployment that would
 * already carry them, so a duplicate or retried event does no harm. For agents the plan holds the
 * command to send; for a service, {@link decideServiceRollout} decides once its revision is known.
 */

/**
 * A change event is superseded when its parameter was modified again more than this long after the
 * event's time: the newer change has its own event, which rolls it out. EventBridge times have
 * whole seconds, so a margin keeps a change from superseding its own event; a change inside the
 * margin rolls out the current version early, and its own event then finds it already applied.
 */
export const SUPERSEDE_GRACE_MS = 5_000;

/** What to read before any rollout: the agent parameters the jobs name, and every service config if any job is a service's. */
export interface ParameterReads {
  readonly agentNames: readonly string[];
  readonly servicePath: string | undefined;
}

/** The current versions, as read (see lookUpParameters). */
export interface ParameterFacts {
  readonly agents: ParameterLookup;
  /** Every file under the service config path, or the error of the call that failed. */
  readonly services: { readonly found: ReadonlyMap<string, ParameterState>; readonly error?: unknown };
}

/** A change that no longer describes its parameter's current version: the newer change's own event rolls that out. */
export interface SupersededChange {
  readonly change: ParameterChange;
  readonly reason: string;
}

/** A file a check refused. */
export interface Refusal {
  readonly file: ParameterState;
  readonly reason: RefusalReason;
  readonly detail: string;
}

interface RolloutBase {
  /** The parameter and version the outcome is about. */
  readonly parameter: string;
  readonly version: number | null;
  /** Every file the rollout delivers; all passed the checks. */
  readonly files: readonly ParameterState[];
  /** An earlier command or deployment started at or after this time carries the files (and answers the manual request). */
  readonly since: Date;
  /**
   * A manual request: a service's tasks restart even when their revision already delivers every
   * file; agents get their credential read afresh rather than from the function's cache.
   */
  readonly manual: boolean;
}

export interface AgentRollout extends RolloutBase {
  readonly kind: 'agents';
  /** ListCommands looks for an earlier command of this document with this comment. */
  readonly document: string;
  readonly comment: string;
  readonly command: SendCommandCommandInput;
}

export interface ServiceRollout extends RolloutBase {
  readonly kind: 'service';
  readonly serviceArn: string;
}

export type Rollout = AgentRollout | ServiceRollout;

export type JobPlan = { readonly superseded: readonly SupersededChange[] } /** Every change was superseded: nothing to do. */ & (
  | { readonly kind: 'superseded' }
  | { readonly kind: 'lookup-failed'; readonly operation: string; readonly parameter: string; readonly error: unknown }
  /** Only for a manual request: there is no config to roll out. */
  | { readonly kind: 'not-found'; readonly parameter: string; readonly detail: string }
  | { readonly kind: 'refused'; readonly refusals: readonly Refusal[] }
  | { readonly kind: 'rollout'; readonly rollout: Rollout }
);

export function parametersToRead(jobs: readonly Job[], settings: Pick<RefreshSettings, 'parameterPrefix'>): ParameterReads {
  const agentNames = jobs.flatMap(({ target }) =>
    target.kind === 'agents' ? [agentParameterName(settings.parameterPrefix, target.tenant, target.platform)] : [],
  );
  const anyService = jobs.some(({ target }) => target.kind === 'service');
  return { agentNames, servicePath: anyService ? serviceConfigPath(settings.parameterPrefix) : undefined };
}

export function planRollout(job: Job, facts: ParameterFacts, settings: RefreshSettings): JobPlan {
  return job.target.kind === 'agents'
    ? planAgentRollout(job, job.target, facts, settings)
    : planServiceRollout(job, job.target, facts, settings);
}

function planAgentRollout(job: Job, target: RefreshTarget & { kind: 'agents' }, facts: ParameterFacts, settings: RefreshSettings): JobPlan {
  const { tenant, platform } = target;
  const name = agentParameterName(settings.parameterPrefix, tenant, platform);
  const error = facts.agents.failed.get(name);
  if (error !== undefined) return { kind: 'lookup-failed', operation: 'GetParameters', parameter: name, error, superseded: [] };

  const state = facts.agents.found.get(name);
  if (job.manual === undefined) {
    const { superseded, current } = sortChanges(job, [name], facts.agents.found);
    if (current === 0) return { kind: 'superseded', superseded };
  }
  if (state === undefined) return { kind: 'not-found', parameter: name, detail: `parameter ${name} not found`, superseded: [] };

  const agents = { tenant, platform, parameterName: name, version: state.version, config: state.value };
  return checked(job, [], settings, {
    kind: 'agents',
    parameter: name,
    version: state.version,
    files: [state],
    since: since(job, [state]),
    document: documentFor(settings, platform),
    comment: refreshComment(agents),
    command: buildRefreshCommand(settings, agents),
    manual: job.manual !== undefined,
  });
}

function planServiceRollout(
  job: Job,
  target: RefreshTarget & { kind: 'service' },
  facts: ParameterFacts,
  settings: RefreshSettings,
): JobPlan {
  const { service } = target;
  const { parameterPrefix } = settings;
  const base = serviceParameterName(parameterPrefix, service);
  const { found, error } = facts.services;
  if (error !== undefined) return { kind: 'lookup-failed', operation: 'GetParametersByPath', parameter: base, error, superseded: [] };

  let superseded: readonly SupersededChange[] = [];
  if (job.manual === undefined) {
    const sorted = sortChanges(job, [...job.changes.keys()], found);
    if (sorted.current === 0) return { kind: 'superseded', superseded: sorted.superseded };
    superseded = sorted.superseded;
  }
  // Every file of the service: its new tasks read them all, so all are checked.
  const files = [...found.values()]
    .filter((parameter) => isServiceParameter(parameterPrefix, service, parameter.name))
    .sort((a, b) => a.name.localeCompare(b.name));
  if (files.length === 0) return { kind: 'not-found', parameter: base, detail: `no parameter at or under ${base}`, superseded };

  const [parameter, version] = headline(job, base, files);
  return checked(job, superseded, settings, {
    kind: 'service',
    parameter,
    version,
    files,
    since: since(job, files),
    serviceArn: settings.services.get(service) as string,
    manual: job.manual !== undefined,
  });
}

/** The rollout, unless a check refuses any of its files. */
function checked(job: Job, superseded: readonly SupersededChange[], settings: RefreshSettings, rollout: Rollout): JobPlan {
  const refusals: Refusal[] = [];
  for (const file of rollout.files) {
    const result = checkConfig(file, fileFormat(file.name, job.format), settings.maxConfigBytes);
    if (!result.ok) refusals.push({ file, reason: result.reason, detail: result.detail });
  }
  return refusals.length > 0 ? { kind: 'refused', refusals, superseded } : { kind: 'rollout', rollout, superseded };
}

/** The job's changes to `names` that are superseded, and how many are still current. */
function sortChanges(
  job: Job,
  names: readonly string[],
  found: ReadonlyMap<string, ParameterState>,
): { superseded: SupersededChange[]; current: number } {
  const superseded: SupersededChange[] = [];
  let current = 0;
  for (const name of names) {
    const change = job.changes.get(name);
    if (change === undefined) continue;
    const reason = supersededReason(change, found.get(name));
    if (reason === undefined) current += 1;
    else superseded.push({ change, reason });
  }
  return { superseded, current };
}

/**
 * Why a change no longer describes the parameter's current version, or undefined while it does. A
 * deleted parameter, or one modified again well after the event, is superseded.
 */
export function supersededReason(change: ParameterChange, state: ParameterState | undefined): string | undefined {
  if (state === undefined) return 'the parameter no longer exists';
  if (state.lastModified && state.lastModified.getTime() > change.time.getTime() + SUPERSEDE_GRACE_MS) {
    return `modified again at ${state.lastModified.toISOString()} (now version ${state.version})`;
  }
  return undefined;
}

/** Earliest time a command or deployment must have started to carry the current files (and answer a manual request). */
function since(job: Job, files: readonly ParameterState[]): Date {
  const times = files.map((file) => file.lastModified?.getTime() ?? 0);
  if (job.manual) times.push(job.manual.time.getTime());
  return new Date(Math.max(...times));
}

/** The parameter and version an outcome is about: the single changed file, else the service path (version null). */
function headline(job: Job, base: string, files: readonly ParameterState[]): [string, number | null] {
  const changed = files.filter((file) => job.changes.has(file.name));
  const only = changed.length === 1 ? changed[0] : files.length === 1 ? files[0] : undefined;
  return only ? [only.name, only.version] : [base, null];
}

/** What a service rollout does once the service's revision and the values its copies hold are known. */
export type ServiceDecision = {
  /** Parameters under the service's path that no task definition delivers (not rolled out). */
  readonly undelivered: readonly string[];
} & (
  | { readonly kind: 'already-applied'; readonly deploymentId: string }
  /** A new deployment of the same revision. */
  | { readonly kind: 'restart' }
  /** Copies of the changed files, a new revision reading them, then the copies no revision needs any more deleted. */
  | {
      readonly kind: 'deploy';
      readonly copies: readonly ConfigCopy[];
      readonly revision: RegisterTaskDefinitionCommandInput;
      readonly prune: { readonly configNames: readonly string[]; readonly keep: ReadonlySet<string> };
    }
);

/**
 * The service already runs the rollout's values when its revision's copies hold them: after a change
 * event there is nothing to push; a manual request restarts the tasks unless a deployment started
 * since. Otherwise a new revision delivers copies of the changed files.
 */
export function decideServiceRollout(
  current: ServiceRevision,
  runningValues: ReadonlyMap<string, string>,
  rollout: ServiceRollout,
): ServiceDecision {
  const plan = planRevision(current, runningValues, rollout.files);
  const { undelivered } = plan;
  if (plan.kind === 'changed') {
    const replaced = current.files.map((file) => file.name);
    return {
      kind: 'deploy',
      undelivered,
      copies: plan.copies,
      revision: revisionInput(current, plan),
      prune: { configNames: current.files.map((file) => file.copy.configName), keep: new Set([...replaced, ...plan.secrets.values()]) },
    };
  }
  const carried = !rollout.manual || current.deploymentCreatedAt.getTime() >= rollout.since.getTime();
  return carried ? { kind: 'already-applied', undelivered, deploymentId: current.deploymentId } : { kind: 'restart', undelivered };
}
