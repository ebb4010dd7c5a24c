import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as efs from 'aws-cdk-lib/aws-efs';
import * as events from 'aws-cdk-lib/aws-events';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { CfnElement, CfnOutput, Duration, Lazy, Names, RemovalPolicy, Stack, type StackProps, Validations } from 'aws-cdk-lib/core';
import { Construct, type IConstruct, RootConstruct } from 'constructs';
import { agentCredentialSecretPrefixOf, type Platform } from '../lambdas/shared/contract';
import { AgentConfigs } from './agents/agent-configs';
import type { Collector } from './components/collector';
import type { Grafana } from './components/grafana';
import type { IngestGateway } from './components/ingest-gateway';
import type { Loki } from './components/loki';
import type { Memcached } from './components/memcached';
import type { Mimir } from './components/mimir';
import type { RingForget } from './components/ring-forget';
import type { Tempo } from './components/tempo';
import type { LgtmConfig } from './config/schema';
import { deliverAgentCredentials } from './enrollment/enroll-handler';
import { Enrollment } from './enrollment/enrollment';
import {
  connectServices,
  createBackends,
  createCollector,
  createGrafana,
  createIngestGateway,
  type FleetServices,
  refreshedServices,
  serviceContext,
} from './fleet-services';
import { ImageRegistry } from './image-registry';
import { Network } from './network';
import { ObjectStore } from './object-store';
import { ConfigRefresh } from './refresh/config-refresh';
import { renderAgentConfig } from './render/agent';
import { parameterPrefix } from './render/catalog';

export interface LgtmFleetStackProps extends StackProps {
  /** The validated configuration (see lib/config/schema.ts). */
  readonly config: LgtmConfig;
}

/** The whole lgtm-fleet deployment: network, object storage, the backends and their endpoints. */
export class LgtmFleetStack extends Stack implements FleetServices {
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
    // The template grows with the tenants (configs, credentials, data sources) toward CloudFormation's
    // 1 MB limit: without indentation it is about a fifth smaller (docs/configuration.md, tenants).
    super(scope, id, { suppressTemplateIndentation: true, ...props });
    const { config } = props;

    this.network = new Network(this, 'Network', { vpc: config.network.vpc, namespaceName: config.network.namespaceName });
    this.store = new ObjectStore(this, 'Storage', {
      bucketName: config.storage.bucketName,
      importExisting: config.storage.importBucket,
      noncurrentVersionDays: config.storage.noncurrentVersionDays,
      incompleteUploadDays: config.storage.incompleteUploadDays,
    });
    this.fileSystem = createStateFileSystem(this, this.network);
    const registry = new ImageRegistry(this, 'Images', { dockerHubCredentialsSecretArn: config.images.dockerHubCredentialsSecretArn });
    const shared = serviceContext({ config, network: this.network, store: this.store, fileSystem: this.fileSystem, registry });

    ({ memcached: this.memcached, mimir: this.mimir, loki: this.loki, tempo: this.tempo } = createBackends(this, shared));
    this.grafana = createGrafana(this, shared, this.deadLetterQueueNames(config));
    if (config.collector.enabled) this.collector = createCollector(this, shared);
    this.ingest = createIngestGateway(this, shared, this);

    this.eventBus = new events.EventBus(this, 'EventBus', {
      eventBusName: this.stackName,
      description: 'lgtm-fleet outcomes: Agent Enrolled / Enrollment Failed / Refused, Config Refresh …',
    });
    this.agentConfigs = createAgentConfigs(this, config, this.ingest);
    this.enrollment = createEnrollment(this, config, this.agentConfigs, this.eventBus);
    // The gateway's agent credentials (ingest.tenantBinding), written into the configs enroll and refresh send.
    const agentCredentialSecretPrefix = this.ingest.gateway ? agentCredentialSecretPrefixOf(this.stackName) : undefined;
    if (agentCredentialSecretPrefix !== undefined) deliverAgentCredentials(this.enrollment.enrollFunction, agentCredentialSecretPrefix);
    this.refresh = new ConfigRefresh(this, 'Refresh', {
      agentConfigs: this.agentConfigs,
      eventBus: this.eventBus,
      cluster: this.network.cluster,
      services: refreshedServices(this),
      alloyVersion: config.agent.alloyVersion,
      stopLegacyAgents: config.enrollment.stopLegacyAgents,
      maxConcurrency: config.refresh.maxConcurrency,
      maxErrors: config.refresh.maxErrors,
      logRetentionDays: config.retention.containerLogsDays,
      agentCredentialSecretPrefix,
    });

    connectServices(this);
    limitParameterWrites(this, PARAMETER_WRITE_LANES);
    this.alarmTopic = createAlarmTopic(this, config, [
      this.enrollment.deadLetterAlarm,
      this.refresh.deadLetterAlarm,
      ...this.ringForgets().map((ringForget) => ringForget.deadLetterAlarm),
    ]);
    addOutputs(this, config);
  }

  /** The names of the pipelines' dead-letter queues, which Grafana's alert watches. */
  private deadLetterQueueNames(config: LgtmConfig): string[] {
    // The queues are created further down, with the pipelines that own them; the rings' only with replicas.
    const ringForgetQueue = (backend: 'mimir' | 'loki') =>
      config.services[backend].replicas > 1
        ? [Lazy.string({ produce: () => this[backend].ringForget?.deadLetterQueue.queueName ?? '' })]
        : [];
    return [
      Lazy.string({ produce: () => this.enrollment.deadLetterQueue.queueName }),
      Lazy.string({ produce: () => this.refresh.deadLetterQueue.queueName }),
      ...ringForgetQueue('mimir'),
      ...ringForgetQueue('loki'),
    ];
  }

  /** The ring-forget functions of the replicated backends (Mimir's, then Loki's). */
  private ringForgets(): RingForget[] {
    return [this.mimir.ringForget, this.loki.ringForget].filter((ringForget) => ringForget !== undefined);
  }
}

