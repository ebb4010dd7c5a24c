import type { Instance } from '@aws-sdk/client-ec2';

/**
 * What the handlers read from a DescribeInstances result, in one place so the enroll handler and
 * the reconciliation backstop see the same platform and tags for an instance.
 */

import type { Platform } from './contract';

export interface InstanceFacts {
  readonly instanceId: string;
  /** EC2 state name: pending, running, shutting-down, terminated, stopping, stopped. */
  readonly state: string;
  readonly platform: Platform;
  /** i386, x86_64, arm64, x86_64_mac, arm64_mac. */
  readonly architecture: string;
  readonly tags: ReadonlyMap<string, string>;
  /** When this launch started (ISO 8601); a stopped and started instance has a new one. */
  readonly launchTime?: string;
}

export function instanceFacts(instance: Instance): InstanceFacts | undefined {
  if (!instance.InstanceId) return undefined;
  // The API returns Platform "windows" (the SDK's type says "Windows"); PlatformDetails e.g. "Windows with SQL Server Standard".
  const isWindows = /windows/i.test(`${instance.Platform ?? ''} ${instance.PlatformDetails ?? ''}`);
  return {
    instanceId: instance.InstanceId,
    state: instance.State?.Name ?? 'unknown',
    platform: isWindows ? 'windows' : 'linux',
    architecture: instance.Architecture ?? 'unknown',
    tags: new Map((instance.Tags ?? []).filter((tag) => tag.Key !== undefined).map((tag) => [tag.Key as string, tag.Value ?? ''])),
    launchTime: instance.LaunchTime?.toISOString(),
  };
}
