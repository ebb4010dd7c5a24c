import type { Tag } from '@aws-sdk/client-ec2';
import type { PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import type { Platform } from '../shared/contract';
import { ENROLLMENT_OUTCOME } from '../shared/event-types';
import { AGENT_TAGS } from '../shared/tags';
import type { LifecyclePlan, OutcomePlan } from './decide';
import type { CommandAction, CommandFacts } from './lookup';
import type { InvocationResult } from './requests';
import type { StatusSettings } from './settings';

/** DetailTypes of the outcome events on the project bus. */
export const ENROLLED_DETAIL_TYPE = ENROLLMENT_OUTCOME.enrolled;
export const ENROLLMENT_FAILED_DETAIL_TYPE = ENROLLMENT_OUTCOME.failed;

/** Detail of `Agent Enrolled` / `Agent Enrollment Failed`; null where the command is no longer known. */
export interface OutcomeDetail {
  readonly instanceId: string;
  readonly tenant: string | null;
  readonly platform: Platform;
  readonly alloyVersion: string | null;
  readonly configVersion: string | null;
  readonly commandId: string;
  /** Run Command's final status: Success, Failed, TimedOut, Cancelled, … */
  readonly status: string;
  readonly action: CommandAction;
}

/** One AWS call on the result's instance; `step` also names it in the error log when it fails. */
export type StatusCall =
  | { readonly step: 'put-events'; readonly entry: PutEventsRequestEntry }
  | { readonly step: 'create-tags'; readonly tags: readonly Tag[] }
  | { readonly step: 'complete-lifecycle-action'; readonly lifecycle: LifecyclePlan }
  | { readonly step: 'delete-tags'; readonly tags: readonly Tag[] };

/**
 * The calls that carry out a plan, in an order that makes a retry safe: the event is published
 * before the status tag is written, because the tag is what marks a later delivery as a duplicate
 * (the other way round, a failed publish after a written tag would never be retried); the lifecycle
 * action is completed after the tags, and its tags are deleted with the stale ones last.
 */
export function callsFor(
  plan: OutcomePlan,
  result: InvocationResult,
  command: CommandFacts | undefined,
  settings: StatusSettings,
): StatusCall[] {
  const calls: StatusCall[] = [];
  if (plan.publish) calls.push({ step: 'put-events', entry: outcomeEntry(plan, result, command, settings) });
  if (plan.writeTags.length > 0) calls.push({ step: 'create-tags', tags: plan.writeTags });
  const staleTags: Tag[] = [...plan.staleTags];
  if (plan.lifecycle) {
    calls.push({ step: 'complete-lifecycle-action', lifecycle: plan.lifecycle });
    staleTags.push(
      { Key: AGENT_TAGS.lifecycleGroup, Value: plan.lifecycle.groupName },
      { Key: AGENT_TAGS.lifecycleHook, Value: plan.lifecycle.hookName },
    );
  }
  // Key and value: a tag rewritten since the look-up is left alone.
  if (staleTags.length > 0) calls.push({ step: 'delete-tags', tags: staleTags });
  return calls;
}

function outcomeEntry(
  plan: OutcomePlan,
  result: InvocationResult,
  command: CommandFacts | undefined,
  settings: StatusSettings,
): PutEventsRequestEntry {
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
  return {
    EventBusName: settings.eventBusName,
    Source: settings.eventSource,
    DetailType: plan.outcome === 'success' ? ENROLLED_DETAIL_TYPE : ENROLLMENT_FAILED_DETAIL_TYPE,
    Time: result.time,
    Detail: JSON.stringify(detail),
  };
}
