import type { Logger } from '@aws-lambda-powertools/logger';

/**
 * Shared pieces of the fault-injection suite (fault-injection.test.ts): the four final states an
 * event may end in, a log recorder, and the classifier that turns one event's evidence into its
 * final state. An event with no evidence at all, or with contradicting evidence, is reported as
 * `unaccounted` / `ambiguous`, which no table row may expect.
 */

export const FINAL_STATES = ['done', 'skipped', 'retried', 'dead-lettered'] as const;
export type FinalState = (typeof FINAL_STATES)[number];
export type Classified = FinalState | 'unaccounted' | 'ambiguous';

/** What the harness observed for one event. */
export interface Evidence {
  /** Reported as a batch item failure, or the invocation threw. */
  readonly retried: boolean;
  /** `reason` attribute of the event's dead-letter entry, when it was sent to the DLQ. */
  readonly deadLetterReason?: string;
  /** Reasons recorded for leaving the event (or its instances) alone: log lines, metrics, published events. */
  readonly skipReasons: readonly string[];
  /** The work was done: command sent, deployment started, outcome recorded and published, … */
  readonly done: boolean;
}

export function classify(evidence: Evidence): Classified {
  const deadLettered = evidence.deadLetterReason !== undefined && evidence.deadLetterReason !== '';
  if (evidence.retried && deadLettered) return 'ambiguous';
  if (evidence.retried) return 'retried';
  if (deadLettered) return 'dead-lettered';
  if (evidence.skipReasons.some((reason) => reason !== '')) return 'skipped';
  if (evidence.done) return 'done';
  return 'unaccounted';
}

export interface LogLine {
  readonly level: 'debug' | 'info' | 'warn' | 'error';
  readonly message: string;
  readonly extra: Record<string, unknown>;
}

/** Records every line a Powertools logger is given (the harness loggers are silent). */
export function recordLogs(logger: Logger): LogLine[] {
  const lines: LogLine[] = [];
  for (const level of ['debug', 'info', 'warn', 'error'] as const) {
    jest.spyOn(logger, level).mockImplementation((message: unknown, ...extras: unknown[]) => {
      const extra = Object.assign({}, ...extras.filter((item) => typeof item === 'object' && item !== null)) as Record<string, unknown>;
      lines.push({ level, message: String(message), extra });
    });
  }
  return lines;
}

/** The `reason` of the log lines with one of `messages` whose fields match `where`. */
export function loggedReasons(
  lines: readonly LogLine[],
  messages: readonly string[],
  where: (extra: Record<string, unknown>) => boolean,
): string[] {
  return lines
    .filter((line) => messages.includes(line.message) && where(line.extra))
    .map((line) => line.extra.reason)
    .filter((reason): reason is string => typeof reason === 'string' && reason !== '');
}

/** Parses an SQS body, or undefined when it is not JSON. */
export function parseBody(body: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(body);
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** An SDK-style timeout, as the SDK raises when a request outlasts its socket/request timeout. */
export function timeoutError(): Error {
  return Object.assign(new Error('Connection timed out after 3000 ms'), {
    name: 'TimeoutError',
    $fault: 'client',
    $metadata: {},
  });
}

/** An AWS SDK call as aws-sdk-client-mock records it. */
interface SdkCall<I, O> {
  readonly args: readonly [{ readonly input: I }];
  readonly returnValue: Promise<O> | undefined;
}

/** Each call's input, with its output when the call succeeded (undefined when it threw or rejected). */
export async function settle<I, O>(calls: ReadonlyArray<SdkCall<I, O>>): Promise<Array<{ input: I; output: O | undefined }>> {
  return Promise.all(
    calls.map(async (call) => ({
      input: call.args[0].input,
      output: call.returnValue === undefined ? undefined : await Promise.resolve(call.returnValue).catch(() => undefined),
    })),
  );
}

interface PutEventsLike {
  readonly Entries?: ReadonlyArray<{ readonly DetailType?: string; readonly Detail?: string }>;
}
interface PutEventsResultLike {
  readonly Entries?: ReadonlyArray<{ readonly EventId?: string; readonly ErrorCode?: string }>;
}

/** Entries PutEvents accepted (an event ID and no error code), with the detail parsed. */
export async function acceptedEvents(
  calls: ReadonlyArray<SdkCall<PutEventsLike, PutEventsResultLike>>,
): Promise<Array<{ detailType: string; detail: Record<string, unknown> }>> {
  const accepted: Array<{ detailType: string; detail: Record<string, unknown> }> = [];
  for (const { input, output } of await settle(calls)) {
    (input.Entries ?? []).forEach((entry, index) => {
      const result = output?.Entries?.[index];
      if (result?.EventId !== undefined && result.ErrorCode === undefined) {
        accepted.push({ detailType: entry.DetailType ?? '', detail: parseBody(entry.Detail ?? '{}') ?? {} });
      }
    });
  }
  return accepted;
}

interface SendMessageBatchLike {
  readonly Entries?: ReadonlyArray<{
    readonly Id?: string;
    readonly MessageAttributes?: Record<string, { readonly StringValue?: string }>;
  }>;
}
interface SendMessageBatchResultLike {
  readonly Failed?: ReadonlyArray<{ readonly Id?: string }>;
}

/** Message ID → `reason` attribute of the dead letters the DLQ actually accepted. */
export async function deliveredDeadLetters(
  calls: ReadonlyArray<SdkCall<SendMessageBatchLike, SendMessageBatchResultLike>>,
): Promise<Map<string, string>> {
  const delivered = new Map<string, string>();
  for (const { input, output } of await settle(calls)) {
    if (output === undefined) continue;
    const failed = new Set((output.Failed ?? []).map((entry) => entry.Id));
    for (const entry of input.Entries ?? []) {
      if (entry.Id !== undefined && !failed.has(entry.Id)) delivered.set(entry.Id, entry.MessageAttributes?.reason?.StringValue ?? '');
    }
  }
  return delivered;
}
