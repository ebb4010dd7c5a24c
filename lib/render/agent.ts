import { Token } from 'aws-cdk-lib/core';
import { AGENT_CREDENTIAL_PLACEHOLDER, PLATFORMS, type Platform } from '../../lambdas/shared/contract';
import { hasTenantGateway, type LgtmConfig, tenantIdProblem } from '../config/schema';
import { type AlloyBlock, alloyString, block, list, object, renderFile, stringList } from './alloy-syntax';

/**
 * Renders the Grafana Alloy configuration installed on every EC2 instance, one per
 * (tenant, platform). The output is stored in a standard-tier Parameter Store parameter
 * and passed as a Run Command parameter, so it is kept compact: no comments, tab
 * indentation, short component labels.
 *
 * Pipelines (component names checked against the Alloy 1.21 reference):
 * - metrics: `prometheus.exporter.unix` / `prometheus.exporter.windows` and
 *   `prometheus.exporter.self` → `discovery.relabel` (instance label) →
 *   `prometheus.scrape` → `prometheus.remote_write` (header `X-Scope-OrgID`);
 * - logs: `loki.source.journal` + `loki.relabel` rules (Linux) or one
 *   `loki.source.windowsevent` per channel (Windows) → `loki.write` (`tenant_id`);
 * - traces: `otelcol.receiver.otlp` → `otelcol.processor.resourcedetection` (ec2
 *   detector) → `otelcol.processor.batch` → `otelcol.exporter.otlphttp` (header
 *   `X-Scope-OrgID`).
 *
 * With `ingest.tenantBinding`, every write also carries the tenant's agent credential as its bearer
 * token (`bearer_token` of the Mimir and Loki endpoints, an `otelcol.auth.bearer` component for the
 * OTLP exporter). The config holds {@link AGENT_CREDENTIAL_PLACEHOLDER} in its place: the enroll and
 * refresh functions write the credential in as they send the config, so Parameter Store never holds it.
 */

/** The stack's ingest URLs; CDK tokens are emitted verbatim. */
export interface AgentEndpoints {
  /** Mimir remote-write URL, e.g. `http://<ingest-dns>/api/v1/push`. */
  readonly metricsUrl: string;
  /** Loki push URL, e.g. `http://<ingest-dns>/loki/api/v1/push`. */
  readonly logsUrl: string;
  /** OTLP/HTTP base URL; the exporter appends `/v1/traces`. */
  readonly tracesUrl: string;
}

export interface AgentRenderInput {
  readonly config: LgtmConfig;
  readonly tenant: string;
  readonly platform: Platform;
  readonly endpoints: AgentEndpoints;
}

/**
 * Environment variables the install scripts write for the Alloy service (from IMDSv2 and
 * the enrollment command); the rendered config reads them with `sys.env`.
 */
export const AGENT_ENV = {
  tenant: 'LGTM_TENANT',
  instanceId: 'LGTM_INSTANCE_ID',
  availabilityZone: 'LGTM_AVAILABILITY_ZONE',
  region: 'LGTM_REGION',
  instanceType: 'LGTM_INSTANCE_TYPE',
  hostname: 'LGTM_HOSTNAME',
  configVersion: 'LGTM_CONFIG_VERSION',
} as const;

/**
 * Labels added to every metric series and log stream, and where their values come from.
 * `tenant` is the literal tenant the config was rendered for, so it always matches the
 * tenant the data is written to.
 */
export const IDENTITY_LABELS = {
  tenant: null,
  instance_id: AGENT_ENV.instanceId,
  availability_zone: AGENT_ENV.availabilityZone,
  region: AGENT_ENV.region,
  instance_type: AGENT_ENV.instanceType,
  hostname: AGENT_ENV.hostname,
  config_version: AGENT_ENV.configVersion,
} as const;

/**
 * node_exporter collectors kept on Linux: the host basics behind a node dashboard. The
 * per-unit `systemd`, per-interface `netclass` and per-interrupt `interrupts` collectors
 * are left out for their series count.
 */
export const LINUX_COLLECTORS = [
  'cpu',
  'diskstats',
  'filefd',
  'filesystem',
  'loadavg',
  'meminfo',
  'netdev',
  'netstat',
  'os',
  'pressure',
  'sockstat',
  'stat',
  'time',
  'uname',
  'vmstat',
] as const;

