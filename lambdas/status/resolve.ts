import { errorMessage, errorName } from '../shared/aws';
import type { LifecycleResult } from '../shared/lifecycle';
import type { OutcomePlan, SkipReason } from './decide';
import type { CallOutcome, StepFailure } from './execute';
import type { CommandAction, CommandLookup } from './lookup';
import type { IgnoreReason, InvocationResult, Outcome, ParsedEvent } from './requests';

/**
 * The resolve step: what the handler reports about one event (log lines, metrics) and returns.
 * Pure: process-event.ts writes the report.
 */

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

/** One Count of 1; with `reason`, published as its own metric with that dimension. */
export interface MetricCount {
  readonly name: (typeof METRIC)[keyof typeof METRIC];
  readonly reason?: SkipReason;
}

export interface LogLine {
  readonly level: 'info' | 'warn' | 'error';
  readonly message: string;
  readonly fields: Readonly<Record<string, unknown>>;
}

/** Written in order: the counts, then the log lines. */
export interface Report {
  readonly counts: readonly MetricCount[];
  readonly logs: readonly LogLine[];
}

/** The fields every log line about one result carries. */
export type ResultContext = Readonly<Record<string, string>>;

export function resultContext(result: InvocationResult): ResultContext {
  const { eventId, instanceId, commandId, documentName, status } = result;
  return { eventId, instanceId, commandId, documentName, status };
}

/**
 * A malformed or non-final event: logged, counted and returned. Throwing would only make Lambda
 * retry an event that can never succeed.
 */
export function resolveUnrecorded(
  parsed: Exclude<ParsedEvent, { kind: 'result' }>,
  eventId: string | undefined,
): { readonly result: StatusResult; readonly report: Report } {
  if (parsed.kind === 'malformed') {
    return {
      result: { result: 'malformed', detail: parsed.detail },
      report: line(METRIC.malformedEvents, 'warn', 'malformed event', { reason: 'malformed-event', detail: parsed.detail, eventId }),
    };
  }
  return {
    result: { result: 'ignored', reason: parsed.reason, detail: parsed.detail },
    report: line(METRIC.ignoredEvents, 'info', 'event ignored', { reason: parsed.reason, detail: parsed.detail, eventId }),
  };
}

/** A command Run Command no longer lists is recorded as an install of unknown versions (decide.ts). */
export function commandNotFoundReport(context: ResultContext, lookup: CommandLookup & { found: false }): Report {
  return line(METRIC.commandsNotFound, 'warn', 'command not found; recorded as an install of unknown versions', {
    ...context,
    reason: lookup.reason,
    detail: lookup.detail,
  });
}

export function lifecycleReport(done: readonly CallOutcome[], context: ResultContext): Report {
  const counts: MetricCount[] = [];
  const logs: LogLine[] = [];
  for (const call of done) {
    if (call.step !== 'complete-lifecycle-action') continue;
    if (call.completion.completed) {
      counts.push({ name: METRIC.lifecycleCompleted });
      logs.push({ level: 'info', message: 'lifecycle action completed', fields: { ...context, ...call.lifecycle } });
    } else {
      const fields = { ...context, ...call.lifecycle, detail: call.completion.detail };
      logs.push({ level: 'info', message: 'lifecycle action no longer waiting', fields });
    }
  }
  return { counts, logs };
}

/** A failed call: logged and then thrown by the caller, so the asynchronous invocation's retries and failure destination keep the event. */
export function failureReport(failure: StepFailure, context: ResultContext): Report {
  const fields = { ...context, step: failure.step, errorName: errorName(failure.error), errorMessage: errorMessage(failure.error) };
  return { counts: [], logs: [{ level: 'error', message: 'command result not recorded; the invocation will be retried', fields }] };
}

export interface RecordedInput {
  readonly result: InvocationResult;
  readonly plan: OutcomePlan;
  /** The calls made, all of them successful. */
  readonly done: readonly CallOutcome[];
  readonly context: ResultContext;
}

/** The outcome once every call succeeded: CreateTags finding no instance turns the result into an instance-gone skip. */
export function resolveRecorded(input: RecordedInput): { readonly result: StatusResult; readonly report: Report } {
  const { result, plan, done, context } = input;
  const created = done.find((call) => call.step === 'create-tags');
  const tagged = created?.instanceFound === true;
  const skip =
    created?.instanceFound === false ? { reason: 'instance-gone' as const, detail: 'CreateTags: instance not found' } : plan.skip;
  const lifecycle = done.some((call) => call.step === 'complete-lifecycle-action') ? plan.lifecycle : undefined;

  const counts: MetricCount[] = plan.publish ? [{ name: outcomeMetric(plan) }] : [];
  if (skip) counts.push({ name: METRIC.skipped }, { name: METRIC.skipped, reason: skip.reason });
  const summary = {
    ...context,
    action: plan.action,
    outcome: plan.outcome,
    published: plan.publish,
    tagKeys: plan.writeTags.map((tag) => tag.Key),
    ...(lifecycle ? { lifecycleResult: lifecycle.result, ...lifecycle } : {}),
  };
  const log: LogLine = skip
    ? { level: 'info', message: 'command result not written to tags', fields: { ...summary, reason: skip.reason, detail: skip.detail } }
    : { level: 'info', message: 'command result recorded', fields: summary };
  return {
    result: {
      result: 'recorded',
      instanceId: result.instanceId,
      commandId: result.commandId,
      action: plan.action,
      outcome: plan.outcome,
      published: plan.publish,
      tagged,
      ...(lifecycle ? { lifecycleResult: lifecycle.result } : {}),
      ...(skip ? { skipped: skip.reason } : {}),
    },
    report: { counts, logs: [log] },
  };
}

function outcomeMetric(plan: OutcomePlan): MetricCount['name'] {
  const succeeded = plan.outcome === 'success';
  if (plan.action === 'reload') return succeeded ? METRIC.configReloaded : METRIC.configReloadFailed;
  return succeeded ? METRIC.agentEnrolled : METRIC.agentEnrollmentFailed;
}

function line(name: MetricCount['name'], level: LogLine['level'], message: string, fields: LogLine['fields']): Report {
  return { counts: [{ name }], logs: [{ level, message, fields }] };
}
