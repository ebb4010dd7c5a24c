import { Lazy } from 'aws-cdk-lib';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { PARAMETER_VALUE_MAX_BYTES } from '../../lambdas/shared/contract';
import { deployedLengthUpperBound, parameterTierFor } from '../../lib/backend-service';
import { loadConfig } from '../../lib/config/load';
import type { LgtmConfig, LgtmConfigInput } from '../../lib/config/schema';
import type { DeployFacts } from '../../lib/render/catalog';
import {
  COLLECTOR,
  COLLECTOR_ENV,
  COLLECTOR_RUN_FLAGS,
  collectorEntrypoint,
  collectorLogGroupArnPatterns,
  goDuration,
  renderCollectorConfig,
} from '../../lib/render/collector';
import { attr, child, component, type Node, objectEntries, parse, structuralProblems } from './alloy-syntax';

const deploy: DeployFacts = { region: 'eu-west-1', bucketName: 'data-bucket', urlSuffix: 'amazonaws.com', availabilityZones: 2 };

function configWith(values: LgtmConfigInput | Record<string, unknown> = {}): LgtmConfig {
  return loadConfig([{ origin: 'test', values }]);
}

function render(config: LgtmConfig = configWith(), facts: DeployFacts = deploy): string {
  return renderCollectorConfig({ config, deploy: facts });
}

const children = (node: Node, name: string) => node.blocks.filter((b) => b.name === name);
const stringsOf = (value: string): string[] => JSON.parse(value) as string[];

