import { ECSClient } from '@aws-sdk/client-ecs';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SQSClient } from '@aws-sdk/client-sqs';
import { SSMClient } from '@aws-sdk/client-ssm';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { AgentCredentials, lazySecretsManagerClient } from '../shared/agent-credential';
import { SDK_CLIENT_CONFIG } from '../shared/aws';
import { lambdaHandler } from '../shared/handler';
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
    agentCredentials: new AgentCredentials(lazySecretsManagerClient(SDK_CLIENT_CONFIG)),
  },
  logger,
  metrics,
};

export const handler = lambdaHandler((event: SQSEvent): Promise<SQSBatchResponse> => processBatch(event, dependencies));
