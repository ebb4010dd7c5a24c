import type { Logger } from '@aws-lambda-powertools/logger';
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { CreateTagsCommand, DeleteTagsCommand, type EC2Client, type Tag } from '@aws-sdk/client-ec2';
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { SSMClient } from '@aws-sdk/client-ssm';
import { errorMessage, errorName } from '../shared/aws';
import { putEvents } from '../shared/bus';
import { ENROLLMENT_OUTCOME } from '../shared/event-types';
import { completeLifecycleAction, type LifecycleResult } from '../shared/lifecycle';
import { AGENT_TAGS } from '../shared/tags';
import { type LifecyclePlan, type OutcomePlan, planOutcome, type SkipReason } from './decide';
import { type CommandAction, type CommandFacts, describeInstance, findCommand } from './lookup';
import { type IgnoreReason, type InvocationResult, type Outcome, parseEvent } from './requests';
import type { StatusSettings } from './settings';

export interface StatusClients {
  readonly ec2: EC2Client;
  readonly ssm: SSMClient;
  readonly eventBridge: EventBridgeClient;
  readonly autoScaling: AutoScalingClient;
}

export interface StatusDependencies {
  readonly clients: StatusClients;
  readonly settings: StatusSettings;
  readonly logger: Logger;
  readonly metrics: Metrics;
}

/** DetailTypes of the outcome events on the project bus. */
export const ENROLLED_DETAIL_TYPE = ENROLLMENT_OUTCOME.enrolled;
export const ENROLLMENT_FAILED_DETAIL_TYPE = ENROLLMENT_OUTCOME.failed;

/** Metric names, each a Count. Install and reload outcomes are counted apart so an alarm on failed enrollments ignores reloads. */
export const METRIC = {
  agentEnrolled: 'AgentEnrolled',
  agentEnrollmentFailed: 'AgentEnrollmentFailed',
  configReloaded: 'ConfigReloaded',
  configReloadFailed: 'ConfigReloadFailed',
  lifecycleCompleted: 'LifecycleCompleted',
  /** Total; also published per `reason` (instance-gone, superseded, duplicate). */
  skipped: 'Skipped',
  commandsNotFound: 'CommandsNotFound',
  ignoredEvents: 'IgnoredEvents',
  malformedEvents: 'MalformedEvents',
} as const;

/** Detail of `Agent Enrolled` / `Agent Enrollment Failed`; null where the command is no longer known. */
export interface OutcomeDetail {
  readonly instanceId: string;
  readonly tenant: string | null;
  readonly platform: string;
  readonly alloyVersion: string | null;
  readonly configVersion: string | null;
  readonly commandId: string;
  /** Run Command's final status: Success, Failed, TimedOut, Cancelled, … */
  readonly status: string;
  readonly action: CommandAction;
}

export type StatusResult =
  | { readonly result: 'malformed'; readonly detail: string }
  | { readonly result: 'ignored'; readonly reason: IgnoreReason; readonly detail: string }
  | {
      readonly result: 'recorded';
      readonly instanceId: string;
      readonly commandId: string;
      readonly action: CommandAction;
      readonly outcome: Outcome;
      readonly published: boolean;
      readonly tagged: boolean;
      readonly lifecycleResult?: LifecycleResult;
      readonly skipped?: SkipReason;
    };

/**
 * Records the end of one agent command on one instance (one EventBridge event per invocation).
 *
 * Malformed and non-final events are logged, counted and returned: throwing would only make Lambda
 * retry an event that can never succeed. AWS errors (throttling that outlasted the SDK's retries,
 * access denied, …) are thrown, so the asynchronous invocation's retries and its failure
 * destination keep the event.
 *
 * The steps run in an order that makes a retry safe: the event is published before the status tag
 * is written, because the tag is what marks a later delivery as a duplicate (the other way round, a
 * failed publish after a written tag would never be retried); the lifecycle action is completed
 * last and is still completed on a duplicate delivery while its tags remain.
 */
