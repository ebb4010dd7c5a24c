import type { SQSRecord } from 'aws-lambda';
import { PLATFORMS } from '../shared/contract';
import type { DeadLetter } from '../shared/dead-letter';
import { PARAMETER_OPERATION, type RefreshRequestDetail, type RefreshTarget } from '../shared/refresh-events';
import { type LogLine, logLine, type Outcome, type PendingOutcome } from './outcomes';
import type { ManualRequest, ParameterChange, ParsedRecord } from './requests';
import type { RefreshSettings } from './settings';
import { commandStatusOutcome, deploymentStateOutcome, type StateOutcome } from './state-events';
import {
  type ConfigFormat,
  classifyParameter,
  describeTarget,
  type ParameterClass,
  serviceFormat,
  targetKey,
  unknownServiceDetail,
} from './targets';

/**
 * First planning step (pure): what a batch of parsed records asks for, before anything is looked
 * up. Parameter changes are debounced per parameter (the latest content operation in the batch wins)
 * and grouped per target with the manual requests naming it, so a burst of edits, or edits to several
 * Grafana files, becomes one job: one SendCommand or one UpdateService. What needs no look-up is
 * decided here: malformed records go to the dead-letter queue, deletes and label-only changes are
 * skipped, refused changes and requests fail, and the ECS deployment and Run Command status events
 * of earlier rollouts become Completed / Failed.
 */

/** Dead-letter `reason` attribute of events that cannot be understood. */
export const MALFORMED_REASON = 'malformed-event';

/** One rollout to a target: the changes and the manual request behind it, and the records it settles. */
export interface Job {
  readonly key: string;
  readonly target: RefreshTarget;
  readonly format: ConfigFormat;
  /** Changed parameters (latest content operation in the batch a Create or Update) → that change. */
  readonly changes: ReadonlyMap<string, ParameterChange>;
  /** The latest manual request naming this target. */
  readonly manual: ManualRequest | undefined;
  readonly messageIds: ReadonlySet<string>;
}

/** A failed deployment: its outcome is told which revision failed before it is published (see describeFailedDeployments). */
export interface FailedDeployment {
  readonly pending: PendingOutcome;
  readonly serviceArn: string;
  readonly deploymentId: string;
}

export interface JobsPlan {
  /** In rollout order: the agent jobs, then the service jobs, each in the order the batch first named them. */
  readonly jobs: readonly Job[];
  /** Outcomes known from the records alone, in record order (the skipped deletes last). */
  readonly outcomes: readonly PendingOutcome[];
  readonly failedDeployments: readonly FailedDeployment[];
  /** Malformed records, for the dead-letter queue. */
  readonly deadLetters: readonly DeadLetter[];
  /** Records ignored on purpose: not a config parameter, an unknown operation, a state event of no rollout. */
  readonly ignored: number;
  /** Changes superseded by a later change to the same parameter in the batch. */
  readonly superseded: number;
  readonly log: readonly LogLine[];
}

interface ChangeInBatch {
  readonly change: ParameterChange;
  readonly messageId: string;
  /** Position of the record in the batch: breaks ties between changes with the same time. */
  readonly order: number;
}

type ConfigClass = ParameterClass & { kind: 'config' };

/** The plan while it is being built: the records are read into it one by one. */
interface Draft {
  readonly settings: RefreshSettings;
  readonly jobs: Map<string, DraftJob>;
  readonly outcomes: DraftOutcome[];
  /** Outcomes that later records join instead of adding their own (see {@link addOutcome}). */
  readonly outcomesByKey: Map<string, DraftOutcome>;
  readonly failedDeployments: FailedDeployment[];
  readonly deadLetters: DeadLetter[];
  readonly log: LogLine[];
  /** Content changes (Create, Update, Delete) of config parameters, per parameter; the latest decides. */
  readonly contentChanges: Map<string, { readonly cls: ConfigClass; readonly events: ChangeInBatch[] }>;
  ignored: number;
  superseded: number;
}

interface DraftJob extends Job {
  readonly changes: Map<string, ParameterChange>;
  manual: ManualRequest | undefined;
  readonly messageIds: Set<string>;
}

interface DraftOutcome extends PendingOutcome {
  outcome: Outcome;
  readonly messageIds: Set<string>;
}

export function planJobs(parsed: readonly ParsedRecord[], settings: RefreshSettings): JobsPlan {
  const draft: Draft = {
    settings,
    jobs: new Map(),
    outcomes: [],
    outcomesByKey: new Map(),
    failedDeployments: [],
    deadLetters: [],
    log: [],
    contentChanges: new Map(),
    ignored: 0,
    superseded: 0,
  };
  for (const [order, item] of parsed.entries()) readRecord(draft, item, order);
  for (const [name, { cls, events }] of draft.contentChanges) latestChangeWins(draft, name, cls, events);
  const jobs = [...draft.jobs.values()];
  const { outcomes, failedDeployments, deadLetters, ignored, superseded, log } = draft;
  return {
    jobs: [...jobs.filter((job) => job.target.kind === 'agents'), ...jobs.filter((job) => job.target.kind === 'service')],
    outcomes,
    failedDeployments,
    deadLetters,
    ignored,
    superseded,
    log,
  };
}

