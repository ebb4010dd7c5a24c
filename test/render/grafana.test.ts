import { Aws } from 'aws-cdk-lib';
import { parse } from 'yaml';
import { loadConfig } from '../../lib/config/load';
import type { RenderInput } from '../../lib/render/catalog';
import * as catalog from '../../lib/render/catalog';
import {
  CLOUDWATCH_UID,
  escapeProvisioningValue,
  federatedDataSourceUid,
  GRAFANA_UID_MAX_LENGTH,
  LOG_TRACE_ID_REGEX,
  renderGrafanaDatasourceFiles,
  TRACE_TO_METRICS_QUERIES,
  tenantDataSourceUid,
} from '../../lib/render/grafana';
import { NODE_EXPORTER_METRICS, WINDOWS_EXPORTER_METRICS } from '../../lib/render/grafana-dashboards';
import { promqlSelectors, syntaxProblems } from './grafana-queries';

jest.mock('../../lib/render/catalog', () => {
  const actual = jest.requireActual('../../lib/render/catalog');
  return { ...actual, serviceUrl: jest.fn(actual.serviceUrl) };
});

interface DataSource {
  name: string;
  uid: string;
  type: string;
  access: string;
  url: string;
  isDefault?: boolean;
  jsonData: Record<string, unknown> & {
    httpHeaderName1?: string;
    derivedFields?: Array<{ name: string; matcherType: string; matcherRegex: string; url: string; datasourceUid: string }>;
    exemplarTraceIdDestinations?: Array<{ name: string; datasourceUid: string }>;
    tracesToLogsV2?: { datasourceUid: string; tags: Array<{ key: string; value: string }> };
    tracesToMetrics?: {
      datasourceUid: string;
      tags: Array<{ key: string; value: string }>;
      queries: Array<{ name: string; query: string }>;
    };
    serviceMap?: { datasourceUid: string };
  };
  secureJsonData?: Record<string, string>;
}

const DEPLOY = {
  region: 'eu-west-1',
  bucketName: 'lgtmfleet-databucket-1a2b3c4d5e6f-123456789012',
  urlSuffix: 'amazonaws.com',
  availabilityZones: 2,
};

function render(values: Record<string, unknown> = {}, deploy: RenderInput['deploy'] = DEPLOY) {
  const input: RenderInput = { config: loadConfig([{ origin: 'test', values }]), deploy };
  const files = renderGrafanaDatasourceFiles(input);
  const docs = files.map((file) => parse(file.content) as { apiVersion: number; prune: boolean; datasources: DataSource[] });
  // What Grafana ends up with: the union of every file in the provisioning directory.
  const doc = { apiVersion: docs[0].apiVersion, prune: docs[0].prune, datasources: docs.flatMap((d) => d.datasources) };
  return { files, docs, doc, byUid: new Map(doc.datasources.map((ds) => [ds.uid, ds])) };
}

const DEFAULT_TENANTS = ['aws-rag-ec2', 'aws-rag-cloudwatch', 'aws-rag-rds'];

/** Every data source UID a data source links to (derived fields, exemplars, trace to logs/metrics, service map). */
function correlationTargets(ds: DataSource): string[] {
  const j = ds.jsonData;
  return [
    ...(j.derivedFields ?? []).map((f) => f.datasourceUid),
    ...(j.exemplarTraceIdDestinations ?? []).map((d) => d.datasourceUid),
    ...(j.tracesToLogsV2 ? [j.tracesToLogsV2.datasourceUid] : []),
    ...(j.tracesToMetrics ? [j.tracesToMetrics.datasourceUid] : []),
    ...(j.serviceMap ? [j.serviceMap.datasourceUid] : []),
  ];
}