export async function processEvent(event: unknown, deps: StatusDependencies): Promise<StatusResult> {
  const { logger, metrics, settings } = deps;
  const parsed = parseEvent(event, settings);
  switch (parsed.kind) {
    case 'malformed':
      metrics.addMetric(METRIC.malformedEvents, MetricUnit.Count, 1);
      logger.warn('malformed event', { reason: 'malformed-event', detail: parsed.detail, eventId: eventIdOf(event) });
      return { result: 'malformed', detail: parsed.detail };
    case 'ignored':
      metrics.addMetric(METRIC.ignoredEvents, MetricUnit.Count, 1);
      logger.info('event ignored', { reason: parsed.reason, detail: parsed.detail, eventId: eventIdOf(event) });
      return { result: 'ignored', reason: parsed.reason, detail: parsed.detail };
    case 'result':
      return new ResultRecorder(deps, parsed.result).run();
  }
}

class ResultRecorder {
  private readonly context: Record<string, string>;
  private step = 'list-commands';

  constructor(
    private readonly deps: StatusDependencies,
    private readonly result: InvocationResult,
  ) {
    this.context = {
      eventId: result.eventId,
      instanceId: result.instanceId,
      commandId: result.commandId,
      documentName: result.documentName,
      status: result.status,
    };
  }

  async run(): Promise<StatusResult> {
    try {
      return await this.record();
    } catch (error) {
      this.deps.logger.error('command result not recorded; the invocation will be retried', {
        ...this.context,
        step: this.step,
        errorName: errorName(error),
        errorMessage: errorMessage(error),
      });
      throw error;
    }
  }

  private async record(): Promise<StatusResult> {
    const { clients, logger, metrics, settings } = this.deps;
    const { result } = this;

    this.step = 'list-commands';
    const lookup = await findCommand(clients.ssm, result.commandId);
    const command = lookup.found ? lookup.command : undefined;
    if (!lookup.found) {
      metrics.addMetric(METRIC.commandsNotFound, MetricUnit.Count, 1);
      logger.warn('command not found; recorded as an install of unknown versions', {
        ...this.context,
        reason: lookup.reason,
        detail: lookup.detail,
      });
    }

    this.step = 'describe-instances';
    const instance = await describeInstance(clients.ec2, result.instanceId);
    const plan = planOutcome({ result, command, instance }, settings);
    let skip = plan.skip;

    if (plan.publish) {
      this.step = 'put-events';
      await this.publish(plan, command);
    }

    let tagged = false;
    if (plan.writeTags.length > 0) {
      this.step = 'create-tags';
      const tags = [...plan.writeTags];
      tagged = await this.onInstance(() => clients.ec2.send(new CreateTagsCommand({ Resources: [result.instanceId], Tags: tags })));
      if (!tagged) skip = { reason: 'instance-gone', detail: 'CreateTags: instance not found' };
    }

    let lifecycleResult: LifecycleResult | undefined;
    const staleTags: Tag[] = [...plan.staleTags];
    if (plan.lifecycle && skip?.reason !== 'instance-gone') {
      this.step = 'complete-lifecycle-action';
      await this.completeLifecycleAction(plan.lifecycle);
      lifecycleResult = plan.lifecycle.result;
      staleTags.push(
        { Key: AGENT_TAGS.lifecycleGroup, Value: plan.lifecycle.groupName },
        { Key: AGENT_TAGS.lifecycleHook, Value: plan.lifecycle.hookName },
      );
    }
    if (staleTags.length > 0 && skip?.reason !== 'instance-gone') {
      this.step = 'delete-tags';
      // Key and value: a tag rewritten since the look-up is left alone.
      await this.onInstance(() => clients.ec2.send(new DeleteTagsCommand({ Resources: [result.instanceId], Tags: staleTags })));
    }

    this.countOutcome(plan, skip?.reason);
    const summary = {
      ...this.context,
      action: plan.action,
      outcome: plan.outcome,
      published: plan.publish,
      tagKeys: plan.writeTags.map((tag) => tag.Key),
      ...(lifecycleResult ? { lifecycleResult, ...plan.lifecycle } : {}),
    };
    if (skip) {
      logger.info('command result not written to tags', { ...summary, reason: skip.reason, detail: skip.detail });
    } else {
      logger.info('command result recorded', summary);
    }
    return {
      result: 'recorded',
      instanceId: result.instanceId,
      commandId: result.commandId,
      action: plan.action,
      outcome: plan.outcome,
      published: plan.publish,
      tagged,
      ...(lifecycleResult ? { lifecycleResult } : {}),
      ...(skip ? { skipped: skip.reason } : {}),
    };
  }

