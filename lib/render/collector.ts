import { type LgtmConfig, tenantIdProblem } from '../config/schema';
import { type AlloyBlock, alloyString, block, list, object, renderFile, stringList } from './alloy-syntax';
import { BACKENDS, type RenderInput, serviceHost, serviceUrl } from './catalog';

/**
 * Renders the Grafana Alloy configuration of the collector: one ECS service on the shared
 * network that pulls from AWS APIs and pushes straight into the backends. The output is
 * stored in Parameter Store like the backends' configs, so it is kept compact: no comments,
 * tab indentation, short component labels.
 *
 * Pipelines (component names and arguments checked against the Alloy 1.21 reference):
 * - CloudWatch metrics: `prometheus.exporter.cloudwatch` (one `discovery` block per
 *   namespace job, decoupled scraping) → `prometheus.scrape` → `prometheus.remote_write` to
 *   Mimir, header `X-Scope-OrgID` = `tenants.cloudwatchMetrics`;
 * - CloudWatch Logs: `otelcol.receiver.awscloudwatch` (experimental; one per prefix, plus one
 *   for named groups, because `autodiscover` and `named` exclude each other) with checkpoints
 *   in `otelcol.storage.file` → `otelcol.exporter.loki` → `loki.process` (labels from the log
 *   group name) → `loki.write` to Loki, `tenant_id` = `tenants.cloudwatchLogs`;
 * - self-monitoring: `prometheus.scrape` of Mimir, Loki, Tempo and Grafana at their Cloud Map
 *   names, `prometheus.exporter.memcached` (memcached has no /metrics) and
 *   `prometheus.exporter.self` → `prometheus.remote_write` under `collector.metaTenant`.
 *
 * Logs go through `otelcol.exporter.loki` rather than OTLP to Loki's `/otlp` endpoint: the
 * labels `db_instance` / `db_cluster` / `log_type` are cut from the log group name here, in
 * the collector, instead of depending on Loki's per-tenant `otlp_config` to promote a
 * resource attribute to a label.
 *
 * Checkpoints and the restart window (upstream `awscloudwatchreceiver`, the version with
 * storage support): every poll reads each log group from its start time to "now", hands the
 * events to `loki.write` (which pushes them asynchronously), then stores "now", in whole
 * seconds, as the group's checkpoint in a bbolt file under {@link COLLECTOR}.checkpointDir.
 * The construct puts that directory on a volume that outlives the task, so a restarted task
 * resumes each group from its checkpoint:
 * - re-read (duplicates): the events of a poll interrupted before its checkpoint was written,
 *   at most one `pollInterval` (plus the poll's own duration), and up to one second before
 *   each checkpoint (second resolution); Loki drops an entry identical in stream, timestamp
 *   and line to one it still holds, which absorbs most of them;
 * - skipped: events still queued in `loki.write` when the task dies (normally the 1 s batch
 *   wait; longer while Loki is unreachable), events a failed FilterLogEvents call should have
 *   returned (upstream writes the checkpoint even when the poll failed), and events that
 *   CloudWatch makes visible only after a poll already passed their timestamp;
 * - a group without a checkpoint (new, or a renamed receiver label, which names the bbolt
 *   file) starts at `logs.startFrom`, or `logs.lookbackHours` before the task started; the
 *   later of that and the checkpoint wins, so a task down longer than the lookback skips the
 *   older part instead of flooding Loki with entries it would refuse.
 */

/** Fixed facts about the collector service, shared with its construct. */
export const COLLECTOR = {
  /** Alloy's HTTP server: UI, `/metrics`, `/-/ready`, `/-/reload`; reachable only inside the stack. */
  httpPort: 12345,
  healthPath: '/-/ready',
  configDir: '/etc/alloy',
  configFile: 'config.alloy',
  /** Alloy's `--storage.path`: component state (checkpoints included) that must outlive the task. */
  dataDir: '/var/lib/alloy/data',
  /** Where `otelcol.storage.file` keeps the CloudWatch Logs checkpoints (inside {@link COLLECTOR.dataDir}). */
  checkpointDir: '/var/lib/alloy/data/checkpoints',
  /** The Alloy binary in the `grafana/alloy` image. */
  binary: '/bin/alloy',
} as const;

/**
 * Flags for `alloy run`. `otelcol.receiver.awscloudwatch` is experimental and
 * `otelcol.storage.file` public preview: Alloy refuses to load either without
 * `--stability.level=experimental` (and `alloy validate` needs the same flag).
 */
export const COLLECTOR_RUN_FLAGS = [
  '--stability.level=experimental',
  `--storage.path=${COLLECTOR.dataDir}`,
  `--server.http.listen-addr=0.0.0.0:${COLLECTOR.httpPort}`,
  '--disable-reporting',
] as const;

