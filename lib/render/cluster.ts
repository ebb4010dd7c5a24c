import { BACKENDS, type RenderInput, serviceHost } from './catalog';

/** The port memberlist gossips on, Mimir's and Loki's default. */
export const MEMBERLIST_PORT = 7946;

/** Copies of every write (and every series or stream) a clustered backend keeps. */
export const CLUSTER_REPLICATION_FACTOR = 3;

/**
 * Text the config-init container replaces with the task's own values, read from the ECS task
 * metadata endpoint when the task starts (see lib/backend-service.ts). A replica must advertise its
 * own address: interface auto-detection on Fargate awsvpc can pick the wrong interface or none.
 */
export const TASK_PLACEHOLDERS = {
  /** The task's private IPv4 address. */
  address: '__LGTM_TASK_ADDRESS__',
  /** The task's availability zone, e.g. `eu-west-1a`. */
  availabilityZone: '__LGTM_TASK_AVAILABILITY_ZONE__',
} as const;

export type TaskValue = keyof typeof TASK_PLACEHOLDERS;

/** How a backend with more than one replica forms its rings. */
export interface Cluster {
  readonly replicas: number;
  readonly replicationFactor: number;
  /**
   * Whether replicas of a key are spread over availability zones. Only with at least as many zones
   * as the replication factor: with fewer, the ring returns one instance per zone, so replication
   * factor 3 over 2 zones keeps 2 copies and needs both for a quorum (dskit's
   * `ring/replication_strategy.go`), and losing either task would refuse writes.
   */
  readonly zoneAware: boolean;
  /** The `memberlist` block: join through Cloud Map, advertise the task's own address. */
  readonly memberlist: Record<string, unknown>;
  /** The task values the rendered config holds (the init container fills them in). */
  readonly taskValues: readonly TaskValue[];
}

/**
 * The cluster a backend forms, or `undefined` with one replica (today's single task: rings in
 * memory or a one-member memberlist, nothing to join).
 */
export function clusterOf(input: RenderInput, service: 'mimir' | 'loki'): Cluster | undefined {
  const { config, deploy } = input;
  const replicas = config.services[service].replicas;
  if (replicas === 1) return undefined;
  const zoneAware = deploy.availabilityZones >= CLUSTER_REPLICATION_FACTOR;
  return {
    replicas,
    replicationFactor: CLUSTER_REPLICATION_FACTOR,
    zoneAware,
    memberlist: {
      // A fully qualified Cloud Map name (no search domains on Fargate): one A record per running task.
      join_members: [`dns+${serviceHost(config, service)}:${MEMBERLIST_PORT}`],
      bind_port: MEMBERLIST_PORT,
      advertise_addr: TASK_PLACEHOLDERS.address,
      advertise_port: MEMBERLIST_PORT,
      // Mimir, Loki and Tempo share one network: without distinct labels they join each other's rings.
      cluster_label: `${config.stackName}-${service}`,
      // Cloud Map lists a task only once it runs: replicas started together may find nobody at
      // first. They start alone rather than fail, and rejoining through DNS every minute merges them.
      abort_if_cluster_join_fails: false,
      rejoin_interval: '1m',
    },
    taskValues: zoneAware ? ['address', 'availabilityZone'] : ['address'],
  };
}

/** The ring settings every clustered ring shares: its own address and, when zone-aware, its zone. */
export function ringInstance(cluster: Cluster): Record<string, unknown> {
  return {
    instance_addr: TASK_PLACEHOLDERS.address,
    ...(cluster.zoneAware ? { zone_awareness_enabled: true, instance_availability_zone: TASK_PLACEHOLDERS.availabilityZone } : {}),
  };
}

/** The ports replicas of a backend reach each other on: gRPC (ring clients) and memberlist. */
export function clusterPorts(service: 'mimir' | 'loki'): number[] {
  return [BACKENDS[service].grpcPort, MEMBERLIST_PORT];
}
