import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as efs from 'aws-cdk-lib/aws-efs';
import { Annotations, Aws } from 'aws-cdk-lib/core';
import type { Construct } from 'constructs';
import type { BackendService } from './backend-service';
import { Collector } from './components/collector';
import type { ComponentProps, ConfiguredComponentProps, StatefulComponentProps } from './components/common';
import { Gateway } from './components/gateway';
import { Grafana } from './components/grafana';
import { IngestGateway } from './components/ingest-gateway';
import { Loki } from './components/loki';
import { Memcached } from './components/memcached';
import { Mimir } from './components/mimir';
import { Tempo } from './components/tempo';
import type { LgtmConfig } from './config/schema';
import type { IImageRegistry } from './image-registry';
import type { Network } from './network';
import type { ObjectStore } from './object-store';
import type { RefreshedService } from './refresh/config-refresh';
import { BACKENDS, type DeployFacts, parameterPrefix, type RenderInput, stateOnFileSystem } from './render/catalog';
import { COLLECTOR, collectorEntrypoint, collectorLogGroupArnPatterns, renderCollectorConfig } from './render/collector';
import { deployedGatewayEndpoints, type GATEWAY_ROUTES, type GatewayBinding, renderGatewayConfig } from './render/gateway';
import { renderGrafanaDatasourceFiles } from './render/grafana';
import { alertContactUrlSecret, deadLetterQueuePlaceholder, renderGrafanaAlertFiles } from './render/grafana-alerts';
import { GRAFANA_DIRECTORIES, type GrafanaFile, renderGrafanaDashboardFiles } from './render/grafana-dashboards';
import { renderLokiConfig } from './render/loki';
import { renderMimirConfig } from './render/mimir';
import { renderTempoConfig } from './render/tempo';

/** What the stack's services are built from: the config and the network, storage and props they share. */
export interface ServiceContext {
  readonly config: LgtmConfig;
  /** What every configuration file is rendered from. */
  readonly render: RenderInput;
  readonly network: Network;
  readonly store: ObjectStore;
  /** The state file system: Tempo's and the collector's in every configuration. */
  readonly fileSystem: efs.IFileSystem;
  /** Every service's props but its image and size: where it runs, where images come from, how long logs are kept. */
  readonly runtime: Omit<ComponentProps, 'image' | 'size'>;
  /** {@link runtime} and the Parameter Store prefix of the services whose configuration the stack renders. */
  readonly configured: Omit<ConfiguredComponentProps, 'image' | 'size'>;
  /** {@link configured} and the data bucket and state volume of Mimir, Loki and Tempo. */
  readonly stateful: Omit<StatefulComponentProps, 'image' | 'size' | 'configFile'>;
}

/** The stack's services, as they talk to each other and as config refresh rolls them. */
export interface FleetServices {
  readonly memcached: Memcached;
  readonly mimir: Mimir;
  readonly loki: Loki;
  readonly tempo: Tempo;
  readonly grafana: Grafana;
  readonly collector?: Collector;
  /** The ingest load balancer, and the tenant-binding gateway behind it when `ingest.tenantBinding`. */
  readonly ingest?: IngestGateway;
}

/**
 * A created VPC asked for 3 or more zones gets 2 in a stack with no account and region (CDK cannot
 * look them up), and replicas are then not zone-aware: say so at synth rather than leave it silent.
 */
function warnIfZonesMissing(network: Network, config: LgtmConfig): void {
  const vpc = config.network.vpc;
  const replicated = config.services.mimir.replicas > 1 || config.services.loki.replicas > 1;
  if (!replicated || vpc.mode !== 'create' || vpc.maxAzs < 3 || network.vpc.availabilityZones.length >= 3) return;
  Annotations.of(network).addWarningV2(
    'lgtm-fleet:replicas-not-zone-aware',
    `network.vpc.maxAzs is ${vpc.maxAzs}, but a stack without env (account and region) gets ${network.vpc.availabilityZones.length} zones: ` +
      'Mimir and Loki replicas are not zone-aware. Set env to spread them over 3 zones.',
  );
}

