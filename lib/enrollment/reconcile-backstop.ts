import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as destinations from 'aws-cdk-lib/aws-lambda-destinations';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Duration, Validations } from 'aws-cdk-lib/core';
import type { Construct } from 'constructs';
import type { ReconcileEnvironment } from '../../lambdas/shared/contract';
import { RECONCILE_ENROLLMENT } from '../../lambdas/shared/event-types';
import { LgtmFunction } from '../lgtm-function';
import { COMMAND_TIMEOUT_SECONDS, EVENT_SOURCE, STATUS_TAG_KEY } from './contract';
import type { EnrollmentProps } from './enrollment';

/** The reconciliation backstop: the reconcile function and the schedule that runs it. */
export interface ReconcileBackstop {
  readonly function: lambda.Function;
  readonly schedule: events.Rule;
}

/** Backstop: a missed or dropped event costs at most one interval. */
export function createReconcileBackstop(scope: Construct, props: EnrollmentProps, deadLetterQueue: sqs.IQueue): ReconcileBackstop {
  const reconcile = new LgtmFunction(scope, 'Reconcile', {
    handlerFolder: 'reconcile',
    description: 'lgtm-fleet: requests enrollment of running instances that have no agent yet',
    serviceName: 'lgtm-fleet-reconcile',
    logRetentionDays: props.logRetentionDays,
    timeout: Duration.minutes(5),
    // The schedule fires again next interval; retrying a failed run sooner adds nothing,
    // but a failed run is recorded in the dead-letter queue, whose alarm makes it visible.
    retryAttempts: 0,
    onFailure: new destinations.SqsDestination(deadLetterQueue),
    environment: {
      EVENT_BUS_NAME: props.eventBus.eventBusName,
      EVENT_SOURCE,
      TENANT_TAG_KEY: props.tenantTagKey,
      OPT_OUT_TAG_KEY: props.optOutTagKey,
      SCOPE_TAG_KEY: props.scope?.tagKey ?? '',
      SCOPE_TAG_VALUES: (props.scope?.values ?? []).join(','),
      STATUS_TAG_KEY,
      DEFAULT_TENANT: props.defaultTenant ?? '',
      ALLOWED_TENANTS: props.agentConfigs.tenants.join(','),
      ALLOY_VERSION: props.alloyVersion,
      COMMAND_TIMEOUT_SECONDS,
      RETRY_FAILED_AFTER_SECONDS: '3600',
      MAX_INSTANCES_PER_RUN: '500',
    } satisfies ReconcileEnvironment,
  });
  const schedule = new events.Rule(scope, 'ReconcileSchedule', {
    description: 'lgtm-fleet: periodic enrollment backstop',
    schedule: events.Schedule.rate(props.reconcileInterval),
    targets: [new targets.LambdaFunction(reconcile.function, { retryAttempts: 0, deadLetterQueue })],
  });
  grantReconcilePermissions(reconcile.role, props.eventBus);
  return { function: reconcile.function, schedule };
}

/** Looks at the fleet and asks for enrollment on the project bus, nothing else. */
function grantReconcilePermissions(role: iam.Role, eventBus: events.IEventBus): void {
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: 'DescribeFleet',
      actions: ['ec2:DescribeInstances', 'ssm:DescribeInstanceInformation'],
      resources: ['*'],
    }),
  );
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: 'RequestEnrollment',
      actions: ['events:PutEvents'],
      resources: [eventBus.eventBusArn],
      conditions: { StringEquals: { 'events:source': EVENT_SOURCE, 'events:detail-type': RECONCILE_ENROLLMENT } },
    }),
  );
  Validations.of(role.node.tryFindChild('DefaultPolicy') ?? role).acknowledge({
    id: 'AwsSolutions-IAM5[Resource::*]',
    reason: 'ec2:DescribeInstances and ssm:DescribeInstanceInformation support no resource-level permissions.',
  });
}
