import { DescribeInstancesCommand, type EC2Client } from '@aws-sdk/client-ec2';
import { DescribeInstanceInformationCommand, GetParametersCommand, type SSMClient } from '@aws-sdk/client-ssm';
import { chunk } from '../shared/aws';
import { type InstanceFacts, instanceFacts } from '../shared/instances';

export type { InstanceFacts, Platform } from '../shared/instances';

/**
 * Batched look-ups. Each returns what it found plus the chunks whose call failed, so one failed
 * call costs only the instances it was about.
 */

/** Values in one EC2 filter (`instance-id`); the filter form ignores unknown IDs instead of failing the call. */
export const DESCRIBE_INSTANCES_CHUNK = 200;
/** DescribeInstanceInformation returns at most 50 items a page (MaxResults 5-50), so 50 IDs fit one call. */
export const DESCRIBE_INSTANCE_INFORMATION_CHUNK = 50;
/** GetParameters takes at most 10 names. */
export const GET_PARAMETERS_CHUNK = 10;

export interface ManagedNode {
  /** Online, ConnectionLost, Inactive. */
  readonly pingStatus: string;
  /** Linux, Windows, MacOS. */
  readonly platformType: string | undefined;
}

export interface FailedChunk<T> {
  readonly items: readonly T[];
  readonly error: unknown;
}

export interface LookupResult<K, V> {
  readonly found: Map<K, V>;
  readonly failed: FailedChunk<K>[];
}

export async function describeInstances(ec2: EC2Client, instanceIds: readonly string[]): Promise<LookupResult<string, InstanceFacts>> {
  const found = new Map<string, InstanceFacts>();
  const failed: FailedChunk<string>[] = [];
  for (const ids of chunk(instanceIds, DESCRIBE_INSTANCES_CHUNK)) {
    try {
      let nextToken: string | undefined;
      do {
        const page = await ec2.send(
          new DescribeInstancesCommand({ Filters: [{ Name: 'instance-id', Values: ids }], MaxResults: 1000, NextToken: nextToken }),
        );
        for (const reservation of page.Reservations ?? []) {
          for (const instance of reservation.Instances ?? []) {
            const facts = instanceFacts(instance);
            if (facts) found.set(facts.instanceId, facts);
          }
        }
        nextToken = page.NextToken;
      } while (nextToken);
    } catch (error) {
      failed.push({ items: ids, error });
    }
  }
  return { found, failed };
}

export async function describeManagedNodes(ssm: SSMClient, instanceIds: readonly string[]): Promise<LookupResult<string, ManagedNode>> {
  const found = new Map<string, ManagedNode>();
  const failed: FailedChunk<string>[] = [];
  for (const ids of chunk(instanceIds, DESCRIBE_INSTANCE_INFORMATION_CHUNK)) {
    try {
      let nextToken: string | undefined;
      do {
        const page = await ssm.send(
          new DescribeInstanceInformationCommand({
            Filters: [{ Key: 'InstanceIds', Values: ids }],
            MaxResults: DESCRIBE_INSTANCE_INFORMATION_CHUNK,
            NextToken: nextToken,
          }),
        );
        for (const node of page.InstanceInformationList ?? []) {
          if (node.InstanceId) found.set(node.InstanceId, { pingStatus: node.PingStatus ?? 'unknown', platformType: node.PlatformType });
        }
        nextToken = page.NextToken;
      } while (nextToken);
    } catch (error) {
      failed.push({ items: ids, error });
    }
  }
  return { found, failed };
}

export interface ParameterVersions extends LookupResult<string, number> {
  /** Names Parameter Store does not know. */
  readonly missing: ReadonlySet<string>;
}

/**
 * The current version of each parameter, sent as ConfigVersion (the value itself travels as a
 * `{{ssm:name}}` reference), and which names do not exist yet.
 */
export async function getParameterVersions(ssm: SSMClient, names: readonly string[]): Promise<ParameterVersions> {
  const found = new Map<string, number>();
  const missing = new Set<string>();
  const failed: FailedChunk<string>[] = [];
  for (const batch of chunk(names, GET_PARAMETERS_CHUNK)) {
    try {
      const result = await ssm.send(new GetParametersCommand({ Names: batch }));
      for (const parameter of result.Parameters ?? []) {
        if (parameter.Name && parameter.Version !== undefined) found.set(parameter.Name, parameter.Version);
      }
      for (const name of result.InvalidParameters ?? []) missing.add(name);
      for (const name of batch) if (!found.has(name)) missing.add(name);
    } catch (error) {
      failed.push({ items: batch, error });
    }
  }
  return { found, failed, missing };
}