/** Reads one record into the plan. */
function readRecord(draft: Draft, item: ParsedRecord, order: number): void {
  const { messageId } = item.record;
  switch (item.kind) {
    case 'malformed':
      deadLetter(draft, item.record, item.detail);
      break;
    case 'change':
      collectChange(draft, { change: item.change, messageId, order });
      break;
    case 'manual':
      collectManual(draft, item.request, messageId);
      break;
    case 'deployment-state': {
      const pending = reportState(draft, deploymentStateOutcome(item.event, draft.settings), messageId, item.event.id);
      if (pending?.outcome.type === 'failed') {
        const serviceArn = item.event.resources[0] as string;
        draft.failedDeployments.push({ pending, serviceArn, deploymentId: item.event.detail.deploymentId });
      }
      break;
    }
    case 'command-status':
      reportState(draft, commandStatusOutcome(item.event, draft.settings), messageId, item.event.id);
      break;
  }
}

function deadLetter(draft: Draft, record: SQSRecord, detail: string): void {
  draft.log.push(logLine('warn', 'malformed event', { messageId: record.messageId, reason: MALFORMED_REASON, detail }));
  draft.deadLetters.push({ record, reason: MALFORMED_REASON, detail });
}

const KNOWN_OPERATIONS: readonly string[] = Object.values(PARAMETER_OPERATION);

function collectChange(draft: Draft, event: ChangeInBatch): void {
  const { name, operation } = event.change;
  const cls = classifyParameter(name, draft.settings);
  if (cls.kind === 'unrelated') {
    ignore(draft, event.messageId, 'not-a-config-parameter', `${name}: ${cls.detail}`);
  } else if (!KNOWN_OPERATIONS.includes(operation)) {
    ignore(draft, event.messageId, 'unknown-operation', `${name}: operation ${JSON.stringify(operation)}`);
  } else if (operation === PARAMETER_OPERATION.label || (cls.kind === 'refused' && operation === PARAMETER_OPERATION.delete)) {
    skip(draft, name, operation, event, cls.kind === 'config' ? cls.target : undefined);
  } else if (cls.kind === 'refused') {
    refuseChange(draft, event, cls);
  } else {
    const entry = draft.contentChanges.get(name) ?? { cls, events: [] as ChangeInBatch[] };
    entry.events.push(event);
    draft.contentChanges.set(name, entry);
  }
}

function refuseChange(draft: Draft, { change, messageId }: ChangeInBatch, { reason, detail }: ParameterClass & { kind: 'refused' }): void {
  const { name, eventId } = change;
  const failed: Outcome = {
    type: 'failed',
    detail: { parameter: name, reason, detail, trigger: 'parameter-change', sourceEventIds: [eventId] },
  };
  addOutcome(draft, failed, [messageId], `refused:${name}`);
  draft.log.push(logLine('warn', 'config change refused', { parameter: name, reason, detail, eventId }));
}

/** The latest content operation on a parameter in this batch decides; the earlier ones are superseded by it. */
function latestChangeWins(draft: Draft, name: string, cls: ConfigClass, events: readonly ChangeInBatch[]): void {
  const sorted = [...events].sort((a, b) => a.change.time.getTime() - b.change.time.getTime() || a.order - b.order);
  const latest = sorted.at(-1) as ChangeInBatch;
  const earlier = sorted.slice(0, -1);
  if (earlier.length > 0) {
    draft.superseded += earlier.length;
    draft.log.push(
      logLine('info', 'changes superseded by a later change in the same batch', {
        parameter: name,
        superseded: earlier.map(({ change }) => ({
          eventId: change.eventId,
          operation: change.operation,
          time: change.time.toISOString(),
        })),
        latest: { eventId: latest.change.eventId, operation: latest.change.operation },
      }),
    );
  }
  if (latest.change.operation === PARAMETER_OPERATION.delete) {
    for (const event of sorted) skip(draft, name, PARAMETER_OPERATION.delete, event, cls.target);
    return;
  }
  const job = jobFor(draft, cls.target, cls.format);
  job.changes.set(name, latest.change);
  for (const { messageId } of sorted) job.messageIds.add(messageId);
}

function collectManual(draft: Draft, request: ManualRequest, messageId: string): void {
  const { eventId, detail } = request;
  const named = manualTargets(detail, draft.settings);
  if ('refused' in named) {
    const { refused: reason, detail: why } = named;
    draft.log.push(logLine('warn', 'manual refresh refused', { eventId, reason, detail: why, requestedBy: detail.requestedBy }));
    addOutcome(draft, { type: 'failed', detail: { reason, detail: why, trigger: 'manual', sourceEventIds: [eventId] } }, [messageId]);
    return;
  }
  const { targets } = named;
  draft.log.push(
    logLine('info', 'manual refresh requested', {
      eventId,
      messageId,
      requestedBy: detail.requestedBy,
      targets: targets.map(describeTarget),
    }),
  );
  for (const target of targets) {
    const job = jobFor(draft, target, target.kind === 'agents' ? 'alloy' : serviceFormat(target.service));
    if (job.manual === undefined || request.time > job.manual.time) job.manual = request;
    job.messageIds.add(messageId);
  }
}