/** Environment the collector's entrypoint sets before starting Alloy; the config reads it with `sys.env`. */
export const COLLECTOR_ENV = {
  /** RFC 3339 time `logs.lookbackHours` before the task started: where a log group without a checkpoint starts. */
  logsStartFrom: 'LGTM_LOGS_START_FROM',
} as const;

/**
 * Entrypoint for the collector container (`grafana/alloy` has a POSIX shell and a `date`
 * that takes `@<epoch>`): computes {@link COLLECTOR_ENV.logsStartFrom}, then replaces
 * itself with `alloy run` so Alloy receives SIGTERM directly.
 */
export function collectorEntrypoint(config: LgtmConfig): string[] {
  const lookbackSeconds = config.collector.logs.lookbackHours * 3600;
  const script = [
    `${COLLECTOR_ENV.logsStartFrom}="$(date -u -d "@$(( $(date +%s) - ${lookbackSeconds} ))" +%Y-%m-%dT%H:%M:%SZ)"`,
    `export ${COLLECTOR_ENV.logsStartFrom}`,
    `exec ${COLLECTOR.binary} run ${COLLECTOR.configDir}/${COLLECTOR.configFile} ${COLLECTOR_RUN_FLAGS.join(' ')}`,
  ].join('; ');
  return ['/bin/sh', '-c', script];
}

/**
 * AWS API actions the rendered config calls, for the task role. CloudWatch metric reads and
 * `tag:GetResources` have no resource-level permissions (`*`); the log actions are scoped to
 * the configured groups by {@link collectorLogGroupArnPatterns}.
 */
export const COLLECTOR_IAM_ACTIONS = {
  /**
   * Alloy's documented minimum for `prometheus.exporter.cloudwatch`. Discovery jobs read data
   * with GetMetricData; GetMetricStatistics is listed upstream as required all the same.
   */
  metrics: ['tag:GetResources', 'cloudwatch:ListMetrics', 'cloudwatch:GetMetricData', 'cloudwatch:GetMetricStatistics'],
  /** FilterLogEvents on the configured groups (the receiver never calls GetLogEvents or DescribeLogStreams). */
  logsRead: ['logs:FilterLogEvents'],
  /** Prefix autodiscovery lists log groups; needed only when `logs.logGroupPrefixes` is not empty. */
  logsDiscover: ['logs:DescribeLogGroups'],
} as const;

/**
 * The log-group part of ARNs the collector reads, one per configured name (`<name>`) or
 * prefix (`<prefix>*`); the construct builds `arn:<partition>:logs:<region>:<account>:log-group:<pattern>`.
 */
export function collectorLogGroupArnPatterns(config: LgtmConfig): string[] {
  const { logGroupNames, logGroupPrefixes } = config.collector.logs;
  return [...logGroupNames, ...logGroupPrefixes.map((prefix) => `${prefix}*`)];
}

/** `job` label of each self-monitored backend. */
export const SELF_MONITORED = ['mimir', 'loki', 'tempo', 'grafana'] as const;

/** Scrape interval of the self-monitoring targets and of the CloudWatch exporter's cache. */
export const COLLECTOR_SCRAPE_INTERVAL = '60s';

/** Labels the logs pipeline sets on every stream (those of the RDS name forms only when the name matches). */
export const COLLECTOR_LOG_LABELS = ['log_group', 'db_instance', 'db_cluster', 'log_type'] as const;

/** `job` label of every CloudWatch Logs stream. */
export const COLLECTOR_LOGS_JOB = 'cloudwatch-logs';

const TENANT_HEADER = 'X-Scope-OrgID';

/** Seconds as the shortest Go duration: `300` → `5m`, `3600` → `1h`, `90` → `90s`. */
export function goDuration(seconds: number): string {
  if (seconds % 3600 === 0) return `${seconds / 3600}h`;
  if (seconds % 60 === 0) return `${seconds / 60}m`;
  return `${seconds}s`;
}

// ---------------------------------------------------------------------------

/** The regions a namespace job scrapes: its own, else `collector.regions`, else the stack's. */
export function jobRegions(config: LgtmConfig, job: LgtmConfig['collector']['namespaces'][number], deployRegion: string): string[] {
  if (job.regions && job.regions.length > 0) return [...job.regions];
  return config.collector.regions.length > 0 ? [...config.collector.regions] : [deployRegion];
}

function remoteWrite(label: string, config: LgtmConfig, tenant: string): AlloyBlock {
  return block(
    'prometheus.remote_write',
    label,
    block(
      'endpoint',
      undefined,
      ['url', alloyString(`${serviceUrl(config, 'mimir')}/api/v1/push`)],
      ['headers', object([[TENANT_HEADER, alloyString(tenant)]])],
    ),
  );
}

