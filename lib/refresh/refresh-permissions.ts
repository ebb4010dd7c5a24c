import * as iam from 'aws-cdk-lib/aws-iam';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Arn, Stack, Validations } from 'aws-cdk-lib/core';
import { CONFIG_REFRESH_OUTCOME } from '../../lambdas/shared/refresh-events';
import { AGENT_TAGS } from '../../lambdas/shared/tags';
import { grantAgentCredentialRead } from '../enrollment/enroll-handler';
import { EVENT_SOURCE } from '../enrollment/enrollment';
import { anyInstanceArn } from '../enrollment/fleet-arns';
import { acknowledgeWildcardResource } from '../nag';
import type { ConfigRefreshProps } from './config-refresh';

/** The parts of the refresh's props its permissions are scoped to. */
type RefreshScope = Pick<ConfigRefreshProps, 'agentConfigs' | 'eventBus' | 'cluster' | 'services' | 'agentCredentialSecretPrefix'>;

/** ARN of the parameter `name` (without its leading slash) in the role's stack. */
type ParameterArn = (name: string) => string;

/**
 * What the refresh function may do: read the configs, reload enrolled agents with the project
 * documents, roll the project services to new revisions, publish outcomes, dead-letter events.
 */
export function grantRefreshPermissions(role: iam.Role, props: RefreshScope, deadLetterQueue: sqs.IQueue): void {
  const stack = Stack.of(role);
  const prefix = props.agentConfigs.parameterPrefix.slice(1);
  const parameterArn: ParameterArn = (name) => Arn.format({ service: 'ssm', resource: 'parameter', resourceName: name }, stack);
  const instanceArn = anyInstanceArn(role);

  props.agentConfigs.grantRead(role, 'ReadAgentConfigs');
  const statements = [
    new iam.PolicyStatement({
      sid: 'ReadServiceConfigs',
      actions: ['ssm:GetParametersByPath'],
      resources: [parameterArn(`${prefix}/config`), parameterArn(`${prefix}/config/*`)],
    }),
    ...agentReloadStatements(props, instanceArn),
    ...serviceRolloutStatements(props, parameterArn(`${prefix}/deployed/*`)),
    new iam.PolicyStatement({
      sid: 'PublishOutcome',
      actions: ['events:PutEvents'],
      resources: [props.eventBus.eventBusArn],
      conditions: { StringEquals: { 'events:source': EVENT_SOURCE, 'events:detail-type': Object.values(CONFIG_REFRESH_OUTCOME) } },
    }),
  ];
  for (const statement of statements) role.addToPrincipalPolicy(statement);
  deadLetterQueue.grant(role, 'sqs:SendMessage');
  // A reload command's config carries its tenant's agent credential (with tenant binding only).
  if (props.agentCredentialSecretPrefix !== undefined) grantAgentCredentialRead(role, props.agentCredentialSecretPrefix);

  acknowledgeRefreshWildcards(role, instanceArn, parameterArn, prefix);
}

/** `SendCommand` with the project documents to enrolled agents, and finding earlier reloads. */
function agentReloadStatements({ agentConfigs }: RefreshScope, instanceArn: string): iam.PolicyStatement[] {
  return [
    new iam.PolicyStatement({
      sid: 'ReloadWithProjectDocuments',
      actions: ['ssm:SendCommand'],
      resources: agentConfigs.documentArns,
    }),
    // Only instances enrolled into an allowed tenant can be reached at all.
    new iam.PolicyStatement({
      sid: 'ReloadEnrolledAgents',
      actions: ['ssm:SendCommand'],
      resources: [instanceArn],
      conditions: { StringEquals: { [`ssm:resourceTag/${AGENT_TAGS.tenant}`]: agentConfigs.tenants } },
    }),
    new iam.PolicyStatement({ sid: 'FindEarlierRollouts', actions: ['ssm:ListCommands'], resources: ['*'] }),
  ];
}

/** Rolling the given services, in their cluster, to new task definition revisions run with the same roles. */
function serviceRolloutStatements({ cluster, services }: RefreshScope, deployedCopiesArn: string): iam.PolicyStatement[] {
  const rolled = Object.values(services);
  return [
    new iam.PolicyStatement({
      sid: 'RollServices',
      actions: ['ecs:UpdateService', 'ecs:DescribeServices'],
      resources: rolled.map((s) => s.serviceArn),
      conditions: { ArnEquals: { 'ecs:cluster': cluster.clusterArn } },
    }),
    // A service rollout is a new task definition revision reading copies of the checked versions.
    new iam.PolicyStatement({
      sid: 'CopyCheckedConfigs',
      actions: ['ssm:GetParameters', 'ssm:PutParameter', 'ssm:DeleteParameters'],
      resources: [deployedCopiesArn],
    }),
    new iam.PolicyStatement({ sid: 'FindOldCopies', actions: ['ssm:DescribeParameters'], resources: ['*'] }),
    new iam.PolicyStatement({
      sid: 'RegisterRevisions',
      actions: ['ecs:DescribeTaskDefinition', 'ecs:RegisterTaskDefinition'],
      resources: ['*'],
    }),
    new iam.PolicyStatement({
      sid: 'TagRevisions',
      actions: ['ecs:TagResource'],
      resources: ['*'],
      conditions: { StringEquals: { 'ecs:CreateAction': 'RegisterTaskDefinition' } },
    }),
    new iam.PolicyStatement({
      sid: 'PassServiceRoles',
      actions: ['iam:PassRole'],
      resources: rolled.flatMap(({ taskDefinition }) => [
        taskDefinition.taskRole.roleArn,
        ...(taskDefinition.executionRole ? [taskDefinition.executionRole.roleArn] : []),
      ]),
      conditions: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
    }),
  ];
}

function acknowledgeRefreshWildcards(role: iam.Role, instanceArn: string, parameterArn: ParameterArn, prefix: string): void {
  // On the role, which covers its default policy and the overflow policies CDK adds beside it once
  // the statements grow with the tenants (at 20 and more).
  const policy = role;
  Validations.of(policy).acknowledge({
    id: 'AwsSolutions-IAM5[Resource::*]',
    reason:
      'ssm:ListCommands, ssm:DescribeParameters, ecs:DescribeTaskDefinition and ecs:RegisterTaskDefinition support no resource-level permissions; ecs:TagResource is limited to RegisterTaskDefinition by condition.',
  });
  acknowledgeWildcardResource(
    policy,
    instanceArn,
    'Agents are addressed by tag, not known by ID; the ssm:resourceTag condition limits SendCommand to instances enrolled into an allowed tenant.',
  );
  acknowledgeWildcardResource(
    policy,
    parameterArn(`${prefix}/config/*`),
    "A service's config may span several files under its path (Grafana's data sources); all live under the project's own prefix.",
  );
  acknowledgeWildcardResource(
    policy,
    parameterArn(`${prefix}/deployed/*`),
    'Each rollout writes copies named by version and digest under the project prefix; their names are not known before.',
  );
}
