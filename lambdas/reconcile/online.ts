import type { Logger } from '@aws-lambda-powertools/logger';
import type { SSMClient } from '@aws-sdk/client-ssm';
import { chunk, errorMessage, errorName } from '../shared/aws';
import { DESCRIBE_INSTANCE_INFORMATION_PAGE, describeManagedNodeChunk, type ManagedNode } from '../shared/managed-nodes';
import { listOnlineInstanceIds } from './fleet';

/**
 * SSM's online check, the last selection condition. It is made only for the instances every other
 * rule leaves due, so the SSM calls grow with the instances due rather than with the fleet: a run
 * where every instance is enrolled makes none, and leaves SSM's API rate to the enroll handler.
 *
 * Two ways to ask, both DescribeInstanceInformation with 50 items a call:
 * - by ID (`InstanceIds` filter): ceil(due / 50) calls;
 * - the full listing (PingStatus=Online, ResourceType=EC2Instance): ceil(online EC2 nodes / 50)
 *   calls. That count is not known before the listing is read, and no run keeps it for the next;
 *   but an online EC2 node is a running instance (apart from one stopped in the few minutes SSM
 *   takes to notice), so ceil(running / 50) bounds its cost.
 *
 * The rule: by ID when that takes fewer calls than the bound, ceil(due / 50) < ceil(running / 50);
 * otherwise the full listing, which then costs no more and names no ID that SSM could refuse. As
 * due <= running, "otherwise" means asking by ID would take as many calls as the bound: nearly
 * every running instance is due, as after the stack is first deployed or the pinned Alloy version
 * changes.
 */

/** How a run asked SSM which due instances are online. */
export type OnlineLookup =
  /** Nothing was due: no SSM call. */
  | 'none'
  | 'instance-ids'
  /** Chosen by the rule above, or after SSM refused a chunk of IDs with InvalidInstanceId. */
  | 'full-listing';

export interface OnlineCheck {
  /** The instances asked about whose SSM Agent is online (ping status `Online`). */
  readonly onlineIds: ReadonlySet<string>;
  readonly lookup: OnlineLookup;
}

/** The error SSM may answer a chunk naming an ID it cannot describe with, e.g. an instance shutting down. */
const INVALID_INSTANCE_ID = 'InvalidInstanceId';

/** Whether the full listing costs no more calls than asking by ID about `due` of `running` instances (see above). */
export function prefersFullListing(due: number, running: number): boolean {
  const calls = (instances: number) => Math.ceil(instances / DESCRIBE_INSTANCE_INFORMATION_PAGE);
  return calls(due) >= calls(running);
}

/**
 * Which of `instanceIds` (due instances among `running` running ones) SSM sees online. A failed
 * call (after the SDK's retries) throws and fails the run, except InvalidInstanceId on a chunk.
 */
export async function checkOnline(ssm: SSMClient, instanceIds: readonly string[], running: number, logger: Logger): Promise<OnlineCheck> {
  if (instanceIds.length === 0) return { onlineIds: new Set(), lookup: 'none' };
  if (!prefersFullListing(instanceIds.length, running)) {
    const onlineIds = await onlineById(ssm, instanceIds, logger);
    if (onlineIds !== undefined) return { onlineIds, lookup: 'instance-ids' };
  }
  const listed = await listOnlineInstanceIds(ssm);
  return { onlineIds: new Set(instanceIds.filter((instanceId) => listed.has(instanceId))), lookup: 'full-listing' };
}

/**
 * The online instances among `instanceIds`, asked 50 to a call; an ID SSM does not return is not
 * online. Undefined when SSM refused a chunk with InvalidInstanceId: one such ID must not keep its
 * 49 neighbours from being checked run after run, so the caller falls back to the full listing for
 * this run, and the chunks after it are not asked.
 */
async function onlineById(ssm: SSMClient, instanceIds: readonly string[], logger: Logger): Promise<Set<string> | undefined> {
  const onlineIds = new Set<string>();
  for (const ids of chunk(instanceIds, DESCRIBE_INSTANCE_INFORMATION_PAGE)) {
    let nodes: Map<string, ManagedNode>;
    try {
      nodes = await describeManagedNodeChunk(ssm, ids);
    } catch (error) {
      if (errorName(error) !== INVALID_INSTANCE_ID) throw error;
      logger.warn('DescribeInstanceInformation refused a chunk of instance IDs: listing every online EC2 node instead for this run', {
        operation: 'DescribeInstanceInformation',
        errorName: errorName(error),
        errorMessage: errorMessage(error),
        instanceIds: ids,
      });
      return undefined;
    }
    for (const [instanceId, node] of nodes) {
      if (node.pingStatus === 'Online') onlineIds.add(instanceId);
    }
  }
  return onlineIds;
}
