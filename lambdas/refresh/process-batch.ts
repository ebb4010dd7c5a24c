import type { Logger } from '@aws-lambda-powertools/logger';
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { ECSClient } from '@aws-sdk/client-ecs';
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { SSMClient } from '@aws-sdk/client-ssm';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { errorMessage, errorName, isThrottlingError, operationOf, step } from '../shared/aws';
import { putEvents } from '../shared/bus';
import { type DeadLetter, sendToDeadLetterQueue } from '../shared/dead-letter';
import { AGENT_PLATFORMS, PARAMETER_OPERATION, type RefreshTarget } from '../shared/refresh-events';
import { checkConfig } from './checks';
import {
  deployRevision,
  describeServiceRevision,
  failedRevision,
  makeCopies,
  planRevision,
  pruneCopies,
  type RevisionPlan,
  restartService,
  revisionInput,
  type ServiceRevision,
} from './deployed-config';
import { type FailedDetail, METRIC, OUTCOME_METRIC, type Outcome, type ParameterVersion, type Trigger, toPutEventsEntry } from './outcomes';
import { getParameters, getParametersByPath, type ParameterLookup, type ParameterState } from './parameters';
import { type ManualRequest, type ParameterChange, type ParsedRecord, parseRecord } from './requests';
import { buildRefreshCommand, documentFor, type EarlierRollout, findRefreshCommand, refreshComment, sendRefreshCommand } from './rollout';
import type { RefreshSettings } from './settings';
import { commandStatusOutcome, deploymentStateOutcome, type StateOutcome } from './state-events';
import {
  agentParameterName,
  type ConfigFormat,
  classifyParameter,
  describeTarget,
  fileFormat,
  isServiceParameter,
  type ParameterClass,
  serviceConfigPath,
  serviceFormat,
  targetKey,
} from './targets';

export interface RefreshClients {
  readonly ssm: SSMClient;
  readonly ecs: ECSClient;
  readonly eventBridge: EventBridgeClient;
  readonly sqs: SQSClient;
}

export interface RefreshDependencies {
  readonly clients: RefreshClients;
  readonly settings: RefreshSettings;
  readonly logger: Logger;
  readonly metrics: Metrics;
}

/** Dead-letter `reason` attribute of events that cannot be understood. */
export const MALFORMED_REASON = 'malformed-event';

/**
 * A change event is superseded when its parameter was modified again more than this long after the
 * event's time: the newer change has its own event, which rolls it out. EventBridge times have
 * whole seconds, so a margin keeps a change from superseding its own event; a change inside the
 * margin rolls out the current version early, and its own event then finds it already applied.
 */
export const SUPERSEDE_GRACE_MS = 5_000;

/**
 * Processes one SQS batch of config-refresh events and returns the records to retry.
 *
 * Parameter changes are debounced per parameter (the latest content operation in the batch wins,
 * a change overwritten since is superseded) and grouped per target, so a burst of edits, or edits
 * to several Grafana files, becomes one SendCommand or one UpdateService. Every rollout is checked
 * first (empty, size, YAML or Alloy syntax) and skipped when an earlier command or deployment
 * already carries the current version, so a duplicate or retried event does no harm. Outcomes go
 * to the bus; ECS deployment and Run Command status events arriving on the same queue become
 * Completed / Failed. Malformed events go to the dead-letter queue; a failed call fails only the
 * records behind it.
 */
export async function processBatch(event: SQSEvent, deps: RefreshDependencies): Promise<SQSBatchResponse> {
  return new RefreshBatch(deps).run(event.Records);
}

interface Job {
  readonly key: string;
  readonly target: RefreshTarget;
  readonly format: ConfigFormat;
  /** Changed parameters (latest content operation in the batch a Create or Update) → that change. */
  readonly changes: Map<string, ParameterChange>;
  /** The latest manual request naming this target. */
  manual: ManualRequest | undefined;
  readonly messageIds: Set<string>;
}

interface ChangeInBatch {
  readonly change: ParameterChange;
  readonly messageId: string;
  readonly order: number;
}

interface RolloutPlan {
  /** The parameter and version the outcome is about. */
  readonly parameter: string;
  readonly version: number | null;
  /** Every file the rollout delivers; all are checked. */
  readonly files: readonly ParameterState[];
  readonly idKey: 'commandId' | 'deploymentId';
  /** Looks for an earlier command or deployment started at or after `since`. */
  readonly find: readonly [operation: string, run: (since: Date) => Promise<EarlierRollout | undefined>];
  /** Starts the rollout; returns its command or deployment ID. */
  readonly start: readonly [operation: string, run: () => Promise<string>];
}

