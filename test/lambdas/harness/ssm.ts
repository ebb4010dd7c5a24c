import type {
  DescribeInstanceInformationCommandInput,
  DescribeInstanceInformationCommandOutput,
  GetParametersCommandInput,
  GetParametersCommandOutput,
  Parameter,
} from '@aws-sdk/client-ssm';
import { awsError } from '../fixtures';
import type { InstanceShape } from './ec2';
import { filterValues, page, pageSize } from './listing';

/** An instance as the fakes of the handlers that also ask SSM about it know it. */
export interface ManagedInstanceShape extends InstanceShape {
  /** SSM ping status; `none` = not registered with SSM. Default Online. */
  readonly ssm?: 'Online' | 'ConnectionLost' | 'none';
  /** Default EC2Instance; ManagedInstance for a hybrid-activated machine (then `id` is an mi- ID). */
  readonly ssmResourceType?: 'EC2Instance' | 'ManagedInstance';
  /**
   * SSM refuses this ID in an `InstanceIds` filter with InvalidInstanceId, failing the whole call
   * (as for an instance shutting down after DescribeInstances listed it). Default false.
   */
  readonly ssmRefusesId?: boolean;
}

/**
 * DescribeInstanceInformation over the nodes SSM manages among `instances`, in their order: the
 * `InstanceIds`, `PingStatus` and `ResourceType` filters, the real limits (MaxResults 5-50, not
 * both filter forms) and NextToken paging, with at most `pageLimit` nodes a page whatever
 * MaxResults asks for.
 */
export function describeInstanceInformation(
  instances: Iterable<ManagedInstanceShape>,
  input: DescribeInstanceInformationCommandInput,
  pageLimit?: number,
): DescribeInstanceInformationCommandOutput {
  const maxResults = pageSize(input.MaxResults, { min: 5, max: 50, fallback: 10, error: 'ValidationException' });
  if (input.InstanceInformationFilterList !== undefined && input.Filters !== undefined) {
    throw awsError('ValidationException', 'InstanceInformationFilterList and Filters cannot be used together');
  }
  const instanceIds = filterValues(input.Filters, 'InstanceIds');
  const named = instanceIds === undefined ? undefined : new Set(instanceIds);
  const pingStatuses = filterValues(input.Filters, 'PingStatus');
  const resourceTypes = filterValues(input.Filters, 'ResourceType');
  const all = [...instances];
  const refused = all.filter((instance) => instance.ssmRefusesId && named?.has(instance.id)).map(({ id }) => id);
  if (refused.length > 0) throw awsError('InvalidInstanceId', `Instances [${refused.join(', ')}] not in a valid state for account`);
  const matching = all.filter((instance) => {
    const ping = instance.ssm ?? 'Online';
    return (
      ping !== 'none' &&
      (named === undefined || named.has(instance.id)) &&
      (pingStatuses === undefined || pingStatuses.includes(ping)) &&
      (resourceTypes === undefined || resourceTypes.includes(instance.ssmResourceType ?? 'EC2Instance'))
    );
  });
  const { items, nextToken } = page(matching, input.NextToken, Math.min(maxResults, pageLimit ?? maxResults));
  return {
    InstanceInformationList: items.map((instance) => ({
      InstanceId: instance.id,
      PingStatus: (instance.ssm ?? 'Online') as never,
      PlatformType: instance.platform === 'windows' ? 'Windows' : 'Linux',
      ResourceType: instance.ssmResourceType ?? 'EC2Instance',
    })),
    NextToken: nextToken,
    $metadata: {},
  };
}

/** GetParameters of at most 10 names: each one `find` knows, the others as InvalidParameters. */
export function getParameters(input: GetParametersCommandInput, find: (name: string) => Parameter | undefined): GetParametersCommandOutput {
  const names = input.Names ?? [];
  if (names.length > 10) throw awsError('ValidationException', 'at most 10 names');
  const found = names.flatMap((name) => find(name) ?? []);
  return {
    Parameters: found,
    InvalidParameters: names.filter((name) => !found.some((parameter) => parameter.Name === name)),
    $metadata: {},
  };
}
