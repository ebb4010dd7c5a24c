import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import type * as efs from 'aws-cdk-lib/aws-efs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as servicediscovery from 'aws-cdk-lib/aws-servicediscovery';
import { Duration } from 'aws-cdk-lib/core';
import type { Construct } from 'constructs';
import { serviceParameterName } from '../../lambdas/shared/contract';
import { BackendService, type BackendServiceProps, type ConfigValue, type DataVolumeProps } from '../backend-service';
import type { TaskSize } from '../config/schema';
import type { IImageRegistry } from '../image-registry';
import { grantPrefixes } from '../object-store';
import { BACKENDS } from '../render/catalog';
import { TASK_PLACEHOLDERS, type TaskValue } from '../render/cluster';

/** What every component's service needs: where it runs, which image, how large, where it logs. */
export interface ComponentProps {
  /** The cluster the service runs in. */
  readonly cluster: ecs.ICluster;
  /** The Cloud Map namespace the service registers its name in (`<service>.<namespace>`). */
  readonly namespace: servicediscovery.INamespace;
  /**
   * Subnets the tasks run in.
   * @default the VPC's private subnets
   */
  readonly vpcSubnets?: ec2.SubnetSelection;
  /** The component's container image, pinned to a tag or digest. */
  readonly image: string;
  /** Fargate CPU units and memory of the task. */
  readonly size: TaskSize;
  /** Image with a shell for the init container that writes config files and prepares volumes. */
  readonly configInitImage: string;
  /**
   * Where images are pulled from.
   * @default each image straight from its registry
   */
  readonly registry?: IImageRegistry;
  /** Retention of the containers' logs, in days (a value CloudWatch Logs accepts). */
  readonly logRetentionDays: number;
}

/** Components whose configuration the stack renders and stores in Parameter Store. */
export interface ConfiguredComponentProps extends ComponentProps {
  /**
   * The project's Parameter Store prefix (`/<stack name>`): the component's config lives under
   * `<prefix>/config/<service>`, where config refresh watches for changes.
   */
  readonly parameterPrefix: string;
}

/** Components that keep data in S3 and state on a data volume. */
export interface StatefulComponentProps extends ConfiguredComponentProps {
  /** The rendered configuration file (see lib/render/). */
  readonly configFile: string;
  /** The data bucket; the task role may use the component's own prefixes in it and no others. */
  readonly bucket: s3.IBucket;
  /**
   * File system for WAL and local state, which then survive a crash.
   * @default none: task ephemeral storage, flushed to S3 on every planned stop
   */
  readonly fileSystem?: efs.IFileSystem;
  /**
   * Fargate ephemeral storage of the task, GiB.
   * @default 20 (the Fargate default)
   */
  readonly ephemeralStorageGiB?: number;
  /**
   * Replicas forming one cluster (its rendered config must be the clustered one: see
   * lib/render/cluster.ts). They replace each other one at a time, the others serving throughout.
   * @default 1: one task, stopped before its replacement starts (single writer)
   */
  readonly replicas?: number;
}

/** The part of a component's props its {@link BackendService} takes as it is. */
export function serviceBasics(
  props: ComponentProps,
): Pick<
  BackendServiceProps,
  'cluster' | 'namespace' | 'vpcSubnets' | 'image' | 'size' | 'configInitImage' | 'registry' | 'logRetentionDays'
> {
  return {
    cluster: props.cluster,
    namespace: props.namespace,
    vpcSubnets: props.vpcSubnets,
    image: props.image,
    size: props.size,
    configInitImage: props.configInitImage,
    registry: props.registry,
    logRetentionDays: props.logRetentionDays,
  };
}

/** The data volume: on the file system when there is one, task ephemeral storage otherwise. */
export function dataVolume(
  fileSystem: efs.IFileSystem | undefined,
  path: string,
  uid: number,
  directories?: readonly string[],
): DataVolumeProps {
  return fileSystem ? { kind: 'efs', path, uid, directories, fileSystem } : { kind: 'ephemeral', path, uid, directories };
}

/** What distinguishes Mimir, Loki and Tempo when they are run as a {@link BackendService}. */
export interface StatefulBackendSpec {
  readonly serviceName: 'mimir' | 'loki' | 'tempo';
  /** Arguments after `-config.file=…`. */
  readonly extraArgs?: string[];
  readonly ports: readonly number[];
  /** Bucket prefixes the task role may use, and no others. */
  readonly bucketPrefixes: readonly string[];
  /** Sub-directories of the data volume that must exist before the backend starts. */
  readonly dataDirectories?: readonly string[];
  /**
   * Ports the replicas of a cluster reach each other on.
   * @default none (a backend that never runs several replicas)
   */
  readonly peerPorts?: readonly number[];
}

/** The task's own values (address, zone) that `content` holds placeholders for, as the init container writes them in. */
export function taskValuesOf(content: string, serviceName: string): ConfigValue[] | undefined {
  const values = (Object.keys(TASK_PLACEHOLDERS) as TaskValue[])
    .filter((value) => content.includes(TASK_PLACEHOLDERS[value]))
    .map((value) => ({
      placeholder: TASK_PLACEHOLDERS[value],
      source: { task: value },
      escapes: {},
      description: `${serviceName} task ${value === 'address' ? 'address' : 'availability zone'}`,
    }));
  return values.length > 0 ? values : undefined;
}

/**
 * A backend that writes to S3 and keeps a WAL: the Fargate maximum stop timeout (120 s) for the
 * flush on shutdown, its own bucket prefixes. One replica is a single writer during deployments;
 * several roll one task at a time and reach each other on `spec.peerPorts`.
 */
export function statefulBackend(scope: Construct, props: StatefulComponentProps, spec: StatefulBackendSpec): BackendService {
  const files = BACKENDS[spec.serviceName];
  const replicas = props.replicas ?? 1;
  const backend = new BackendService(scope, 'Backend', {
    ...serviceBasics(props),
    serviceName: spec.serviceName,
    command: [`-config.file=${files.configDir}/${files.configFile}`, ...(spec.extraArgs ?? [])],
    ports: spec.ports,
    config: [
      {
        directory: files.configDir,
        files: [
          {
            parameterName: serviceParameterName(props.parameterPrefix, spec.serviceName),
            content: props.configFile,
            fileName: files.configFile,
            values: taskValuesOf(props.configFile, spec.serviceName),
          },
        ],
      },
    ],
    data: dataVolume(props.fileSystem, files.dataDir, files.uid, spec.dataDirectories),
    ephemeralStorageGiB: props.ephemeralStorageGiB,
    stopTimeout: Duration.seconds(120),
    replicas,
    deployment: replicas > 1 ? 'rolling' : 'single-writer',
    peerPorts: replicas > 1 ? spec.peerPorts : undefined,
    healthCheckGracePeriod: Duration.minutes(3),
  });
  grantPrefixes(props.bucket, backend.taskDefinition.taskRole, spec.bucketPrefixes);
  return backend;
}
