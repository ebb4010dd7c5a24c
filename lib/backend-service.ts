import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as efs from 'aws-cdk-lib/aws-efs';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as servicediscovery from 'aws-cdk-lib/aws-servicediscovery';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Arn, Duration, RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib/core';
import { Construct } from 'constructs';
import {
  CONFIG_INIT_CONTAINER,
  configDigest,
  configPartName,
  deployedConfigName,
  deployedConfigPath,
  ENCODED_CONFIG_PREFIX,
  encodeConfig,
  mustEncodeConfig,
} from '../lambdas/shared/config-files';
import { PARAMETER_VALUE_MAX_BYTES } from '../lambdas/shared/contract';
import type { TaskSize } from './config/schema';
import type { IImageRegistry } from './image-registry';
import { acknowledgeWildcardResource } from './nag';

/** Standard-tier parameters hold 4 KB, advanced-tier 8 KB. */
export const STANDARD_PARAMETER_BYTES = 4096;
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

/**
 * Which Parameter Store tier a kind of file lives in. Parameter Store upgrades a parameter from
 * standard to advanced but refuses the way back, so the tier follows the kind of file, never its
 * rendered size (a file that shrank would otherwise ask for a downgrade and fail the update):
 * `standard` for files whose size does not grow with the configuration, `advanced` for the rest.
 */
export type ParameterTierKind = 'standard' | 'advanced';

/** The tier of a `kind` parameter holding `value`; throws, naming it, when the value does not fit that tier. */
export function parameterTierFor(name: string, value: string, kind: ParameterTierKind): ssm.ParameterTier {
  const bytes = deployedLengthUpperBound(value);
  if (kind === 'standard' && bytes > STANDARD_PARAMETER_BYTES) {
    throw new Error(
      `rendered config for ${name} is about ${bytes} bytes, over the ${STANDARD_PARAMETER_BYTES}-byte standard tier its kind of file is kept in ` +
        '(a parameter cannot go back from the advanced tier, so the tier never follows the size): reduce it',
    );
  }
  if (bytes > PARAMETER_VALUE_MAX_BYTES) {
    throw new Error(
      `rendered config for ${name} is about ${bytes} bytes, over the ${PARAMETER_VALUE_MAX_BYTES}-byte Parameter Store limit: ` +
        'reduce it (fewer tenants or settings) or split it into several files',
    );
  }
  return kind === 'advanced' ? ssm.ParameterTier.ADVANCED : ssm.ParameterTier.STANDARD;
}

/**
 * A value the init container writes into a config file in place of a placeholder: a secret (never
 * stored in Parameter Store or the template) or a deploy-time value (a token, such as a generated
 * queue name, kept out of the stored file so the file can be encoded at synth time). The value is
 * escaped character by character (`escapes`), trailing line breaks are dropped, and a value with a
 * line break inside stops the task with a message naming it.
 */
export interface ConfigValue {
  /** Text of the file the value replaces (every occurrence). */
  readonly placeholder: string;
  /** The value, from a secret or as a deploy-time string: exactly one of the two. */
  readonly source: { readonly secret: ecs.Secret } | { readonly value: string };
  /** Replacement of single characters, e.g. `$` → `$$`. */
  readonly escapes: Readonly<Record<string, string>>;
  /** Names the value in the init container's error message. */
  readonly description: string;
}

/** One config file, stored in its own Parameter Store parameter. */
export interface ConfigFile {
  /** Parameter Store name holding the file, e.g. `/LgtmFleet/config/mimir`. */
  readonly parameterName: string;
  /** The rendered file content (may contain tokens). */
  readonly content: string;
  /** File name inside the config directory. */
  readonly fileName: string;
  /**
   * Values written into the file by the init container.
   * @default none
   */
  readonly values?: readonly ConfigValue[];
  /**
   * Parameter tier of the file's kind (see {@link ParameterTierKind}); a file larger than one
   * advanced parameter is split into parts, which needs `advanced`.
   * @default 'standard'
   */
  readonly tier?: ParameterTierKind;
}

