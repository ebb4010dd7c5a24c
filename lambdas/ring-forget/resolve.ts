import type { ForgetOutcome, ForgetRequest } from './forget';
import type { StoppedTask } from './requests';

/**
 * The resolve step: what the handler reports about one event (log lines, metrics), returns or
 * throws. Pure: process-event.ts writes the report and throws the error.
 */

/** Metric names, each a Count. */
export const METRIC = {
  forgotten: 'IngesterEntriesForgotten',
  withoutAddress: 'StoppedTasksWithoutAddress',
  forgetFailed: 'IngesterForgetFailures',
  malformedEvents: 'MalformedEvents',
} as const;

export type RingForgetResult =
  | { readonly result: 'forgotten'; readonly taskArn: string; readonly address: string; readonly status: number }
  /** The task stopped before its network interface was attached: it never joined the ring. */
  | { readonly result: 'no-address'; readonly taskArn: string };

/** An event the handler cannot understand; thrown, so that it ends in the dead-letter queue with this message. */
export class MalformedEventError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MalformedEventError';
  }
}

/** The ring page refused the call or could not be reached; thrown, so that Lambda retries the invocation. */
export class RingForgetError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'RingForgetError';
  }
}

export interface LogLine {
  readonly level: 'info' | 'warn' | 'error';
  readonly message: string;
  readonly fields: Readonly<Record<string, unknown>>;
}

/** One Count of 1 and one log line. */
export interface Report {
  readonly metric: (typeof METRIC)[keyof typeof METRIC];
  readonly log: LogLine;
}

/** What each step ends in: a result to return, or an error to throw; with its report. */
export type Resolution =
  | { readonly report: Report; readonly result: RingForgetResult }
  | { readonly report: Report; readonly error: Error };

/** The fields every log line about a task carries. */
function taskFields(task: StoppedTask): Record<string, unknown> {
  const { eventId, taskArn, group, stopCode, stoppedReason } = task;
  return { eventId, taskArn, group, stopCode, stoppedReason };
}

export function resolveMalformed(detail: string, eventId: string | undefined): Resolution {
  return {
    report: {
      metric: METRIC.malformedEvents,
      log: { level: 'error', message: 'malformed event', fields: { reason: 'malformed-event', detail, eventId } },
    },
    error: new MalformedEventError(detail),
  };
}

export function resolveWithoutAddress(task: StoppedTask): Resolution {
  return {
    report: {
      metric: METRIC.withoutAddress,
      log: { level: 'info', message: 'task stopped without a network address: no ring entry to forget', fields: taskFields(task) },
    },
    result: { result: 'no-address', taskArn: task.taskArn },
  };
}

export function resolveForget(
  task: StoppedTask & { readonly address: string },
  request: ForgetRequest,
  outcome: ForgetOutcome,
): Resolution {
  const fields = { ...taskFields(task), address: task.address, url: request.url };
  if (outcome.kind === 'forgotten') {
    return {
      report: {
        metric: METRIC.forgotten,
        log: { level: 'info', message: 'ingester ring entry forgotten', fields: { ...fields, status: outcome.status } },
      },
      result: { result: 'forgotten', taskArn: task.taskArn, address: task.address, status: outcome.status },
    };
  }
  const why =
    outcome.kind === 'refused'
      ? `the ring page answered ${outcome.status}${outcome.answer ? `: ${outcome.answer}` : ''}`
      : `no answer: ${outcome.reason}`;
  const failure = outcome.kind === 'refused' ? { status: outcome.status, answer: outcome.answer } : { reason: outcome.reason };
  return {
    report: {
      metric: METRIC.forgetFailed,
      log: {
        level: 'error',
        message: 'ingester ring entry not forgotten; the invocation will be retried',
        fields: { ...fields, ...failure },
      },
    },
    error: new RingForgetError(`forgetting ingester ${task.address} at ${request.url} failed: ${why}`, {
      cause: outcome.kind === 'unreachable' ? outcome.error : undefined,
    }),
  };
}