interface PendingOutcome {
  readonly outcome: Outcome;
  readonly messageIds: Set<string>;
}

class RefreshBatch {
  private readonly settings: RefreshSettings;
  private readonly clients: RefreshClients;
  private readonly logger: Logger;
  private readonly jobs = new Map<string, Job>();
  private readonly outcomes: PendingOutcome[] = [];
  private readonly outcomesByKey = new Map<string, PendingOutcome>();
  private readonly failures = new Set<string>();
  private readonly deadLetters: DeadLetter[] = [];
  private readonly counts = new Map<string, number>();
  /** Failed deployments, to be told which revision and versions failed before they are published. */
  private readonly failedDeployments: Array<{ outcome: Outcome & { type: 'failed' }; serviceArn: string }> = [];

  constructor(private readonly deps: RefreshDependencies) {
    this.settings = deps.settings;
    this.clients = deps.clients;
    this.logger = deps.logger;
  }

  async run(records: readonly SQSRecord[]): Promise<SQSBatchResponse> {
    this.count(METRIC.eventsReceived, records.length);
    const parsed = records.map((record) => parseRecord(record, this.settings.eventSource));
    this.collect(parsed);

    try {
      await this.rollOut();
    } catch (error) {
      // A defect, not an AWS error (those are handled per job): retry every job's records.
      this.logger.error('unexpected error; refresh records will be retried', {
        errorName: errorName(error),
        errorMessage: errorMessage(error),
      });
      for (const job of this.jobs.values()) this.retry(job.messageIds);
    }

    await this.describeFailedDeployments();
    await this.publishOutcomes();
    await this.forwardDeadLetters();
    this.count(METRIC.retriedRecords, this.failures.size);
    this.publishMetrics();
    return { batchItemFailures: [...this.failures].map((itemIdentifier) => ({ itemIdentifier })) };
  }

  private collect(parsed: readonly ParsedRecord[]): void {
    const contentChanges = new Map<string, { cls: ParameterClass & { kind: 'config' }; events: ChangeInBatch[] }>();
    parsed.forEach((item, order) => {
      switch (item.kind) {
        case 'malformed':
          this.count(METRIC.malformedEvents);
          this.logger.warn('malformed event', { messageId: item.record.messageId, reason: MALFORMED_REASON, detail: item.detail });
          this.deadLetters.push({ record: item.record, reason: MALFORMED_REASON, detail: item.detail });
          break;
        case 'change':
          this.collectChange(item.change, item.record.messageId, order, contentChanges);
          break;
        case 'manual':
          this.collectManual(item.request, item.record.messageId);
          break;
        case 'deployment-state': {
          const result = deploymentStateOutcome(item.event, this.settings);
          if (result.kind === 'outcome' && result.outcome.type === 'failed') {
            this.failedDeployments.push({ outcome: result.outcome, serviceArn: item.event.resources[0] as string });
          }
          this.stateOutcome(result, item.record, item.event.id);
          break;
        }
        case 'command-status':
          this.stateOutcome(commandStatusOutcome(item.event, this.settings), item.record, item.event.id);
          break;
      }
    });
    for (const [name, { cls, events }] of contentChanges) this.resolveChanges(name, cls, events);
  }

  private collectChange(
    change: ParameterChange,
    messageId: string,
    order: number,
    contentChanges: Map<string, { cls: ParameterClass & { kind: 'config' }; events: ChangeInBatch[] }>,
  ): void {
    const { name, operation, eventId } = change;
    const cls = classifyParameter(name, this.settings);
    if (cls.kind === 'unrelated') {
      this.ignore(messageId, 'not-a-config-parameter', `${name}: ${cls.detail}`);
      return;
    }
    const known: string[] = Object.values(PARAMETER_OPERATION);
    if (!known.includes(operation)) {
      this.ignore(messageId, 'unknown-operation', `${name}: operation ${JSON.stringify(operation)}`);
      return;
    }
    if (operation === PARAMETER_OPERATION.label || (cls.kind === 'refused' && operation === PARAMETER_OPERATION.delete)) {
      this.skip(name, operation, messageId, eventId, cls.kind === 'config' ? cls.target : undefined);
      return;
    }
    if (cls.kind === 'refused') {
      this.addOutcome(
        {
          type: 'failed',
          detail: { parameter: name, reason: cls.reason, detail: cls.detail, trigger: 'parameter-change', sourceEventIds: [eventId] },
        },
        [messageId],
        `refused:${name}`,
      );
      this.logger.warn('config change refused', { parameter: name, reason: cls.reason, detail: cls.detail, eventId });
      return;
    }
    const entry = contentChanges.get(name) ?? { cls, events: [] as ChangeInBatch[] };
    entry.events.push({ change, messageId, order });
    contentChanges.set(name, entry);
  }

