import { DescribeInstanceInformationCommand, type SSMClient } from '@aws-sdk/client-ssm';
import { chunk } from './aws';

/**
 * What Systems Manager knows about given instances, asked by ID: the enroll handler checks the
 * instances of a batch, the reconciliation backstop the instances it is about to request.
 */

/** DescribeInstanceInformation returns at most 50 items a page (MaxResults 5-50), so 50 IDs fit one call. */
export const DESCRIBE_INSTANCE_INFORMATION_PAGE = 50;

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

/** What a batched look-up found, and the chunks whose call failed (after the SDK's retries). */
export interface LookupResult<K, V> {
  readonly found: Map<K, V>;
  readonly failed: FailedChunk<K>[];
}

/**
 * The nodes SSM knows among a chunk of instance IDs: one DescribeInstanceInformation call with the
 * `InstanceIds` filter for up to 50 IDs, and more pages only when the service returns fewer items
 * than asked for. An ID SSM does not manage is left out of the result. A failed call throws: for
 * InvalidInstanceId, which SSM may raise for one ID it cannot describe, the whole chunk fails. The
 * reconciliation backstop asks chunk by chunk through this, so it can stop at the first failure.
 */
export async function describeManagedNodeChunk(ssm: SSMClient, instanceIds: readonly string[]): Promise<Map<string, ManagedNode>> {
  const found = new Map<string, ManagedNode>();
  let nextToken: string | undefined;
  do {
    const page = await ssm.send(
      new DescribeInstanceInformationCommand({
        Filters: [{ Key: 'InstanceIds', Values: [...instanceIds] }],
        MaxResults: DESCRIBE_INSTANCE_INFORMATION_PAGE,
        NextToken: nextToken,
      }),
    );
    for (const node of page.InstanceInformationList ?? []) {
      if (node.InstanceId) found.set(node.InstanceId, { pingStatus: node.PingStatus ?? 'unknown', platformType: node.PlatformType });
    }
    nextToken = page.NextToken;
  } while (nextToken);
  return found;
}

/**
 * Runs a batched look-up chunk by chunk. A failed call costs only its chunk: the other chunks are
 * still looked up, and the failed one is returned for the caller to judge.
 */
export async function lookUpInChunks<K, V>(
  keys: readonly K[],
  size: number,
  lookUp: (items: K[]) => Promise<Iterable<readonly [K, V]>>,
): Promise<LookupResult<K, V>> {
  const found = new Map<K, V>();
  const failed: FailedChunk<K>[] = [];
  for (const items of chunk(keys, size)) {
    try {
      for (const [key, value] of await lookUp(items)) found.set(key, value);
    } catch (error) {
      failed.push({ items, error });
    }
  }
  return { found, failed };
}

/** The nodes SSM knows among any number of instance IDs, 50 to a call. */
export function describeManagedNodes(ssm: SSMClient, instanceIds: readonly string[]): Promise<LookupResult<string, ManagedNode>> {
  return lookUpInChunks(instanceIds, DESCRIBE_INSTANCE_INFORMATION_PAGE, (ids) => describeManagedNodeChunk(ssm, ids));
}