/**
 * Shell commands that write a config file from the environment variables holding its parameter
 * values (`"$CONFIG_0"`…, parts in order). An encoded file is decoded, unless its stored value is
 * plain text (put there by hand), which is written as it is.
 */
export function writeConfigCommands(file: string, variables: readonly string[], encoded: boolean): string[] {
  // printf repeats its format for each argument: the parts are written one after the other.
  const write = (target: string) => `printf '%s' ${variables.join(' ')} > ${target}`;
  if (!encoded) return [write(file)];
  const stored = `${file}.stored`;
  return [
    write(stored),
    `case "$(head -c ${ENCODED_CONFIG_PREFIX.length} ${stored})" in ${ENCODED_CONFIG_PREFIX}) base64 -d < ${stored} | gunzip > ${file} ;; *) cp ${stored} ${file} ;; esac`,
    `rm ${stored}`,
  ];
}

/** An awk string literal: no `'`, so the program can sit in single quotes inside `sh -c`. */
function awkString(value: string): string {
  return `"${value.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll("'", '\\047')}"`;
}

/**
 * The shell command that replaces `placeholder` in `file` with the value of the environment
 * variable `variable`, escaped by `escapes` (busybox and POSIX awk; the file is rewritten in place).
 */
export function substitutionCommand(file: string, variable: string, value: ConfigValue): string {
  if (!/^[A-Za-z0-9_@.-]+$/.test(value.placeholder)) {
    throw new Error(`placeholder "${value.placeholder}" may hold only letters, digits and _@.-`);
  }
  for (const from of Object.keys(value.escapes)) {
    if ([...from].length !== 1) throw new Error(`escape "${from}" must be one character`);
  }
  const escapes = Object.entries(value.escapes)
    .map(([from, to]) => `if (c == ${awkString(from)}) c = ${awkString(to)}; else `)
    .join('');
  const program = [
    'BEGIN {',
    `v = ENVIRON[${awkString(variable)}]; sub(/[\\r\\n]+$/, "", v);`,
    `if (index(v, "\\n") || index(v, "\\r")) { print ${awkString(`lgtm-fleet: ${value.description} contains a line break`)} > "/dev/stderr"; exit 1 }`,
    `o = ""; for (i = 1; i <= length(v); i++) { c = substr(v, i, 1); ${escapes}c = c; o = o c } v = o`,
    '}',
    `{ l = $0; r = ""; while ((k = index(l, ${awkString(value.placeholder)})) > 0) { r = r substr(l, 1, k - 1) v; l = substr(l, k + ${value.placeholder.length}) } print r l }`,
  ].join(' ');
  return `awk '${program}' ${file} > ${file}.tmp && mv ${file}.tmp ${file}`;
}

/** Config files delivered from Parameter Store into one directory of the container. */
export interface ConfigFilesProps {
  /** Directory the files appear in, inside the main container (mounted read-only). */
  readonly directory: string;
  /**
   * One or more files. A file larger than one parameter is stored as several parameters
   * (`<name>/part-<n>`, see lambdas/shared/config-files.ts) and concatenated by the init container.
   */
  readonly files: readonly ConfigFile[];
}

/** Bytes of one part of a split file: under the advanced tier's 8 KB, with room for multi-byte characters. */
const PART_CHARACTERS = 7000;