  /** The latest content operation on a parameter in this batch decides; the earlier ones are superseded by it. */
  private resolveChanges(name: string, cls: ParameterClass & { kind: 'config' }, events: ChangeInBatch[]): void {
    const sorted = [...events].sort((a, b) => a.change.time.getTime() - b.change.time.getTime() || a.order - b.order);
    const latest = sorted.at(-1) as ChangeInBatch;
    const earlier = sorted.slice(0, -1);
    if (earlier.length > 0) {
      this.count(METRIC.superseded, earlier.length);
      this.logger.info('changes superseded by a later change in the same batch', {
        parameter: name,
        superseded: earlier.map(({ change }) => ({
          eventId: change.eventId,
          operation: change.operation,
          time: change.time.toISOString(),
        })),
        latest: { eventId: latest.change.eventId, operation: latest.change.operation },
      });
    }
    if (latest.change.operation === PARAMETER_OPERATION.delete) {
      for (const { messageId, change } of sorted) this.skip(name, PARAMETER_OPERATION.delete, messageId, change.eventId, cls.target);
      return;
    }
    const job = this.job(cls.target, cls.format);
    job.changes.set(name, latest.change);
    for (const { messageId } of sorted) job.messageIds.add(messageId);
  }

  private collectManual(request: ManualRequest, messageId: string): void {
    const { detail, eventId } = request;
    const requestedBy = detail.requestedBy;
    const targets: RefreshTarget[] = [];
    if (detail.tenant !== undefined) {
      if (!this.settings.allowedTenants.has(detail.tenant)) {
        this.refuseRequest(request, messageId, 'tenant-not-allowed', `tenant ${JSON.stringify(detail.tenant)} is not in the allowed list`);
        return;
      }
      for (const platform of detail.platform ? [detail.platform] : AGENT_PLATFORMS)
        targets.push({ kind: 'agents', tenant: detail.tenant, platform });
    } else if (detail.service !== undefined) {
      if (!this.settings.services.has(detail.service)) {
        this.refuseRequest(
          request,
          messageId,
          'unknown-service',
          `no ECS service is configured for ${JSON.stringify(detail.service)} (known: ${[...this.settings.services.keys()].join(', ') || 'none'})`,
        );
        return;
      }
      targets.push({ kind: 'service', service: detail.service });
    } else {
      for (const tenant of this.settings.allowedTenants)
        for (const platform of AGENT_PLATFORMS) targets.push({ kind: 'agents', tenant, platform });
      for (const service of this.settings.services.keys()) targets.push({ kind: 'service', service });
    }
    this.logger.info('manual refresh requested', { eventId, messageId, requestedBy, targets: targets.map(describeTarget) });
    for (const target of targets) {
      const job = this.job(target, target.kind === 'agents' ? 'alloy' : serviceFormat(target.service));
      if (job.manual === undefined || request.time > job.manual.time) job.manual = request;
      job.messageIds.add(messageId);
    }
  }

  private refuseRequest(request: ManualRequest, messageId: string, reason: 'tenant-not-allowed' | 'unknown-service', detail: string): void {
    this.logger.warn('manual refresh refused', { eventId: request.eventId, reason, detail, requestedBy: request.detail.requestedBy });
    this.addOutcome({ type: 'failed', detail: { reason, detail, trigger: 'manual', sourceEventIds: [request.eventId] } }, [messageId]);
  }

  private job(target: RefreshTarget, format: ConfigFormat): Job {
    const key = targetKey(target);
    let job = this.jobs.get(key);
    if (job === undefined) {
      job = { key, target, format, changes: new Map(), manual: undefined, messageIds: new Set() };
      this.jobs.set(key, job);
    }
    return job;
  }

