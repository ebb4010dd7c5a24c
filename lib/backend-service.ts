import { Duration, RemovalPolicy, Token, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import type * as efs from 'aws-cdk-lib/aws-efs';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as servicediscovery from 'aws-cdk-lib/aws-servicediscovery';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import type { TaskSize } from './config/schema';
import type { Network } from './network';

/** Standard-tier parameters hold 4 KB, advanced-tier 8 KB. */
export const STANDARD_PARAMETER_BYTES = 4096;
export const ADVANCED_PARAMETER_BYTES = 8192;
/** Bytes assumed for a deploy-time value (region, bucket name) when sizing a parameter at synth time. */
const TOKEN_ALLOWANCE_BYTES = 63;

/**
 * Upper bound of the byte length `value` will have once deployed: literal parts are
 * counted exactly, each unresolved token as {@link TOKEN_ALLOWANCE_BYTES}.
 */
export function deployedLengthUpperBound(value: string): number {
  if (!Token.isUnresolved(value)) return Buffer.byteLength(value, 'utf8');
  // Stringified tokens look like `${Token[AWS.Region.12]}`.
  const withAllowance = value.replace(/\$\{Token\[[^\]]+\]\}/g, 'x'.repeat(TOKEN_ALLOWANCE_BYTES));
  return Buffer.byteLength(withAllowance, 'utf8');
}

/** The parameter tier a config of `value` needs; throws when it does not fit a parameter at all. */
export function parameterTierFor(name: string, value: string): ssm.ParameterTier {
  const bytes = deployedLengthUpperBound(value);
  if (bytes <= STANDARD_PARAMETER_BYTES) return ssm.ParameterTier.STANDARD;
  if (bytes <= ADVANCED_PARAMETER_BYTES) return ssm.ParameterTier.ADVANCED;
  throw new Error(
    `rendered config for ${name} is about ${bytes} bytes, over the ${ADVANCED_PARAMETER_BYTES}-byte Parameter Store limit: ` +
      'reduce it (fewer tenants or settings) or split it into several files',
  );
}

/** One config file, stored in its own Parameter Store parameter. */
export interface ConfigFile {
  /** Parameter Store name holding the file, e.g. `/LgtmFleet/config/mimir`. */
  readonly parameterName: string;
  /** The rendered file content (may contain tokens). */
  readonly content: string;
  /** File name inside the config directory. */
  readonly fileName: string;
}

/** Config files delivered from Parameter Store into one directory of the container. */
export interface ConfigFilesProps {
  /** Directory the files appear in, inside the main container (mounted read-only). */
  readonly directory: string;
  /** One or more files; a config too large for one parameter is split into several files. */
  readonly files: readonly ConfigFile[];
}

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
  | (DataVolumeBase & { readonly kind: 'efs'; readonly fileSystem: efs.FileSystem });

export interface BackendServiceProps {
  readonly network: Network;
  /** Cloud Map name; the service answers at `<serviceName>.<namespace>`. */
  readonly serviceName: string;
  /** Pinned container image, e.g. `grafana/mimir:3.2.0`. */
  readonly image: string;
  /**
   * Replaces the image's entry point.
   * @default the image's own
   */
  readonly entryPoint?: string[];
  /** Arguments to the image's entry point. */
  readonly command?: string[];
  readonly size: TaskSize;
  /** Ports the main container listens on (TCP). */
  readonly ports: readonly number[];
  /** Container log retention. */
  readonly logRetentionDays: number;
  /** The config files, delivered by an init container from Parameter Store. */
  readonly config?: ConfigFilesProps;
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
   * `single-writer` stops the old task before the new one starts, so two tasks never
   * share a WAL or a one-node ring; `rolling` starts the new task first.
   * @default single-writer
   */
  readonly deployment?: 'single-writer' | 'rolling';
  readonly environment?: Record<string, string>;
  readonly secrets?: Record<string, ecs.Secret>;
  /** A container health check, for images that can run one (most backends cannot: no shell). */
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

