import {
  agentParameterName as agentParameterPath,
  type Platform,
  parameterPrefixOf,
  serviceParameterName,
} from '../../lambdas/shared/contract';
import type { LgtmConfig } from '../config/schema';

/**
 * Fixed facts about each backend: ports, where its config file is mounted, where it
 * keeps local state. Shared by the renderers (which write these into configs) and the
 * constructs (which open ports, mount volumes and register health checks).
 */
export const BACKENDS = {
  mimir: {
    httpPort: 8080,
    grpcPort: 9095,
    healthPath: '/ready',
    configDir: '/etc/mimir',
    configFile: 'mimir.yaml',
    dataDir: '/data',
    /** The distroless image runs as this user; EFS access points own the data dir as it. */
    uid: 10001,
  },
  loki: {
    httpPort: 3100,
    grpcPort: 9096,
    healthPath: '/ready',
    configDir: '/etc/loki',
    configFile: 'loki.yaml',
    dataDir: '/loki',
    uid: 10001,
  },
  tempo: {
    httpPort: 3200,
    grpcPort: 9097,
    /** OTLP receivers, bound to all interfaces. */
    otlpGrpcPort: 4317,
    otlpHttpPort: 4318,
    healthPath: '/ready',
    configDir: '/etc/tempo',
    configFile: 'tempo.yaml',
    dataDir: '/var/tempo',
    uid: 10001,
  },
  grafana: {
    httpPort: 3000,
    healthPath: '/api/health',
    configDir: '/etc/grafana/provisioning/datasources',
    dataDir: '/var/lib/grafana',
    uid: 472,
  },
  memcached: {
    port: 11211,
  },
} as const;

/**
 * S3 key prefixes inside the data bucket. Mimir's blocks, ruler and alertmanager stores
 * must never share a prefix; each task role is granted only its own prefixes.
 *
 * Mimir refuses to start unless every `storage_prefix` is letters and digits only
 * ({@link MIMIR_STORAGE_PREFIX_PATTERN}), so its three prefixes have no `/`, and none is the
 * start of another (an IAM grant on `mimirblocks/*` never covers another store's keys).
 */
export const BUCKET_PREFIXES = {
  mimirBlocks: 'mimirblocks',
  mimirRuler: 'mimirruler',
  mimirAlertmanager: 'mimiralertmanager',
  loki: 'loki',
  tempo: 'tempo',
} as const;

/**
 * What Mimir accepts as a `storage_prefix` (its bucket config validation:
 * `pkg/storage/bucket/client.go`, "storage prefix contains invalid characters").
 */
export const MIMIR_STORAGE_PREFIX_PATTERN = /^[\da-zA-Z]+$/;

/** Inputs that only exist at deploy time (they may be CDK tokens when rendered inside the app). */
export interface DeployFacts {
  /** AWS region of the stack, e.g. `eu-west-1`. */
  readonly region: string;
  /** Name of the data bucket. */
  readonly bucketName: string;
  /** Domain suffix of AWS endpoints in the partition (`amazonaws.com`, `amazonaws.com.cn`). */
  readonly urlSuffix: string;
  /** Availability zones the services' subnets span (zone-aware replication needs at least 3). */
  readonly availabilityZones: number;
}

/** Everything a renderer needs: the validated config plus deploy-time facts. */
export interface RenderInput {
  readonly config: LgtmConfig;
  readonly deploy: DeployFacts;
}

/**
 * Whether Mimir's or Loki's WAL and local state live on the EFS file system: in `efs` durability,
 * for one replica. Replicas keep theirs on task storage (every write is on 3 of them, and they
 * could not share one directory).
 */
export function stateOnFileSystem(config: LgtmConfig, backend: 'mimir' | 'loki'): boolean {
  return config.storage.durability === 'efs' && config.services[backend].replicas === 1;
}

/** Fully qualified Cloud Map name of a service, e.g. `mimir.lgtm.internal`. */
export function serviceHost(config: LgtmConfig, service: keyof typeof BACKENDS): string {
  return `${service}.${config.network.namespaceName}`;
}

/** Base HTTP URL of a backend on the shared namespace, e.g. `http://mimir.lgtm.internal:8080`. */
export function serviceUrl(config: LgtmConfig, service: 'mimir' | 'loki' | 'tempo' | 'grafana'): string {
  return `http://${serviceHost(config, service)}:${BACKENDS[service].httpPort}`;
}

/** memcached address in the `dns+host:port` form Mimir and Loki resolve. */
export function memcachedAddress(config: LgtmConfig): string {
  return `dns+${serviceHost(config, 'memcached')}:${BACKENDS.memcached.port}`;
}

/** The Parameter Store naming scheme (lambdas/shared/contract.ts), applied to a config's stack. */
export function parameterPrefix(config: LgtmConfig): string {
  return parameterPrefixOf(config.stackName);
}

export function backendParameterName(config: LgtmConfig, service: string): string {
  return serviceParameterName(parameterPrefix(config), service);
}

export function agentParameterName(config: LgtmConfig, tenant: string, platform: Platform): string {
  return agentParameterPath(parameterPrefix(config), tenant, platform);
}

/** The regional S3 endpoint the backends talk to through their task role. */
export function s3Endpoint(deploy: DeployFacts): string {
  return `s3.${deploy.region}.${deploy.urlSuffix}`;
}

/** Days → Go duration in hours, the unit every backend accepts (`365` → `8760h`). */
export function daysToHours(days: number): string {
  return `${days * 24}h`;
}
