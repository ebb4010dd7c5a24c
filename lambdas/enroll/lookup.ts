import { DescribeInstancesCommand, type EC2Client } from '@aws-sdk/client-ec2';
import { GetParametersCommand, type SSMClient } from '@aws-sdk/client-ssm';
import { chunk } from '../shared/aws';
import { type InstanceFacts, instanceFacts } from '../shared/instances';
import type { FailedChunk, LookupResult } from '../shared/managed-nodes';

export type { InstanceFacts, Platform } from '../shared/instances';
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
