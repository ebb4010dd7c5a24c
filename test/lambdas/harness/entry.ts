import type { Context } from 'aws-lambda';
import { RESULT_MARKER } from '../handler-process';
import { ACCOUNT, REGION } from './fake-account';

/**
 * The child-process side of runHandlerProcess (../handler-process.ts). A handler's
 * handler-harness.ts imports its real entry (environment read at module load, module-level
 * clients, the middy chain with the Powertools middlewares), mocks the AWS clients by class (a
 * class-level mock stubs the prototype, so it also covers the clients the entry created on
 * import), and hands a run to {@link runHandlerEntry}, which prints the run's report as the last
 * line of stdout.
 *
 * A child Node process (started through tsx) because @middy/core 7 ships only an ES module, which
 * Jest's CommonJS module runtime cannot load on this Node version.
 */

/** What a handler returned, or the error it threw. */
export type Outcome = { response: unknown } | { error: { name: string; message: string } };

/**
 * Runs `run` on the event in HARNESS_EVENT (`emptyEvent` when unset) with the Lambda context of the
 * function `functionName`, then prints its report after RESULT_MARKER. An error it throws ends the
 * process with status 1 and the error on stderr.
 */
export function runHandlerEntry<Event>(
  functionName: string,
  run: (event: Event, context: Context) => Promise<Record<string, unknown>>,
  emptyEvent = '{}',
): void {
  const main = async () => {
    const event = JSON.parse(process.env.HARNESS_EVENT ?? emptyEvent) as Event;
    const report = await run(event, lambdaContext(functionName));
    process.stdout.write(`\n${RESULT_MARKER}${JSON.stringify(report)}\n`);
  };
  main().catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}\n`);
    process.exit(1);
  });
}

/** The handler's response, or the error it threw, for a report. */
export async function outcomeOf(response: Promise<unknown>): Promise<Outcome> {
  try {
    return { response: await response };
  } catch (error) {
    return { error: { name: (error as Error).name, message: (error as Error).message } };
  }
}

function lambdaContext(functionName: string): Context {
  return {
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${functionName}`,
    memoryLimitInMB: '256',
    awsRequestId: 'request-from-harness',
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'stream',
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => 60_000,
  } as Context;
}
