import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { EC2Client } from '@aws-sdk/client-ec2';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SSMClient } from '@aws-sdk/client-ssm';
import { SDK_CLIENT_CONFIG } from '../shared/aws';
import { lambdaHandler } from '../shared/handler';
import { logger, metrics } from '../shared/powertools';
import { processEvent, type StatusDependencies, type StatusResult } from './process-event';
import { loadStatusSettings } from './settings';

/**
 * Status handler: invoked asynchronously by EventBridge with one Run Command invocation status
 * change of the agent documents; tags the instance with the result, completes a waiting launch
 * lifecycle action and publishes the outcome on the project bus.
 */

const dependencies: StatusDependencies = {
  settings: loadStatusSettings(process.env),
  clients: {
    ec2: new EC2Client(SDK_CLIENT_CONFIG),
    ssm: new SSMClient(SDK_CLIENT_CONFIG),
    eventBridge: new EventBridgeClient(SDK_CLIENT_CONFIG),
    autoScaling: new AutoScalingClient(SDK_CLIENT_CONFIG),
  },
  logger,
  metrics,
};

// The event is typed unknown on purpose: it is parsed with a schema before use.
export const handler = lambdaHandler((event: unknown): Promise<StatusResult> => processEvent(event, dependencies));
