import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as efs from 'aws-cdk-lib/aws-efs';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as servicediscovery from 'aws-cdk-lib/aws-servicediscovery';
import type * as ssm from 'aws-cdk-lib/aws-ssm';
import { Arn, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib/core';
import { Construct } from 'constructs';
import { CONFIG_INIT_CONTAINER } from '../lambdas/shared/config-files';
import type { TaskSize } from './config/schema';
import { type ConfigFilesProps, InitContainerPlan, storeConfigFile } from './config-delivery';
import type { IImageRegistry } from './image-registry';
import { acknowledgeWildcardResource } from './nag';

export {
  type ConfigFile,
  type ConfigFilesProps,
  type ConfigValue,
  deployedLengthUpperBound,
  type ParameterTierKind,
  parameterTierFor,
  STANDARD_PARAMETER_BYTES,
  splitIntoParts,
  substitutionCommand,
  writeConfigCommands,
} from './config-delivery';

interface DataVolumeBase {
  /** Where the volume is mounted in the main container. */
  readonly path: string;
  /** Owner of the directory (the image's user). */
  readonly uid: number;
  /**
   * Sub-directories the init container creates before the backend starts (for backends that
   * refuse to start without them).
   * @default none
   */
  readonly directories?: readonly string[];
}

/** Where a backend keeps its WAL and local state. */
export type DataVolumeProps =
  /** Task ephemeral storage: fast and free; lost on a crash (planned stops flush first). */
  | (DataVolumeBase & { readonly kind: 'ephemeral' })
  /** An EFS access point: survives crashes and task replacement. */
  | (DataVolumeBase & { readonly kind: 'efs'; readonly fileSystem: efs.IFileSystem });

/** The command creating the data volume's sub-directories, if it has any. */
function makeDataDirectoriesCommands(serviceName: string, data: DataVolumeProps): string[] {
  const directories = (data.directories ?? []).map((dir) => {
    if (!/^[a-z0-9_-]+(\/[a-z0-9_-]+)*$/.test(dir))
      throw new Error(`data directory of ${serviceName} must be a relative path, got "${dir}"`);
    return `/data/${dir}`;
  });
  return directories.length > 0 ? [`mkdir -p ${directories.join(' ')}`] : [];
}

/** The EFS data volume: the service's own access point, which only its task role may mount and write through. */
function addEfsDataVolume(
  taskDefinition: ecs.TaskDefinition,
  serviceName: string,
  data: Extract<DataVolumeProps, { readonly kind: 'efs' }>,
): void {
  // In the file system's scope, as FileSystem.addAccessPoint puts it: the access point keeps its logical ID.
  const accessPoint = new efs.AccessPoint(data.fileSystem, `${serviceName}AccessPoint`, {
    fileSystem: data.fileSystem,
    path: `/${serviceName}`,
    posixUser: { uid: String(data.uid), gid: String(data.uid) },
    createAcl: { ownerUid: String(data.uid), ownerGid: String(data.uid), permissions: '750' },
  });
  taskDefinition.addVolume({
    name: 'data',
    efsVolumeConfiguration: {
      fileSystemId: data.fileSystem.fileSystemId,
      transitEncryption: 'ENABLED',
      authorizationConfig: { accessPointId: accessPoint.accessPointId, iam: 'ENABLED' },
    },
  });
  // Mount and write through this service's access point only.
  taskDefinition.taskRole.addToPrincipalPolicy(
    new iam.PolicyStatement({
      actions: ['elasticfilesystem:ClientMount', 'elasticfilesystem:ClientWrite'],
      resources: [data.fileSystem.fileSystemArn],
      conditions: { StringEquals: { 'elasticfilesystem:AccessPointArn': accessPoint.accessPointArn } },
    }),
  );
}

/**
 * The `maximumPercent` that lets a rolling deployment run exactly one task beyond `replicas`
 * (ECS rounds the task count down): new tasks replace old ones one at a time.
 */
export function oneExtraTaskPercent(replicas: number): number {
  return Math.ceil((100 * (replicas + 1)) / replicas);
}

/** Refuses props no deployment could run, naming the service and the value. */
function checkServiceProps(props: BackendServiceProps): void {
  if (props.stopTimeout && props.stopTimeout.toSeconds() > 120) {
    throw new Error(`stopTimeout of ${props.serviceName} is ${props.stopTimeout.toSeconds()} s; Fargate allows at most 120 s`);
  }
  const replicas = props.replicas ?? 1;
  if (!Number.isInteger(replicas) || replicas < 1) {
    throw new Error(`replicas of ${props.serviceName} must be a whole number of at least 1, got ${replicas}`);
  }
  if (replicas > 1 && (props.deployment ?? 'single-writer') === 'single-writer') {
    throw new Error(`${props.serviceName} has ${replicas} replicas: a single-writer deployment runs one task only, use rolling`);
  }
  if (replicas > 1 && props.data?.kind === 'efs') {
    throw new Error(`${props.serviceName} has ${replicas} replicas: they cannot share one data directory on EFS`);
  }
}

export interface BackendServiceProps {
  /** The cluster the service runs in; the service's security group is created in the cluster's VPC. */
  readonly cluster: ecs.ICluster;
  /** The Cloud Map namespace the service registers its name in. */
  readonly namespace: servicediscovery.INamespace;
  /**
   * Subnets the tasks run in (they get no public IP address).
   * @default the VPC's private subnets
   */
  readonly vpcSubnets?: ec2.SubnetSelection;
  /** Cloud Map name; the service answers at `<serviceName>.<namespace>`. */
  readonly serviceName: string;
  /** Pinned container image, e.g. `grafana/mimir:3.2.0`. */
  readonly image: string;
  /**
   * Where images are pulled from (a Docker Hub pull-through cache, if configured).
   * @default each image straight from its registry
   */
  readonly registry?: IImageRegistry;
  /**
   * Replaces the image's entry point.
   * @default the image's own
   */
  readonly entryPoint?: string[];
  /**
   * Arguments to the image's entry point.
   * @default the image's own
   */
  readonly command?: string[];
  /** Fargate CPU units and memory of the task. */
  readonly size: TaskSize;
  /** Ports the main container listens on (TCP). */
  readonly ports: readonly number[];
  /** Retention of the containers' log group, in days (a value CloudWatch Logs accepts). */
  readonly logRetentionDays: number;
  /**
   * The config files, by directory, delivered by an init container from Parameter Store.
   * @default none
   */
  readonly config?: readonly ConfigFilesProps[];
  /** Image with a shell used by the init container; never the backend's own (which has none). */
  readonly configInitImage: string;
  /**
   * Local state.
   * @default none: the container's own writable layer
   */
  readonly data?: DataVolumeProps;
  /**
   * Fargate ephemeral storage, GiB.
   * @default 20 (the Fargate default)
   */
  readonly ephemeralStorageGiB?: number;
  /**
   * Time the container gets between SIGTERM and SIGKILL (Fargate allows at most 120 s).
   * @default 30 seconds
   */
  readonly stopTimeout?: Duration;
  /**
   * Tasks the service keeps running; each registers its own address under the Cloud Map name.
   * @default 1
   */
  readonly replicas?: number;
  /**
   * `single-writer` stops the old task before the new one starts, so two tasks never share a WAL
   * or a one-node ring (one replica only); `rolling` starts one new task, waits until it is
   * healthy, then stops one old one, and so on: the others keep serving throughout.
   * @default single-writer
   */
  readonly deployment?: 'single-writer' | 'rolling';
  /**
   * Ports the service's own tasks reach each other on (a cluster's gossip and gRPC).
   * @default none
   */
  readonly peerPorts?: readonly number[];
  /**
   * Environment variables of the main container.
   * @default none
   */
  readonly environment?: Record<string, string>;
  /**
   * Secrets the main container receives as environment variables.
   * @default none
   */
  readonly secrets?: Record<string, ecs.Secret>;
  /**
   * A container health check, for images that can run one (most backends cannot: no shell).
   * @default none: a running container counts as healthy
   */
  readonly healthCheck?: ecs.HealthCheck;
  /**
   * Grace period before load balancer health checks count.
   * @default 2 minutes
   */
  readonly healthCheckGracePeriod?: Duration;
}

/**
 * One backend on Fargate (ARM64): its task definition, a config file written from
 * Parameter Store by an init container into a shared volume (so images without a shell
 * work), optional data volume, Cloud Map registration, logs, and a deployment with the
 * circuit breaker rolling back configs that do not become healthy.
 */
export class BackendService extends Construct {
  public readonly service: ecs.FargateService;
  public readonly taskDefinition: ecs.FargateTaskDefinition;
  public readonly container: ecs.ContainerDefinition;
  public readonly securityGroup: ec2.SecurityGroup;
  public readonly logGroup: logs.LogGroup;
  /** The Parameter Store parameters holding the config files (source of truth for config refresh). */
  public readonly configParameters: ssm.StringParameter[] = [];
  /** The copies the task definition delivers (see `deployedConfigName`). */
  public readonly deployedParameters: ssm.StringParameter[] = [];

  constructor(scope: Construct, id: string, props: BackendServiceProps) {
    super(scope, id);
    checkServiceProps(props);

    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetentionDays as logs.RetentionDays,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const logging = ecs.LogDrivers.awsLogs({ logGroup: this.logGroup, streamPrefix: props.serviceName });
    this.taskDefinition = new ecs.FargateTaskDefinition(this, 'Task', {
      cpu: props.size.cpu,
      memoryLimitMiB: props.size.memoryMiB,
      ephemeralStorageGiB: props.ephemeralStorageGiB,
      runtimePlatform: {
        cpuArchitecture: ecs.CpuArchitecture.ARM64,
        operatingSystemFamily: ecs.OperatingSystemFamily.LINUX,
      },
    });
    this.container = this.addMainContainer(props, logging);

    const init = new InitContainerPlan();
    const deployedPaths = this.addConfigFiles(props.serviceName, props.config ?? [], init);
    if (props.data) this.addDataVolume(props.serviceName, props.data, init);
    this.addInitContainer(props, init, logging);

    this.securityGroup = this.createSecurityGroup(props);
    this.service = this.createService(props);

    this.grantReadDeployedConfig(deployedPaths);
    // The stack updates a config parameter only once the service runs that config: its change event
    // then finds the service already carrying it, and a refresh does not restart the tasks again.
    for (const parameter of this.configParameters) parameter.node.addDependency(this.service);

    Validations.of(this.taskDefinition).acknowledge({
      id: 'AwsSolutions-ECS2',
      reason:
        'Environment variables carry only non-secret settings; secrets arrive through ECS secrets from Secrets Manager/Parameter Store.',
    });
  }

  /** The image a container pulls, through the registry's cache when it has one, with the execution role allowed to. */
  private pulledImage(image: string, registry: IImageRegistry | undefined): ecs.ContainerImage {
    registry?.grantPull(this.taskDefinition.obtainExecutionRole(), image);
    return ecs.ContainerImage.fromRegistry(registry?.resolve(image) ?? image);
  }

  private addMainContainer(props: BackendServiceProps, logging: ecs.LogDriver): ecs.ContainerDefinition {
    return this.taskDefinition.addContainer('main', {
      containerName: props.serviceName,
      image: this.pulledImage(props.image, props.registry),
      entryPoint: props.entryPoint,
      command: props.command,
      essential: true,
      logging,
      environment: props.environment,
      secrets: props.secrets,
      healthCheck: props.healthCheck,
      stopTimeout: props.stopTimeout ?? Duration.seconds(30),
      portMappings: props.ports.map((containerPort) => ({ containerPort, protocol: ecs.Protocol.TCP })),
    });
  }

  /**
   * Stores the config files in Parameter Store, for the init container to write each directory's
   * files into a volume of its own, mounted read-only in the main container. Returns the paths the
   * files' deployed copies lie below.
   */
  private addConfigFiles(serviceName: string, config: readonly ConfigFilesProps[], init: InitContainerPlan): Set<string> {
    const fileNames = new Set<string>();
    const deployedPaths = new Set<string>();
    const singleFile = config.reduce((count, directory) => count + directory.files.length, 0) === 1;
    for (const [dirIndex, directory] of config.entries()) {
      if (directory.files.length === 0) continue;
      // The first directory's volume keeps the plain name.
      const volume = dirIndex === 0 ? 'config' : `config-${dirIndex}`;
      for (const file of directory.files) {
        if (!/^[A-Za-z0-9_.-]+$/.test(file.fileName)) {
          throw new Error(`config file name of ${serviceName} must be a plain file name, got "${file.fileName}"`);
        }
        if (fileNames.has(file.fileName)) throw new Error(`config file name "${file.fileName}" of ${serviceName} is used twice`);
        fileNames.add(file.fileName);
        for (const stored of storeConfigFile(this, serviceName, file, `/${volume}/${file.fileName}`, singleFile, init)) {
          this.configParameters.push(stored.parameter);
          this.deployedParameters.push(stored.deployed);
          deployedPaths.add(stored.deployedPath);
        }
      }
      this.taskDefinition.addVolume({ name: volume });
      init.mounts.push({ sourceVolume: volume, containerPath: `/${volume}`, readOnly: false });
      this.container.addMountPoints({ sourceVolume: volume, containerPath: directory.directory, readOnly: true });
    }
    return deployedPaths;
  }

  /** Mounts the data volume in the main container, with the init container preparing it when it must. */
  private addDataVolume(serviceName: string, data: DataVolumeProps, init: InitContainerPlan): void {
    const mkdir = makeDataDirectoriesCommands(serviceName, data);
    const initMount: ecs.MountPoint = { sourceVolume: 'data', containerPath: '/data', readOnly: false };
    if (data.kind === 'ephemeral') {
      this.taskDefinition.addVolume({ name: 'data' });
      // Bind mounts start out owned by root; the backends run as an unprivileged user.
      init.mounts.push(initMount);
      init.commands.push(...mkdir, `chown -R ${data.uid}:${data.uid} /data`);
    } else {
      if (mkdir.length > 0) {
        // Through the access point the init container acts as the backend's user already.
        init.mounts.push(initMount);
        init.commands.push(...mkdir);
      }
      addEfsDataVolume(this.taskDefinition, serviceName, data);
    }
    this.container.addMountPoints({ sourceVolume: 'data', containerPath: data.path, readOnly: false });
  }

  /** The init container, when it has anything to do: the main container starts once it has succeeded. */
  private addInitContainer(props: BackendServiceProps, init: InitContainerPlan, logging: ecs.LogDriver): void {
    if (init.commands.length === 0) return;
    const container = this.taskDefinition.addContainer('init', {
      containerName: CONFIG_INIT_CONTAINER,
      image: this.pulledImage(props.configInitImage, props.registry),
      essential: false,
      entryPoint: ['sh', '-c'],
      command: [['set -e', ...init.commands].join(' && ')],
      secrets: init.secrets,
      environment: Object.keys(init.environment).length > 0 ? init.environment : undefined,
      logging,
      memoryReservationMiB: 32,
    });
    container.addMountPoints(...init.mounts);
    this.container.addContainerDependencies({ container, condition: ecs.ContainerDependencyCondition.SUCCESS });
  }

  /** The tasks' security group, allowed to reach the EFS data volume when there is one. */
  private createSecurityGroup(props: BackendServiceProps): ec2.SecurityGroup {
    const securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: props.cluster.vpc,
      description: `lgtm-fleet ${props.serviceName}`,
      allowAllOutbound: true,
    });
    if (props.data?.kind === 'efs') {
      props.data.fileSystem.connections.allowDefaultPortFrom(securityGroup, `${props.serviceName} mounts its data volume`);
    }
    for (const port of props.peerPorts ?? []) {
      securityGroup.addIngressRule(securityGroup, ec2.Port.tcp(port), `${props.serviceName} replicas reach each other`);
    }
    return securityGroup;
  }

  private createService(props: BackendServiceProps): ecs.FargateService {
    const replicas = props.replicas ?? 1;
    const singleWriter = (props.deployment ?? 'single-writer') === 'single-writer';
    return new ecs.FargateService(this, 'Service', {
      cluster: props.cluster,
      taskDefinition: this.taskDefinition,
      desiredCount: replicas,
      securityGroups: [this.securityGroup],
      vpcSubnets: props.vpcSubnets,
      assignPublicIp: false,
      minHealthyPercent: singleWriter ? 0 : 100,
      maxHealthyPercent: singleWriter ? 100 : oneExtraTaskPercent(replicas),
      // Replicas spread over the zones, and back after a zone's outage (ECS's default for new services).
      ...(replicas > 1 ? { availabilityZoneRebalancing: ecs.AvailabilityZoneRebalancing.ENABLED } : {}),
      circuitBreaker: { enable: true, rollback: true },
      healthCheckGracePeriod: props.healthCheckGracePeriod,
      enableExecuteCommand: false,
      cloudMapOptions: {
        cloudMapNamespace: props.namespace,
        name: props.serviceName,
        dnsRecordType: servicediscovery.DnsRecordType.A,
        dnsTtl: Duration.seconds(10),
        container: this.container,
      },
    });
  }

  /** Lets the execution role read, at task start, the copies a config refresh makes (one per checked version). */
  private grantReadDeployedConfig(deployedPaths: ReadonlySet<string>): void {
    if (deployedPaths.size === 0) return;
    const resources = [...deployedPaths].map((path) =>
      Arn.format({ service: 'ssm', resource: 'parameter', resourceName: `${path.slice(1)}/*` }, Stack.of(this)),
    );
    const role = this.taskDefinition.obtainExecutionRole();
    role.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'ReadDeployedConfig', actions: ['ssm:GetParameters'], resources }));
    for (const resource of resources) {
      // On the role: with many secrets (the gateway's credentials) CDK moves statements into overflow policies beside the default one.
      acknowledgeWildcardResource(
        role,
        resource,
        'A config refresh names each copy by version and digest when it makes it: the execution role reads any copy of this service’s files, only those.',
      );
    }
  }
}
