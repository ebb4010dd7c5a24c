import type { PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { CONFIG_REFRESH_OUTCOME, type RefreshTarget } from '../shared/refresh-events';
import type { RefusalReason } from './checks';

/** What started a refresh. */
export type Trigger = 'parameter-change' | 'manual';

export interface ParameterVersion {
  readonly name: string;
  readonly version: number;
}

/** `Config Refresh Started`: a command or deployment is under way. */
export interface StartedDetail {
  /** The changed parameter, or for a manual service refresh `<prefix>/config/<service>`. */
  readonly parameter: string;
  /** Its version; null when several files roll out together (see `parameters`). */
  readonly version: number | null;
  /** Every parameter the rollout was checked against. */
  readonly parameters: readonly ParameterVersion[];
  readonly target: RefreshTarget;
  readonly commandId?: string;
  readonly deploymentId?: string;
  readonly trigger: Trigger;
  readonly sourceEventIds: readonly string[];
}

/** Why a refresh failed: a check refused the config (see checks.ts), or a later step failed. */
export type FailureReason =
  | RefusalReason
  | 'unknown-service'
  | 'tenant-not-allowed'
  | 'unknown-platform'
  | 'parameter-not-found'
  | 'api-error'
  | 'command-failed'
  | 'deployment-failed';

/** `Config Refresh Failed`: refused before rollout, a call failed, or the command/deployment failed. */
export interface FailedDetail {
  readonly parameter?: string;
  readonly version?: number | null;
  readonly target?: RefreshTarget;
  readonly reason: FailureReason;
  readonly detail: string;
  readonly trigger?: Trigger;
  readonly commandId?: string;
  readonly deploymentId?: string;
  /** For `deployment-failed`: the revision that failed and the versions it carried (none for the stack's own revision). */
  readonly taskDefinition?: string;
  readonly parameters?: readonly ParameterVersion[];
  /** For `api-error`: the record is retried (and dead-lettered when retries run out). */
  readonly retrying?: boolean;
  readonly sourceEventIds?: readonly string[];
}

export type SkipReason = 'deleted' | 'label-only' | 'already-applied';

/** `Config Refresh Skipped`: nothing pushed, on purpose. */
export interface SkippedDetail {
  readonly parameter: string;
  readonly reason: SkipReason;
  readonly detail: string;
  readonly operation?: string;
  readonly target?: RefreshTarget;
  readonly version?: number | null;
  /** For `already-applied`: the earlier command or deployment that carries this version. */
  readonly commandId?: string;
  readonly deploymentId?: string;
  readonly trigger?: Trigger;
  readonly sourceEventIds: readonly string[];
}

/** `Config Refresh Completed`: a refresh command or a service deployment finished successfully. */
export interface CompletedDetail {
  readonly target?: RefreshTarget;
  readonly commandId?: string;
  readonly deploymentId?: string;
  readonly version?: number | null;
  /** Run Command status or ECS deployment event name. */
  readonly status: string;
  readonly detail?: string;
}

export type Outcome =
  | { readonly type: 'started'; readonly detail: StartedDetail }
  | { readonly type: 'failed'; readonly detail: FailedDetail }
  | { readonly type: 'skipped'; readonly detail: SkippedDetail }
  | { readonly type: 'completed'; readonly detail: CompletedDetail };

/** An outcome for the bus and the records it settles: they are retried when it cannot be published. */
export interface PendingOutcome {
  readonly outcome: Outcome;
  readonly messageIds: ReadonlySet<string>;
}

/** A log line a step decided on, written by processBatch in the order the steps decided them. */
export interface LogLine {
  readonly level: 'info' | 'warn' | 'error';
  readonly message: string;
  readonly fields: Readonly<Record<string, unknown>>;
}

export function logLine(level: LogLine['level'], message: string, fields: Readonly<Record<string, unknown>>): LogLine {
  return { level, message, fields };
}

/** Metric names, each a Count. */
export const METRIC = {
  eventsReceived: 'EventsReceived',
  refreshStarted: 'RefreshStarted',
  refreshFailed: 'RefreshFailed',
  refreshSkipped: 'RefreshSkipped',
  refreshCompleted: 'RefreshCompleted',
  superseded: 'Superseded',
  malformedEvents: 'MalformedEvents',
  ignoredEvents: 'IgnoredEvents',
  deadLettered: 'DeadLettered',
  retriedRecords: 'RetriedRecords',
  unpublishedEvents: 'UnpublishedEvents',
} as const;

export const OUTCOME_METRIC: Readonly<Record<Outcome['type'], string>> = {
  started: METRIC.refreshStarted,
  failed: METRIC.refreshFailed,
  skipped: METRIC.refreshSkipped,
  completed: METRIC.refreshCompleted,
};

export function toPutEventsEntry(outcome: Outcome, bus: { eventBusName: string; eventSource: string }): PutEventsRequestEntry {
  return {
    EventBusName: bus.eventBusName,
    Source: bus.eventSource,
    DetailType: CONFIG_REFRESH_OUTCOME[outcome.type],
    Detail: JSON.stringify(outcome.detail),
  };
}
