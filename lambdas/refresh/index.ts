import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { ECSClient } from '@aws-sdk/client-ecs';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SQSClient } from '@aws-sdk/client-sqs';
import { SSMClient } from '@aws-sdk/client-ssm';
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { SDK_CLIENT_CONFIG } from '../shared/aws';
import { logger, metrics } from '../shared/powertools';
import { processBatch, type RefreshDependencies } from './process-batch';
import { loadRefreshSettings } from './settings';

/**
 * Refresh handler: consumes Parameter Store changes of the project's configs, `Config Refresh
 * Requested` events, and the ECS deployment / Run Command status events of its rollouts from an SQS
 * queue (with ReportBatchItemFailures), and rolls each config out to exactly the agents or the
 * service it belongs to.
 */

const dependencies: RefreshDependencies = {
  settings: loadRefreshSettings(process.env),
  clients: {
    ssm: new SSMClient(SDK_CLIENT_CONFIG),
    ecs: new ECSClient(SDK_CLIENT_CONFIG),
    eventBridge: new EventBridgeClient(SDK_CLIENT_CONFIG),
    sqs: new SQSClient(SDK_CLIENT_CONFIG),
  },
  logger,
  metrics,
};

// @middy/core 7 publishes only an ES module entry, and this project compiles handlers as CommonJS,
// so it is loaded with import(): the bundler inlines it, and the chain is built once per container.
const middyfied = import('@middy/core').then(({ default: middy }) =>
  middy((event: SQSEvent) => processBatch(event, dependencies))
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logMetrics(metrics, { captureColdStartMetric: true })),
);

export const handler = async (event: SQSEvent, context: Context): Promise<SQSBatchResponse> => (await middyfied)(event, context);
