import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { EC2Client } from '@aws-sdk/client-ec2';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SQSClient } from '@aws-sdk/client-sqs';
import { SSMClient } from '@aws-sdk/client-ssm';
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { SDK_CLIENT_CONFIG } from '../shared/aws';
import { logger, metrics } from '../shared/powertools';
import { type EnrollDependencies, processBatch } from './process-batch';
import { loadEnrollSettings } from './settings';

/**
 * Enroll handler: consumes EC2 launch, Auto Scaling launch-lifecycle and reconciliation events
 * from an SQS queue (with ReportBatchItemFailures) and installs the Alloy agent through SSM.
 */

const dependencies: EnrollDependencies = {
  settings: loadEnrollSettings(process.env),
  clients: {
    ec2: new EC2Client(SDK_CLIENT_CONFIG),
    ssm: new SSMClient(SDK_CLIENT_CONFIG),
    sqs: new SQSClient(SDK_CLIENT_CONFIG),
    eventBridge: new EventBridgeClient(SDK_CLIENT_CONFIG),
    autoScaling: new AutoScalingClient(SDK_CLIENT_CONFIG),
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