/** Splits `content` into parts that each fit an advanced parameter (by characters, so UTF-8 never splits). */
export function splitIntoParts(content: string): string[] {
  const parts: string[] = [];
  let part = '';
  for (const char of content) {
    if (Buffer.byteLength(part + char, 'utf8') > PART_CHARACTERS) {
      parts.push(part);
      part = '';
    }
    part += char;
  }
  parts.push(part);
  return parts;
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
  | (DataVolumeBase & { readonly kind: 'efs'; readonly fileSystem: efs.IFileSystem });

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
   * `single-writer` stops the old task before the new one starts, so two tasks never
   * share a WAL or a one-node ring; `rolling` starts the new task first.
   * @default single-writer
   */
  readonly deployment?: 'single-writer' | 'rolling';
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

    /** The image a container pulls, through the registry's cache when it has one, with the execution role allowed to. */
    const pulled = (image: string): ecs.ContainerImage => {
      props.registry?.grantPull(this.taskDefinition.obtainExecutionRole(), image);
      return ecs.ContainerImage.fromRegistry(props.registry?.resolve(image) ?? image);
    };

    this.container = this.taskDefinition.addContainer('main', {
      containerName: props.serviceName,
      image: pulled(props.image),
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
    const initEnvironment: Record<string, string> = {};
    let substitutions = 0;
    const initMounts: ecs.MountPoint[] = [];

    const fileNames = new Set<string>();
    const deployedPaths = new Set<string>();
    const singleFile = (props.config ?? []).reduce((count, directory) => count + directory.files.length, 0) === 1;
    for (const [dirIndex, directory] of (props.config ?? []).entries()) {
      if (directory.files.length === 0) continue;
      // The first directory's volume keeps the plain name.
      const volume = dirIndex === 0 ? 'config' : `config-${dirIndex}`;
      for (const file of directory.files) {
        if (!/^[A-Za-z0-9_.-]+$/.test(file.fileName)) {
          throw new Error(`config file name of ${props.serviceName} must be a plain file name, got "${file.fileName}"`);
        }
        if (fileNames.has(file.fileName)) throw new Error(`config file name "${file.fileName}" of ${props.serviceName} is used twice`);
        fileNames.add(file.fileName);
        const encoded = mustEncodeConfig(file.content);
        if (encoded && Token.isUnresolved(file.content)) {
          throw new Error(
            `config file ${file.fileName} of ${props.serviceName} contains "{{", which Parameter Store refuses, and deploy-time values: ` +
              'pass those as values written in by the init container, so that the file can be encoded at synth time',
          );
        }
        const stored = encoded ? encodeConfig(file.content) : file.content;
        const tier = file.tier ?? 'standard';
        const whole = tier === 'standard' || deployedLengthUpperBound(stored) <= PARAMETER_VALUE_MAX_BYTES;
        if (!whole && Token.isUnresolved(stored)) {
          throw new Error(
            `config file ${file.fileName} of ${props.serviceName} is too large for one parameter and contains deploy-time values`,
          );
        }
        const parts = whole ? [stored] : splitIntoParts(stored);
        const variables = parts.map((content, partIndex) => {
          const name = whole ? file.parameterName : configPartName(file.parameterName, partIndex + 1);
          // The logical ID follows the file's name, never its position: reordering tenants moves no parameter.
          const id = singleFile && whole ? 'Config' : `Config-${file.fileName}${whole ? '' : `-${partIndex + 1}`}`;
          const parameter = new ssm.StringParameter(this, id, {
            parameterName: name,
            stringValue: content,
            tier: parameterTierFor(name, content, tier),
            description: `Rendered ${props.serviceName} configuration (${file.fileName}${whole ? '' : `, part ${partIndex + 1} of ${parts.length}`}); a change rolls the service`,
          });
          this.configParameters.push(parameter);
          // The task definition delivers a copy named by its content, never the parameter itself: ECS would
          // resolve that to its latest version, so a rollback or a replaced task would run whatever was
          // written last (see deployedConfigName). A new content is a new copy and a new task definition.
          const digest = configDigest(JSON.stringify(Stack.of(this).resolve(content)));
          const deployed = new ssm.StringParameter(this, `${id}-Deployed`, {
            parameterName: deployedConfigName(name, 'stack', digest),
            stringValue: content,
            tier: parameterTierFor(name, content, tier),
            description: `${props.serviceName} configuration as this stack deploys it (${file.fileName}); never changed`,
          });
          this.deployedParameters.push(deployed);
          // `/<stack>/deployed/<service>`: every copy of this service's files lies below it.
          deployedPaths.add(deployedConfigPath(name).split('/').slice(0, 4).join('/'));
          const variable = `CONFIG_${this.configParameters.length - 1}`;
          initSecrets[variable] = ecs.Secret.fromSsmParameter(deployed);
          return `"$${variable}"`;
        });
        initCommands.push(...writeConfigCommands(`/${volume}/${file.fileName}`, variables, encoded));
        for (const value of file.values ?? []) {
          if (!file.content.includes(value.placeholder)) {
            throw new Error(`config file ${file.fileName} of ${props.serviceName} does not contain the placeholder "${value.placeholder}"`);
          }
          const variable = `VALUE_${substitutions++}`;
          if ('secret' in value.source) initSecrets[variable] = value.source.secret;
          else initEnvironment[variable] = value.source.value;
          initCommands.push(substitutionCommand(`/${volume}/${file.fileName}`, variable, value));
        }
      }
      this.taskDefinition.addVolume({ name: volume });
      initMounts.push({ sourceVolume: volume, containerPath: `/${volume}`, readOnly: false });
      this.container.addMountPoints({ sourceVolume: volume, containerPath: directory.directory, readOnly: true });
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
        // In the file system's scope, as FileSystem.addAccessPoint puts it: the access point keeps its logical ID.
        const accessPoint = new efs.AccessPoint(data.fileSystem, `${props.serviceName}AccessPoint`, {
          fileSystem: data.fileSystem,
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
        containerName: CONFIG_INIT_CONTAINER,
        image: pulled(props.configInitImage),
        essential: false,
        entryPoint: ['sh', '-c'],
        command: [['set -e', ...initCommands].join(' && ')],
        secrets: initSecrets,
        environment: Object.keys(initEnvironment).length > 0 ? initEnvironment : undefined,
        logging,
        memoryReservationMiB: 32,
      });
      init.addMountPoints(...initMounts);
      this.container.addContainerDependencies({ container: init, condition: ecs.ContainerDependencyCondition.SUCCESS });
    }

    this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: props.cluster.vpc,
      description: `lgtm-fleet ${props.serviceName}`,
      allowAllOutbound: true,
    });
    if (props.data?.kind === 'efs') {
      props.data.fileSystem.connections.allowDefaultPortFrom(this.securityGroup, `${props.serviceName} mounts its data volume`);
    }

    const singleWriter = (props.deployment ?? 'single-writer') === 'single-writer';
    this.service = new ecs.FargateService(this, 'Service', {
      cluster: props.cluster,
      taskDefinition: this.taskDefinition,
      desiredCount: 1,
      securityGroups: [this.securityGroup],
      vpcSubnets: props.vpcSubnets,
      assignPublicIp: false,
      minHealthyPercent: singleWriter ? 0 : 100,
      maxHealthyPercent: singleWriter ? 100 : 200,
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

    if (deployedPaths.size > 0) {
      // The copies a config refresh makes (one per checked version) are read by the same role, at task start.
      const resources = [...deployedPaths].map((path) =>
        Arn.format({ service: 'ssm', resource: 'parameter', resourceName: `${path.slice(1)}/*` }, Stack.of(this)),
      );
      const role = this.taskDefinition.obtainExecutionRole();
      role.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'ReadDeployedConfig', actions: ['ssm:GetParameters'], resources }));
      for (const resource of resources) {
        acknowledgeWildcardResource(
          role.node.tryFindChild('DefaultPolicy') ?? role,
          resource,
          'A config refresh names each copy by version and digest when it makes it: the execution role reads any copy of this service’s files, only those.',
        );
      }
    }
    // The stack updates a config parameter only once the service runs that config: its change event
    // then finds the service already carrying it, and a refresh does not restart the tasks again.
    for (const parameter of this.configParameters) parameter.node.addDependency(this.service);

    Validations.of(this.taskDefinition).acknowledge({
      id: 'AwsSolutions-ECS2',
      reason:
        'Environment variables carry only non-secret settings; secrets arrive through ECS secrets from Secrets Manager/Parameter Store.',
    });
  }
}