function metricsPipeline(input: RenderInput): AlloyBlock[] {
  const { config, deploy } = input;
  const { collector } = config;
  if (collector.namespaces.length === 0) return [];
  const jobs = collector.namespaces.map((job) =>
    block(
      'discovery',
      undefined,
      ['type', alloyString(job.namespace)],
      ['regions', stringList(jobRegions(config, job, deploy.region))],
      ...(job.dimensions.length > 0 ? [['dimension_name_requirements', stringList(job.dimensions)] as const] : []),
      ...(Object.keys(job.tagFilters).length > 0
        ? [['search_tags', object(Object.entries(job.tagFilters).map(([key, value]) => [key, alloyString(value)]))] as const]
        : []),
      ...job.metrics.map((metric) =>
        block(
          'metric',
          undefined,
          ['name', alloyString(metric.name)],
          ['statistics', stringList(metric.statistics)],
          ['period', alloyString(goDuration(metric.periodSeconds))],
          ...(metric.lengthSeconds === undefined ? [] : [['length', alloyString(goDuration(metric.lengthSeconds))] as const]),
        ),
      ),
    ),
  );
  return [
    // Decoupled scraping calls CloudWatch once per scrape interval in the background and serves
    // the cached values to every prometheus.scrape in between: the bill follows the interval,
    // not the scrape rate.
    block(
      'prometheus.exporter.cloudwatch',
      'aws',
      ['sts_region', alloyString(deploy.region)],
      block('decoupled_scraping', undefined, ['enabled', 'true'], ['scrape_interval', alloyString(collector.scrapeInterval)]),
      ...jobs,
    ),
    block(
      'prometheus.scrape',
      'aws',
      ['targets', 'prometheus.exporter.cloudwatch.aws.targets'],
      ['forward_to', list(['prometheus.remote_write.cloudwatch.receiver'])],
      ['scrape_interval', alloyString(COLLECTOR_SCRAPE_INTERVAL)],
    ),
    remoteWrite('cloudwatch', config, config.tenants.cloudwatchMetrics),
  ];
}

/** A receiver label from a log-group prefix, stable when prefixes are reordered (it names the checkpoint file). */
function prefixLabel(prefix: string, taken: Set<string>): string {
  const base = `p_${prefix
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '')}`.slice(0, 60);
  let label = base;
  for (let n = 2; taken.has(label); n++) label = `${base}_${n}`;
  taken.add(label);
  return label;
}

function logsPipeline(input: RenderInput): AlloyBlock[] {
  const { config, deploy } = input;
  const logs = config.collector.logs;
  if (logs.logGroupNames.length === 0 && logs.logGroupPrefixes.length === 0) return [];
  const startFrom = logs.startFrom === undefined ? `sys.env(${alloyString(COLLECTOR_ENV.logsStartFrom)})` : alloyString(logs.startFrom);
  const receiver = (label: string, groups: AlloyBlock) =>
    block(
      'otelcol.receiver.awscloudwatch',
      label,
      ['region', alloyString(deploy.region)],
      ['storage', 'otelcol.storage.file.checkpoints.handler'],
      block('logs', undefined, ['poll_interval', alloyString(logs.pollInterval)], ['start_from', startFrom], groups),
      block('output', undefined, ['logs', list(['otelcol.exporter.loki.rds.input'])]),
    );
  const taken = new Set<string>(['named']);
  const receivers = [
    ...(logs.logGroupNames.length > 0
      ? [
          receiver(
            'named',
            block('groups', undefined, ...logs.logGroupNames.map((name) => block('named', undefined, ['group_name', alloyString(name)]))),
          ),
        ]
      : []),
    ...logs.logGroupPrefixes.map((prefix) =>
      receiver(
        prefixLabel(prefix, taken),
        block(
          'groups',
          undefined,
          block('autodiscover', undefined, ['prefix', alloyString(prefix)], ['limit', String(logs.maxGroupsPerPrefix)]),
        ),
      ),
    ),
  ];
  const extract = (expression: string) =>
    block('stage.regex', undefined, ['source', alloyString('group')], ['expression', alloyString(expression)]);
  return [
    block('otelcol.storage.file', 'checkpoints', ['directory', alloyString(COLLECTOR.checkpointDir)], ['create_directory', 'true']),
    ...receivers,
    block('otelcol.exporter.loki', 'rds', ['forward_to', list(['loki.process.rds.receiver'])]),
    // otelcol.exporter.loki writes each record as JSON ({"body": …, "resources": {…}}) with the
    // single label exporter="OTLP": take the group name out of the resources, make it labels,
    // keep the stream name as structured metadata and the original message as the line.
    block(
      'loki.process',
      'rds',
      ['forward_to', list(['loki.write.rds.receiver'])],
      block('stage.json', undefined, [
        'expressions',
        object([
          ['group', alloyString('resources."cloudwatch.log.group.name"')],
          ['stream', alloyString('resources."cloudwatch.log.stream"')],
          ['body', alloyString('')],
        ]),
      ]),
      extract('^/aws/rds/instance/(?P<db_instance>[^/]+)/(?P<log_type>[^/]+)$'),
      extract('^/aws/rds/cluster/(?P<db_cluster>[^/]+)/(?P<log_type>[^/]+)$'),
      block('stage.labels', undefined, [
        'values',
        object([
          ['log_group', alloyString('group')],
          ['db_instance', alloyString('')],
          ['db_cluster', alloyString('')],
          ['log_type', alloyString('')],
        ]),
      ]),
      block('stage.structured_metadata', undefined, ['values', object([['log_stream', alloyString('stream')]])]),
      block('stage.label_drop', undefined, ['values', stringList(['exporter'])]),
      block('stage.output', undefined, ['source', alloyString('body')]),
    ),
    block(
      'loki.write',
      'rds',
      ['external_labels', object([['job', alloyString(COLLECTOR_LOGS_JOB)]])],
      block(
        'endpoint',
        undefined,
        ['url', alloyString(`${serviceUrl(config, 'loki')}/loki/api/v1/push`)],
        ['tenant_id', alloyString(config.tenants.cloudwatchLogs)],
      ),
    ),
  ];
}