  private stateOutcome(result: StateOutcome, record: SQSRecord, eventId: string): void {
    if (result.kind === 'ignored') {
      this.ignore(record.messageId, result.reason, result.detail);
      return;
    }
    this.logger.info(`refresh ${result.outcome.type}`, { eventId, ...result.outcome.detail });
    this.addOutcome(result.outcome, [record.messageId]);
  }

  private async rollOut(): Promise<void> {
    const jobs = [...this.jobs.values()];
    const agentJobs = jobs.filter((job) => job.target.kind === 'agents');
    const serviceJobs = jobs.filter((job) => job.target.kind === 'service');
    const { parameterPrefix } = this.settings;

    const agentNames = agentJobs.map((job) => this.agentParameter(job));
    const agentLookup: ParameterLookup =
      agentNames.length > 0
        ? await getParameters(this.clients.ssm, agentNames)
        : { found: new Map(), missing: new Set(), failed: new Map() };
    // Every service file at once: a service is checked against all the files its new tasks will read.
    const serviceLookup =
      serviceJobs.length > 0 ? await getParametersByPath(this.clients.ssm, serviceConfigPath(parameterPrefix)) : { found: new Map() };

    // One rollout at a time: SendCommand and UpdateService have low request rates.
    for (const job of agentJobs) await this.guard(job, () => this.refreshAgents(job, agentLookup));
    for (const job of serviceJobs) await this.guard(job, () => this.refreshService(job, serviceLookup));
  }

  private async guard(job: Job, work: () => Promise<void>): Promise<void> {
    try {
      await work();
    } catch (error) {
      this.logger.error('unexpected error; records will be retried', {
        target: describeTarget(job.target),
        errorName: errorName(error),
        errorMessage: errorMessage(error),
      });
      this.retry(job.messageIds);
    }
  }

  private agentParameter(job: Job): string {
    const target = job.target as RefreshTarget & { kind: 'agents' };
    return agentParameterName(this.settings.parameterPrefix, target.tenant, target.platform);
  }

  private async refreshAgents(job: Job, lookup: ParameterLookup): Promise<void> {
    const { tenant, platform } = job.target as RefreshTarget & { kind: 'agents' };
    const name = this.agentParameter(job);
    const lookupError = lookup.failed.get(name);
    if (lookupError !== undefined) return this.apiFailure(job, 'GetParameters', lookupError, name);

    const state = lookup.found.get(name);
    if (job.manual === undefined ? !this.stillCurrent(job, name, state) : state === undefined) {
      if (job.manual) this.notFound(job, name, `parameter ${name} not found`);
      return;
    }
    const current = state as ParameterState;
    const rollout = { tenant, platform, parameterName: name, version: current.version, config: current.value };
    const document = documentFor(this.settings, platform);
    await this.execute(job, {
      parameter: name,
      version: current.version,
      files: [current],
      idKey: 'commandId',
      find: ['ListCommands', (since) => findRefreshCommand(this.clients.ssm, document, refreshComment(rollout), since)],
      start: ['SendCommand', () => sendRefreshCommand(this.clients.ssm, buildRefreshCommand(this.settings, rollout))],
    });
  }

