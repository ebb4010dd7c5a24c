import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { METRIC as ENROLL_METRIC } from '../../lambdas/enroll/outcomes';
import { METRIC as RECONCILE_METRIC } from '../../lambdas/reconcile/reconcile';
import { METRIC as REFRESH_METRIC } from '../../lambdas/refresh/outcomes';
import { METRIC as RING_FORGET_METRIC } from '../../lambdas/ring-forget/resolve';
import type { Platform } from '../../lambdas/shared/contract';
import { METRIC as STATUS_METRIC } from '../../lambdas/status/process-event';
import { GATEWAY_METRICS } from '../../lib/components/gateway';
import { loadConfig } from '../../lib/config/load';
import { METRICS_NAMESPACE } from '../../lib/lgtm-function';
import { AGENT_JOBS, AGENT_METRIC_PREFIXES, IDENTITY_LABELS, renderAgentConfig } from '../../lib/render/agent';
import type { RenderInput } from '../../lib/render/catalog';
import { COLLECTOR_LOG_LABELS, COLLECTOR_LOGS_JOB, renderCollectorConfig, SELF_MONITORED } from '../../lib/render/collector';
import { GATEWAY_SERVICE_NAME } from '../../lib/render/gateway';
import { CLOUDWATCH_UID, PIPELINE_METRICS_NAMESPACE, renderGrafanaDatasourceFiles } from '../../lib/render/grafana';
import { renderGrafanaAlertFiles } from '../../lib/render/grafana-alerts';
import {
  AGENT_SELF_METRICS,
  cloudwatchMetricName,
  collectorCloudWatchMetrics,
  DASHBOARD_ASSETS_DIR,
  DASHBOARDS,
  DEAD_LETTER_QUEUE_VARIABLE,
  deadLetterQueueRegex,
  GRAFANA_DIRECTORIES,
  GRAFANA_FOLDER,
  NODE_EXPORTER_METRICS,
  OPTIONAL_SERVICES,
  promString,
  renderDashboard,
  renderGrafanaDashboardFiles,
  STACK_METRICS,
  WINDOWS_EXPORTER_METRICS,
} from '../../lib/render/grafana-dashboards';
import { attr, component, parse as parseAlloy } from './alloy-syntax';
import {
  allPanels,
  type Dashboard,
  type DashboardVariable,
  dashboardQueries,
  type FoundQuery,
  logqlMatchers,
  matcherValues,
  pluginTypeOf,
  promqlGroupingLabels,
  promqlSelectors,
  syntaxProblems,
  variableOf,
} from './grafana-queries';

const DEPLOY = {
  region: 'eu-west-1',
  bucketName: 'lgtmfleet-databucket-1a2b3c4d5e6f-123456789012',
  urlSuffix: 'amazonaws.com',
  availabilityZones: 2,
};

function input(values: Record<string, unknown> = {}): RenderInput {
  return { config: loadConfig([{ origin: 'test', values }]), deploy: DEPLOY };
}

function render(values: Record<string, unknown> = {}) {
  const files = renderGrafanaDashboardFiles(input(values));
  const dashboards = new Map(
    files.filter((f) => f.fileName.endsWith('.json')).map((f) => [f.fileName.replace(/\.json$/, ''), JSON.parse(f.content) as Dashboard]),
  );
  return { files, dashboards };
}

const { files: FILES, dashboards: DEFAULT } = render();
const ALL_QUERIES: FoundQuery[] = [...DEFAULT.values()].flatMap(dashboardQueries);

function dashboard(name: string): Dashboard {
  const found = DEFAULT.get(name);
  if (!found) throw new Error(`no dashboard ${name}`);
  return found;
}

function variable(d: Dashboard, name: string): DashboardVariable {
  const found = d.templating?.list.find((v) => v.name === name);
  if (!found) throw new Error(`${d.uid} has no variable ${name}`);
  return found;
}

/** Metric names of every PromQL query of some dashboards. */
function metricsOf(...names: string[]): Set<string> {
  return new Set(
    names
      .flatMap((name) => dashboardQueries(dashboard(name)))
      .filter((q) => q.language === 'promql')
      .flatMap((q) => promqlSelectors(q.text as string).map((s) => s.metric))
      .filter((m): m is string => m !== undefined),
  );
}

function promqlOf(...names: string[]): string[] {
  return names.flatMap((name) => dashboardQueries(dashboard(name))).flatMap((q) => (q.language === 'promql' ? [q.text as string] : []));
}