/**
 * windows_exporter collectors kept on Windows. `service` (one series per service and
 * state, thousands per host) is left out.
 */
export const WINDOWS_COLLECTORS = ['cpu', 'memory', 'logical_disk', 'net', 'os', 'system'] as const;

/** Windows Event Log channels always shipped; `Security` is added by `agent.windowsSecurityLog`. */
export const WINDOWS_EVENT_CHANNELS = ['Application', 'System'] as const;

/** How far back the journal is read when the agent starts without a saved position. */
export const JOURNAL_MAX_AGE = '12h';

/**
 * `job` labels. Metric jobs are Alloy's own defaults for exporter targets
 * (`integrations/<exporter>`); log jobs are set by the config.
 */
export const AGENT_JOBS = {
  linuxHost: 'integrations/unix',
  windowsHost: 'integrations/windows',
  agent: 'integrations/self',
  journal: 'systemd-journal',
  eventlog: 'windows-eventlog',
} as const;

/** Metric name prefixes each platform's agent produces, for dashboard and alert checks. */
export const AGENT_METRIC_PREFIXES: Readonly<Record<Platform, readonly string[]>> = {
  linux: ['node_', 'alloy_'],
  windows: ['windows_', 'alloy_'],
};

/** Alloy's build info metric (label `version`), exported by `prometheus.exporter.self`. */
export const AGENT_BUILD_INFO_METRIC = 'alloy_build_info';

const TENANT_HEADER = 'X-Scope-OrgID';

export { AGENT_CREDENTIAL_PLACEHOLDER } from '../../lambdas/shared/contract';
export { alloyString } from './alloy-syntax';

/** The bearer token of every write, with tenant binding: the placeholder the functions replace. */
function credentialOf(config: LgtmConfig): Array<readonly [string, string]> {
  return hasTenantGateway(config) ? [['bearer_token', alloyString(AGENT_CREDENTIAL_PLACEHOLDER)]] : [];
}

const env = (name: string): string => `sys.env(${alloyString(name)})`;

function identityLabels(tenant: string): string {
  return object(
    Object.entries(IDENTITY_LABELS).map(([label, variable]) => [label, variable === null ? alloyString(tenant) : env(variable)]),
  );
}

function checkInput(input: AgentRenderInput): void {
  const { config, tenant, platform, endpoints } = input;
  const problem = tenantIdProblem(tenant);
  if (problem) throw new Error(`invalid agent tenant "${tenant}": ${problem}`);
  if (!config.tenants.allowed.includes(tenant)) {
    throw new Error(`agent tenant "${tenant}" is not in tenants.allowed (${config.tenants.allowed.join(', ')})`);
  }
  if (!PLATFORMS.includes(platform)) throw new Error(`unknown agent platform "${platform}"`);
  for (const [field, url] of Object.entries(endpoints)) {
    if (!Token.isUnresolved(url) && !/^https?:\/\/[^\s/]+(\/\S*)?$/.test(url)) {
      throw new Error(`agent endpoint ${field} must be an http(s) URL, got "${url}"`);
    }
  }
}

function metricsPipeline(input: AgentRenderInput): AlloyBlock[] {
  const { config, tenant, platform, endpoints } = input;
  const host =
    platform === 'linux'
      ? block('prometheus.exporter.unix', 'host', ['set_collectors', stringList(LINUX_COLLECTORS)])
      : block('prometheus.exporter.windows', 'host', ['enabled_collectors', stringList(WINDOWS_COLLECTORS)]);
  return [
    host,
    block('prometheus.exporter.self', 'agent'),
    // Instance IDs are unique for the life of the fleet; hostnames are reused across launches.
    block(
      'discovery.relabel',
      'identity',
      ['targets', `array.concat(${host.name}.host.targets, prometheus.exporter.self.agent.targets)`],
      block(
        'rule',
        undefined,
        ['target_label', alloyString('instance')],
        ['replacement', `coalesce(${env(AGENT_ENV.instanceId)}, constants.hostname)`],
      ),
    ),
    block(
      'prometheus.scrape',
      'host',
      ['targets', 'discovery.relabel.identity.output'],
      ['forward_to', list(['prometheus.remote_write.mimir.receiver'])],
      ['scrape_interval', alloyString(config.agent.scrapeInterval)],
    ),
    block(
      'prometheus.remote_write',
      'mimir',
      ['external_labels', identityLabels(tenant)],
      block(
        'endpoint',
        undefined,
        ['url', alloyString(endpoints.metricsUrl)],
        ['headers', object([[TENANT_HEADER, alloyString(tenant)]])],
        ...credentialOf(config),
      ),
    ),
  ];
}