  private async refreshService(job: Job, lookup: { found: Map<string, ParameterState>; error?: unknown }): Promise<void> {
    const { service } = job.target as RefreshTarget & { kind: 'service' };
    const { parameterPrefix, clusterArn } = this.settings;
    const base = `${serviceConfigPath(parameterPrefix)}/${service}`;
    if (lookup.error !== undefined) return this.apiFailure(job, 'GetParametersByPath', lookup.error, base);

    if (
      job.manual === undefined &&
      ![...job.changes.keys()].filter((name) => this.stillCurrent(job, name, lookup.found.get(name))).length
    ) {
      return;
    }
    const files = [...lookup.found.values()]
      .filter((parameter) => isServiceParameter(parameterPrefix, service, parameter.name))
      .sort((a, b) => a.name.localeCompare(b.name));
    if (files.length === 0) return this.notFound(job, base, `no parameter at or under ${base}`);

    const serviceArn = this.settings.services.get(service) as string;
    const [parameter, version] = this.headline(job, base, files);
    let current: ServiceRevision | undefined;
    let plan: RevisionPlan | undefined;
    await this.execute(job, {
      parameter,
      version,
      files,
      idKey: 'deploymentId',
      // The service already runs these values when its revision's copies hold them.
      find: [
        'DescribeServices',
        async (since) => {
          current = await describeServiceRevision(this.clients.ecs, clusterArn, serviceArn);
          const running = await getParameters(
            this.clients.ssm,
            current.files.map((file) => file.name),
          );
          const failed = running.failed.values().next();
          if (!failed.done) throw failed.value;
          const values = new Map([...running.found].map(([name, state]) => [name, state.value]));
          plan = planRevision(current, values, files);
          if (plan.undelivered.length > 0) {
            this.logger.warn('parameters no task definition delivers (not rolled out)', {
              target: describeTarget(job.target),
              parameters: plan.undelivered,
            });
          }
          if (plan.kind === 'changed') return undefined;
          // Unchanged: nothing to push after a change event; a manual request restarts the tasks unless a deployment started since.
          const carried = job.manual === undefined || current.deploymentCreatedAt.getTime() >= since.getTime();
          return carried ? { id: current.deploymentId, startedAt: current.deploymentCreatedAt } : undefined;
        },
      ],
      start: [
        'RegisterTaskDefinition',
        async () => {
          const revision = current as ServiceRevision;
          if (plan?.kind !== 'changed') return restartService(this.clients.ecs, clusterArn, serviceArn);
          const changed = plan;
          await step('PutParameter', () => makeCopies(this.clients.ssm, changed.copies));
          const deployed = await deployRevision(this.clients.ecs, clusterArn, serviceArn, revisionInput(revision, changed));
          await this.prune(job, revision, changed);
          return deployed.deploymentId;
        },
      ],
    });
  }

  /**
   * Adds to each failed deployment the revision it was rolling out and the versions that revision
   * carried (read from its copies' names), while ECS still lists the deployment. Without them the
   * outcome is published as it is: a look-up is no reason to hold back the news of a failure.
   */
  private async describeFailedDeployments(): Promise<void> {
    for (const { outcome, serviceArn } of this.failedDeployments) {
      const detail = outcome.detail as { -readonly [K in keyof FailedDetail]: FailedDetail[K] };
      try {
        const failed = await failedRevision(this.clients.ecs, this.settings.clusterArn, serviceArn, detail.deploymentId ?? '');
        if (failed === undefined) continue;
        detail.taskDefinition = failed.taskDefinitionArn;
        detail.parameters = failed.versions;
        if (failed.versions.length === 1) {
          detail.parameter = failed.versions[0]?.name;
          detail.version = failed.versions[0]?.version;
        }
      } catch (error) {
        this.logger.warn('could not tell which revision failed', {
          serviceArn,
          deploymentId: detail.deploymentId,
          errorName: errorName(error),
          errorMessage: errorMessage(error),
        });
      }
    }
  }

  /** Deletes copies no revision needs any more; a failure only leaves them for the next rollout. */
  private async prune(job: Job, replaced: ServiceRevision, plan: Extract<RevisionPlan, { kind: 'changed' }>): Promise<void> {
    const keep = new Set([...replaced.files.map((file) => file.name), ...plan.secrets.values()]);
    try {
      const deleted = await pruneCopies(
        this.clients.ssm,
        replaced.files.map((file) => file.copy.configName),
        keep,
      );
      if (deleted.length > 0) this.logger.info('old config copies deleted', { target: describeTarget(job.target), deleted });
    } catch (error) {
      this.logger.warn('old config copies not deleted; the next rollout tries again', {
        target: describeTarget(job.target),
        errorName: errorName(error),
        errorMessage: errorMessage(error),
      });
    }
  }