const ENDPOINTS = { metricsUrl: 'http://ingest/api/v1/push', logsUrl: 'http://ingest/loki/api/v1/push', tracesUrl: 'http://ingest' };

function agentConfig(platform: Platform): string {
  const { config } = input();
  return renderAgentConfig({ config, tenant: config.tenants.allowed[0], platform, endpoints: ENDPOINTS });
}

/** Collectors of `prometheus.exporter.unix` / `.windows` in a rendered agent config. */
function enabledCollectors(platform: Platform, rendered = agentConfig(platform)): Set<string> {
  const nodes = parseAlloy(rendered);
  const exporter =
    platform === 'linux'
      ? attr(component(nodes, 'prometheus.exporter.unix', 'host'), 'set_collectors')
      : attr(component(nodes, 'prometheus.exporter.windows', 'host'), 'enabled_collectors');
  return new Set([...exporter.matchAll(/"([^"]+)"/g)].map((m) => m[1]));
}

/** Metrics among `used` whose exporter collector is missing from a rendered agent config. */
function missingCollectors(platform: Platform, used: Iterable<string>, rendered?: string): string[] {
  const enabled = enabledCollectors(platform, rendered);
  const table: Readonly<Record<string, string>> = platform === 'linux' ? NODE_EXPORTER_METRICS : WINDOWS_EXPORTER_METRICS;
  return [...used].filter((metric) => metric in table && !enabled.has(table[metric]));
}

describe('dashboard files', () => {
  test('every JSON file in assets/dashboards is listed in DASHBOARDS, and every listed one exists', () => {
    const assets = readdirSync(DASHBOARD_ASSETS_DIR)
      .filter((f) => f.endsWith('.json'))
      .sort();
    expect(DASHBOARDS.map((d) => d.file).sort()).toEqual(assets);
  });

  test('one provider file plus one JSON file per dashboard, each with a directory Grafana reads and a key ending in .json', () => {
    expect(FILES.map((f) => f.key)).toEqual([
      'dashboards',
      'dashboard-fleet-overview.json',
      'dashboard-linux-host.json',
      'dashboard-windows-host.json',
      'dashboard-rds.json',
      'dashboard-load-balancers.json',
      'dashboard-elasticache.json',
      'dashboard-pipeline.json',
      'dashboard-stack-health.json',
    ]);
    expect(FILES[0].directory).toBe('/etc/grafana/provisioning/dashboards');
    for (const file of FILES.slice(1)) expect(file.directory).toBe(GRAFANA_DIRECTORIES.dashboards);
    // Keys become Parameter Store names next to the data source files: none may collide.
    const datasourceKeys = renderGrafanaDatasourceFiles(input()).map((f) => f.key);
    expect(FILES.filter((f) => datasourceKeys.includes(f.key))).toEqual([]);
  });

  test('the provider loads the dashboard directory into the lgtm-fleet folder, read-only', () => {
    const doc = parseYaml(FILES[0].content) as { apiVersion: number; providers: Array<Record<string, unknown>> };
    expect(doc.apiVersion).toBe(1);
    expect(doc.providers).toEqual([
      expect.objectContaining({
        folder: GRAFANA_FOLDER,
        type: 'file',
        allowUiUpdates: false,
        disableDeletion: true,
        options: { path: GRAFANA_DIRECTORIES.dashboards, foldersFromFilesStructure: false },
      }),
    ]);
  });

  test('dashboards and alert rules find one folder: both name it by the same title, neither by UID', () => {
    const provider = (parseYaml(FILES[0].content) as { providers: Array<Record<string, unknown>> }).providers[0];
    // A folderUid would not match the folder alerting provisioning (which runs first) created by title.
    expect(provider).not.toHaveProperty('folderUid');
    const alerting = parseYaml(
      renderGrafanaAlertFiles({ ...input(), deploy: { ...input().deploy, deadLetterQueueNames: ['dlq'] } })[0].content,
    ) as { groups: Array<Record<string, unknown>> };
    for (const group of alerting.groups) {
      expect(group.folder).toBe(provider.folder);
      expect(group).not.toHaveProperty('folderUid');
    }
  });

  test('every dashboard is valid, minified JSON with a unique UID and title, tagged lgtm-fleet, with unique panel IDs', () => {
    const uids = [...DEFAULT.values()].map((d) => d.uid);
    expect(new Set(uids).size).toBe(uids.length);
    expect(new Set([...DEFAULT.values()].map((d) => d.title)).size).toBe(uids.length);
    for (const file of FILES.slice(1)) {
      expect(() => JSON.parse(file.content)).not.toThrow();
      expect(file.content).not.toMatch(/\n/);
    }
    for (const d of DEFAULT.values()) {
      expect(d.uid).toMatch(/^[A-Za-z0-9_-]{1,40}$/);
      expect(d.tags).toContain('lgtm-fleet');
      const ids = allPanels(d.panels).map((p) => p.id);
      expect(ids.every((id) => typeof id === 'number')).toBe(true);
      expect(new Set(ids).size).toBe(ids.length);
    }
  });

  test('each dashboard stays compact: at most 12 KB minified', () => {
    for (const file of FILES) expect(Buffer.byteLength(file.content)).toBeLessThanOrEqual(12 * 1024);
  });

  test('leaves out the dashboards whose data the configuration does not produce', () => {
    const noCollector = render({ collector: { enabled: false } }).files.map((f) => f.key);
    expect(noCollector).toEqual([
      'dashboards',
      'dashboard-fleet-overview.json',
      'dashboard-linux-host.json',
      'dashboard-windows-host.json',
      'dashboard-pipeline.json',
    ]);
    const rdsOnly = render({
      collector: {
        namespaces: [
          { namespace: 'AWS/RDS', dimensions: ['DBInstanceIdentifier'], metrics: [{ name: 'CPUUtilization', statistics: ['Average'] }] },
        ],
      },
    }).files.map((f) => f.key);
    expect(rdsOnly).toContain('dashboard-rds.json');
    expect(rdsOnly).not.toContain('dashboard-elasticache.json');
    expect(rdsOnly).not.toContain('dashboard-load-balancers.json');
  });
});

describe('data sources of the dashboards', () => {
  const provisioned = new Map(
    renderGrafanaDatasourceFiles(input())
      .flatMap((f) => (parseYaml(f.content) as { datasources: Array<{ uid: string; type: string; name: string }> }).datasources)
      .map((ds) => [ds.uid, ds]),
  );

  test('every panel and query variable runs on a datasource variable of its plugin type, or on the fixed CloudWatch data source', () => {
    for (const d of DEFAULT.values()) {
      for (const query of dashboardQueries(d)) {
        if (query.uid === CLOUDWATCH_UID) {
          expect([query.where, query.pluginType]).toEqual([query.where, 'cloudwatch']);
        } else {
          expect([query.where, variableOf(d, query.uid)?.type]).toEqual([query.where, 'datasource']);
          expect([query.where, ['prometheus', 'loki', 'tempo'].includes(query.pluginType)]).toEqual([query.where, true]);
        }
      }
    }
  });

  test('every datasource variable starts on a provisioned data source of its type', () => {
    for (const d of DEFAULT.values()) {
      for (const v of d.templating?.list ?? []) {
        if (v.type !== 'datasource') continue;
        const ds = provisioned.get(v.current?.value ?? '');
        expect([d.uid, v.name, ds?.type, ds?.name]).toEqual([d.uid, v.name, v.query, v.current?.text]);
      }
    }
  });

  test.each([
    ['fleet-overview', 'metrics', 'mimir-all'],
    ['linux-host', 'metrics', 'mimir-aws-rag-ec2'],
    ['linux-host', 'logs', 'loki-aws-rag-ec2'],
    ['linux-host', 'traces', 'tempo-aws-rag-ec2'],
    ['windows-host', 'logs', 'loki-aws-rag-ec2'],
    ['rds', 'metrics', 'mimir-aws-rag-cloudwatch'],
    ['rds', 'logs', 'loki-aws-rag-rds'],
    ['load-balancers', 'metrics', 'mimir-aws-rag-cloudwatch'],
    ['elasticache', 'metrics', 'mimir-aws-rag-cloudwatch'],
    ['stack-health', 'metrics', 'lgtm-stack-metrics'],
  ])('%s: $%s defaults to %s', (name, variableName, uid) => {
    expect(variable(dashboard(name), variableName).current?.value).toBe(uid);
  });

  test('defaults follow the configuration: one tenant has no federated set, untagged instances may go nowhere', () => {
    const solo = render({
      tenants: { allowed: ['solo'], ec2Default: 'solo', cloudwatchMetrics: 'solo', cloudwatchLogs: 'solo' },
    }).dashboards;
    expect(variable(solo.get('fleet-overview') as Dashboard, 'metrics').current?.value).toBe('mimir-solo');
    const noDefault = render({ tenants: { allowed: ['ops', 'aws-rag-cloudwatch', 'aws-rag-rds'], ec2Default: null } }).dashboards;
    expect(variable(noDefault.get('linux-host') as Dashboard, 'metrics').current?.value).toBe('mimir-ops');
  });

  test('the renderer refuses an asset whose datasource variable has no default, or an unsupported type', () => {
    const spec = DASHBOARDS[0];
    const asset = JSON.parse(readFileSync(join(DASHBOARD_ASSETS_DIR, spec.file), 'utf8'));
    asset.templating.list.push({ name: 'extra', type: 'datasource', query: 'loki' });
    expect(() => renderDashboard(input().config, spec, asset)).toThrow(/"extra" has no default/);
    asset.templating.list.pop();
    asset.templating.list[0].query = 'elasticsearch';
    expect(() => renderDashboard(input().config, spec, asset)).toThrow(/unsupported type "elasticsearch"/);
  });
});

describe('queries of the dashboards', () => {
  test('finds the queries: PromQL, LogQL and TraceQL panels, query variables, CloudWatch targets', () => {
    const count = (language: string) => ALL_QUERIES.filter((q) => (q.language ?? q.pluginType) === language).length;
    expect(count('promql')).toBeGreaterThanOrEqual(60);
    expect(count('logql')).toBe(3);
    expect(count('traceql')).toBe(2);
    expect(count('cloudwatch')).toBeGreaterThanOrEqual(18);
  });

  test('every PromQL, LogQL and TraceQL query parses with its Lezer grammar', () => {
    const problems = ALL_QUERIES.filter((q) => q.language).flatMap((q) =>
      syntaxProblems(q.language as 'promql', q.text as string).map((p) => `${q.where}: ${p}`),
    );
    expect(problems).toEqual([]);
  });

  test('the check fails on a syntax error in each language', () => {
    expect(syntaxProblems('promql', 'sum(rate(node_load1[5m]) by (instance)')).not.toEqual([]);
    expect(syntaxProblems('promql', 'rate(up[5m]')).not.toEqual([]);
    expect(syntaxProblems('logql', '{job="systemd-journal" |= "x"')).not.toEqual([]);
    expect(syntaxProblems('traceql', '{ resource.host.id = }')).not.toEqual([]);
  });

  test('Grafana variables become valid placeholders before parsing, and nothing else does', () => {
    expect(syntaxProblems('promql', 'rate(up{instance=~"$instance"}[$__rate_interval])')).toEqual([]);
    // biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana variable syntax under test
    expect(syntaxProblems('promql', 'sum by (instance) (rate(node_cpu_seconds_total{mode!="idle",$__tags}[${__interval}]))')).toEqual([]);
    // biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana variable syntax under test
    expect(syntaxProblems('promql', 'topk(${count}, up)')).toEqual([]);
    // biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana variable syntax under test
    expect(syntaxProblems('logql', 'sum(count_over_time({instance_id="${instance}"}[$__auto]))')).toEqual([]);
    // A variable cannot stand for an operator: substitution must not hide that.
    expect(syntaxProblems('promql', 'up $op 1')).not.toEqual([]);
  });
});

describe('agent metrics of the fleet and host dashboards', () => {
  const linux = metricsOf('linux-host');
  const windows = metricsOf('windows-host');
  const fleet = metricsOf('fleet-overview');

  test('each metric is one the agent of that platform exports (prefix and curated list)', () => {
    const cases = [
      ['linux', linux, Object.keys(NODE_EXPORTER_METRICS)],
      ['windows', windows, Object.keys(WINDOWS_EXPORTER_METRICS)],
      ['linux', fleet, []],
      ['windows', fleet, []],
    ] as const;
    for (const [platform, used, exporter] of cases) {
      for (const metric of used) {
        expect([platform, metric, [...exporter, ...AGENT_SELF_METRICS].includes(metric)]).toEqual([platform, metric, true]);
        const prefixed = metric === 'up' || AGENT_METRIC_PREFIXES[platform].some((prefix) => metric.startsWith(prefix));
        expect([platform, metric, prefixed]).toEqual([platform, metric, true]);
      }
    }
  });

  test('the curated lists are exactly what the dashboards use (a stale entry hides nothing)', () => {
    expect([...linux].filter((m) => m.startsWith('node_')).sort()).toEqual(Object.keys(NODE_EXPORTER_METRICS).sort());
    expect([...windows].filter((m) => m.startsWith('windows_')).sort()).toEqual(Object.keys(WINDOWS_EXPORTER_METRICS).sort());
    expect([...fleet].sort()).toEqual([...AGENT_SELF_METRICS].sort());
  });

  test('each metric needs a collector the rendered agent config enables', () => {
    expect(missingCollectors('linux', linux)).toEqual([]);
    expect(missingCollectors('windows', windows)).toEqual([]);
    expect(component(parseAlloy(agentConfig('linux')), 'prometheus.exporter.self', 'agent')).toBeDefined();
  });

  test('a collector dropped from the agent config breaks the check', () => {
    const withoutMeminfo = agentConfig('linux').replace('"meminfo", ', '');
    expect(missingCollectors('linux', linux, withoutMeminfo)).toEqual(['node_memory_MemAvailable_bytes', 'node_memory_MemTotal_bytes']);
    const withoutNet = agentConfig('windows').replace(', "net"', '');
    expect(missingCollectors('windows', windows, withoutNet)).toEqual(['windows_net_bytes_received_total', 'windows_net_bytes_sent_total']);
  });

  test('job values are the agent config jobs; labels are identity labels, instance, job or exporter labels', () => {
    const metricJobs = new Set<string>([AGENT_JOBS.linuxHost, AGENT_JOBS.windowsHost, AGENT_JOBS.agent]);
    const identity = new Set([...Object.keys(IDENTITY_LABELS), 'instance', 'job']);
    // Labels the exporters themselves put on the metrics used.
    const exporterLabels = new Set(['mode', 'device', 'fstype', 'mountpoint', 'volume', 'nic', 'version']);
    for (const query of promqlOf('fleet-overview', 'linux-host', 'windows-host')) {
      for (const selector of promqlSelectors(query)) {
        for (const matcher of selector.matchers) {
          expect([query, matcher.label, identity.has(matcher.label) || exporterLabels.has(matcher.label)]).toEqual([
            query,
            matcher.label,
            true,
          ]);
          if (matcher.label === 'job')
            for (const job of matcherValues(matcher)) expect([query, metricJobs.has(job)]).toEqual([query, true]);
        }
      }
      for (const label of promqlGroupingLabels(query))
        expect([query, label, identity.has(label) || exporterLabels.has(label)]).toEqual([query, label, true]);
    }
    // The agents table groups by every identity label the agent sets.
    expect(
      promqlOf('fleet-overview').some((q) =>
        ['hostname', 'instance_type', 'availability_zone', 'config_version'].every((l) => promqlGroupingLabels(q).includes(l)),
      ),
    ).toBe(true);
  });

  test('log panels select the log jobs and labels the agents and collector write', () => {
    const logJobs = new Set<string>([AGENT_JOBS.journal, AGENT_JOBS.eventlog, COLLECTOR_LOGS_JOB]);
    const labels = new Set<string>([...Object.keys(IDENTITY_LABELS), ...COLLECTOR_LOG_LABELS, 'job']);
    const logs = ALL_QUERIES.filter((q) => q.language === 'logql');
    for (const query of logs) {
      for (const matcher of logqlMatchers(query.text as string)) {
        expect([query.where, matcher.label, labels.has(matcher.label)]).toEqual([query.where, matcher.label, true]);
        if (matcher.label === 'job') expect([query.where, logJobs.has(matcher.value)]).toEqual([query.where, true]);
      }
    }
    expect(logs.map((q) => logqlMatchers(q.text as string).find((m) => m.label === 'job')?.value).sort()).toEqual(
      [AGENT_JOBS.journal, AGENT_JOBS.eventlog, COLLECTOR_LOGS_JOB].sort(),
    );
  });

  test('trace panels select spans by the host.id resource attribute the agent sets', () => {
    const traces = ALL_QUERIES.filter((q) => q.language === 'traceql');
    expect(traces.map((q) => q.text)).toEqual(['{ resource.host.id = "$instance" }', '{ resource.host.id = "$instance" }']);
    expect(agentConfig('linux')).toMatch(/otelcol\.processor\.resourcedetection "ec2" \{\n\tdetectors = \["ec2"\]/);
  });
});

describe('CloudWatch metrics of the AWS dashboards', () => {
  /** Metric → dimensions, derived from the rendered collector config (not from the schema defaults). */
  function renderedCloudWatchMetrics(values: Record<string, unknown> = {}): Map<string, { namespace: string; dimensions: string[] }> {
    const exporter = component(parseAlloy(renderCollectorConfig(input(values))), 'prometheus.exporter.cloudwatch', 'aws');
    const names = new Map<string, { namespace: string; dimensions: string[] }>();
    for (const job of exporter.blocks.filter((b) => b.name === 'discovery')) {
      const namespace = JSON.parse(attr(job, 'type')) as string;
      const dimensions = JSON.parse(job.attrs.get('dimension_name_requirements') ?? '[]') as string[];
      for (const metric of job.blocks.filter((b) => b.name === 'metric')) {
        for (const statistic of JSON.parse(attr(metric, 'statistics')) as string[]) {
          const name = cloudwatchMetricName(namespace, JSON.parse(attr(metric, 'name')) as string, statistic);
          names.set(name, { namespace, dimensions: [...new Set([...(names.get(name)?.dimensions ?? []), ...dimensions])] });
        }
      }
    }
    return names;
  }

  const produced = renderedCloudWatchMetrics();
  const NAMESPACE_OF: Record<string, string[]> = {
    rds: ['AWS/RDS'],
    'load-balancers': ['AWS/ApplicationELB', 'AWS/NetworkELB'],
    elasticache: ['AWS/ElastiCache'],
  };

  test('the naming function reproduces the exporter (YACE BuildMetricName) names', () => {
    expect(cloudwatchMetricName('AWS/ElastiCache', 'CPUUtilization', 'Average')).toBe('aws_elasticache_cpuutilization_average');
    expect(cloudwatchMetricName('AWS/ElastiCache', 'FreeableMemory', 'Average')).toBe('aws_elasticache_freeable_memory_average');
    expect(cloudwatchMetricName('AWS/ElastiCache', 'NetworkBytesIn', 'Average')).toBe('aws_elasticache_network_bytes_in_average');
    expect(cloudwatchMetricName('AWS/EC2', 'CPUUtilization', 'Maximum')).toBe('aws_ec2_cpuutilization_maximum');
    expect(cloudwatchMetricName('/aws/sagemaker/TrainingJobs', 'info', '')).toBe('aws_sagemaker_trainingjobs_info');
    expect(cloudwatchMetricName('AWS/RDS', 'ReadIOPS', 'Average')).toBe('aws_rds_read_iops_average');
    expect(cloudwatchMetricName('AWS/ApplicationELB', 'HTTPCode_Target_5XX_Count', 'Sum')).toBe(
      'aws_applicationelb_httpcode_target_5_xx_count_sum',
    );
    expect(cloudwatchMetricName('AWS/NetworkELB', 'UnHealthyHostCount', 'Maximum')).toBe('aws_networkelb_un_healthy_host_count_maximum');
    expect(cloudwatchMetricName('AWS/ApplicationELB', 'TargetResponseTime', 'p99')).toBe('aws_applicationelb_target_response_time_p99');
    // Namespace words repeated at the start of the metric name are dropped.
    expect(cloudwatchMetricName('Glue', 'glue.driver.aggregate.bytesRead', 'Average')).toBe('aws_glue_driver_aggregate_bytes_read_average');
    expect(promString('Free Storage % (x)')).toBe('free_storage__percent__x_');
  });

  test('the rendered collector config and the schema-level derivation agree', () => {
    const fromSchema = collectorCloudWatchMetrics(input().config);
    expect([...fromSchema.keys()].sort()).toEqual([...produced.keys()].sort());
  });

  test.each(Object.keys(NAMESPACE_OF))('%s: every metric is one the collector exports, from the dashboard namespace', (name) => {
    const used = metricsOf(name);
    expect(used.size).toBeGreaterThan(3);
    for (const metric of used) {
      expect([metric, produced.has(metric)]).toEqual([metric, true]);
      expect([metric, NAMESPACE_OF[name]]).toEqual([metric, expect.arrayContaining([produced.get(metric)?.namespace])]);
    }
  });

  test('every dimension label a panel uses is a dimension of the job that exports the metric', () => {
    for (const name of Object.keys(NAMESPACE_OF)) {
      for (const query of promqlOf(name)) {
        const selectors = promqlSelectors(query);
        const dimensions = new Set(selectors.flatMap((s) => produced.get(s.metric ?? '')?.dimensions ?? []));
        const used = [...selectors.flatMap((s) => s.matchers.map((m) => m.label)), ...promqlGroupingLabels(query)].filter((l) =>
          l.startsWith('dimension_'),
        );
        for (const label of used) expect([query, label, dimensions.has(label.slice('dimension_'.length))]).toEqual([query, label, true]);
      }
    }
  });

  test('a metric dropped from the collector config breaks the check', () => {
    const namespaces = input().config.collector.namespaces.map((job) =>
      job.namespace === 'AWS/RDS' ? { ...job, metrics: job.metrics.filter((m) => m.name !== 'FreeableMemory') } : job,
    );
    const fewer = renderedCloudWatchMetrics({ collector: { namespaces } });
    expect([...metricsOf('rds')].filter((m) => !fewer.has(m))).toEqual(['aws_rds_freeable_memory_minimum']);
  });
});

describe('stack health dashboard', () => {
  const collector = renderCollectorConfig(input());

  test('every metric is a curated stack metric, and every curated one is charted', () => {
    const curated = new Set(Object.values(STACK_METRICS).flat());
    const used = metricsOf('stack-health');
    expect([...used].filter((m) => m !== 'up' && !curated.has(m))).toEqual([]);
    expect([...curated].filter((m) => !used.has(m))).toEqual([]);
  });

  test('each metric comes from a job the rendered collector config scrapes into the meta tenant', () => {
    for (const job of SELF_MONITORED) expect(collector).toContain(`job = "${job}"`);
    expect(component(parseAlloy(collector), 'prometheus.exporter.memcached', 'cache')).toBeDefined();
    expect(Object.keys(STACK_METRICS).sort()).toEqual([...SELF_MONITORED, 'memcached'].sort());
    for (const query of promqlOf('stack-health')) {
      for (const selector of promqlSelectors(query)) {
        for (const matcher of selector.matchers.filter((m) => m.label === 'job')) {
          for (const job of matcherValues(matcher))
            expect([query, (SELF_MONITORED as readonly string[]).includes(job)]).toEqual([query, true]);
          // A metric filtered on a job must be one of that job's metrics.
          if (selector.metric && selector.metric !== 'up' && matcher.op === '=') {
            expect([selector.metric, STACK_METRICS[matcher.value as keyof typeof STACK_METRICS]]).toEqual([
              selector.metric,
              expect.arrayContaining([selector.metric]),
            ]);
          }
        }
      }
    }
  });
});

describe('enrollment and refresh pipeline dashboard', () => {
  // With Mimir (or Loki) replicas the stack has every function, and the dashboard a panel for each.
  const pipeline = render({ services: { mimir: { replicas: 3 } } }).dashboards.get('pipeline') as Dashboard;
  const targets = dashboardQueries(pipeline).filter((q) => q.pluginType === 'cloudwatch' && q.target.metricName);
  const libSources = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? libSources(join(dir, e.name)) : e.name.endsWith('.ts') ? [readFileSync(join(dir, e.name), 'utf8')] : [],
    );
  const serviceNames = new Set(
    libSources(join(__dirname, '..', '..', 'lib')).flatMap((s) => [...s.matchAll(/serviceName: '(lgtm-fleet-[a-z-]+)'/g)].map((m) => m[1])),
  );
  const METRICS_OF: Record<string, Record<string, string>> = {
    'lgtm-fleet-enroll': ENROLL_METRIC,
    'lgtm-fleet-status': STATUS_METRIC,
    'lgtm-fleet-reconcile': RECONCILE_METRIC,
    'lgtm-fleet-refresh': REFRESH_METRIC,
    'lgtm-fleet-ring-forget': RING_FORGET_METRIC,
  };

  test('leaves out the panels of what the configuration does not run', () => {
    const titles = (d: Dashboard) => (d.panels ?? []).map((p) => String((p as { title?: unknown }).title));
    const ringPanel = 'Mimir and Loki rings: entries of stopped tasks forgotten';
    const gatewayPanel = 'Ingest gateway: writes refused, and writes bound by their header';
    const withLokiReplicas = render({ services: { loki: { replicas: 3 } } }).dashboards.get('pipeline') as Dashboard;
    const withoutGateway = render({ services: { mimir: { replicas: 3 } }, ingest: { tenantBinding: 'off' } }).dashboards.get(
      'pipeline',
    ) as Dashboard;
    expect(titles(dashboard('pipeline'))).not.toContain(ringPanel);
    expect(titles(dashboard('pipeline'))).toContain(gatewayPanel);
    expect(titles(pipeline)).toContain(ringPanel);
    expect(titles(withLokiReplicas)).toEqual(titles(pipeline));
    expect(titles(pipeline).length).toBe(titles(dashboard('pipeline')).length + 1);
    expect(titles(withoutGateway)).toEqual(titles(pipeline).filter((title) => title !== gatewayPanel));
    const replicas = (mimir: number, loki: number) => input({ services: { mimir: { replicas: mimir }, loki: { replicas: loki } } }).config;
    const ringForget = OPTIONAL_SERVICES['lgtm-fleet-ring-forget'];
    expect([input().config, replicas(3, 1), replicas(1, 3), replicas(3, 3)].map(ringForget)).toEqual([false, true, true, true]);
    const gateway = OPTIONAL_SERVICES[GATEWAY_SERVICE_NAME];
    const binding = (tenantBinding: string) => input({ ingest: { tenantBinding } }).config;
    expect([input().config, binding('migrate'), binding('off')].map(gateway)).toEqual([true, true, false]);
    expect(Object.keys(OPTIONAL_SERVICES).sort()).toEqual([GATEWAY_SERVICE_NAME, 'lgtm-fleet-ring-forget']);
  });

  test("charts the gateway's metrics under the names and dimensions its metric filters give them", () => {
    const gatewayTargets = targets.filter(
      (q) => (q.target.dimensions as Record<string, string> | undefined)?.service === GATEWAY_SERVICE_NAME,
    );
    expect(gatewayTargets.map((q) => [q.target.namespace, q.target.metricName, q.target.dimensions, q.target.matchExact])).toEqual([
      [METRICS_NAMESPACE, GATEWAY_METRICS.refused, { service: GATEWAY_SERVICE_NAME }, true],
      // One series per tenant.
      [METRICS_NAMESPACE, GATEWAY_METRICS.unbound, { service: GATEWAY_SERVICE_NAME, tenant: '*' }, false],
    ]);
  });

  test('queries the handlers namespace by the Powertools service dimension, with metric names the handlers emit', () => {
    expect(PIPELINE_METRICS_NAMESPACE).toBe(METRICS_NAMESPACE);
    expect([...serviceNames].sort()).toEqual(Object.keys(METRICS_OF).sort());
    const handlers = targets.filter(
      (q) =>
        q.target.namespace === METRICS_NAMESPACE &&
        (q.target.dimensions as Record<string, string> | undefined)?.service !== GATEWAY_SERVICE_NAME,
    );
    expect(handlers.length).toBeGreaterThanOrEqual(15);
    for (const { where, target } of handlers) {
      const service = (target.dimensions as Record<string, string>).service;
      expect([where, serviceNames.has(service)]).toEqual([where, true]);
      expect([where, Object.values(METRICS_OF[service] ?? {})]).toEqual([where, expect.arrayContaining([target.metricName])]);
      // Exactly the service dimension: the per-reason copies of a metric are left out.
      expect([where, target.matchExact, Object.keys(target.dimensions as object)]).toEqual([where, true, ['service']]);
    }
    // Every handler shows up.
    expect(new Set(handlers.map((q) => (q.target.dimensions as Record<string, string>).service))).toEqual(serviceNames);
  });

  test('charts the dead-letter queues found by name, with the stack name in the filter', () => {
    const dlq = variable(pipeline, DEAD_LETTER_QUEUE_VARIABLE);
    expect(dlq.query).toMatchObject({ queryType: 'dimensionValues', namespace: 'AWS/SQS', dimensionKey: 'QueueName' });
    expect(dlq.regex).toBe(deadLetterQueueRegex('LgtmFleet'));
    const regex = new RegExp((dlq.regex as string).slice(1, -1));
    expect(regex.test('LgtmFleet-EnrollmentDeadLetterQueue3F5B1E2A-AbCdEf123456')).toBe(true);
    expect(regex.test('LgtmFleet-RefreshDeadLetterQueueB3C2D1A0-XyZ987654321')).toBe(true);
    expect(regex.test('LgtmFleet-EnrollmentQueue1234ABCD-AbCdEf123456')).toBe(false);
    expect(regex.test('OtherStack-EnrollmentDeadLetterQueue3F5B1E2A-AbCdEf123456')).toBe(false);
    expect(variable(render({ stackName: 'Obs-Prod' }).dashboards.get('pipeline') as Dashboard, 'dlq').regex).toBe(
      '/^Obs-Prod-.*DeadLetterQueue/',
    );
    const depth = targets.find((q) => q.target.namespace === 'AWS/SQS');
    expect(depth?.target).toMatchObject({
      metricName: 'ApproximateNumberOfMessagesVisible',
      dimensions: { QueueName: '$dlq' },
      statistic: 'Maximum',
    });
  });

  test('every CloudWatch query runs on the fixed CloudWatch data source', () => {
    for (const query of dashboardQueries(pipeline))
      expect([query.where, pluginTypeOf(pipeline, { uid: query.uid, type: query.pluginType }), query.uid]).toEqual([
        query.where,
        'cloudwatch',
        CLOUDWATCH_UID,
      ]);
  });
});