/** The targets a manual request names (a tenant's agents, a service, or everything), or why it is refused. */
export function manualTargets(
  detail: RefreshRequestDetail,
  settings: Pick<RefreshSettings, 'allowedTenants' | 'services'>,
):
  | { readonly targets: readonly RefreshTarget[] }
  | { readonly refused: 'tenant-not-allowed' | 'unknown-service'; readonly detail: string } {
  if (detail.tenant !== undefined) {
    const { tenant } = detail;
    if (!settings.allowedTenants.has(tenant)) {
      return { refused: 'tenant-not-allowed', detail: `tenant ${JSON.stringify(tenant)} is not in the allowed list` };
    }
    return {
      targets: (detail.platform ? [detail.platform] : PLATFORMS).map((platform): RefreshTarget => ({ kind: 'agents', tenant, platform })),
    };
  }
  if (detail.service !== undefined) {
    if (!settings.services.has(detail.service))
      return { refused: 'unknown-service', detail: unknownServiceDetail(detail.service, settings) };
    return { targets: [{ kind: 'service', service: detail.service }] };
  }
  const targets: RefreshTarget[] = [];
  for (const tenant of settings.allowedTenants) for (const platform of PLATFORMS) targets.push({ kind: 'agents', tenant, platform });
  for (const service of settings.services.keys()) targets.push({ kind: 'service', service });
  return { targets };
}

function jobFor(draft: Draft, target: RefreshTarget, format: ConfigFormat): DraftJob {
  const key = targetKey(target);
  let job = draft.jobs.get(key);
  if (job === undefined) {
    job = { key, target, format, changes: new Map(), manual: undefined, messageIds: new Set() };
    draft.jobs.set(key, job);
  }
  return job;
}

/** An ECS deployment or Run Command status event: the end of a rollout to report, or a reason to ignore it. */
function reportState(draft: Draft, result: StateOutcome, messageId: string, eventId: string): PendingOutcome | undefined {
  if (result.kind === 'ignored') {
    ignore(draft, messageId, result.reason, result.detail);
    return undefined;
  }
  draft.log.push(logLine('info', `refresh ${result.outcome.type}`, { eventId, ...result.outcome.detail }));
  return addOutcome(draft, result.outcome, [messageId]);
}

/** A Delete or LabelParameterVersion: nothing is pushed, and the bus hears why (once per parameter and reason). */
function skip(draft: Draft, name: string, operation: string, event: ChangeInBatch, target: RefreshTarget | undefined): void {
  const reason = operation === PARAMETER_OPERATION.delete ? 'deleted' : 'label-only';
  const detail =
    reason === 'deleted'
      ? 'a deleted parameter is never pushed: running agents and tasks keep the config they have'
      : 'labelling a version changes no value: nothing to push';
  const key = `skip:${reason}:${name}`;
  const { eventId } = event.change;
  if (!draft.outcomesByKey.has(key))
    draft.log.push(logLine('info', 'config change skipped', { parameter: name, operation, reason, eventId }));
  const skipped: Outcome = {
    type: 'skipped',
    detail: { parameter: name, reason, detail, operation, ...(target ? { target } : {}), sourceEventIds: [eventId] },
  };
  addOutcome(draft, skipped, [event.messageId], key);
}

function ignore(draft: Draft, messageId: string, reason: string, detail: string): void {
  draft.ignored += 1;
  draft.log.push(logLine('info', 'event ignored', { messageId, reason, detail }));
}

/** Adds an outcome for the bus; one per `dedupeKey` in a batch (later records join the first, with their event IDs). */
function addOutcome(draft: Draft, outcome: Outcome, messageIds: readonly string[], dedupeKey?: string): PendingOutcome {
  const existing = dedupeKey === undefined ? undefined : draft.outcomesByKey.get(dedupeKey);
  if (existing) {
    for (const messageId of messageIds) existing.messageIds.add(messageId);
    existing.outcome = withSourceEventIdsOf(existing.outcome, outcome);
    return existing;
  }
  const pending: DraftOutcome = { outcome, messageIds: new Set(messageIds) };
  draft.outcomes.push(pending);
  if (dedupeKey !== undefined) draft.outcomesByKey.set(dedupeKey, pending);
  return pending;
}

function withSourceEventIdsOf(outcome: Outcome, other: Outcome): Outcome {
  const ids = (outcome.detail as { sourceEventIds?: readonly string[] }).sourceEventIds;
  const more = (other.detail as { sourceEventIds?: readonly string[] }).sourceEventIds ?? [];
  if (ids === undefined) return outcome;
  return { ...outcome, detail: { ...outcome.detail, sourceEventIds: [...new Set([...ids, ...more])] } } as Outcome;
}