/** The {@link ServiceContext} of a stack's network, storage and image registry. */
export function serviceContext(shared: {
  config: LgtmConfig;
  network: Network;
  store: ObjectStore;
  fileSystem: efs.IFileSystem;
  registry: IImageRegistry;
}): ServiceContext {
  const { config, network, store, fileSystem, registry } = shared;
  warnIfZonesMissing(network, config);
  const deploy: DeployFacts = {
    region: Aws.REGION,
    bucketName: store.bucket.bucketName,
    urlSuffix: Aws.URL_SUFFIX,
    availabilityZones: new Set(network.vpc.selectSubnets(network.privateSubnets).availabilityZones).size,
  };
  const runtime = {
    cluster: network.cluster,
    namespace: network.namespace,
    vpcSubnets: network.privateSubnets,
    registry,
    configInitImage: config.images.configInit,
    logRetentionDays: config.retention.containerLogsDays,
  };
  const configured = { ...runtime, parameterPrefix: parameterPrefix(config) };
  const stateful = {
    ...configured,
    bucket: store.bucket,
    // Backend state goes to the file system in `efs` durability only.
    fileSystem: config.storage.durability === 'efs' ? fileSystem : undefined,
    ephemeralStorageGiB: config.storage.ephemeralStorageGiB,
  };
  return { config, render: { config, deploy }, network, store, fileSystem, runtime, configured, stateful };
}

/**
 * Mimir's or Loki's props: image, size and replicas from the config, state on the file system only
 * in `efs` durability with one replica (see stateOnFileSystem).
 */
function clusteredBackendProps(context: ServiceContext, backend: 'mimir' | 'loki', configFile: string) {
  const { config, stateful } = context;
  return {
    ...stateful,
    image: config.images[backend],
    size: config.services[backend],
    replicas: config.services[backend].replicas,
    fileSystem: stateOnFileSystem(config, backend) ? stateful.fileSystem : undefined,
    configFile,
  };
}

/** The cache and the three backends, each with its rendered configuration. */
export function createBackends(scope: Construct, context: ServiceContext): Pick<FleetServices, 'memcached' | 'mimir' | 'loki' | 'tempo'> {
  const { config, render, runtime, stateful } = context;
  const memcached = new Memcached(scope, 'Memcached', {
    ...runtime,
    image: config.images.memcached,
    size: config.services.memcached,
    replicas: config.services.memcached.replicas,
  });
  const mimir = new Mimir(scope, 'Mimir', clusteredBackendProps(context, 'mimir', renderMimirConfig(render)));
  const loki = new Loki(scope, 'Loki', clusteredBackendProps(context, 'loki', renderLokiConfig(render)));
  const tempo = new Tempo(scope, 'Tempo', {
    ...stateful,
    image: config.images.tempo,
    size: config.services.tempo,
    configFile: renderTempoConfig(render),
    fileSystem: context.fileSystem,
  });
  return { memcached, mimir, loki, tempo };
}