function logsPipeline(input: AgentRenderInput): AlloyBlock[] {
  const { config, tenant, platform, endpoints } = input;
  const toLoki = ['forward_to', list(['loki.write.loki.receiver'])] as const;
  const sources: AlloyBlock[] = [];
  if (platform === 'linux') {
    const rename = (from: string, to: string) =>
      block('rule', undefined, ['source_labels', stringList([from])], ['target_label', alloyString(to)]);
    sources.push(
      block(
        'loki.relabel',
        'journal',
        ['forward_to', list([])],
        rename('__journal__systemd_unit', 'unit'),
        rename('__journal_priority_keyword', 'priority'),
        rename('__journal__hostname', 'hostname'),
        block('rule', undefined, ['target_label', alloyString('job')], ['replacement', alloyString(AGENT_JOBS.journal)]),
      ),
      block(
        'loki.source.journal',
        'system',
        ['max_age', alloyString(JOURNAL_MAX_AGE)],
        ['relabel_rules', 'loki.relabel.journal.rules'],
        toLoki,
      ),
    );
  } else {
    const channels: string[] = [...WINDOWS_EVENT_CHANNELS, ...(config.agent.windowsSecurityLog ? ['Security'] : [])];
    // No bookmark_path: the default is bookmark.xml in the component's own directory under
    // Alloy's storage path, which survives service restarts and is unique per channel.
    for (const channel of channels) {
      sources.push(
        block(
          'loki.source.windowsevent',
          channel.toLowerCase(),
          ['eventlog_name', alloyString(channel)],
          ['use_incoming_timestamp', 'true'],
          ['labels', object([['job', alloyString(AGENT_JOBS.eventlog)]])],
          toLoki,
        ),
      );
    }
  }
  return [
    ...sources,
    block(
      'loki.write',
      'loki',
      ['external_labels', identityLabels(tenant)],
      block('endpoint', undefined, ['url', alloyString(endpoints.logsUrl)], ['tenant_id', alloyString(tenant)], ...credentialOf(config)),
    ),
  ];
}

function tracesPipeline(input: AgentRenderInput): AlloyBlock[] {
  const { config, tenant, endpoints } = input;
  const { otlpListenAddress, otlpGrpcPort, otlpHttpPort } = config.agent;
  const tracesTo = (target: string) => block('output', undefined, ['traces', list([target])]);
  const binding = hasTenantGateway(config);
  return [
    block(
      'otelcol.receiver.otlp',
      'apps',
      block('grpc', undefined, ['endpoint', alloyString(`${otlpListenAddress}:${otlpGrpcPort}`)]),
      block('http', undefined, ['endpoint', alloyString(`${otlpListenAddress}:${otlpHttpPort}`)]),
      tracesTo('otelcol.processor.resourcedetection.ec2.input'),
    ),
    // Host identity as OTel resource attributes (cloud.*, host.id, host.type) from IMDS;
    // attributes the application already set are kept.
    block(
      'otelcol.processor.resourcedetection',
      'ec2',
      ['detectors', stringList(['ec2'])],
      ['override', 'false'],
      tracesTo('otelcol.processor.batch.apps.input'),
    ),
    block('otelcol.processor.batch', 'apps', tracesTo('otelcol.exporter.otlphttp.tempo.input')),
    ...(binding ? [block('otelcol.auth.bearer', 'gateway', ['token', alloyString(AGENT_CREDENTIAL_PLACEHOLDER)])] : []),
    block(
      'otelcol.exporter.otlphttp',
      'tempo',
      block(
        'client',
        undefined,
        ['endpoint', alloyString(endpoints.tracesUrl)],
        ['headers', object([[TENANT_HEADER, alloyString(tenant)]])],
        ...(binding ? [['auth', 'otelcol.auth.bearer.gateway.handler'] as const] : []),
      ),
    ),
  ];
}

/** The Alloy configuration for one tenant on one platform. */
export function renderAgentConfig(input: AgentRenderInput): string {
  checkInput(input);
  const blocks = [...metricsPipeline(input), ...logsPipeline(input), ...tracesPipeline(input)];
  return renderFile(blocks);
}