  /** One entry; a rejected entry is thrown like a failed call, so the event is retried. */
  private async publish(plan: OutcomePlan, command: CommandFacts | undefined): Promise<void> {
    const { clients, settings } = this.deps;
    const { result } = this;
    const detail: OutcomeDetail = {
      instanceId: result.instanceId,
      tenant: command?.tenant ?? null,
      platform: result.platform,
      alloyVersion: command?.alloyVersion ?? null,
      configVersion: command?.configVersion ?? null,
      commandId: result.commandId,
      status: result.status,
      action: plan.action,
    };
    const [unpublished] = await putEvents(
      clients.eventBridge,
      [
        {
          EventBusName: settings.eventBusName,
          Source: settings.eventSource,
          DetailType: plan.outcome === 'success' ? ENROLLED_DETAIL_TYPE : ENROLLMENT_FAILED_DETAIL_TYPE,
          Time: result.time,
          Detail: JSON.stringify(detail),
        },
      ],
      { attempts: 1 },
    );
    if (unpublished === undefined) return;
    if (unpublished.error !== undefined) throw unpublished.error;
    throw Object.assign(new Error(`PutEvents rejected the entry: ${unpublished.errorMessage}`), { name: unpublished.errorCode });
  }

  /** Runs a call on the instance; false when the instance no longer exists, any other error thrown. */
  private async onInstance(call: () => Promise<unknown>): Promise<boolean> {
    try {
      await call();
      return true;
    } catch (error) {
      if (errorName(error) === 'InvalidInstanceID.NotFound') return false;
      throw error;
    }
  }

  /** An action no longer waiting (completed by an earlier delivery, or timed out) counts as done. */
  private async completeLifecycleAction(lifecycle: LifecyclePlan): Promise<void> {
    const { clients, logger, metrics } = this.deps;
    const completion = await completeLifecycleAction(clients.autoScaling, { ...lifecycle, instanceId: this.result.instanceId });
    if (completion.completed) {
      metrics.addMetric(METRIC.lifecycleCompleted, MetricUnit.Count, 1);
      logger.info('lifecycle action completed', { ...this.context, ...lifecycle });
    } else {
      logger.info('lifecycle action no longer waiting', { ...this.context, ...lifecycle, detail: completion.detail });
    }
  }

  private countOutcome(plan: OutcomePlan, skipReason: SkipReason | undefined): void {
    const { metrics } = this.deps;
    if (plan.publish) {
      const succeeded = plan.outcome === 'success';
      const name =
        plan.action === 'reload'
          ? succeeded
            ? METRIC.configReloaded
            : METRIC.configReloadFailed
          : succeeded
            ? METRIC.agentEnrolled
            : METRIC.agentEnrollmentFailed;
      metrics.addMetric(name, MetricUnit.Count, 1);
    }
    if (skipReason) {
      metrics.addMetric(METRIC.skipped, MetricUnit.Count, 1);
      const single = metrics.singleMetric();
      single.addDimension('reason', skipReason);
      single.addMetric(METRIC.skipped, MetricUnit.Count, 1);
    }
  }
}

function eventIdOf(event: unknown): string | undefined {
  const id = typeof event === 'object' && event !== null ? (event as Record<string, unknown>).id : undefined;
  return typeof id === 'string' ? id : undefined;
}
