import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as efs from 'aws-cdk-lib/aws-efs';
import * as events from 'aws-cdk-lib/aws-events';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Aws, CfnElement, CfnOutput, Duration, Lazy, Names, RemovalPolicy, Stack, type StackProps, Validations } from 'aws-cdk-lib/core';
import { Construct, type IConstruct, RootConstruct } from 'constructs';
import type { Platform } from '../lambdas/shared/contract';
import { AgentConfigs } from './agents/agent-configs';
import { Collector } from './components/collector';
import { Grafana } from './components/grafana';
import { IngestGateway } from './components/ingest-gateway';
import { Loki } from './components/loki';
import { Memcached } from './components/memcached';
import { Mimir } from './components/mimir';
import { Tempo } from './components/tempo';
import type { LgtmConfig } from './config/schema';
import { Enrollment } from './enrollment/enrollment';
import { ImageRegistry } from './image-registry';
import { Network } from './network';
import { ObjectStore } from './object-store';
import { ConfigRefresh } from './refresh/config-refresh';
import { renderAgentConfig } from './render/agent';
import { BACKENDS, type DeployFacts, parameterPrefix, type RenderInput } from './render/catalog';
import { COLLECTOR, collectorEntrypoint, collectorLogGroupArnPatterns, renderCollectorConfig } from './render/collector';
import { renderGrafanaDatasourceFiles } from './render/grafana';
import { alertContactUrlSecret, deadLetterQueuePlaceholder, renderGrafanaAlertFiles } from './render/grafana-alerts';
import { GRAFANA_DIRECTORIES, type GrafanaFile, renderGrafanaDashboardFiles } from './render/grafana-dashboards';
import { renderLokiConfig } from './render/loki';
import { renderMimirConfig } from './render/mimir';
import { renderTempoConfig } from './render/tempo';

export interface LgtmFleetStackProps extends StackProps {
  /** The validated configuration (see lib/config/schema.ts). */
  readonly config: LgtmConfig;
}

/** The whole lgtm-fleet deployment: network, object storage, the backends and their endpoints. */
export class LgtmFleetStack extends Stack {
  public readonly network: Network;
  public readonly store: ObjectStore;
  public readonly memcached: Memcached;
  public readonly mimir: Mimir;
  public readonly loki: Loki;
  public readonly tempo: Tempo;
  public readonly grafana: Grafana;
  public readonly ingest: IngestGateway;
  /** The project's own event bus: enrollment and refresh outcomes. */
  public readonly eventBus: events.EventBus;
  /** The agent documents and each tenant's agent config, used by enrollment and refresh. */
  public readonly agentConfigs: AgentConfigs;
  public readonly enrollment: Enrollment;
  public readonly refresh: ConfigRefresh;
  /** Present when `collector.enabled`. */
  public readonly collector?: Collector;
  /** Where every CloudWatch alarm of the stack is announced. */
  public readonly alarmTopic: sns.Topic;
  /**
   * Tempo's WAL (always), backend state in `efs` durability, and the collector's checkpoints.
   */
  public readonly fileSystem: efs.FileSystem;

