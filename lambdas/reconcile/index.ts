import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { EC2Client } from '@aws-sdk/client-ec2';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SSMClient } from '@aws-sdk/client-ssm';
import type { Context } from 'aws-lambda';
import { SDK_CLIENT_CONFIG } from '../shared/aws';
import { logger, metrics } from '../shared/powertools';
import { type ReconcileDependencies, type ReconcileSummary, reconcile } from './reconcile';
import { loadReconcileSettings } from './settings';

/**
 * Reconciliation handler (the enrollment backstop): invoked on a schedule, asks the enroll handler
 * to enroll running, SSM-online instances that have no agent of the pinned version yet. The
 * invoking event's content is not read: every invocation runs one full reconciliation.
 */

const dependencies: ReconcileDependencies = {
  settings: loadReconcileSettings(process.env),
  clients: {
    ec2: new EC2Client(SDK_CLIENT_CONFIG),
    ssm: new SSMClient(SDK_CLIENT_CONFIG),
    eventBridge: new EventBridgeClient(SDK_CLIENT_CONFIG),
  },
  logger,
  metrics,
};

// @middy/core 7 publishes only an ES module entry, and this project compiles handlers as CommonJS,
// so it is loaded with import(): the bundler inlines it, and the chain is built once per container.
const middyfied = import('@middy/core').then(({ default: middy }) =>
  middy(() => reconcile(dependencies))
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logMetrics(metrics, { captureColdStartMetric: true })),
);

export const handler = async (event: unknown, context: Context): Promise<ReconcileSummary> => (await middyfied)(event, context);
