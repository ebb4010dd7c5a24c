import { type AutoScalingClient, paginateDescribeAutoScalingInstances } from '@aws-sdk/client-auto-scaling';
import { type EC2Client, paginateDescribeInstances } from '@aws-sdk/client-ec2';
import { GetParametersCommand, type SSMClient } from '@aws-sdk/client-ssm';
import { type LookupResult, lookUpInChunks } from '../shared/aws';
import { type InstanceFacts, instanceFacts } from '../shared/instances';

export type { InstanceFacts } from '../shared/instances';
/** Shared with the reconciliation backstop, which asks SSM about the instances it is about to request. */
export { describeManagedNodes } from '../shared/managed-nodes';

/**
 * Batched look-ups. Each returns what it found plus the chunks whose call failed, so one failed
 * call costs only the instances it was about.
 */

/** Values in one EC2 filter (`instance-id`); the filter form ignores unknown IDs instead of failing the call. */
export const DESCRIBE_INSTANCES_CHUNK = 200;
/** GetParameters takes at most 10 names. */
export const GET_PARAMETERS_CHUNK = 10;
/** DescribeAutoScalingInstances takes at most 50 instance IDs. */
export const DESCRIBE_AUTO_SCALING_INSTANCES_CHUNK = 50;

/** The Auto Scaling lifecycle state of a launch waiting on a hook. */
export const PENDING_WAIT = 'Pending:Wait';

export function describeInstances(ec2: EC2Client, instanceIds: readonly string[]): Promise<LookupResult<string, InstanceFacts>> {
  return lookUpInChunks(instanceIds, DESCRIBE_INSTANCES_CHUNK, async (ids) => {
    const found = new Map<string, InstanceFacts>();
    for await (const page of paginateDescribeInstances(
      { client: ec2, pageSize: 1000 },
      { Filters: [{ Name: 'instance-id', Values: ids }] },
    )) {
      for (const reservation of page.Reservations ?? []) {
        for (const instance of reservation.Instances ?? []) {
          const facts = instanceFacts(instance);
          if (facts) found.set(facts.instanceId, facts);
        }
      }
    }
    return found;
  });
}

/** A parameter's current value and version. */
export interface AgentConfig {
  readonly value: string;
  readonly version: number;
}

export interface AgentConfigs extends LookupResult<string, AgentConfig> {
  /** Names Parameter Store does not know. */
  readonly missing: ReadonlySet<string>;
}

/**
 * The current value and version of each agent config parameter (the value travels inline in the
 * install command, the version as ConfigVersion), and which names do not exist yet.
 */
export async function getAgentConfigs(ssm: SSMClient, names: readonly string[]): Promise<AgentConfigs> {
  const missing = new Set<string>();
  const { found, failed } = await lookUpInChunks(names, GET_PARAMETERS_CHUNK, async (batch) => {
    const configs = new Map<string, AgentConfig>();
    const result = await ssm.send(new GetParametersCommand({ Names: batch }));
    for (const parameter of result.Parameters ?? []) {
      if (parameter.Name && parameter.Version !== undefined && parameter.Value !== undefined) {
        configs.set(parameter.Name, { value: parameter.Value, version: parameter.Version });
      }
    }
    for (const name of result.InvalidParameters ?? []) missing.add(name);
    for (const name of batch) if (!configs.has(name)) missing.add(name);
    return configs;
  });
  return { found, failed, missing };
}

/**
 * The Auto Scaling lifecycle state (`Pending:Wait`, `InService`, …) of each instance that belongs
 * to a group; instances in no group are absent. Read before completing a launch's lifecycle action,
 * so that an action the status handler already completed costs one batched look-up instead of one
 * refused CompleteLifecycleAction per instance.
 */
export function describeLifecycleStates(
  autoScaling: AutoScalingClient,
  instanceIds: readonly string[],
): Promise<LookupResult<string, string>> {
  return lookUpInChunks(instanceIds, DESCRIBE_AUTO_SCALING_INSTANCES_CHUNK, async (ids) => {
    const found = new Map<string, string>();
    const pages = paginateDescribeAutoScalingInstances(
      { client: autoScaling, pageSize: DESCRIBE_AUTO_SCALING_INSTANCES_CHUNK },
      { InstanceIds: ids },
    );
    for await (const page of pages) {
      for (const instance of page.AutoScalingInstances ?? []) {
        if (instance.InstanceId && instance.LifecycleState) found.set(instance.InstanceId, instance.LifecycleState);
      }
    }
    return found;
  });
}