/** Grafana with its provisioning files; its dead-letter alert watches `deadLetterQueueNames`. */
export function createGrafana(scope: Construct, context: ServiceContext, deadLetterQueueNames: readonly string[]): Grafana {
  const { config, network } = context;
  return new Grafana(scope, 'Grafana', {
    ...context.configured,
    image: config.images.grafana,
    size: config.services.grafana,
    files: grafanaFiles(context.render, deadLetterQueueNames.length),
    deadLetterQueueNames,
    alertContactUrlSecret: alertContactUrlSecret(config),
    internetFacing: config.grafana.internetFacing,
    loadBalancerSubnets: config.grafana.internetFacing ? network.publicSubnets : network.privateSubnets,
    certificateArn: config.grafana.certificateArn,
    domainName: config.grafana.domainName,
    allowedCidrs: config.grafana.allowedCidrs,
    accessLogsBucket: context.store.accessLogsBucket,
    fileSystem: context.stateful.fileSystem,
  });
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

/** The Alloy collector: CloudWatch logs and the services' own metrics, its checkpoints on the state file system. */
export function createCollector(scope: Construct, context: ServiceContext): Collector {
  const { config } = context;
  return new Collector(scope, 'Collector', {
    ...context.configured,
    image: config.images.alloy,
    size: config.services.collector,
    configFile: renderCollectorConfig(context.render),
    entryPoint: collectorEntrypoint(config),
    logGroupPatterns: collectorLogGroupArnPatterns(config),
    fileSystem: context.fileSystem,
  });
}

/** The tenant-binding gateway: nginx deciding each write's tenant from the sender's write credential. */
function createTenantGateway(scope: Construct, context: ServiceContext, mode: GatewayBinding['mode']): Gateway {
  const { config, network } = context;
  if (mode === 'migrate') {
    // A transition, not a way to run: say so at every synth until it is over.
    Annotations.of(scope).addWarningV2(
      'lgtm-fleet:tenant-binding-migrate',
      'ingest.tenantBinding is "migrate": writes without a credential still land in the tenant their X-Scope-OrgID names. ' +
        'Set "enforce" once IngestWritesUnbound has stayed at zero (docs/security.md).',
    );
  }
  const endpoints = deployedGatewayEndpoints(config);
  return new Gateway(scope, 'Gateway', {
    ...context.configured,
    image: config.images.gateway,
    size: config.services.gateway,
    replicas: config.services.gateway.replicas,
    tenants: config.tenants.allowed,
    configFile: renderGatewayConfig({ tenants: config.tenants.allowed, mode }, endpoints),
    loadBalancerCidr: network.vpcCidr,
  });
}

/** The load balancer agents push to, routing each signal to its backend, or every one to the tenant-binding gateway. */
export function createIngestGateway(
  scope: Construct,
  context: ServiceContext,
  backends: Pick<FleetServices, 'mimir' | 'loki' | 'tempo'>,
): IngestGateway {
  const { config, network } = context;
  return new IngestGateway(scope, 'Ingest', {
    vpc: network.vpc,
    vpcSubnets: network.privateSubnets,
    allowedCidrs: config.ingest.allowedCidrs,
    allowedSecurityGroupIds: config.ingest.allowedSecurityGroupIds,
    mimir: backends.mimir.backend.service,
    loki: backends.loki.backend.service,
    tempo: backends.tempo.backend.service,
    accessLogsBucket: context.store.accessLogsBucket,
    gateway: config.ingest.tenantBinding === 'off' ? undefined : createTenantGateway(scope, context, config.ingest.tenantBinding),
  });
}

/** The services config refresh rolls by name: every one with config parameters (not memcached). */
export function refreshedServices(services: FleetServices): Record<string, RefreshedService> {
  return {
    mimir: services.mimir.backend.service,
    loki: services.loki.backend.service,
    tempo: services.tempo.backend.service,
    grafana: services.grafana.backend.service,
    ...(services.collector ? { collector: services.collector.backend.service } : {}),
    ...(services.ingest?.gateway ? { gateway: services.ingest.gateway.backend.service } : {}),
  };
}

/** The gateway writes into each backend's ingest port; the load balancer no longer reaches the backends. */
function connectGateway(services: FleetServices, gateway: Gateway): void {
  const { securityGroup } = gateway.backend;
  const ingestPorts: Record<(typeof GATEWAY_ROUTES)[number]['backend'], [BackendService, number]> = {
    mimir: [services.mimir.backend, BACKENDS.mimir.httpPort],
    loki: [services.loki.backend, BACKENDS.loki.httpPort],
    tempo: [services.tempo.backend, BACKENDS.tempo.otlpHttpPort],
  };
  for (const [backend, port] of Object.values(ingestPorts)) {
    backend.securityGroup.connections.allowFrom(securityGroup, ec2.Port.tcp(port), 'writes from the ingest gateway');
  }
}

/** Who talks to whom on the shared network; nothing else is open. */
export function connectServices(services: FleetServices): void {
  const { memcached, mimir, loki, tempo, grafana, collector } = services;
  const memcachedPort = ec2.Port.tcp(BACKENDS.memcached.port);
  for (const client of [mimir.backend, loki.backend]) {
    memcached.backend.securityGroup.connections.allowFrom(client.securityGroup, memcachedPort, 'cache clients');
    // Mimir 3.1+ refuses to start while memcached's name resolves to no address; CloudFormation
    // creates the cache clients only once memcached's service is stable (its tasks registered in
    // Cloud Map). Later, memcached rolls new-before-old, so its name never empties during its own
    // deployments; a Mimir task started while memcached is down exits and ECS starts another.
    client.service.node.addDependency(memcached.backend.service);
  }
  const grafanaQueries: Array<[BackendService, number]> = [
    [mimir.backend, BACKENDS.mimir.httpPort],
    [loki.backend, BACKENDS.loki.httpPort],
    [tempo.backend, BACKENDS.tempo.httpPort],
  ];
  for (const [backend, port] of grafanaQueries) {
    backend.securityGroup.connections.allowFrom(grafana.backend.securityGroup, ec2.Port.tcp(port), 'Grafana queries');
  }
  if (collector) {
    // Remote write and push, plus scraping every service's /metrics for the meta tenant.
    const scraped: Array<[BackendService, number]> = [
      ...grafanaQueries,
      [grafana.backend, BACKENDS.grafana.httpPort],
      [memcached.backend, BACKENDS.memcached.port],
    ];
    for (const [backend, port] of scraped) {
      backend.securityGroup.connections.allowFrom(collector.backend.securityGroup, ec2.Port.tcp(port), 'collector');
    }
    collector.backend.securityGroup.connections.allowFrom(
      grafana.backend.securityGroup,
      ec2.Port.tcp(COLLECTOR.httpPort),
      'collector UI from Grafana',
    );
  }
  if (services.ingest?.gateway) connectGateway(services, services.ingest.gateway);
}
