import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { hasTenantGateway, type LgtmConfig } from '../config/schema';
import type { LINUX_COLLECTORS, WINDOWS_COLLECTORS } from './agent';
import { BACKENDS, type RenderInput } from './catalog';
import { GATEWAY_SERVICE_NAME } from './gateway';
import {
  type Backend,
  dataSourceName,
  escapeProvisioningValue,
  FEDERATED_LABEL,
  federatedDataSourceUid,
  type GrafanaProvisioningFile,
  STACK_METRICS_LABEL,
  STACK_METRICS_UID,
  tenantDataSourceUid,
} from './grafana';

/**
 * Grafana dashboards, provisioned from JSON files versioned in `assets/dashboards/`. Each
 * dashboard picks its Mimir, Loki or Tempo data source through a `datasource` template variable
 * (filtered by plugin type), so a user can switch tenant; this renderer only sets each
 * variable's default to a fixed data source UID from the configuration (see
 * {@link DASHBOARDS}) and minifies the JSON. The enrollment pipeline dashboard uses the fixed
 * CloudWatch data source directly.
 */

/** Where Grafana reads each kind of file (the image's provisioning defaults, plus a directory for dashboard JSON). */
export const GRAFANA_DIRECTORIES = {
  /** Data source provisioning (see `renderGrafanaDatasourceFiles`). */
  datasources: BACKENDS.grafana.configDir,
  /** Dashboard providers: where to load dashboard JSON from, into which folder. */
  dashboardProviders: '/etc/grafana/provisioning/dashboards',
  /** Alert rules, contact point and notification policy. */
  alerting: '/etc/grafana/provisioning/alerting',
  /**
   * The dashboards' JSON. Outside `/var/lib/grafana`, which `storage.durability: efs` mounts
   * from EFS: a read-only config volume nested in it would depend on mount order.
   */
  dashboards: '/etc/grafana/dashboards',
} as const;

/** Folder (title and UID) the provisioned dashboards and alert rules live in. */
export const GRAFANA_FOLDER = 'lgtm-fleet';

/** A file Grafana reads, and the directory it must appear in. */
export interface GrafanaFile extends GrafanaProvisioningFile {
  readonly directory: string;
}

/** Where the dashboard JSON files live in the repository. */
export const DASHBOARD_ASSETS_DIR = join(__dirname, '..', '..', 'assets', 'dashboards');

/**
 * Which data source a `datasource` variable starts on:
 * - `fleet`: the federated set, so one view covers every tenant (a single tenant's when there is only one);
 * - `hosts`: the tenant untagged instances go to (`tenants.ec2Default`, else the first tenant);
 * - `cloudwatch-metrics` / `cloudwatch-logs`: the tenants the collector writes CloudWatch metrics and logs into;
 * - `stack`: the meta tenant of the stack's own metrics.
 */
export type DefaultSource = 'fleet' | 'hosts' | 'cloudwatch-metrics' | 'cloudwatch-logs' | 'stack';

export interface DashboardSpec {
  /** File in `assets/dashboards/`, also the provisioned file name. */
  readonly file: string;
  /** Default of each `datasource` variable, by variable name. */
  readonly defaults: Readonly<Record<string, DefaultSource>>;
  /** Whether the configuration produces the dashboard's data; a dashboard without data is left out. */
  readonly when?: (config: LgtmConfig) => boolean;
}

const collecting =
  (...namespaces: string[]) =>
  (config: LgtmConfig): boolean =>
    config.collector.enabled && config.collector.namespaces.some((job) => namespaces.includes(job.namespace));

/** Every dashboard, in folder order. */
export const DASHBOARDS: readonly DashboardSpec[] = [
  { file: 'fleet-overview.json', defaults: { metrics: 'fleet' } },
  { file: 'linux-host.json', defaults: { metrics: 'hosts', logs: 'hosts', traces: 'hosts' } },
  { file: 'windows-host.json', defaults: { metrics: 'hosts', logs: 'hosts', traces: 'hosts' } },
  { file: 'rds.json', defaults: { metrics: 'cloudwatch-metrics', logs: 'cloudwatch-logs' }, when: collecting('AWS/RDS') },
  { file: 'load-balancers.json', defaults: { metrics: 'cloudwatch-metrics' }, when: collecting('AWS/ApplicationELB', 'AWS/NetworkELB') },
  { file: 'elasticache.json', defaults: { metrics: 'cloudwatch-metrics' }, when: collecting('AWS/ElastiCache') },
  { file: 'pipeline.json', defaults: {} },
  { file: 'stack-health.json', defaults: { metrics: 'stack' }, when: (config) => config.collector.enabled },
];

