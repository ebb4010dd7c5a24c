import { parse } from 'yaml';
import { loadConfig } from '../../lib/config/load';
import type { RenderInput } from '../../lib/render/catalog';
import * as catalog from '../../lib/render/catalog';
import {
  escapeProvisioningValue,
  federatedDataSourceUid,
  GRAFANA_UID_MAX_LENGTH,
  renderGrafanaDatasourceFiles,
  tenantDataSourceUid,
} from '../../lib/render/grafana';

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
  jsonData: Record<string, string>;
  secureJsonData: Record<string, string>;
}

const DEPLOY = { region: 'eu-west-1', bucketName: 'lgtmfleet-databucket-1a2b3c4d5e6f-123456789012', urlSuffix: 'amazonaws.com' };

function render(values: Record<string, unknown> = {}) {
  const input: RenderInput = { config: loadConfig([{ origin: 'test', values }]), deploy: DEPLOY };
  const files = renderGrafanaDatasourceFiles(input);
  const docs = files.map((file) => parse(file.content) as { apiVersion: number; prune: boolean; datasources: DataSource[] });
  // What Grafana ends up with: the union of every file in the provisioning directory.
  const doc = { apiVersion: docs[0].apiVersion, prune: docs[0].prune, datasources: docs.flatMap((d) => d.datasources) };
  return { files, docs, doc, byUid: new Map(doc.datasources.map((ds) => [ds.uid, ds])) };
}

const DEFAULT_TENANTS = ['aws-rag-ec2', 'aws-rag-cloudwatch', 'aws-rag-rds'];

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
      expect(federated?.secureJsonData.httpHeaderValue1).toBe(DEFAULT_TENANTS.join('|'));
    }
    // Per tenant three, three federated, and the stack's own metrics.
    expect(doc.datasources).toHaveLength(DEFAULT_TENANTS.length * 3 + 3 + 1);
  });

  test('skips the federated set when there is only one tenant', () => {
    const { doc } = render({
      tenants: { allowed: ['solo'], ec2Default: 'solo', cloudwatchMetrics: 'solo', cloudwatchLogs: 'solo' },
    });
    expect(doc.datasources.map((ds) => ds.uid)).toEqual(['mimir-solo', 'loki-solo', 'tempo-solo', 'lgtm-stack-metrics']);
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
    for (const uid of uids) {
      expect(uid.length).toBeLessThanOrEqual(GRAFANA_UID_MAX_LENGTH);
      expect(uid).toMatch(/^[A-Za-z0-9_-]+$/);
    }
    expect(new Set(uids).size).toBe(uids.length);
    expect(new Set(doc.datasources.map((ds) => ds.name)).size).toBe(uids.length);
    // The long tenants still get their own header, even though their UIDs are shortened.
    expect(doc.datasources.filter((ds) => ds.secureJsonData.httpHeaderValue1 === long)).toHaveLength(3);
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
    for (const ds of doc.datasources) expect(ds.url).toMatch(/^http:\/\/(mimir|loki|tempo)\.obs\.example\.internal:\d+/);
  });

  test('every file fits a standard Parameter Store parameter, even with 60 long tenant names, and carries no comments', () => {
    const tenants = Array.from({ length: 60 }, (_, i) => `tenant-with-a-rather-long-name-${String(i).padStart(3, '0')}`);
    const { files } = render({
      tenants: { allowed: tenants, ec2Default: tenants[0], cloudwatchMetrics: tenants[1], cloudwatchLogs: tenants[2] },
    });
    expect(files).toHaveLength(64);
    for (const file of files) {
      expect(Buffer.byteLength(file.content, 'utf8')).toBeLessThanOrEqual(4096);
      expect(file.content).not.toMatch(/^\s*#/m);
    }
  });
});