/** Go RE2 `(?P<name>…)` → JavaScript `(?<name>…)`, from the rendered (Alloy-escaped) string. */
const goRegex = (alloyValue: string) => new RegExp((JSON.parse(alloyValue) as string).replace(/\(\?P</g, '(?<'));

describe('structural checker on the collector config', () => {
  const valid = render();

  it('accepts the default render', () => {
    expect(structuralProblems(valid)).toEqual([]);
  });

  it.each([
    ['a misspelled loki.process stage', valid.replace('stage.labels {', 'stage.label {'), /unknown block stage\.label\b/],
    [
      'a wrong export of the checkpoint storage',
      valid.replace('otelcol.storage.file.checkpoints.handler', 'otelcol.storage.file.checkpoints.receiver'),
      /has no export "receiver"/,
    ],
    [
      'a storage nobody uses',
      valid.replace('storage = otelcol.storage.file.checkpoints.handler', 'storage = null'),
      /otelcol\.storage\.file\.checkpoints is never used/,
    ],
    [
      'a scrape of a missing exporter',
      valid.replace('prometheus.exporter.memcached.cache.targets', 'prometheus.exporter.memcache.cache.targets'),
      /missing component prometheus\.exporter\.memcache\.cache/,
    ],
  ])('rejects %s', (_what, broken, problem) => {
    expect(broken).not.toBe(valid);
    expect(structuralProblems(broken).join('\n')).toMatch(problem);
  });
});

describe('CloudWatch metrics', () => {
  const config = configWith();
  const nodes = parse(render(config));
  const exporter = component(nodes, 'prometheus.exporter.cloudwatch', 'aws');

  it('asks STS in the stack region and scrapes in the background every collector.scrapeInterval', () => {
    expect(attr(exporter, 'sts_region')).toBe('"eu-west-1"');
    const decoupled = child(exporter, 'decoupled_scraping');
    expect(attr(decoupled, 'enabled')).toBe('true');
    expect(attr(decoupled, 'scrape_interval')).toBe('"5m"');
  });

  it('has one discovery job per configured namespace job, with its dimensions, metrics, statistics and period', () => {
    const jobs = children(exporter, 'discovery');
    expect(jobs.map((j) => attr(j, 'type'))).toEqual([
      '"AWS/RDS"',
      '"AWS/ApplicationELB"',
      '"AWS/ApplicationELB"',
      '"AWS/NetworkELB"',
      '"AWS/NetworkELB"',
      '"AWS/ElastiCache"',
    ]);
    config.collector.namespaces.forEach((expected, i) => {
      const job = jobs[i];
      expect(stringsOf(attr(job, 'regions'))).toEqual(['eu-west-1']);
      expect(stringsOf(attr(job, 'dimension_name_requirements'))).toEqual(expected.dimensions);
      expect(job.attrs.has('search_tags')).toBe(false);
      const metrics = children(job, 'metric').map((m) => ({
        name: JSON.parse(attr(m, 'name')),
        statistics: stringsOf(attr(m, 'statistics')),
        period: attr(m, 'period'),
      }));
      expect(metrics).toEqual(expected.metrics.map((m) => ({ name: m.name, statistics: m.statistics, period: '"5m"' })));
    });
  });

  it('keeps the defaults lean: periods of 5 minutes, at most two statistics, one dimension set per job', () => {
    for (const job of children(exporter, 'discovery')) {
      expect(job.attrs.has('dimension_name_requirements')).toBe(true);
      for (const metric of children(job, 'metric')) {
        expect(attr(metric, 'period')).toBe('"5m"');
        expect(stringsOf(attr(metric, 'statistics')).length).toBeLessThanOrEqual(2);
      }
    }
    const rds = children(exporter, 'discovery')[0];
    expect(children(rds, 'metric').map((m) => JSON.parse(attr(m, 'name')))).toEqual([
      'CPUUtilization',
      'FreeableMemory',
      'FreeStorageSpace',
      'DatabaseConnections',
      'ReadLatency',
      'WriteLatency',
      'ReadIOPS',
      'WriteIOPS',
    ]);
  });

  it('writes to Mimir on the shared network under tenants.cloudwatchMetrics', () => {
    const scrape = component(nodes, 'prometheus.scrape', 'aws');
    expect(attr(scrape, 'targets')).toBe('prometheus.exporter.cloudwatch.aws.targets');
    expect(attr(scrape, 'forward_to')).toBe('[prometheus.remote_write.cloudwatch.receiver]');
    const endpoint = child(component(nodes, 'prometheus.remote_write', 'cloudwatch'), 'endpoint');
    expect(attr(endpoint, 'url')).toBe('"http://mimir.lgtm.internal:8080/api/v1/push"');
    expect(objectEntries(attr(endpoint, 'headers'))).toEqual({ 'X-Scope-OrgID': '"aws-rag-cloudwatch"' });
  });

  it('renders regions, tag filters, other periods and lengths as configured', () => {
    const custom = configWith({
      tenants: { allowed: ['aws-rag-ec2', 'cw-metrics', 'aws-rag-rds'], cloudwatchMetrics: 'cw-metrics' },
      collector: {
        scrapeInterval: '10m',
        regions: ['us-east-1', 'eu-central-1'],
        namespaces: [
          {
            namespace: 'AWS/RDS',
            tagFilters: { Environment: '^prod$', 'aws:cloudformation:stack-name': 'shop-.*' },
            metrics: [{ name: 'CPUUtilization', statistics: ['p99.5', 'SampleCount'], periodSeconds: 600, lengthSeconds: 3600 }],
          },
          { namespace: 'AWS/ElastiCache', regions: ['ap-southeast-2'], metrics: [{ name: 'Evictions', statistics: ['Sum'] }] },
        ],
      },
    });
    const text = render(custom);
    expect(structuralProblems(text)).toEqual([]);
    const tree = parse(text);
    const cw = component(tree, 'prometheus.exporter.cloudwatch', 'aws');
    expect(attr(child(cw, 'decoupled_scraping'), 'scrape_interval')).toBe('"10m"');
    const [rds, cache] = children(cw, 'discovery');
    expect(stringsOf(attr(rds, 'regions'))).toEqual(['us-east-1', 'eu-central-1']);
    expect(rds.attrs.has('dimension_name_requirements')).toBe(false);
    expect(objectEntries(attr(rds, 'search_tags'))).toEqual({ Environment: '"^prod$"', 'aws:cloudformation:stack-name': '"shop-.*"' });
    const metric = child(rds, 'metric');
    expect(attr(metric, 'statistics')).toBe('["p99.5", "SampleCount"]');
    expect(attr(metric, 'period')).toBe('"10m"');
    expect(attr(metric, 'length')).toBe('"1h"');
    expect(stringsOf(attr(cache, 'regions'))).toEqual(['ap-southeast-2']);
    expect(attr(child(cache, 'metric'), 'period')).toBe('"5m"');
    const endpoint = child(component(tree, 'prometheus.remote_write', 'cloudwatch'), 'endpoint');
    expect(objectEntries(attr(endpoint, 'headers'))).toEqual({ 'X-Scope-OrgID': '"cw-metrics"' });
  });

  it('leaves the exporter out when no namespace is configured', () => {
    const text = render(configWith({ collector: { namespaces: [] } }));
    expect(structuralProblems(text)).toEqual([]);
    expect(text).not.toContain('prometheus.exporter.cloudwatch');
    expect(text).not.toContain('aws-rag-cloudwatch');
  });

  it('emits a region token verbatim', () => {
    const region = Lazy.string({ produce: () => 'eu-west-1' });
    const text = render(configWith(), { ...deploy, region });
    expect(text).toContain(`sts_region = "${region}"`);
    expect(text).toMatch(/\tregions +=/);
    expect(text).toContain(`= ["${region}"]`);
    expect(text).toContain(`region = "${region}"`);
    expect(structuralProblems(text)).toEqual([]);
  });

  it.each([
    [60, '1m'],
    [300, '5m'],
    [5400, '90m'],
    [3600, '1h'],
    [86400, '24h'],
    [90, '90s'],
  ])('formats %i s as %s', (seconds, text) => {
    expect(goDuration(seconds)).toBe(text);
  });
});

describe('CloudWatch Logs', () => {
  const nodes = parse(render());

  it('discovers the default /aws/rds/ prefix with checkpoints in the persistent directory', () => {
    const storage = component(nodes, 'otelcol.storage.file', 'checkpoints');
    expect(attr(storage, 'directory')).toBe(`"${COLLECTOR.checkpointDir}"`);
    expect(attr(storage, 'create_directory')).toBe('true');
    expect(COLLECTOR.checkpointDir.startsWith(`${COLLECTOR.dataDir}/`)).toBe(true);
    const receivers = nodes.filter((n) => n.name === 'otelcol.receiver.awscloudwatch');
    expect(receivers.map((r) => r.label)).toEqual(['p_aws_rds']);
    const [receiver] = receivers;
    expect(attr(receiver, 'region')).toBe('"eu-west-1"');
    expect(attr(receiver, 'storage')).toBe('otelcol.storage.file.checkpoints.handler');
    const logs = child(receiver, 'logs');
    expect(attr(logs, 'poll_interval')).toBe('"1m"');
    expect(attr(logs, 'start_from')).toBe(`sys.env("${COLLECTOR_ENV.logsStartFrom}")`);
    const autodiscover = child(child(logs, 'groups'), 'autodiscover');
    expect(attr(autodiscover, 'prefix')).toBe('"/aws/rds/"');
    expect(attr(autodiscover, 'limit')).toBe('50');
    expect(attr(child(receiver, 'output'), 'logs')).toBe('[otelcol.exporter.loki.rds.input]');
  });

  it('writes to Loki on the shared network under tenants.cloudwatchLogs', () => {
    expect(attr(component(nodes, 'otelcol.exporter.loki', 'rds'), 'forward_to')).toBe('[loki.process.rds.receiver]');
    expect(attr(component(nodes, 'loki.process', 'rds'), 'forward_to')).toBe('[loki.write.rds.receiver]');
    const write = component(nodes, 'loki.write', 'rds');
    const endpoint = child(write, 'endpoint');
    expect(attr(endpoint, 'url')).toBe('"http://loki.lgtm.internal:3100/loki/api/v1/push"');
    expect(attr(endpoint, 'tenant_id')).toBe('"aws-rag-rds"');
    expect(objectEntries(attr(write, 'external_labels'))).toEqual({ job: '"cloudwatch-logs"' });
  });

  it('labels streams with the DB instance or cluster and the log type taken from the log group name', () => {
    const processor = component(nodes, 'loki.process', 'rds');
    expect(objectEntries(attr(child(processor, 'stage.json'), 'expressions'))).toEqual({
      group: '"resources.\\"cloudwatch.log.group.name\\""',
      stream: '"resources.\\"cloudwatch.log.stream\\""',
      body: '""',
    });
    const regexes = children(processor, 'stage.regex').map((stage) => {
      expect(attr(stage, 'source')).toBe('"group"');
      return goRegex(attr(stage, 'expression'));
    });
    const extract = (group: string) => Object.assign({}, ...regexes.map((re) => re.exec(group)?.groups ?? {}));
    expect(extract('/aws/rds/instance/orders-db/postgresql')).toEqual({ db_instance: 'orders-db', log_type: 'postgresql' });
    expect(extract('/aws/rds/instance/legacy/slowquery')).toEqual({ db_instance: 'legacy', log_type: 'slowquery' });
    expect(extract('/aws/rds/cluster/shop-aurora/audit')).toEqual({ db_cluster: 'shop-aurora', log_type: 'audit' });
    expect(extract('/aws/rds/proxy/my-proxy')).toEqual({});
    expect(extract('/aws/lambda/fn')).toEqual({});
    expect(objectEntries(attr(child(processor, 'stage.labels'), 'values'))).toEqual({
      log_group: '"group"',
      db_instance: '""',
      db_cluster: '""',
      log_type: '""',
    });
    expect(objectEntries(attr(child(processor, 'stage.structured_metadata'), 'values'))).toEqual({ log_stream: '"stream"' });
    expect(attr(child(processor, 'stage.label_drop'), 'values')).toBe('["exporter"]');
    expect(attr(child(processor, 'stage.output'), 'source')).toBe('"body"');
  });

  it('reads named groups and several prefixes, one receiver each, all checkpointed', () => {
    const config = configWith({
      tenants: { allowed: ['aws-rag-ec2', 'aws-rag-cloudwatch', 'db-logs'], cloudwatchLogs: 'db-logs' },
      collector: {
        logs: {
          logGroupNames: ['/aws/rds/instance/orders-db/postgresql', '/custom/app#1'],
          logGroupPrefixes: ['/aws/rds/instance/shop-', '/aws/rds/cluster/'],
          maxGroupsPerPrefix: 200,
          pollInterval: '5m',
          startFrom: '2026-10-01T00:00:00Z',
        },
      },
    });
    // A named group under a prefix would be read twice: the schema refuses it.
    expect(() => configWith({ collector: { logs: { logGroupNames: ['/aws/rds/instance/x/error'] } } })).toThrow(/read twice/);
    const text = render(config);
    expect(structuralProblems(text)).toEqual([]);
    const tree = parse(text);
    const receivers = tree.filter((n) => n.name === 'otelcol.receiver.awscloudwatch');
    expect(receivers.map((r) => r.label)).toEqual(['named', 'p_aws_rds_instance_shop', 'p_aws_rds_cluster']);
    for (const receiver of receivers) {
      expect(attr(receiver, 'storage')).toBe('otelcol.storage.file.checkpoints.handler');
      expect(attr(child(receiver, 'logs'), 'poll_interval')).toBe('"5m"');
      expect(attr(child(receiver, 'logs'), 'start_from')).toBe('"2026-10-01T00:00:00Z"');
      // autodiscover and named exclude each other within one receiver
      expect(
        child(child(receiver, 'logs'), 'groups')
          .blocks.map((b) => b.name)
          .filter((n, i, all) => all.indexOf(n) === i),
      ).toHaveLength(1);
    }
    const named = children(child(child(receivers[0], 'logs'), 'groups'), 'named').map((n) => JSON.parse(attr(n, 'group_name')));
    expect(named).toEqual(['/aws/rds/instance/orders-db/postgresql', '/custom/app#1']);
    expect(attr(child(child(child(receivers[1], 'logs'), 'groups'), 'autodiscover'), 'limit')).toBe('200');
    expect(attr(child(component(tree, 'loki.write', 'rds'), 'endpoint'), 'tenant_id')).toBe('"db-logs"');
  });

  it('gives receivers labels that survive reordering and never collide', () => {
    const labels = (prefixes: string[]) =>
      parse(render(configWith({ collector: { logs: { logGroupPrefixes: prefixes } } })))
        .filter((n) => n.name === 'otelcol.receiver.awscloudwatch')
        .map((n) => n.label);
    expect(labels(['/a/x', '/b/'])).toEqual(['p_a_x', 'p_b']);
    expect(labels(['/b/', '/a/x'])).toEqual(['p_b', 'p_a_x']);
    expect(labels(['/A#b', '/a/b'])).toEqual(['p_a_b', 'p_a_b_2']);
  });

  it('renders no logs pipeline when no group names or prefixes are configured', () => {
    const text = render(configWith({ collector: { logs: { logGroupPrefixes: [] } } }));
    expect(structuralProblems(text)).toEqual([]);
    expect(text).not.toMatch(/otelcol\.|loki\.(process|write)/);
  });
});

describe('self-monitoring', () => {
  it('scrapes every backend at its Cloud Map name, memcached and Alloy itself into the meta tenant', () => {
    const nodes = parse(render());
    const scrape = component(nodes, 'prometheus.scrape', 'stack');
    const targets = attr(scrape, 'targets');
    const addresses = [...targets.matchAll(/\{__address__ = "([^"]+)", job = "([^"]+)"\}/g)].map((m) => [m[1], m[2]]);
    expect(addresses).toEqual([
      ['mimir.lgtm.internal:8080', 'mimir'],
      ['loki.lgtm.internal:3100', 'loki'],
      ['tempo.lgtm.internal:3200', 'tempo'],
      ['grafana.lgtm.internal:3000', 'grafana'],
    ]);
    expect(targets).toMatch(/, prometheus\.exporter\.memcached\.cache\.targets, prometheus\.exporter\.self\.alloy\.targets\)$/);
    expect(attr(component(nodes, 'prometheus.exporter.memcached', 'cache'), 'address')).toBe('"memcached.lgtm.internal:11211"');
    component(nodes, 'prometheus.exporter.self', 'alloy');
    expect(attr(scrape, 'forward_to')).toBe('[prometheus.remote_write.meta.receiver]');
    const endpoint = child(component(nodes, 'prometheus.remote_write', 'meta'), 'endpoint');
    expect(attr(endpoint, 'url')).toBe('"http://mimir.lgtm.internal:8080/api/v1/push"');
    expect(objectEntries(attr(endpoint, 'headers'))).toEqual({ 'X-Scope-OrgID': '"lgtm-meta"' });
  });

  it('scrapes every replica of a clustered Mimir or Loki, found through its Cloud Map name', () => {
    const nodes = parse(render(configWith({ services: { loki: { replicas: 3 } } })));
    expect(structuralProblems(render(configWith({ services: { loki: { replicas: 3 } } })))).toEqual([]);
    const dns = component(nodes, 'discovery.dns', 'loki');
    expect([attr(dns, 'names'), attr(dns, 'type'), attr(dns, 'port')]).toEqual(['["loki.lgtm.internal"]', '"A"', '3100']);
    const relabel = component(nodes, 'discovery.relabel', 'loki');
    expect(attr(relabel, 'targets')).toBe('discovery.dns.loki.targets');
    const rule = child(relabel, 'rule');
    expect([attr(rule, 'target_label'), attr(rule, 'replacement')]).toEqual(['"job"', '"loki"']);
    const targets = attr(component(nodes, 'prometheus.scrape', 'stack'), 'targets');
    // Loki leaves the static list (one address would reach one replica at a time); Mimir, with one replica, stays in it.
    expect(targets).not.toContain('loki.lgtm.internal:3100');
    expect(targets).toContain('{__address__ = "mimir.lgtm.internal:8080", job = "mimir"}');
    expect(targets).toContain('discovery.relabel.loki.output');
    expect(nodes.some((n) => n.name === 'discovery.dns' && n.label === 'mimir')).toBe(false);
  });

  it('has no DNS discovery with one replica of each backend', () => {
    expect(render()).not.toMatch(/discovery\.(dns|relabel) "(mimir|loki)"/);
  });

  it('follows network.namespaceName and collector.metaTenant', () => {
    const text = render(configWith({ network: { namespaceName: 'obs.example.internal' }, collector: { metaTenant: 'platform.self' } }));
    expect(text).toContain('{__address__ = "mimir.obs.example.internal:8080", job = "mimir"}');
    expect(text).toContain('address = "memcached.obs.example.internal:11211"');
    expect(text).toContain('headers = {"X-Scope-OrgID" = "platform.self"}');
    expect(text).not.toContain('lgtm.internal');
  });

  it('sends each tenant only to its own write path', () => {
    const nodes = parse(render());
    const tenants = nodes
      .filter((n) => n.name === 'prometheus.remote_write')
      .map((n) => [n.label, objectEntries(attr(child(n, 'endpoint'), 'headers'))['X-Scope-OrgID']]);
    expect(tenants).toEqual([
      ['cloudwatch', '"aws-rag-cloudwatch"'],
      ['meta', '"lgtm-meta"'],
    ]);
    expect(render()).not.toContain('aws-rag-ec2');
  });
});