/** Variable of the pipeline dashboard listing the dead-letter queues; its regex is set from the stack name. */
export const DEAD_LETTER_QUEUE_VARIABLE = 'dlq';

/**
 * CloudFormation names a queue without an explicit name `<stack>-<logical ID>-<suffix>`, and the
 * logical IDs of both dead-letter queues end their path with `DeadLetterQueue`. Stack names hold
 * only letters, digits and `-`, none special in a regex.
 */
export function deadLetterQueueRegex(stackName: string): string {
  return `/^${stackName}-.*DeadLetterQueue/`;
}

// ---------------------------------------------------------------------------
// Metric names the dashboards may use, and what produces them. The tests check every metric in
// every panel against these lists, and the lists against the rendered agent and collector configs.

type LinuxCollector = (typeof LINUX_COLLECTORS)[number];
type WindowsCollector = (typeof WINDOWS_COLLECTORS)[number];

/** node_exporter metrics the dashboards use, with the `prometheus.exporter.unix` collector that exports each. */
export const NODE_EXPORTER_METRICS: Readonly<Record<string, LinuxCollector>> = {
  node_boot_time_seconds: 'stat',
  node_cpu_seconds_total: 'cpu',
  node_disk_read_bytes_total: 'diskstats',
  node_disk_written_bytes_total: 'diskstats',
  node_filesystem_avail_bytes: 'filesystem',
  node_filesystem_size_bytes: 'filesystem',
  node_load1: 'loadavg',
  node_memory_MemAvailable_bytes: 'meminfo',
  node_memory_MemTotal_bytes: 'meminfo',
  node_network_receive_bytes_total: 'netdev',
  node_network_transmit_bytes_total: 'netdev',
  node_uname_info: 'uname',
};

/** windows_exporter (0.31, as embedded in Alloy 1.21) metrics the dashboards use, with the collector of each. */
export const WINDOWS_EXPORTER_METRICS: Readonly<Record<string, WindowsCollector>> = {
  windows_cpu_time_total: 'cpu',
  windows_logical_disk_free_bytes: 'logical_disk',
  windows_logical_disk_read_bytes_total: 'logical_disk',
  windows_logical_disk_size_bytes: 'logical_disk',
  windows_logical_disk_write_bytes_total: 'logical_disk',
  windows_memory_available_bytes: 'memory',
  windows_memory_physical_total_bytes: 'memory',
  windows_net_bytes_received_total: 'net',
  windows_net_bytes_sent_total: 'net',
};

/** Metrics of the agent itself (`prometheus.exporter.self`) and of every scrape (`up`). */
export const AGENT_SELF_METRICS = ['alloy_build_info', 'up'] as const;

/**
 * The stack's own metrics the dashboards and alerts use, by the collector's scrape `job` that
 * produces them (`memcached` stands for the collector's `prometheus.exporter.memcached`).
 * Names checked against upstream: Mimir (dskit `cortex_` prefix, objstore `thanos_`), Loki 3
 * without the Thanos object-store client (`loki_s3_`), Tempo (`tempodb_backend_`), memcached_exporter.
 */
export const STACK_METRICS: Readonly<Record<'mimir' | 'loki' | 'tempo' | 'grafana' | 'memcached', readonly string[]>> = {
  mimir: [
    'cortex_distributor_received_samples_total',
    'cortex_discarded_samples_total',
    'cortex_request_duration_seconds_count',
    'thanos_objstore_bucket_operations_total',
    'thanos_objstore_bucket_operation_failures_total',
  ],
  loki: [
    'loki_distributor_lines_received_total',
    'loki_discarded_samples_total',
    'loki_request_duration_seconds_count',
    'loki_s3_request_duration_seconds_count',
  ],
  tempo: [
    'tempo_distributor_spans_received_total',
    'tempo_discarded_spans_total',
    'tempo_request_duration_seconds_count',
    'tempodb_backend_request_duration_seconds_count',
  ],
  grafana: ['grafana_http_request_duration_seconds_count'],
  memcached: [
    'memcached_up',
    'memcached_commands_total',
    'memcached_current_bytes',
    'memcached_limit_bytes',
    'memcached_items_evicted_total',
  ],
};

// ---------------------------------------------------------------------------
// CloudWatch metric names as `prometheus.exporter.cloudwatch` (YACE) exports them.