/** The encrypted, backed-up file system for state: Tempo needs it in every configuration (see Tempo), so it always exists. */
function createStateFileSystem(scope: Construct, network: Network): efs.FileSystem {
  return new efs.FileSystem(scope, 'StateFileSystem', {
    vpc: network.vpc,
    vpcSubnets: network.privateSubnets,
    encrypted: true,
    enableAutomaticBackups: true,
    performanceMode: efs.PerformanceMode.GENERAL_PURPOSE,
    throughputMode: efs.ThroughputMode.ELASTIC,
    // Kept on update and delete, removed when the first create fails (nothing is lost yet).
    removalPolicy: RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
  });
}

/** Each tenant's agent config for both platforms, pushing to `ingest`, and the agent documents. */
function createAgentConfigs(scope: Construct, config: LgtmConfig, ingest: IngestGateway): AgentConfigs {
  const endpoints = { metricsUrl: ingest.metricsUrl, logsUrl: ingest.logsUrl, tracesUrl: ingest.tracesUrl };
  const agentConfig = (tenant: string, platform: Platform) => renderAgentConfig({ config, tenant, platform, endpoints });
  // The construct ID sorts between Collector and Grafana, where Enrollment does: limitParameterWrites
  // chains parameters in path order, and the chains stay as they were.
  const agentConfigs = new AgentConfigs(scope, 'FleetAgents', {
    parameterPrefix: parameterPrefix(config),
    tenants: config.tenants.allowed.map((tenant) => ({
      tenant,
      configs: { linux: agentConfig(tenant, 'linux'), windows: agentConfig(tenant, 'windows') },
    })),
  });
  // The documents and parameters were created inside Enrollment before they had an owner of their
  // own: they keep the logical IDs they had there.
  keepLogicalIds(agentConfigs, ['Enrollment']);
  return agentConfigs;
}

/** The pipeline that installs the agent on every instance in the enrollment scope. */
function createEnrollment(scope: Construct, config: LgtmConfig, agentConfigs: AgentConfigs, eventBus: events.IEventBus): Enrollment {
  return new Enrollment(scope, 'Enrollment', {
    agentConfigs,
    eventBus,
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
}

/** The topic every CloudWatch alarm of the stack announces itself on, emailed when `alarms.email` is set. */
function createAlarmTopic(stack: Stack, config: LgtmConfig, alarms: readonly cloudwatch.Alarm[]): sns.Topic {
  const topic = new sns.Topic(stack, 'Alarms', { displayName: `${stack.stackName} alarms`, enforceSSL: true });
  Validations.of(topic).acknowledge({
    id: 'AwsSolutions-SNS2',
    reason:
      'Alarm notifications carry alarm names and states only; CloudWatch cannot publish to a topic encrypted with the AWS-managed SNS key, and a customer-managed key for them is not worth its cost.',
  });
  if (config.alarms.email) topic.addSubscription(new subscriptions.EmailSubscription(config.alarms.email));
  for (const alarm of alarms) {
    alarm.addAlarmAction(new cloudwatchActions.SnsAction(topic));
  }
  new CfnOutput(stack, 'AlarmTopicArn', {
    value: topic.topicArn,
    description: `where the stack's alarms are announced${config.alarms.email ? ` (and emailed to ${config.alarms.email})` : ': subscribe to it'}`,
  });
  return topic;
}

/** What the operator needs after a deploy: who gets the agent, where Grafana and the ingest endpoint are. */
function addOutputs(stack: LgtmFleetStack, config: LgtmConfig): void {
  new CfnOutput(stack, 'EnrollmentScope', {
    value: describeEnrollmentScope(config),
    description: 'which instances get the Alloy agent (installed as root); the value ends with the command that counts them',
  });
  new CfnOutput(stack, 'GrafanaUrl', { value: stack.grafana.url, description: 'Grafana (user admin)' });
  new CfnOutput(stack, 'GrafanaAdminSecretArn', {
    value: stack.grafana.adminSecret.secretArn,
    description: 'Secrets Manager secret holding the Grafana admin password',
  });
  new CfnOutput(stack, 'IngestUrl', { value: stack.ingest.url, description: 'Base URL agents push to' });
  new CfnOutput(stack, 'DataBucketName', { value: stack.store.bucket.bucketName });
  new CfnOutput(stack, 'ClusterName', { value: stack.network.cluster.clusterName });
  new CfnOutput(stack, 'EventBusName', { value: stack.eventBus.eventBusName, description: 'lgtm-fleet outcome events' });
  new CfnOutput(stack, 'EnrollmentDeadLetterQueueUrl', {
    value: stack.enrollment.deadLetterQueue.queueUrl,
    description: 'enrollment events that could not be processed, each with a reason attribute',
  });
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
