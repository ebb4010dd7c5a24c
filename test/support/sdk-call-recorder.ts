import { mockClient as mockSdkClient } from 'aws-sdk-client-mock';
import { recordCall } from './sdk-call-records';

/**
 * aws-sdk-client-mock's `mockClient`, for the handler tests: every command sent through the mock
 * is also recorded (test/support/sdk-call-records.ts) for the handler whose tests created it, so
 * that test/iam-coverage.test.ts checks each function's role against the commands its handler
 * really sends. Biome forbids importing aws-sdk-client-mock itself under test/lambdas/.
 *
 * The handler is the `<name>` of the test/lambdas/<name>/ file that calls mockClient: the fakes
 * and harnesses there mock the clients for their handler only.
 */
export const mockClient: typeof mockSdkClient = (client, options) => {
  const handler = handlerOfCaller();
  const stub = mockSdkClient(client, options);
  recordSends(stub, handler);
  // reset() replaces the sinon stub with one made by the package's own mockClient: record through it too.
  const reset = stub.reset.bind(stub);
  stub.reset = () => {
    reset();
    recordSends(stub, handler);
    return stub;
  };
  return stub;
};

/** The `<name>` of the test/lambdas/<name>/ file that called {@link mockClient}. */
function handlerOfCaller(): string {
  const trace: { stack?: string } = {};
  Error.captureStackTrace(trace, mockClient);
  const caller = (trace.stack ?? '').split('\n').find((line) => line.trimStart().startsWith('at ')) ?? '';
  const handler = /[\\/]test[\\/]lambdas[\\/]([\w-]+)[\\/][^\\/]+:\d+:\d+\)?$/.exec(caller)?.[1];
  if (handler === undefined) {
    throw new Error(
      `mockClient of test/support/sdk-call-recorder.ts records calls for a handler: call it from test/lambdas/<handler>/, not ${caller.trim()}`,
    );
  }
  return handler;
}

/**
 * The method through which a sinon stub handles every call, before any behaviour and whatever
 * resetHistory() clears (sinon's own, absent from its typings).
 */
interface SinonInvoke {
  invoke(this: unknown, func: unknown, thisValue: unknown, args: unknown[]): unknown;
}

function recordSends(stub: { readonly send: unknown; clientName(): string }, handler: string): void {
  const send = stub.send as SinonInvoke;
  const invoke = send.invoke;
  if (typeof invoke !== 'function') {
    throw new Error('the sinon stub of Client#send has no invoke(): test/support/sdk-call-recorder.ts needs another way to see each call');
  }
  const client = stub.clientName();
  send.invoke = function recordingInvoke(func, thisValue, args) {
    recordCall({ handler, client, command: (args[0] as object).constructor.name });
    return invoke.call(this, func, thisValue, args);
  };
}