/** YACE's `PromString`: separators to `_`, `%` to `_percent`, lower case, `_` before an upper-case letter that follows a lower-case letter or digit. */
export function promString(text: string): string {
  let out = '';
  let prev = '';
  for (const char of text) {
    if (' ,\t/\\.-:=@<>()\u201c'.includes(char)) out += '_';
    else if (char === '%') out += '_percent';
    else {
      if (/\p{Lu}/u.test(char) && (/\p{Ll}/u.test(prev) || /\p{Nd}/u.test(prev))) out += '_';
      out += char.toLowerCase();
    }
    prev = char;
  }
  return out;
}

/**
 * The Prometheus name of a CloudWatch metric and statistic, as YACE's `BuildMetricName` builds it:
 * `aws_` + namespace + metric + statistic, each through {@link promString}, with namespace words
 * repeated at the start of the metric name dropped. `AWS/RDS`, `CPUUtilization`, `Average` →
 * `aws_rds_cpuutilization_average`; `AWS/ApplicationELB`, `HTTPCode_Target_5XX_Count`, `Sum` →
 * `aws_applicationelb_httpcode_target_5_xx_count_sum`.
 */
export function cloudwatchMetricName(namespace: string, metric: string, statistic: string): string {
  let ns = promString(namespace.toLowerCase());
  if (ns.startsWith('_')) ns = ns.slice(1);
  let name = promString(metric);
  for (const part of ns.split('_')) {
    if (name.startsWith(part)) name = name.slice(part.length);
  }
  if (name.startsWith('_')) name = name.slice(1);
  return `${ns.startsWith('aws') ? '' : 'aws_'}${ns}_${name}${statistic === '' ? '' : `_${promString(statistic)}`}`;
}

/** Every metric name the collector's CloudWatch jobs export, with the namespace and dimensions of its job. */
export function collectorCloudWatchMetrics(config: LgtmConfig): Map<string, { namespace: string; dimensions: readonly string[] }> {
  const names = new Map<string, { namespace: string; dimensions: string[] }>();
  for (const job of config.collector.namespaces) {
    for (const metric of job.metrics) {
      for (const statistic of metric.statistics) {
        const name = cloudwatchMetricName(job.namespace, metric.name, statistic);
        const known = names.get(name);
        names.set(name, { namespace: job.namespace, dimensions: [...new Set([...(known?.dimensions ?? []), ...job.dimensions])] });
      }
    }
  }
  return names;
}

// ---------------------------------------------------------------------------

interface DataSourceRef {
  type?: string;
  uid?: string;
}

interface TemplateVariable {
  name: string;
  type: string;
  query?: unknown;
  regex?: string;
  current?: Record<string, unknown>;
  datasource?: DataSourceRef;
}

/** The parts of a dashboard's JSON this renderer reads or sets. */
export interface DashboardJson {
  uid: string;
  title: string;
  templating?: { list: TemplateVariable[] };
  panels?: Array<Record<string, unknown>>;
  [key: string]: unknown;
}

const PLUGIN_BACKEND: Readonly<Record<string, Backend>> = { prometheus: 'mimir', loki: 'loki', tempo: 'tempo' };

/** What only some configurations run (by the `service` dimension of its metrics), and when they do. */
export const OPTIONAL_SERVICES: Readonly<Record<string, (config: LgtmConfig) => boolean>> = {
  'lgtm-fleet-ring-forget': (config) => config.services.mimir.replicas > 1 || config.services.loki.replicas > 1,
  [GATEWAY_SERVICE_NAME]: hasTenantGateway,
};

/** A panel charting only what the configuration does not run is left out, as a dashboard without data is. */
function panelHasData(config: LgtmConfig, panel: Record<string, unknown>): boolean {
  const targets = (panel.targets ?? []) as Array<{ dimensions?: { service?: string } }>;
  const services = targets.map((target) => target.dimensions?.service);
  const absent = (service: string | undefined) => service !== undefined && OPTIONAL_SERVICES[service]?.(config) === false;
  return services.length === 0 || !services.every(absent);
}