describe('size', () => {
  it('needs an advanced-tier parameter by default (over 4096 bytes, under 8192), and cannot be kept in the standard tier', () => {
    const text = render();
    expect(Buffer.byteLength(text)).toBeGreaterThan(4096);
    expect(parameterTierFor('/LgtmFleet/config/collector', text, 'advanced')).toBe(ssm.ParameterTier.ADVANCED);
    expect(() => parameterTierFor('/LgtmFleet/config/collector', text, 'standard')).toThrow('over the 4096-byte standard tier');
  });

  it('stays under 8192 bytes with a region token, two extra regions, tag filters and several log groups', () => {
    const config = configWith({
      network: { namespaceName: 'observability.platform.example.internal' },
      collector: {
        regions: ['ap-southeast-2', 'eu-central-1'],
        logs: {
          logGroupNames: ['/custom/one', '/custom/two', '/custom/three'],
          logGroupPrefixes: ['/aws/rds/instance/', '/aws/rds/cluster/'],
        },
      },
    });
    config.collector.namespaces.forEach((job) => {
      job.tagFilters = { Environment: '^(prod|staging)$' };
    });
    const text = render(config, { ...deploy, region: Lazy.string({ produce: () => 'eu-west-1' }) });
    expect(structuralProblems(text)).toEqual([]);
    expect(deployedLengthUpperBound(text)).toBeLessThanOrEqual(PARAMETER_VALUE_MAX_BYTES);
  });
});

