import { paginateDescribeInstanceInformation, type SSMClient } from '@aws-sdk/client-ssm';
import { type LookupResult, lookUpInChunks } from './aws';

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

/**
 * The nodes SSM knows among a chunk of instance IDs: one DescribeInstanceInformation call with the
 * `InstanceIds` filter for up to 50 IDs, and more pages only when the service returns fewer items
 * than asked for. An ID SSM does not manage is left out of the result. A failed call throws: for
 * InvalidInstanceId, which SSM may raise for one ID it cannot describe, the whole chunk fails. The
 * reconciliation backstop asks chunk by chunk through this, so it can stop at the first failure.
 */
export async function describeManagedNodeChunk(ssm: SSMClient, instanceIds: readonly string[]): Promise<Map<string, ManagedNode>> {
  const found = new Map<string, ManagedNode>();
  const pages = paginateDescribeInstanceInformation(
    { client: ssm, pageSize: DESCRIBE_INSTANCE_INFORMATION_PAGE },
    { Filters: [{ Key: 'InstanceIds', Values: [...instanceIds] }] },
  );
  for await (const page of pages) {
    for (const node of page.InstanceInformationList ?? []) {
      if (node.InstanceId) found.set(node.InstanceId, { pingStatus: node.PingStatus ?? 'unknown', platformType: node.PlatformType });
    }
  }
  return found;
}

/** The nodes SSM knows among any number of instance IDs, 50 to a call. */
export function describeManagedNodes(ssm: SSMClient, instanceIds: readonly string[]): Promise<LookupResult<string, ManagedNode>> {
  return lookUpInChunks(instanceIds, DESCRIBE_INSTANCE_INFORMATION_PAGE, (ids) => describeManagedNodeChunk(ssm, ids));
}