  constructor(scope: Construct, id: string, props: LgtmFleetStackProps) {
    super(scope, id, props);
    const { config } = props;

    this.network = new Network(this, 'Network', {
      vpc: config.network.vpc,
      namespaceName: config.network.namespaceName,
    });
    this.store = new ObjectStore(this, 'Storage', {
      bucketName: config.storage.bucketName,
      importExisting: config.storage.importBucket,
      noncurrentVersionDays: config.storage.noncurrentVersionDays,
      incompleteUploadDays: config.storage.incompleteUploadDays,
    });
    // Tempo needs it in every configuration (see Tempo), so the file system always exists.
    this.fileSystem = new efs.FileSystem(this, 'StateFileSystem', {
      vpc: this.network.vpc,
      vpcSubnets: this.network.privateSubnets,
      encrypted: true,
      enableAutomaticBackups: true,
      performanceMode: efs.PerformanceMode.GENERAL_PURPOSE,
      throughputMode: efs.ThroughputMode.ELASTIC,
      // Kept on update and delete, removed when the first create fails (nothing is lost yet).
      removalPolicy: RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
    });

    const deploy: DeployFacts = { region: Aws.REGION, bucketName: this.store.bucket.bucketName, urlSuffix: Aws.URL_SUFFIX };
    const render: RenderInput = { config, deploy };
    const prefix = parameterPrefix(config);
    const registry = new ImageRegistry(this, 'Images', { dockerHubCredentialsSecretArn: config.images.dockerHubCredentialsSecretArn });
    const runtime = {
      cluster: this.network.cluster,
      namespace: this.network.namespace,
      vpcSubnets: this.network.privateSubnets,
      registry,
      configInitImage: config.images.configInit,
      logRetentionDays: config.retention.containerLogsDays,
    };
    const backendFileSystem = config.storage.durability === 'efs' ? this.fileSystem : undefined;
    const stateful = {
      ...runtime,
      parameterPrefix: prefix,
      bucket: this.store.bucket,
      fileSystem: backendFileSystem,
      ephemeralStorageGiB: config.storage.ephemeralStorageGiB,
    };

    this.memcached = new Memcached(this, 'Memcached', { ...runtime, image: config.images.memcached, size: config.services.memcached });
    this.mimir = new Mimir(this, 'Mimir', {
      ...stateful,
      image: config.images.mimir,
      size: config.services.mimir,
      configFile: renderMimirConfig(render),
    });
    this.loki = new Loki(this, 'Loki', {
      ...stateful,
      image: config.images.loki,
      size: config.services.loki,
      configFile: renderLokiConfig(render),
    });
    this.tempo = new Tempo(this, 'Tempo', {
      ...stateful,
      image: config.images.tempo,
      size: config.services.tempo,
      configFile: renderTempoConfig(render),
      fileSystem: this.fileSystem,
    });
    // The queues are created further down, with the pipelines that own them.
    const deadLetterQueueNames = [
      Lazy.string({ produce: () => this.enrollment.deadLetterQueue.queueName }),
      Lazy.string({ produce: () => this.refresh.deadLetterQueue.queueName }),
    ];
    this.grafana = new Grafana(this, 'Grafana', {
      ...runtime,
      parameterPrefix: prefix,
      image: config.images.grafana,
      size: config.services.grafana,
      files: grafanaFiles(render, deadLetterQueueNames.length),
      deadLetterQueueNames,
      alertContactUrlSecret: alertContactUrlSecret(config),
      internetFacing: config.grafana.internetFacing,
      loadBalancerSubnets: config.grafana.internetFacing ? this.network.publicSubnets : this.network.privateSubnets,
      certificateArn: config.grafana.certificateArn,
      domainName: config.grafana.domainName,
      allowedCidrs: config.grafana.allowedCidrs,
      accessLogsBucket: this.store.accessLogsBucket,
      fileSystem: backendFileSystem,
    });
    if (config.collector.enabled) {
      this.collector = new Collector(this, 'Collector', {
        ...runtime,
        parameterPrefix: prefix,
        image: config.images.alloy,
        size: config.services.collector,
        configFile: renderCollectorConfig(render),
        entryPoint: collectorEntrypoint(config),
        logGroupPatterns: collectorLogGroupArnPatterns(config),
        fileSystem: this.fileSystem,
      });
    }
    this.ingest = new IngestGateway(this, 'Ingest', {
      vpc: this.network.vpc,
      vpcSubnets: this.network.privateSubnets,
      allowedCidrs: config.ingest.allowedCidrs,
      allowedSecurityGroupIds: config.ingest.allowedSecurityGroupIds,
      mimir: this.mimir.backend.service,
      loki: this.loki.backend.service,
      tempo: this.tempo.backend.service,
      accessLogsBucket: this.store.accessLogsBucket,
    });

    this.eventBus = new events.EventBus(this, 'EventBus', {
      eventBusName: this.stackName,
      description: 'lgtm-fleet outcomes: Agent Enrolled / Enrollment Failed / Refused, Config Refresh …',
    });
    const endpoints = { metricsUrl: this.ingest.metricsUrl, logsUrl: this.ingest.logsUrl, tracesUrl: this.ingest.tracesUrl };
    const agentConfig = (tenant: string, platform: Platform) => renderAgentConfig({ config, tenant, platform, endpoints });
    // The construct ID sorts between Collector and Grafana, where Enrollment does: limitParameterWrites
    // chains parameters in path order, and the chains stay as they were.
    this.agentConfigs = new AgentConfigs(this, 'FleetAgents', {
      parameterPrefix: prefix,
      tenants: config.tenants.allowed.map((tenant) => ({
        tenant,
        configs: { linux: agentConfig(tenant, 'linux'), windows: agentConfig(tenant, 'windows') },
      })),
    });
    // The documents and parameters were created inside Enrollment before they had an owner of their
    // own: they keep the logical IDs they had there.
    keepLogicalIds(this.agentConfigs, ['Enrollment']);
    this.enrollment = new Enrollment(this, 'Enrollment', {
      agentConfigs: this.agentConfigs,
      eventBus: this.eventBus,
      tenantTagKey: config.tags.tenant,
      optOutTagKey: config.tags.optOut,
      defaultTenant: config.tenants.ec2Default ?? undefined,
      scope: config.enrollment.scope,
      alloyVersion: config.agent.alloyVersion,
      stopLegacyAgents: config.enrollment.stopLegacyAgents,
      deadline: Duration.minutes(config.enrollment.deadlineMinutes),
      lifecycleFailureResult: config.enrollment.lifecycleFailureResult,
      reconcileInterval: Duration.minutes(config.enrollment.reconcileIntervalMinutes),
      logRetentionDays: config.retention.containerLogsDays,
    });

    this.refresh = new ConfigRefresh(this, 'Refresh', {
      agentConfigs: this.agentConfigs,
      eventBus: this.eventBus,
      cluster: this.network.cluster,
      services: {
        mimir: this.mimir.backend.service,
        loki: this.loki.backend.service,
        tempo: this.tempo.backend.service,
        grafana: this.grafana.backend.service,
        ...(this.collector ? { collector: this.collector.backend.service } : {}),
      },
      alloyVersion: config.agent.alloyVersion,
      stopLegacyAgents: config.enrollment.stopLegacyAgents,
      maxConcurrency: config.refresh.maxConcurrency,
      maxErrors: config.refresh.maxErrors,
      logRetentionDays: config.retention.containerLogsDays,
    });

    // Who talks to whom on the shared network; nothing else is open.
    const memcachedPort = ec2.Port.tcp(BACKENDS.memcached.port);
    for (const client of [this.mimir.backend, this.loki.backend]) {
      this.memcached.backend.securityGroup.connections.allowFrom(client.securityGroup, memcachedPort, 'cache clients');
      // Mimir 3.1+ refuses to start while memcached's name resolves to no address; CloudFormation
      // creates the cache clients only once memcached's service is stable (its tasks registered in
      // Cloud Map). Later, memcached rolls new-before-old, so its name never empties during its own
      // deployments; a Mimir task started while memcached is down exits and ECS starts another.
      client.service.node.addDependency(this.memcached.backend.service);
    }
    const grafanaQueries: Array<[typeof this.mimir.backend, number]> = [
      [this.mimir.backend, BACKENDS.mimir.httpPort],
      [this.loki.backend, BACKENDS.loki.httpPort],
      [this.tempo.backend, BACKENDS.tempo.httpPort],
    ];
    for (const [backend, port] of grafanaQueries) {
      backend.securityGroup.connections.allowFrom(this.grafana.backend.securityGroup, ec2.Port.tcp(port), 'Grafana queries');
    }
    if (this.collector) {
      // Remote write and push, plus scraping every service's /metrics for the meta tenant.
      const scraped: Array<[typeof this.mimir.backend, number]> = [
        ...grafanaQueries,
        [this.grafana.backend, BACKENDS.grafana.httpPort],
        [this.memcached.backend, BACKENDS.memcached.port],
      ];
      for (const [backend, port] of scraped) {
        backend.securityGroup.connections.allowFrom(this.collector.backend.securityGroup, ec2.Port.tcp(port), 'collector');
      }
      this.collector.backend.securityGroup.connections.allowFrom(
        this.grafana.backend.securityGroup,
        ec2.Port.tcp(COLLECTOR.httpPort),
        'collector UI from Grafana',
      );
    }

    limitParameterWrites(this, PARAMETER_WRITE_LANES);

    // Every CloudWatch alarm of the stack announces itself on one topic.
    this.alarmTopic = new sns.Topic(this, 'Alarms', { displayName: `${this.stackName} alarms`, enforceSSL: true });
    Validations.of(this.alarmTopic).acknowledge({
      id: 'AwsSolutions-SNS2',
      reason:
        'Alarm notifications carry alarm names and states only; CloudWatch cannot publish to a topic encrypted with the AWS-managed SNS key, and a customer-managed key for them is not worth its cost.',
    });
    if (config.alarms.email) this.alarmTopic.addSubscription(new subscriptions.EmailSubscription(config.alarms.email));
    for (const alarm of [this.enrollment.deadLetterAlarm, this.refresh.deadLetterAlarm]) {
      alarm.addAlarmAction(new cloudwatchActions.SnsAction(this.alarmTopic));
    }
    new CfnOutput(this, 'AlarmTopicArn', {
      value: this.alarmTopic.topicArn,
      description: `where the stack's alarms are announced${config.alarms.email ? ` (and emailed to ${config.alarms.email})` : ': subscribe to it'}`,
    });

    new CfnOutput(this, 'EnrollmentScope', {
      value: describeEnrollmentScope(config),
      description: 'which instances get the Alloy agent (installed as root); the value ends with the command that counts them',
    });
    new CfnOutput(this, 'GrafanaUrl', { value: this.grafana.url, description: 'Grafana (user admin)' });
    new CfnOutput(this, 'GrafanaAdminSecretArn', {
      value: this.grafana.adminSecret.secretArn,
      description: 'Secrets Manager secret holding the Grafana admin password',
    });
    new CfnOutput(this, 'IngestUrl', { value: this.ingest.url, description: 'Base URL agents push to' });
    new CfnOutput(this, 'DataBucketName', { value: this.store.bucket.bucketName });
    new CfnOutput(this, 'ClusterName', { value: this.network.cluster.clusterName });
    new CfnOutput(this, 'EventBusName', { value: this.eventBus.eventBusName, description: 'lgtm-fleet outcome events' });
    new CfnOutput(this, 'EnrollmentDeadLetterQueueUrl', {
      value: this.enrollment.deadLetterQueue.queueUrl,
      description: 'enrollment events that could not be processed, each with a reason attribute',
    });
  }
}