/** Services with several replicas: each is found through its Cloud Map name, every replica a target of its own. */
function replicated(config: LgtmConfig): Array<'mimir' | 'loki'> {
  return (['mimir', 'loki'] as const).filter((service) => config.services[service].replicas > 1);
}

function selfMonitoring(input: RenderInput): AlloyBlock[] {
  const { config } = input;
  const clustered = replicated(config);
  const targets = SELF_MONITORED.filter((service) => !(clustered as readonly string[]).includes(service)).map((service) =>
    object([
      ['__address__', alloyString(`${serviceHost(config, service)}:${BACKENDS[service].httpPort}`)],
      ['job', alloyString(service)],
    ]),
  );
  // One A record per running task: scraping the name itself would reach one replica at a time.
  const discovered = clustered.flatMap((service) => [
    block(
      'discovery.dns',
      service,
      ['names', stringList([serviceHost(config, service)])],
      ['type', alloyString('A')],
      ['port', String(BACKENDS[service].httpPort)],
    ),
    block(
      'discovery.relabel',
      service,
      ['targets', `discovery.dns.${service}.targets`],
      block('rule', undefined, ['target_label', alloyString('job')], ['replacement', alloyString(service)]),
    ),
  ]);
  const scraped = [list(targets), ...clustered.map((service) => `discovery.relabel.${service}.output`)];
  return [
    ...discovered,
    // memcached speaks no HTTP: the embedded memcached_exporter queries its stats port instead
    // of a sidecar.
    block('prometheus.exporter.memcached', 'cache', [
      'address',
      alloyString(`${serviceHost(config, 'memcached')}:${BACKENDS.memcached.port}`),
    ]),
    block('prometheus.exporter.self', 'alloy'),
    block(
      'prometheus.scrape',
      'stack',
      [
        'targets',
        `array.concat(${scraped.join(', ')}, prometheus.exporter.memcached.cache.targets, prometheus.exporter.self.alloy.targets)`,
      ],
      ['forward_to', list(['prometheus.remote_write.meta.receiver'])],
      ['scrape_interval', alloyString(COLLECTOR_SCRAPE_INTERVAL)],
    ),
    remoteWrite('meta', config, config.collector.metaTenant),
  ];
}

function checkInput(input: RenderInput): void {
  const { config } = input;
  for (const [field, tenant] of [
    ['tenants.cloudwatchMetrics', config.tenants.cloudwatchMetrics],
    ['tenants.cloudwatchLogs', config.tenants.cloudwatchLogs],
    ['collector.metaTenant', config.collector.metaTenant],
  ] as const) {
    const problem = tenantIdProblem(tenant);
    if (problem) throw new Error(`invalid ${field} "${tenant}": ${problem}`);
  }
  if (!config.collector.enabled) throw new Error('collector.enabled is false: there is no collector config to render');
}

/** The collector's Alloy configuration. */
export function renderCollectorConfig(input: RenderInput): string {
  checkInput(input);
  const blocks = [...metricsPipeline(input), ...logsPipeline(input), ...selfMonitoring(input)];
  return renderFile(blocks);
}