  /**
   * Checks the files, then starts the rollout unless an earlier command or deployment already
   * carries them. A failed call fails the job's records (see {@link apiFailure}).
   */
  private async execute(job: Job, plan: RolloutPlan): Promise<void> {
    if (!this.passesChecks(job, plan.files)) return;
    const { parameter, version, idKey } = plan;
    const context = { parameter, version, ...this.context(job) };
    let operation = plan.find[0];
    try {
      const earlier = await plan.find[1](this.since(job, plan.files));
      if (earlier) {
        const detail = `${idKey === 'commandId' ? 'command' : 'deployment'} ${earlier.id} started after this version and carries it`;
        this.logger.info('refresh already applied', { ...context, target: describeTarget(job.target), [idKey]: earlier.id });
        this.addOutcome(
          { type: 'skipped', detail: { ...context, reason: 'already-applied', detail, [idKey]: earlier.id } },
          job.messageIds,
        );
        return;
      }
      operation = plan.start[0];
      const id = await plan.start[1]();
      const parameters: ParameterVersion[] = plan.files.map((file) => ({ name: file.name, version: file.version }));
      this.logger.info(idKey === 'commandId' ? 'refresh command sent' : 'service deployment started', {
        ...context,
        target: describeTarget(job.target),
        parameters,
        [idKey]: id,
      });
      this.addOutcome({ type: 'started', detail: { ...context, parameters, [idKey]: id } }, job.messageIds);
    } catch (error) {
      this.apiFailure(job, operationOf(error) ?? operation, error, parameter);
    }
  }

  /**
   * Whether a change still describes the parameter's current version. A deleted parameter, or one
   * modified again well after the event, is superseded: the newer change's own event rolls it out.
   */
  private stillCurrent(job: Job, name: string, state: ParameterState | undefined): boolean {
    const change = job.changes.get(name);
    if (change === undefined) return false;
    let reason: string | undefined;
    if (state === undefined) {
      reason = 'the parameter no longer exists';
    } else if (state.lastModified && state.lastModified.getTime() > change.time.getTime() + SUPERSEDE_GRACE_MS) {
      reason = `modified again at ${state.lastModified.toISOString()} (now version ${state.version})`;
    }
    if (reason === undefined) return true;
    this.count(METRIC.superseded);
    this.logger.info('change superseded', { parameter: name, eventId: change.eventId, eventTime: change.time.toISOString(), reason });
    return false;
  }

  /** Refuses the rollout when any file fails its checks, with one Failed event per file. */
  private passesChecks(job: Job, files: readonly ParameterState[]): boolean {
    let passed = true;
    for (const file of files) {
      const result = checkConfig(file, fileFormat(file.name, job.format), this.settings.maxConfigBytes);
      if (result.ok) continue;
      passed = false;
      this.logger.warn('config refused', {
        parameter: file.name,
        version: file.version,
        target: describeTarget(job.target),
        reason: result.reason,
        detail: result.detail,
      });
      const detail = `${result.detail}; nothing was rolled out. Fix the parameter (or put back the previous version) to roll out again.`;
      this.fail(job, { parameter: file.name, version: file.version, reason: result.reason, detail });
    }
    return passed;
  }

  /** Earliest time a command or deployment must have started to carry the current files (and answer a manual request). */
  private since(job: Job, files: readonly ParameterState[]): Date {
    const times = files.map((file) => file.lastModified?.getTime() ?? 0);
    if (job.manual) times.push(job.manual.time.getTime());
    return new Date(Math.max(...times));
  }

  /** The parameter and version an outcome is about: the single changed file, else the service path (version null). */
  private headline(job: Job, base: string, files: readonly ParameterState[]): [string, number | null] {
    const changed = files.filter((file) => job.changes.has(file.name));
    const only = changed.length === 1 ? changed[0] : files.length === 1 ? files[0] : undefined;
    return only ? [only.name, only.version] : [base, null];
  }

  private notFound(job: Job, parameter: string, detail: string): void {
    this.logger.warn('manual refresh: config not found', { parameter, target: describeTarget(job.target) });
    this.fail(job, { parameter, reason: 'parameter-not-found', detail });
  }

  private fail(job: Job, failure: Pick<FailedDetail, 'parameter' | 'version' | 'reason' | 'detail' | 'retrying'>): void {
    this.addOutcome({ type: 'failed', detail: { ...failure, ...this.context(job) } }, job.messageIds);
  }

  /**
   * A call failed after the SDK's retries: the job's records are retried through the queue (and
   * reach the dead-letter queue when retries run out). Throttling is expected under bursts and only
   * logged; anything else (AccessDenied, a missing service) is also published as Failed.
   */
  private apiFailure(job: Job, operation: string, error: unknown, parameter: string): void {
    const throttled = isThrottlingError(error);
    const detail = `${operation} failed: ${errorName(error)}: ${errorMessage(error)}`;
    this.logger[throttled ? 'warn' : 'error'](`${operation} failed; records will be retried`, {
      target: describeTarget(job.target),
      parameter,
      errorName: errorName(error),
      errorMessage: errorMessage(error),
      messageIds: [...job.messageIds],
    });
    if (!throttled) this.fail(job, { parameter, reason: 'api-error', detail, retrying: true });
    this.retry(job.messageIds);
  }

