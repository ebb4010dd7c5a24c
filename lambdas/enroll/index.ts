import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SQSClient } from '@aws-sdk/client-sqs';
import { SSMClient } from '@aws-sdk/client-ssm';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { AgentCredentials, lazySecretsManagerClient } from '../shared/agent-credential';
import { SDK_CLIENT_CONFIG } from '../shared/aws';
import { lambdaHandler } from '../shared/handler';
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
    dynamodb: new DynamoDBClient(SDK_CLIENT_CONFIG),
    ec2: new EC2Client(SDK_CLIENT_CONFIG),
    ssm: new SSMClient(SDK_CLIENT_CONFIG),
    sqs: new SQSClient(SDK_CLIENT_CONFIG),
    eventBridge: new EventBridgeClient(SDK_CLIENT_CONFIG),
    autoScaling: new AutoScalingClient(SDK_CLIENT_CONFIG),
    agentCredentials: new AgentCredentials(lazySecretsManagerClient(SDK_CLIENT_CONFIG)),
  },
  logger,
  metrics,
};

export const handler = lambdaHandler((event: SQSEvent): Promise<SQSBatchResponse> => processBatch(event, dependencies));
