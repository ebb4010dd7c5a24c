import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';

/** The region and account of every fake client, ARN and URL. */
export const REGION = 'ap-northeast-2';
export const ACCOUNT = '123456789012';

/** What the fakes use of a mocked client (a stub of test/support/sdk-call-recorder.ts). */
interface MockedClient {
  calls(): readonly { readonly args: readonly unknown[] }[];
  resetHistory(): unknown;
}

/** One call of a mocked client, as its `commandCalls(Command)` lists them. */
interface CommandCall<Input> {
  readonly args: readonly [{ readonly input: Input }];
}

/** The input of each call, in order. */
export function inputsOf<Input>(calls: readonly CommandCall<Input>[]): Input[] {
  return calls.map((call) => call.args[0].input);
}

/** The entries of each batch call (PutEvents, SendMessageBatch, ChangeMessageVisibilityBatch), in order. */
export function entriesOf<Entry>(calls: readonly CommandCall<{ readonly Entries?: Entry[] }>[]): Entry[] {
  return calls.flatMap((call) => call.args[0].input.Entries ?? []);
}

/**
 * What every handler's fake AWS has: mocked clients counted and reset together, and the
 * Powertools logger (silent) and metrics (recorded, not emitted) its handler's dependencies carry.
 * A subclass makes its clients and mocks them in its own test/lambdas/<handler>/ file: the calls
 * are recorded for the handler of the file that calls mockClient.
 */
export abstract class FakeAccount {
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** Every metric added, by name (summed). */
  readonly metricValues = new Map<string, number>();
  /** Every single metric (one dimension, the skip reason), summed by that dimension's value instead of being emitted. */
  readonly skippedByReason = new Map<string, number>();

  protected constructor(serviceName: string) {
    this.logger = new Logger({ serviceName, logLevel: 'SILENT' });
    this.metrics = new Metrics({ namespace: 'LgtmFleetTest', serviceName });
    this.recordMetrics();
  }

  /** The mocked clients whose calls count. */
  protected abstract mockedClients(): readonly MockedClient[];

  /** Number of AWS API calls made, across all clients. */
  totalCalls(): number {
    return this.mockedClients().reduce((sum, stub) => sum + stub.calls().length, 0);
  }

  callsByCommand(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const stub of this.mockedClients()) {
      for (const call of stub.calls()) {
        const name = (call.args[0] as object).constructor.name;
        counts[name] = (counts[name] ?? 0) + 1;
      }
    }
    return counts;
  }

  /** Forgets the calls made so far; what the fake account holds stays. */
  resetCalls(): void {
    for (const stub of this.mockedClients()) stub.resetHistory();
  }

  private recordMetrics(): void {
    const metrics = this.metrics;
    jest.spyOn(metrics, 'addMetric').mockImplementation((name, _unit, value) => {
      this.metricValues.set(name, (this.metricValues.get(name) ?? 0) + value);
      return metrics;
    });
    jest.spyOn(metrics, 'singleMetric').mockImplementation(() => {
      let dimension = '';
      const single = {
        addDimension: (_name: string, value: string) => {
          dimension = value;
          return single;
        },
        addMetric: (_name: string, _unit: string, value: number) => {
          this.skippedByReason.set(dimension, (this.skippedByReason.get(dimension) ?? 0) + value);
          return single;
        },
      };
      return single as unknown as Metrics;
    });
  }
}