/** Grafana's provisioning files: data sources, dashboards, and alerts watching `deadLetterQueues` queues. */
function grafanaFiles(render: RenderInput, deadLetterQueues: number): GrafanaFile[] {
  return [
    ...renderGrafanaDatasourceFiles(render).map((file) => ({ ...file, directory: GRAFANA_DIRECTORIES.datasources })),
    ...renderGrafanaDashboardFiles(render),
    ...renderGrafanaAlertFiles({
      ...render,
      deploy: {
        ...render.deploy,
        deadLetterQueueNames: Array.from({ length: deadLetterQueues }, (_, index) => deadLetterQueuePlaceholder(index)),
      },
    }),
  ];
}

/**
 * Gives every resource under `moved` the logical ID it had when `moved`'s children were children
 * of the construct at `formerPath` (construct IDs below the stack). A changed logical ID makes
 * CloudFormation create the resource anew and delete the old one: a parameter with a fixed name
 * cannot be created twice, a document comes back under a new name, a data store comes back empty.
 */
function keepLogicalIds(moved: IConstruct, formerPath: readonly string[]): void {
  const depth = moved.node.scopes.length;
  for (const element of moved.node.findAll()) {
    if (!(element instanceof CfnElement)) continue;
    const below = element.node.scopes.slice(depth).map((scope) => scope.node.id);
    element.overrideLogicalId(logicalIdAt([...formerPath, ...below]));
  }
}

