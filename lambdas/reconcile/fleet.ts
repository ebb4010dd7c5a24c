import { type EC2Client, paginateDescribeInstances } from '@aws-sdk/client-ec2';
import { paginateDescribeInstanceInformation, type SSMClient } from '@aws-sdk/client-ssm';
import { type InstanceFacts, instanceFacts } from '../shared/instances';
import { DESCRIBE_INSTANCE_INFORMATION_PAGE } from '../shared/managed-nodes';

/**
 * Fleet-wide look-ups, each paged to the end. A failed page fails the whole look-up: a partial
 * fleet would make instances look offline or stopped, and the next scheduled run starts over.
 */

/** DescribeInstances returns at most 1,000 instances a page (MaxResults 5-1000). */
export const DESCRIBE_INSTANCES_PAGE = 1000;

/**
 * IDs of the EC2 instances whose SSM Agent is online (hybrid-activated machines are left out):
 * ceil(online / 50) calls. The online check's full listing (see online.ts).
 */
export async function listOnlineInstanceIds(ssm: SSMClient): Promise<Set<string>> {
  const online = new Set<string>();
  const pages = paginateDescribeInstanceInformation(
    { client: ssm, pageSize: DESCRIBE_INSTANCE_INFORMATION_PAGE },
    {
      Filters: [
        { Key: 'PingStatus', Values: ['Online'] },
        { Key: 'ResourceType', Values: ['EC2Instance'] },
      ],
    },
  );
  for await (const page of pages) {
    for (const node of page.InstanceInformationList ?? []) {
      if (node.InstanceId) online.add(node.InstanceId);
    }
  }
  return online;
}

/**
 * Every running instance with its tags: ceil(running / 1,000) calls. The selection rules read the
 * tags of every running instance, so the run starts with this look-up and asks SSM only about the
 * instances the rules leave due (see online.ts).
 */
export async function listRunningInstances(ec2: EC2Client): Promise<Map<string, InstanceFacts>> {
  const running = new Map<string, InstanceFacts>();
  const pages = paginateDescribeInstances(
    { client: ec2, pageSize: DESCRIBE_INSTANCES_PAGE },
    { Filters: [{ Name: 'instance-state-name', Values: ['running'] }] },
  );
  for await (const page of pages) {
    for (const reservation of page.Reservations ?? []) {
      for (const instance of reservation.Instances ?? []) {
        const facts = instanceFacts(instance);
        if (facts) running.set(facts.instanceId, facts);
      }
    }
  }
  return running;
}