describe('renderGrafanaDatasources', () => {
  test('every file is a version 1 provisioning file that prunes data sources no longer listed', () => {
    for (const doc of render().docs) {
      expect(doc.apiVersion).toBe(1);
      expect(doc.prune).toBe(true);
    }
  });

  test('one file per tenant and one federated file, named by stable keys', () => {
    expect(render().files.map((f) => [f.key, f.fileName])).toEqual([
      ['tenant-aws-rag-ec2', 'tenant-aws-rag-ec2.yaml'],
      ['tenant-aws-rag-cloudwatch', 'tenant-aws-rag-cloudwatch.yaml'],
      ['tenant-aws-rag-rds', 'tenant-aws-rag-rds.yaml'],
      ['federated-mimir', 'federated-mimir.yaml'],
      ['federated-loki', 'federated-loki.yaml'],
      ['federated-tempo', 'federated-tempo.yaml'],
      ['stack-metrics', 'stack-metrics.yaml'],
      ['cloudwatch', 'cloudwatch.yaml'],
    ]);
  });

  test("the stack's own metrics: one Mimir data source for the collector's meta tenant, none without a collector", () => {
    const { byUid } = render();
    expect(byUid.get('lgtm-stack-metrics')).toMatchObject({
      type: 'prometheus',
      url: 'http://mimir.lgtm.internal:8080/prometheus',
      secureJsonData: { httpHeaderValue1: 'lgtm-meta' },
    });
    expect(render({ collector: { enabled: false } }).byUid.has('lgtm-stack-metrics')).toBe(false);
  });

  test('exactly one default data source across all files', () => {
    expect(render().doc.datasources.filter((ds) => ds.isDefault)).toHaveLength(1);
  });

  test('provisions a Mimir, Loki and Tempo data source per tenant, each sending its own tenant header', () => {
    const { byUid } = render();
    for (const tenant of DEFAULT_TENANTS) {
      const mimir = byUid.get(`mimir-${tenant}`);
      expect(mimir).toMatchObject({
        type: 'prometheus',
        access: 'proxy',
        url: 'http://mimir.lgtm.internal:8080/prometheus',
        jsonData: { prometheusType: 'Mimir', httpHeaderName1: 'X-Scope-OrgID' },
        secureJsonData: { httpHeaderValue1: tenant },
      });
      expect(byUid.get(`loki-${tenant}`)).toMatchObject({
        type: 'loki',
        access: 'proxy',
        url: 'http://loki.lgtm.internal:3100',
        jsonData: { httpHeaderName1: 'X-Scope-OrgID' },
        secureJsonData: { httpHeaderValue1: tenant },
      });
      expect(byUid.get(`tempo-${tenant}`)).toMatchObject({
        type: 'tempo',
        access: 'proxy',
        url: 'http://tempo.lgtm.internal:3200',
        jsonData: { httpHeaderName1: 'X-Scope-OrgID' },
        secureJsonData: { httpHeaderValue1: tenant },
      });
    }
  });

  test('adds a federated set whose header joins every tenant with |', () => {
    const { doc, byUid } = render();
    for (const backend of ['mimir', 'loki', 'tempo'] as const) {
      const federated = byUid.get(federatedDataSourceUid(backend));
      expect(federated?.secureJsonData?.httpHeaderValue1).toBe(DEFAULT_TENANTS.join('|'));
    }
    // Per tenant three, three federated, the stack's own metrics and CloudWatch.
    expect(doc.datasources).toHaveLength(DEFAULT_TENANTS.length * 3 + 3 + 1 + 1);
  });

  test('skips the federated set when there is only one tenant', () => {
    const { doc } = render({
      tenants: { allowed: ['solo'], ec2Default: 'solo', cloudwatchMetrics: 'solo', cloudwatchLogs: 'solo' },
    });
    expect(doc.datasources.map((ds) => ds.uid)).toEqual(['mimir-solo', 'loki-solo', 'tempo-solo', 'lgtm-stack-metrics', CLOUDWATCH_UID]);
  });

  test("makes the first tenant's Mimir data source the only default", () => {
    const { doc } = render();
    const defaults = doc.datasources.filter((ds) => ds.isDefault);
    expect(defaults.map((ds) => ds.uid)).toEqual(['mimir-aws-rag-ec2']);
  });

  test('keeps every UID unique and within 40 characters, and every name unique', () => {
    const long = 'a'.repeat(120);
    const tenants = [long, `${long}b`, 'team.blue', 'team-blue', 'all', 'ops'];
    const { doc } = render({ tenants: { allowed: tenants, ec2Default: 'ops', cloudwatchMetrics: 'ops', cloudwatchLogs: 'ops' } });
    const uids = doc.datasources.map((ds) => ds.uid);
    // Correlations stay inside each tenant's own set, whatever its UIDs look like.
    for (const ds of doc.datasources) for (const target of correlationTargets(ds)) expect(uids).toContain(target);
    for (const uid of uids) {
      expect(uid.length).toBeLessThanOrEqual(GRAFANA_UID_MAX_LENGTH);
      expect(uid).toMatch(/^[A-Za-z0-9_-]+$/);
    }
    expect(new Set(uids).size).toBe(uids.length);
    expect(new Set(doc.datasources.map((ds) => ds.name)).size).toBe(uids.length);
    // The long tenants still get their own header, even though their UIDs are shortened.
    expect(doc.datasources.filter((ds) => ds.secureJsonData?.httpHeaderValue1 === long)).toHaveLength(3);
  });

  test('derives short UIDs that are stable across renders and readable where possible', () => {
    const long = `tenant-${'x'.repeat(100)}`;
    expect(tenantDataSourceUid('loki', long)).toBe(tenantDataSourceUid('loki', long));
    expect(tenantDataSourceUid('loki', long)).toMatch(/^loki-tenant-x+-[0-9a-f]{8}$/);
    expect(tenantDataSourceUid('mimir', 'team.blue')).toMatch(/^mimir-team-blue-[0-9a-f]{8}$/);
    expect(tenantDataSourceUid('mimir', 'team.blue')).not.toBe(tenantDataSourceUid('mimir', 'team-blue'));
    expect(tenantDataSourceUid('tempo', 'all')).not.toBe(federatedDataSourceUid('tempo'));
  });

  test('escapes $ so that Grafana does not expand it as an environment variable', () => {
    expect(escapeProvisioningValue('pa$word')).toBe('pa$$word');
    expect(escapeProvisioningValue('$HOME$$')).toBe('$$HOME$$$$');
    expect(escapeProvisioningValue('no-dollar')).toBe('no-dollar');
  });

  test('escapes every value of the rendered file', () => {
    // Config validation keeps $ out of tenants and names, so inject one through the service URL.
    jest.mocked(catalog.serviceUrl).mockImplementationOnce((_config, service) => `http://${service}.$NS:1`);
    const { doc } = render();
    expect(doc.datasources[0].url).toBe('http://mimir.$$NS:1/prometheus');
  });

  test('points every data source at the configured namespace', () => {
    const { doc } = render({ network: { namespaceName: 'obs.example.internal' } });
    for (const ds of doc.datasources.filter((d) => d.type !== 'cloudwatch'))
      expect(ds.url).toMatch(/^http:\/\/(mimir|loki|tempo)\.obs\.example\.internal:\d+/);
  });

  test('every file fits a standard Parameter Store parameter, even with 60 long tenant names, and carries no comments', () => {
    const tenants = Array.from({ length: 60 }, (_, i) => `tenant-with-a-rather-long-name-${String(i).padStart(3, '0')}`);
    const { files } = render({
      tenants: { allowed: tenants, ec2Default: tenants[0], cloudwatchMetrics: tenants[1], cloudwatchLogs: tenants[2] },
    });
    expect(files).toHaveLength(65);
    for (const file of files) {
      expect(Buffer.byteLength(file.content, 'utf8')).toBeLessThanOrEqual(4096);
      expect(file.content).not.toMatch(/^\s*#/m);
    }
  });
});

describe('correlations between the data sources', () => {
  const { byUid, files } = render();
  const get = (uid: string): DataSource => {
    const ds = byUid.get(uid);
    if (!ds) throw new Error(`no data source ${uid}`);
    return ds;
  };

  test.each(DEFAULT_TENANTS)("tenant %s: each link points at the same tenant's peer", (tenant) => {
    const [mimir, loki, tempo] = (['mimir', 'loki', 'tempo'] as const).map((backend) => get(tenantDataSourceUid(backend, tenant)));
    expect(loki.jsonData.derivedFields?.map((f) => f.datasourceUid)).toEqual([tempo.uid, tempo.uid]);
    expect(mimir.jsonData.exemplarTraceIdDestinations).toEqual([
      { name: 'trace_id', datasourceUid: tempo.uid },
      { name: 'traceID', datasourceUid: tempo.uid },
    ]);
    expect(tempo.jsonData.tracesToLogsV2?.datasourceUid).toBe(loki.uid);
    expect(tempo.jsonData.tracesToMetrics?.datasourceUid).toBe(mimir.uid);
    expect(tempo.jsonData.serviceMap?.datasourceUid).toBe(mimir.uid);
  });

  test('the federated set links among itself', () => {
    const [mimir, loki, tempo] = (['mimir', 'loki', 'tempo'] as const).map((backend) => get(federatedDataSourceUid(backend)));
    expect(correlationTargets(loki)).toEqual([tempo.uid, tempo.uid]);
    expect(correlationTargets(mimir)).toEqual([tempo.uid, tempo.uid]);
    expect(correlationTargets(tempo)).toEqual([loki.uid, mimir.uid, mimir.uid]);
  });

  test('every link targets a provisioned data source of the right type that sends the same tenant header', () => {
    for (const ds of byUid.values()) {
      for (const target of correlationTargets(ds)) {
        const peer = get(target);
        expect([ds.uid, peer.secureJsonData?.httpHeaderValue1]).toEqual([ds.uid, ds.secureJsonData?.httpHeaderValue1]);
      }
      for (const f of ds.jsonData.derivedFields ?? []) expect(get(f.datasourceUid).type).toBe('tempo');
      for (const d of ds.jsonData.exemplarTraceIdDestinations ?? []) expect(get(d.datasourceUid).type).toBe('tempo');
      if (ds.jsonData.tracesToLogsV2) expect(get(ds.jsonData.tracesToLogsV2.datasourceUid).type).toBe('loki');
      if (ds.jsonData.tracesToMetrics) expect(get(ds.jsonData.tracesToMetrics.datasourceUid).type).toBe('prometheus');
      if (ds.jsonData.serviceMap) expect(get(ds.jsonData.serviceMap.datasourceUid).type).toBe('prometheus');
    }
  });

  test("the meta tenant's data source links nowhere: no traces or logs live there", () => {
    expect(correlationTargets(get('lgtm-stack-metrics'))).toEqual([]);
  });

  test('derived fields open the matched trace ID; $ is escaped for provisioning', () => {
    const loki = files.find((f) => f.key === 'tenant-aws-rag-ec2')?.content ?? '';
    // Grafana reads $$ as a literal $: the link becomes ${__value.raw}.
    expect(loki).toContain('url: $${__value.raw}');
    expect(get('loki-aws-rag-ec2').jsonData.derivedFields?.map((f) => [f.name, f.matcherType, f.url])).toEqual([
      ['TraceID', 'regex', '$${__value.raw}'],
      ['trace_id', 'label', '$${__value.raw}'],
    ]);
  });

  test.each([
    ['level=info trace_id=4bf92f3577b34da6a3ce929d0e0e4736 msg=done', '4bf92f3577b34da6a3ce929d0e0e4736'],
    ['{"msg":"done","traceID":"4BF92F3577B34DA6A3CE929D0E0E4736"}', '4BF92F3577B34DA6A3CE929D0E0E4736'],
    ['traceId: 0af7651916cd43dd8448eb211c80319c span_id=b7ad6b7169203331', '0af7651916cd43dd8448eb211c80319c'],
  ])('the log-line regex finds the trace ID in %s', (line, traceId) => {
    expect(new RegExp(LOG_TRACE_ID_REGEX).exec(line)?.[1]).toBe(traceId);
  });

  test.each(['trace_id=xyz', 'span_id=4bf92f3577b34da6a3ce929d0e0e4736', 'trace_id=4bf92f35'])('the log-line regex ignores %s', (line) => {
    expect(new RegExp(LOG_TRACE_ID_REGEX).exec(line)).toBeNull();
  });

  test('spans open the logs and metrics of their host: host.id maps to the labels the agent writes', () => {
    const tempo = get('tempo-aws-rag-ec2').jsonData;
    expect(tempo.tracesToLogsV2?.tags).toEqual([{ key: 'host.id', value: 'instance_id' }]);
    expect(tempo.tracesToMetrics?.tags).toEqual([{ key: 'host.id', value: 'instance' }]);
    // The provisioning file escapes $__tags; Grafana reads it back as the trace-to-metrics macro.
    expect(tempo.tracesToMetrics?.queries.map((q) => q.query.replaceAll('$$', '$'))).toEqual(TRACE_TO_METRICS_QUERIES.map((q) => q.query));
  });

  test('the trace-to-metrics queries parse as PromQL and chart metrics the agents export', () => {
    const exported = new Set([...Object.keys(NODE_EXPORTER_METRICS), ...Object.keys(WINDOWS_EXPORTER_METRICS)]);
    for (const { query } of TRACE_TO_METRICS_QUERIES) {
      expect([query, syntaxProblems('promql', query)]).toEqual([query, []]);
      for (const selector of promqlSelectors(query))
        expect([selector.metric, exported.has(selector.metric ?? '')]).toEqual([selector.metric, true]);
    }
  });
});

describe('CloudWatch data source', () => {
  test("one data source through Grafana's task role, in the stack's region, offering the handlers' namespace", () => {
    const ds = render().byUid.get(CLOUDWATCH_UID);
    expect(ds).toEqual({
      name: 'CloudWatch (lgtm-fleet)',
      uid: CLOUDWATCH_UID,
      type: 'cloudwatch',
      access: 'proxy',
      jsonData: { authType: 'default', defaultRegion: 'eu-west-1', customMetricsNamespaces: 'LgtmFleet' },
    });
  });

  test('a region token is written as is, not escaped like a literal $', () => {
    const { files } = render({}, { ...DEPLOY, region: Aws.REGION });
    const content = files.find((f) => f.key === 'cloudwatch')?.content ?? '';
    expect(content).toContain(Aws.REGION);
    expect(content).not.toContain(`$${Aws.REGION}`);
  });
});
