import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import type { Context } from 'aws-lambda';
import { logger, metrics } from './powertools';

/**
 * A Lambda entry point around `run`, with the project's middy chain: the Powertools logger's
 * Lambda context (reset per invocation) and a metrics flush with a cold-start metric.
 *
 * @middy/core 7 publishes only an ES module entry while handlers are bundled as CommonJS, so it
 * is loaded with import(): the bundler inlines it, and the chain is built once per container.
 */
export function lambdaHandler<TEvent, TResult>(
  run: (event: TEvent) => Promise<TResult>,
): (event: TEvent, context: Context) => Promise<TResult> {
  const chain = import('@middy/core').then(({ default: middy }) =>
    middy(run)
      .use(injectLambdaContext(logger, { resetKeys: true }))
      .use(logMetrics(metrics, { captureColdStartMetric: true })),
  );
  return async (event, context) => (await chain)(event, context) as TResult;
}
