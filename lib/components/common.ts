import type * as efs from 'aws-cdk-lib/aws-efs';
import { Duration } from 'aws-cdk-lib/core';
import type { Construct } from 'constructs';
import { BackendService, type DataVolumeProps } from '../backend-service';
import type { LgtmConfig } from '../config/schema';
import type { ImageRegistry } from '../image-registry';
import type { Network } from '../network';
import type { ObjectStore } from '../object-store';
import { BACKENDS, backendParameterName, type DeployFacts } from '../render/catalog';

/** What every component construct receives from the stack. */
export interface ComponentProps {
  readonly config: LgtmConfig;
  readonly network: Network;
  /** Deploy-time facts (region, bucket name) passed to the config renderers. */
  readonly deploy: DeployFacts;
  /**
   * Where images are pulled from.
   * @default each image straight from its registry
   */
  readonly registry?: ImageRegistry;
}

/** Components that keep data in S3 and state on a data volume. */
export interface StatefulComponentProps extends ComponentProps {
  readonly store: ObjectStore;
  /**
   * File system for WAL and local state.
   * @default none: task ephemeral storage (`storage.durability: ephemeral`)
   */
  readonly fileSystem?: efs.FileSystem;
}

/**
 * The data volume matching the durability setting, or EFS whatever the setting when
 * `durable` (a backend that keeps acknowledged data only on local disk across a planned stop).
 */
export function dataVolume(
  props: StatefulComponentProps,
  path: string,
  uid: number,
  directories?: readonly string[],
  durable = false,
): DataVolumeProps {
  if (durable || props.config.storage.durability === 'efs') {
    if (!props.fileSystem) {
      throw new Error(
        durable
          ? `the ${path} volume must survive a task replacement, but no file system was passed to the component`
          : 'storage.durability is "efs" but no file system was passed to the component',
      );
    }
    return { kind: 'efs', path, uid, directories, fileSystem: props.fileSystem };
  }
  return { kind: 'ephemeral', path, uid, directories };
}

/** What distinguishes Mimir, Loki and Tempo when they are run as a {@link BackendService}. */
export interface StatefulBackendSpec {
  readonly serviceName: 'mimir' | 'loki' | 'tempo';
  /** Rendered config file content. */
  readonly configContent: string;
  /** Arguments after `-config.file=…`. */
  readonly extraArgs?: string[];
  readonly ports: readonly number[];
  /** Bucket prefixes the task role may use, and no others. */
  readonly bucketPrefixes: readonly string[];
  /** Sub-directories of the data volume that must exist before the backend starts. */
  readonly dataDirectories?: readonly string[];
  /**
   * The data volume is EFS whatever `storage.durability` says: the backend keeps acknowledged
   * data only on its local disk across a planned stop (Tempo 3's live-store WAL).
   * @default false: the volume follows `storage.durability`
   */
  readonly durableData?: boolean;
}

/**
 * A backend that writes to S3 and keeps a WAL: single writer during deployments, the
 * Fargate maximum stop timeout (120 s) for the flush on shutdown, its own bucket prefixes.
 */
export function statefulBackend(scope: Construct, props: StatefulComponentProps, spec: StatefulBackendSpec): BackendService {
  const { config } = props;
  const files = BACKENDS[spec.serviceName];
  const backend = new BackendService(scope, 'Backend', {
    network: props.network,
    serviceName: spec.serviceName,
    image: config.images[spec.serviceName],
    registry: props.registry,
    command: [`-config.file=${files.configDir}/${files.configFile}`, ...(spec.extraArgs ?? [])],
    size: config.services[spec.serviceName],
    ports: spec.ports,
    logRetentionDays: config.retention.containerLogsDays,
    config: [
      {
        directory: files.configDir,
        files: [{ parameterName: backendParameterName(config, spec.serviceName), content: spec.configContent, fileName: files.configFile }],
      },
    ],
    configInitImage: config.images.configInit,
    data: dataVolume(props, files.dataDir, files.uid, spec.dataDirectories, spec.durableData),
    ephemeralStorageGiB: config.storage.ephemeralStorageGiB,
    stopTimeout: Duration.seconds(120),
    deployment: 'single-writer',
    healthCheckGracePeriod: Duration.minutes(3),
  });
  props.store.grantPrefixes(backend.taskDefinition.taskRole, spec.bucketPrefixes);
  return backend;
}