/** The logical ID CDK gives a resource at `path` (construct IDs below the stack). */
function logicalIdAt(path: readonly string[]): string {
  // Outside a stack, a construct's unique ID is made from the same path the same way.
  let scope: Construct = new RootConstruct();
  for (const id of path) scope = new Construct(scope, id);
  return Names.uniqueId(scope);
}

/**
 * How many Parameter Store parameters CloudFormation writes at once. It would otherwise create or
 * update every parameter in parallel (79 with 20 tenants), and PutParameter's throughput is low
 * (AWS Support quotes 3 per second by default); its retries give up after a few throttled calls.
 */
export const PARAMETER_WRITE_LANES = 3;

/**
 * Chains the stack's parameters into `lanes` sequences (each one waits for the one `lanes` before
 * it, in name order), so at most `lanes` writes are in flight during a deploy. Parameters that
 * wait for other resources (a service's config parameters wait for the service, which reads the
 * copies) come last, so that no lane makes a resource wait for what waits on it.
 */
export function limitParameterWrites(stack: Stack, lanes: number): void {
  const parameters = stack.node
    .findAll()
    .filter((c): c is ssm.CfnParameter => c instanceof ssm.CfnParameter)
    .sort((a, b) => a.node.path.localeCompare(b.node.path));
  const waits = (parameter: ssm.CfnParameter) => (parameter.node.scope?.node.dependencies.length ?? 0) > 0;
  const ordered = [...parameters.filter((p) => !waits(p)), ...parameters.filter(waits)];
  ordered.forEach((parameter, index) => {
    if (index >= lanes) parameter.addResourceDependency(ordered[index - lanes] as ssm.CfnParameter);
  });
}

/**
 * The enrollment scope in words, with the AWS CLI command that counts the SSM-managed instances
 * in it (run it before a first deploy: reconciliation enrolls them all within its interval).
 */
export function describeEnrollmentScope(config: LgtmConfig): string {
  const scope = config.enrollment.scope;
  const optOut = `not tagged ${config.tags.optOut}=true`;
  if (scope === undefined) {
    const untagged = config.tenants.ec2Default ? `untagged ones into tenant ${config.tenants.ec2Default}` : 'untagged ones skipped';
    return (
      `every running SSM-managed instance of the region ${optOut} (${untagged}); ` +
      "count: aws ssm describe-instance-information --query 'length(InstanceInformationList)'"
    );
  }
  const values = scope.values.length > 0 ? scope.values.join(',') : undefined;
  return (
    `running SSM-managed instances tagged ${scope.tagKey}${values ? ` = ${values}` : ''}, ${optOut}; ` +
    `count: aws ssm describe-instance-information --filters ${values ? `Key=tag:${scope.tagKey},Values=${values}` : `Key=tag-key,Values=${scope.tagKey}`} ` +
    "--query 'length(InstanceInformationList)'"
  );
}