describe('service facts', () => {
  it('runs Alloy with the experimental stability level, the persistent storage path and an in-stack listen address', () => {
    expect(COLLECTOR_RUN_FLAGS).toEqual([
      '--stability.level=experimental',
      '--storage.path=/var/lib/alloy/data',
      '--server.http.listen-addr=0.0.0.0:12345',
      '--disable-reporting',
    ]);
    const [shell, flag, script] = collectorEntrypoint(configWith({ collector: { logs: { lookbackHours: 6 } } }));
    expect([shell, flag]).toEqual(['/bin/sh', '-c']);
    expect(script).toContain('LGTM_LOGS_START_FROM="$(date -u -d "@$(( $(date +%s) - 21600 ))" +%Y-%m-%dT%H:%M:%SZ)"');
    expect(script).toContain('export LGTM_LOGS_START_FROM');
    expect(script).toMatch(/; exec \/bin\/alloy run \/etc\/alloy\/config\.alloy --stability\.level=experimental /);
  });

  it('names the log groups the task role may read', () => {
    expect(collectorLogGroupArnPatterns(configWith())).toEqual(['/aws/rds/*']);
    expect(
      collectorLogGroupArnPatterns(
        configWith({ collector: { logs: { logGroupNames: ['/custom/a'], logGroupPrefixes: ['/aws/rds/cluster/'] } } }),
      ),
    ).toEqual(['/custom/a', '/aws/rds/cluster/*']);
  });

  it('refuses to render a disabled collector', () => {
    expect(() => render(configWith({ collector: { enabled: false } }))).toThrow(/collector\.enabled is false/);
  });
});
