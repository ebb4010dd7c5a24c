import { EC2Client } from '@aws-sdk/client-ec2';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SSMClient } from '@aws-sdk/client-ssm';
import { SDK_CLIENT_CONFIG } from '../shared/aws';
import { lambdaHandler } from '../shared/handler';
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

// Every invocation is one full run; the schedule's event carries nothing needed.
export const handler = lambdaHandler((): Promise<ReconcileSummary> => reconcile(dependencies));