/** The UID and display name a `datasource` variable of `backend` starts on. */
export function defaultDataSource(config: LgtmConfig, source: DefaultSource, backend: Backend): { uid: string; name: string } {
  const tenants = config.tenants.allowed;
  const tenant = (id: string) => ({ uid: tenantDataSourceUid(backend, id), name: dataSourceName(backend, id) });
  switch (source) {
    case 'fleet':
      return tenants.length > 1
        ? { uid: federatedDataSourceUid(backend), name: dataSourceName(backend, FEDERATED_LABEL) }
        : tenant(tenants[0]);
    case 'hosts':
      return tenant(config.tenants.ec2Default ?? tenants[0]);
    case 'cloudwatch-metrics':
      return tenant(config.tenants.cloudwatchMetrics);
    case 'cloudwatch-logs':
      return tenant(config.tenants.cloudwatchLogs);
    case 'stack':
      if (backend !== 'mimir') throw new Error(`the meta tenant has only a Mimir data source, not ${backend}`);
      return { uid: STACK_METRICS_UID, name: dataSourceName('mimir', STACK_METRICS_LABEL) };
  }
}

/** Reads one dashboard from `assets/dashboards/`. */
export function readDashboardAsset(file: string): DashboardJson {
  return JSON.parse(readFileSync(join(DASHBOARD_ASSETS_DIR, file), 'utf8')) as DashboardJson;
}

/** A dashboard with its variables' defaults set for `config`, minified. */
export function renderDashboard(config: LgtmConfig, spec: DashboardSpec, asset: DashboardJson = readDashboardAsset(spec.file)): string {
  const dashboard = structuredClone(asset);
  dashboard.panels = dashboard.panels?.filter((panel) => panelHasData(config, panel));
  const variables = dashboard.templating?.list ?? [];
  for (const variable of variables) {
    if (variable.type === 'datasource') {
      const backend = PLUGIN_BACKEND[String(variable.query)];
      const source = spec.defaults[variable.name];
      if (!backend)
        throw new Error(`${spec.file}: data source variable "${variable.name}" has an unsupported type "${String(variable.query)}"`);
      if (!source) throw new Error(`${spec.file}: data source variable "${variable.name}" has no default in DASHBOARDS`);
      const { uid, name } = defaultDataSource(config, source, backend);
      variable.current = { selected: true, text: name, value: uid };
    } else if (variable.name === DEAD_LETTER_QUEUE_VARIABLE) {
      variable.regex = deadLetterQueueRegex(config.stackName);
    }
  }
  for (const name of Object.keys(spec.defaults)) {
    if (!variables.some((v) => v.type === 'datasource' && v.name === name)) {
      throw new Error(`${spec.file}: DASHBOARDS sets a default for "${name}", which is not a data source variable of the dashboard`);
    }
  }
  return JSON.stringify(dashboard);
}

/**
 * The dashboard provider: every JSON file of {@link GRAFANA_DIRECTORIES}.dashboards, read-only, in
 * the folder the alert rules live in. Grafana provisions alerting first, and an alert rule group
 * names its folder by title only (creating it with a random UID); a provider that names a
 * `folderUid` would not find that folder and create a second one with the same title. Without
 * `folderUid` the provider looks the folder up by title, so both end in the same folder, whichever
 * provisioner runs first.
 */
export function renderDashboardProvider(): string {
  const provider = {
    name: GRAFANA_FOLDER,
    orgId: 1,
    folder: GRAFANA_FOLDER,
    type: 'file',
    // The files are the source of truth: no deletion or edit from the UI survives a restart anyway.
    disableDeletion: true,
    allowUiUpdates: false,
    updateIntervalSeconds: 60,
    options: { path: escapeProvisioningValue(GRAFANA_DIRECTORIES.dashboards), foldersFromFilesStructure: false },
  };
  return stringify({ apiVersion: 1, providers: [provider] }, { lineWidth: 0 });
}

/**
 * The dashboard provider file and one minified JSON file per dashboard whose data the
 * configuration produces. Keys name the Parameter Store parameters under
 * `/<stack>/config/grafana/`; a dashboard's key ends in `.json` so config refresh checks it as
 * JSON. Dashboards are larger than one parameter: the caller splits them.
 */
export function renderGrafanaDashboardFiles(input: RenderInput): GrafanaFile[] {
  const { config } = input;
  const files: GrafanaFile[] = [
    {
      key: 'dashboards',
      fileName: `${GRAFANA_FOLDER}.yaml`,
      content: renderDashboardProvider(),
      directory: GRAFANA_DIRECTORIES.dashboardProviders,
    },
  ];
  for (const spec of DASHBOARDS) {
    if (spec.when && !spec.when(config)) continue;
    const name = spec.file.replace(/\.json$/, '');
    files.push({
      key: `dashboard-${name}.json`,
      tier: 'advanced',
      fileName: spec.file,
      content: renderDashboard(config, spec),
      directory: GRAFANA_DIRECTORIES.dashboards,
    });
  }
  return files;
}
