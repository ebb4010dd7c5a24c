import type { Logger } from '@aws-lambda-powertools/logger';
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { callsFor } from './calls';
import { planOutcome } from './decide';
import { attempt, executeCalls, type StatusClients, type StepFailure } from './execute';
import { describeInstance, findCommand } from './lookup';
import { type InvocationResult, parseEvent } from './requests';
import {
  commandNotFoundReport,
  failureReport,
  lifecycleReport,
  type Report,
  type ResultContext,
  resolveRecorded,
  resolveUnrecorded,
  resultContext,
  type StatusResult,
} from './resolve';
import type { StatusSettings } from './settings';

export { ENROLLED_DETAIL_TYPE, ENROLLMENT_FAILED_DETAIL_TYPE, type OutcomeDetail } from './calls';
export type { StatusClients } from './execute';
export { METRIC, type StatusResult } from './resolve';

export interface StatusDependencies {
  readonly clients: StatusClients;
  readonly settings: StatusSettings;
  readonly logger: Logger;
  readonly metrics: Metrics;
}

/**
 * Records the end of one agent command on one instance (one EventBridge event per invocation):
 * parse (requests.ts) → look up the command and the instance (lookup.ts) → plan (decide.ts, then
 * the calls in calls.ts) → execute (execute.ts) → resolve (resolve.ts: what is logged, counted and
 * returned).
 *
 * Malformed and non-final events are logged, counted and returned. AWS errors (throttling that
 * outlasted the SDK's retries, access denied, …) are logged and thrown, so the asynchronous
 * invocation's retries and its failure destination keep the event; the order of the calls makes
 * that retry safe (see calls.ts), and a lifecycle action is still completed on a duplicate delivery
 * while its tags remain.
 */
export async function processEvent(event: unknown, deps: StatusDependencies): Promise<StatusResult> {
  const parsed = parseEvent(event, deps.settings);
  if (parsed.kind === 'result') return recordResult(parsed.result, deps);
  const { result, report } = resolveUnrecorded(parsed, eventIdOf(event));
  writeReport(report, deps);
  return result;
}

async function recordResult(result: InvocationResult, deps: StatusDependencies): Promise<StatusResult> {
  const { clients, settings } = deps;
  const context = resultContext(result);

  const lookup = await attempt('list-commands', () => findCommand(clients.ssm, result.commandId));
  if (!lookup.ok) return fail(lookup, context, deps);
  if (!lookup.value.found) writeReport(commandNotFoundReport(context, lookup.value), deps);
  const command = lookup.value.found ? lookup.value.command : undefined;
  const instance = await attempt('describe-instances', () => describeInstance(clients.ec2, result.instanceId));
  if (!instance.ok) return fail(instance, context, deps);

  const plan = planOutcome({ result, command, instance: instance.value }, settings);
  const execution = await executeCalls(callsFor(plan, result, command, settings), result.instanceId, clients);
  writeReport(lifecycleReport(execution.done, context), deps);
  if (execution.failure) return fail(execution.failure, context, deps);

  const recorded = resolveRecorded({ result, plan, done: execution.done, context });
  writeReport(recorded.report, deps);
  return recorded.result;
}

function fail(failure: StepFailure, context: ResultContext, deps: StatusDependencies): never {
  writeReport(failureReport(failure, context), deps);
  throw failure.error;
}

function writeReport(report: Report, { logger, metrics }: StatusDependencies): void {
  for (const count of report.counts) {
    if (count.reason === undefined) {
      metrics.addMetric(count.name, MetricUnit.Count, 1);
    } else {
      const single = metrics.singleMetric();
      single.addDimension('reason', count.reason);
      single.addMetric(count.name, MetricUnit.Count, 1);
    }
  }
  for (const line of report.logs) logger[line.level](line.message, line.fields);
}

function eventIdOf(event: unknown): string | undefined {
  const id = typeof event === 'object' && event !== null ? (event as Record<string, unknown>).id : undefined;
  return typeof id === 'string' ? id : undefined;
}