  private skip(name: string, operation: string, messageId: string, eventId: string, target: RefreshTarget | undefined): void {
    const reason = operation === PARAMETER_OPERATION.delete ? 'deleted' : 'label-only';
    const detail =
      reason === 'deleted'
        ? 'a deleted parameter is never pushed: running agents and tasks keep the config they have'
        : 'labelling a version changes no value: nothing to push';
    const key = `skip:${reason}:${name}`;
    if (!this.outcomesByKey.has(key)) this.logger.info('config change skipped', { parameter: name, operation, reason, eventId });
    this.addOutcome(
      { type: 'skipped', detail: { parameter: name, reason, detail, operation, ...(target ? { target } : {}), sourceEventIds: [eventId] } },
      [messageId],
      key,
    );
  }

  private ignore(messageId: string, reason: string, detail: string): void {
    this.count(METRIC.ignoredEvents);
    this.logger.info('event ignored', { messageId, reason, detail });
  }

  /** The fields every outcome of a job carries: its target, what triggered it and the events behind it. */
  private context(job: Job): { target: RefreshTarget; trigger: Trigger; sourceEventIds: string[] } {
    const ids = [...job.changes.values()].map((change) => change.eventId);
    if (job.manual) ids.push(job.manual.eventId);
    return { target: job.target, trigger: job.manual ? 'manual' : 'parameter-change', sourceEventIds: [...new Set(ids)] };
  }

  /** Queues an outcome for the bus; one per `dedupeKey` in a batch (later records join the first). */
  private addOutcome(outcome: Outcome, messageIds: Iterable<string>, dedupeKey?: string): void {
    if (dedupeKey !== undefined) {
      const existing = this.outcomesByKey.get(dedupeKey);
      if (existing) {
        for (const messageId of messageIds) existing.messageIds.add(messageId);
        const ids = (existing.outcome.detail as { sourceEventIds?: string[] }).sourceEventIds;
        const more = (outcome.detail as { sourceEventIds?: string[] }).sourceEventIds ?? [];
        if (ids) for (const id of more) if (!ids.includes(id)) ids.push(id);
        return;
      }
    }
    const pending = { outcome, messageIds: new Set(messageIds) };
    this.outcomes.push(pending);
    if (dedupeKey !== undefined) this.outcomesByKey.set(dedupeKey, pending);
    this.count(OUTCOME_METRIC[outcome.type]);
  }

  /** Publishes the outcomes; a record whose outcome could not be published is retried. */
  private async publishOutcomes(): Promise<void> {
    if (this.outcomes.length === 0) return;
    const entries = this.outcomes.map(({ outcome }) => toPutEventsEntry(outcome, this.settings));
    const unpublished = await putEvents(this.clients.eventBridge, entries);
    for (const { index, errorCode, errorMessage: message } of unpublished) {
      const pending = this.outcomes[index] as PendingOutcome;
      this.count(METRIC.unpublishedEvents);
      this.logger.error('outcome event not published; its records will be retried', {
        outcome: pending.outcome.type,
        errorCode,
        errorMessage: message,
        messageIds: [...pending.messageIds],
      });
      this.retry(pending.messageIds);
    }
  }

  private async forwardDeadLetters(): Promise<void> {
    if (this.deadLetters.length === 0) return;
    const result = await sendToDeadLetterQueue(this.clients.sqs, this.settings.deadLetterQueueUrl, this.deadLetters);
    this.count(METRIC.deadLettered, result.sent.length);
    for (const { messageId, error } of result.unsent) {
      this.logger.error('could not forward to the dead-letter queue; the record will be retried', { messageId, error });
      this.failures.add(messageId);
    }
  }

  private retry(messageIds: Iterable<string>): void {
    for (const messageId of messageIds) this.failures.add(messageId);
  }

  private count(name: string, amount = 1): void {
    this.counts.set(name, (this.counts.get(name) ?? 0) + amount);
  }

  private publishMetrics(): void {
    for (const name of Object.values(METRIC)) {
      const value = this.counts.get(name) ?? 0;
      if (value > 0 || name === METRIC.eventsReceived) this.deps.metrics.addMetric(name, MetricUnit.Count, value);
    }
  }
}
