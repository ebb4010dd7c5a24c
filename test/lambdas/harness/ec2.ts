import type {
  CreateTagsCommandInput,
  DeleteTagsCommandInput,
  DescribeInstancesCommandInput,
  DescribeInstancesCommandOutput,
  Instance,
} from '@aws-sdk/client-ec2';
import { awsError, SAMPLE_LAUNCH_TIME } from '../fixtures';
import { filterValues, page, pageSize } from './listing';

/** What the fakes know of an EC2 instance. */
export interface InstanceShape {
  readonly id: string;
  /** EC2 state; default running. */
  readonly state?: string;
  readonly platform?: 'linux' | 'windows';
  /** Default x86_64. */
  readonly architecture?: string;
  readonly tags?: Record<string, string>;
}

/** A DescribeInstances answer of one reservation. */
export function oneReservation(...instances: Instance[]): Pick<DescribeInstancesCommandOutput, 'Reservations'> {
  return { Reservations: [{ Instances: instances }] };
}

/** The instance as DescribeInstances returns it. */
export function toEc2Instance(instance: InstanceShape): Instance {
  const windows = instance.platform === 'windows';
  return {
    InstanceId: instance.id,
    State: { Name: (instance.state ?? 'running') as never, Code: 16 },
    Architecture: (instance.architecture ?? 'x86_64') as never,
    // The API reports "windows" in lower case.
    ...(windows ? { Platform: 'windows' as never } : {}),
    PlatformDetails: windows ? 'Windows' : 'Linux/UNIX',
    Tags: Object.entries(instance.tags ?? {}).map(([Key, Value]) => ({ Key, Value })),
    LaunchTime: SAMPLE_LAUNCH_TIME,
  };
}

/**
 * DescribeInstances over the EC2 instances (`i-` IDs) among `instances`, in their order: the
 * `instance-state-name` and `instance-id` filters, the real limits (MaxResults 5-1000 and not with
 * InstanceIds, at most 200 filter values) and NextToken paging. A page holds at most `pageLimit`
 * instances whatever MaxResults asks for: the service may return fewer items than asked for, and
 * callers must follow NextToken. Instances launched together share a reservation, three to one here.
 */
export function describeInstances(
  instances: Iterable<InstanceShape>,
  input: DescribeInstancesCommandInput,
  pageLimit?: number,
): DescribeInstancesCommandOutput {
  const maxResults = pageSize(input.MaxResults, { min: 5, max: 1000, fallback: 1000, error: 'InvalidParameterValue' });
  if (input.InstanceIds !== undefined && input.MaxResults !== undefined) {
    throw awsError('InvalidParameterCombination', 'The parameter instancesSet cannot be used with the parameter maxResults');
  }
  const ids = filterValues(input.Filters, 'instance-id');
  if (ids !== undefined && ids.length > 200) throw awsError('InvalidParameterValue', 'too many filter values');
  const states = filterValues(input.Filters, 'instance-state-name');
  const named = ids === undefined ? undefined : new Set(ids);
  const matching = [...instances].filter(
    (instance) =>
      instance.id.startsWith('i-') &&
      (states === undefined || states.includes(instance.state ?? 'running')) &&
      (named === undefined || named.has(instance.id)),
  );
  const { items, nextToken } = page(matching, input.NextToken, Math.min(maxResults, pageLimit ?? maxResults));
  const reservations = [];
  for (let start = 0; start < items.length; start += 3) {
    reservations.push({ ReservationId: `r-${start}`, Instances: items.slice(start, start + 3).map(toEc2Instance) });
  }
  return { Reservations: reservations, NextToken: nextToken, $metadata: {} };
}

/** An instance whose tags a fake keeps as CreateTags and DeleteTags leave them. */
interface TaggedInstance {
  readonly tags: Record<string, string>;
}

/** Applies CreateTags to the instances `find` knows; an unknown ID fails the call as EC2 does. */
export function createTags(input: CreateTagsCommandInput, find: (id: string) => TaggedInstance | undefined): void {
  for (const id of input.Resources ?? []) {
    const instance = taggedOrThrow(id, find);
    for (const tag of input.Tags ?? []) instance.tags[tag.Key as string] = tag.Value ?? '';
  }
}

/** Applies DeleteTags: a tag given with a value goes only while it still has that value. */
export function deleteTags(input: DeleteTagsCommandInput, find: (id: string) => TaggedInstance | undefined): void {
  for (const id of input.Resources ?? []) {
    const instance = taggedOrThrow(id, find);
    for (const tag of input.Tags ?? []) {
      if (tag.Value === undefined || instance.tags[tag.Key as string] === tag.Value) delete instance.tags[tag.Key as string];
    }
  }
}

function taggedOrThrow(id: string, find: (id: string) => TaggedInstance | undefined): TaggedInstance {
  const instance = find(id);
  if (!instance) throw awsError('InvalidInstanceID.NotFound', `The instance ID '${id}' does not exist`);
  return instance;
}