  constructor(scope: Construct, id: string, props: BackendServiceProps) {
    super(scope, id);
    if (props.stopTimeout && props.stopTimeout.toSeconds() > 120) {
      throw new Error(`stopTimeout of ${props.serviceName} is ${props.stopTimeout.toSeconds()} s; Fargate allows at most 120 s`);
    }

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

    this.container = this.taskDefinition.addContainer('main', {
      containerName: props.serviceName,
      image: ecs.ContainerImage.fromRegistry(props.image),
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

    const initCommands: string[] = [];
    const initSecrets: Record<string, ecs.Secret> = {};
    const initMounts: ecs.MountPoint[] = [];

    if (props.config && props.config.files.length > 0) {
      for (const [index, file] of props.config.files.entries()) {
        if (!/^[A-Za-z0-9_.-]+$/.test(file.fileName)) {
          throw new Error(`config file name of ${props.serviceName} must be a plain file name, got "${file.fileName}"`);
        }
        const parameter = new ssm.StringParameter(this, index === 0 ? 'Config' : `Config-${file.fileName}`, {
          parameterName: file.parameterName,
          stringValue: file.content,
          tier: parameterTierFor(file.parameterName, file.content),
          description: `Rendered ${props.serviceName} configuration (${file.fileName}); a change rolls the service`,
        });
        this.configParameters.push(parameter);
        // ECS resolves the parameter when the task starts: a new task always gets the latest version.
        initSecrets[`CONFIG_FILE_${index}`] = ecs.Secret.fromSsmParameter(parameter);
        initCommands.push(`printf '%s\\n' "$CONFIG_FILE_${index}" > /config/${file.fileName}`);
      }
      this.taskDefinition.addVolume({ name: 'config' });
      initMounts.push({ sourceVolume: 'config', containerPath: '/config', readOnly: false });
      this.container.addMountPoints({ sourceVolume: 'config', containerPath: props.config.directory, readOnly: true });
    }

    if (props.data) {
      const data = props.data;
      const directories = (data.directories ?? []).map((dir) => {
        if (!/^[a-z0-9_-]+(\/[a-z0-9_-]+)*$/.test(dir))
          throw new Error(`data directory of ${props.serviceName} must be a relative path, got "${dir}"`);
        return `/data/${dir}`;
      });
      const mkdir = directories.length > 0 ? [`mkdir -p ${directories.join(' ')}`] : [];
      if (data.kind === 'ephemeral') {
        this.taskDefinition.addVolume({ name: 'data' });
        // Bind mounts start out owned by root; the backends run as an unprivileged user.
        initMounts.push({ sourceVolume: 'data', containerPath: '/data', readOnly: false });
        initCommands.push(...mkdir, `chown -R ${data.uid}:${data.uid} /data`);
      } else {
        if (mkdir.length > 0) {
          // Through the access point the init container acts as the backend's user already.
          initMounts.push({ sourceVolume: 'data', containerPath: '/data', readOnly: false });
          initCommands.push(...mkdir);
        }
        const accessPoint = data.fileSystem.addAccessPoint(`${props.serviceName}AccessPoint`, {
          path: `/${props.serviceName}`,
          posixUser: { uid: String(data.uid), gid: String(data.uid) },
          createAcl: { ownerUid: String(data.uid), ownerGid: String(data.uid), permissions: '750' },
        });
        this.taskDefinition.addVolume({
          name: 'data',
          efsVolumeConfiguration: {
            fileSystemId: data.fileSystem.fileSystemId,
            transitEncryption: 'ENABLED',
            authorizationConfig: { accessPointId: accessPoint.accessPointId, iam: 'ENABLED' },
          },
        });
        // Mount and write through this service's access point only.
        this.taskDefinition.taskRole.addToPrincipalPolicy(
          new iam.PolicyStatement({
            actions: ['elasticfilesystem:ClientMount', 'elasticfilesystem:ClientWrite'],
            resources: [data.fileSystem.fileSystemArn],
            conditions: { StringEquals: { 'elasticfilesystem:AccessPointArn': accessPoint.accessPointArn } },
          }),
        );
      }
      this.container.addMountPoints({ sourceVolume: 'data', containerPath: data.path, readOnly: false });
    }

    if (initCommands.length > 0) {
      const init = this.taskDefinition.addContainer('init', {
        containerName: 'config-init',
        image: ecs.ContainerImage.fromRegistry(props.configInitImage),
        essential: false,
        entryPoint: ['sh', '-c'],
        command: [['set -e', ...initCommands].join(' && ')],
        secrets: initSecrets,
        logging,
        memoryReservationMiB: 32,
      });
      init.addMountPoints(...initMounts);
      this.container.addContainerDependencies({ container: init, condition: ecs.ContainerDependencyCondition.SUCCESS });
    }

    this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: props.network.vpc,
      description: `lgtm-fleet ${props.serviceName}`,
      allowAllOutbound: true,
    });
    if (props.data?.kind === 'efs') {
      props.data.fileSystem.connections.allowDefaultPortFrom(this.securityGroup, `${props.serviceName} mounts its data volume`);
    }

    const singleWriter = (props.deployment ?? 'single-writer') === 'single-writer';
    this.service = new ecs.FargateService(this, 'Service', {
      cluster: props.network.cluster,
      taskDefinition: this.taskDefinition,
      desiredCount: 1,
      securityGroups: [this.securityGroup],
      vpcSubnets: props.network.privateSubnets,
      assignPublicIp: false,
      minHealthyPercent: singleWriter ? 0 : 100,
      maxHealthyPercent: singleWriter ? 100 : 200,
      circuitBreaker: { enable: true, rollback: true },
      healthCheckGracePeriod: props.healthCheckGracePeriod,
      enableExecuteCommand: false,
      cloudMapOptions: {
        cloudMapNamespace: props.network.namespace,
        name: props.serviceName,
        dnsRecordType: servicediscovery.DnsRecordType.A,
        dnsTtl: Duration.seconds(10),
        container: this.container,
      },
    });

    Validations.of(this.taskDefinition).acknowledge({
      id: 'AwsSolutions-ECS2',
      reason:
        'Environment variables carry only non-secret settings; secrets arrive through ECS secrets from Secrets Manager/Parameter Store.',
    });
  }
}
