import { Aws, Lazy } from 'aws-cdk-lib';
import { parse } from 'yaml';
import { loadConfig } from '../../lib/config/load';
import { BACKENDS, BUCKET_PREFIXES, type RenderInput } from '../../lib/render/catalog';
import { TASK_PLACEHOLDERS } from '../../lib/render/cluster';
import { LOKI_SCHEMA_FROM, renderLokiConfig } from '../../lib/render/loki';

const DEPLOY = {
  region: 'eu-central-1',
  bucketName: 'lgtmfleet-databucket-1a2b3c4d5e6f-123456789012',
  urlSuffix: 'amazonaws.com',
  availabilityZones: 2,
};

function render(values: Record<string, unknown> = {}, deploy = DEPLOY) {
  const input: RenderInput = { config: loadConfig([{ origin: 'test', values }]), deploy };
  const text = renderLokiConfig(input);
  // biome-ignore lint/suspicious/noExplicitAny: parsed YAML is navigated freely in assertions
  return { text, doc: parse(text) as any };
}

describe('renderLokiConfig', () => {
  test('requires a tenant on every request and allows cross-tenant queries', () => {
    const { doc } = render();
    expect(doc.auth_enabled).toBe(true);
    expect(doc.querier.multi_tenant_queries_enabled).toBe(true);
  });

  test('listens on the catalog ports', () => {
    const { doc } = render();
    expect(doc.server).toEqual({ http_listen_port: 3100, grpc_listen_port: 9096 });
  });

  test('runs as one replica on an in-memory ring with state under the data directory', () => {
    const { doc } = render();
    expect(doc.common.replication_factor).toBe(1);
    expect(doc.common.ring.kvstore.store).toBe('inmemory');
    expect(doc.common.path_prefix).toBe('/loki');
    const paths = [
      doc.storage_config.tsdb_shipper.active_index_directory,
      doc.storage_config.tsdb_shipper.cache_location,
      doc.compactor.working_directory,
      doc.ingester.wal.dir,
    ];
    for (const path of paths) expect(path).toMatch(/^\/loki\//);
    expect(new Set(paths).size).toBe(paths.length);
  });

  test('stores chunks and index in the data bucket through the task role, under the Loki prefix', () => {
    const { doc } = render();
    expect(doc.common.storage.s3).toEqual({ region: 'eu-central-1', bucketnames: DEPLOY.bucketName });
    expect(doc.storage_config.object_prefix).toBe(`${BUCKET_PREFIXES.loki}/`);
    expect(JSON.stringify(doc)).not.toMatch(/access_key|secret_access_key/);
  });

  test('uses the TSDB v13 schema on S3 with a daily index from a fixed date', () => {
    const { doc } = render();
    expect(doc.schema_config.configs).toEqual([
      { from: LOKI_SCHEMA_FROM, store: 'tsdb', object_store: 's3', schema: 'v13', index: { prefix: 'index_', period: '24h' } },
    ]);
  });

  test('enforces retention in the compactor: 90 days by default, a custom value flows through', () => {
    const { doc } = render();
    expect(doc.compactor.retention_enabled).toBe(true);
    expect(doc.compactor.delete_request_store).toBe('s3');
    expect(doc.limits_config.retention_period).toBe('2160h');
    expect(render({ retention: { logsDays: 365 } }).doc.limits_config.retention_period).toBe('8760h');
  });

  test('reads rules from local files, so the ruler never touches keys outside the loki/ prefix', () => {
    const { doc } = render();
    expect(doc.ruler.storage).toEqual({ type: 'local', local: { directory: '/loki/rules' } });
    expect(doc.ruler.rule_path.startsWith('/loki/')).toBe(true);
  });

  test('keeps a WAL and flushes chunks on shutdown', () => {
    const { doc } = render();
    expect(doc.ingester.wal).toEqual({ enabled: true, dir: '/loki/wal', flush_on_shutdown: true });
  });

  test('caches chunks and query results in memcached', () => {
    const { doc } = render();
    const address = 'dns+memcached.lgtm.internal:11211';
    expect(doc.chunk_store_config.chunk_cache_config.memcached_client.addresses).toBe(address);
    expect(doc.query_range.cache_results).toBe(true);
    expect(doc.query_range.results_cache.cache.memcached_client.addresses).toBe(address);
  });

  test('emits CDK token strings for region and bucket verbatim', () => {
    const BUCKET_TOKEN = Lazy.string({ produce: () => 'generated-bucket' });
    const { doc } = render({}, { region: Aws.REGION, bucketName: BUCKET_TOKEN, urlSuffix: Aws.URL_SUFFIX, availabilityZones: 2 });
    expect(doc.common.storage.s3).toEqual({ region: Aws.REGION, bucketnames: BUCKET_TOKEN });
  });

  test('fits a standard Parameter Store parameter and carries no comments', () => {
    const { text } = render();
    expect(Buffer.byteLength(text, 'utf8')).toBeLessThanOrEqual(4096);
    expect(text).not.toMatch(/^\s*#/m);
  });
});

describe('renderLokiConfig with replicas', () => {
  const replicas = (count: number, availabilityZones = 2) =>
    render({ services: { loki: { replicas: count } } }, { ...DEPLOY, availabilityZones });

  test('one replica: in-memory rings, replication factor 1, no memberlist and no task placeholder', () => {
    const { text, doc } = replicas(1);
    expect(doc.common.replication_factor).toBe(1);
    expect(doc.common.ring).toEqual({ kvstore: { store: 'inmemory' } });
    expect(doc.common.instance_addr).toBeUndefined();
    expect(doc.memberlist).toBeUndefined();
    expect(doc.ingester.autoforget_unhealthy).toBeUndefined();
    expect(doc.ruler.enable_sharding).toBeUndefined();
    for (const placeholder of Object.values(TASK_PLACEHOLDERS)) expect(text).not.toContain(placeholder);
  });

  test('three replicas: every ring in memberlist, joined through the Cloud Map name, with replication factor 3', () => {
    const { doc } = replicas(3);
    expect(doc.common.replication_factor).toBe(3);
    expect(doc.common.ring.kvstore).toEqual({ store: 'memberlist' });
    expect(doc.memberlist.join_members).toEqual(['dns+loki.lgtm.internal:7946']);
    // Distinct from the other backends' labels (test/render/cluster.test.ts).
    expect(doc.memberlist.cluster_label).toMatch(/\S/);
    expect(doc.memberlist.rejoin_interval).toBeDefined();
  });

  test('three replicas: each advertises and identifies itself by the task address', () => {
    const { doc } = replicas(3);
    expect(doc.common.instance_addr).toBe(TASK_PLACEHOLDERS.address);
    expect(doc.common.ring.instance_id).toBe(TASK_PLACEHOLDERS.address);
    expect(doc.memberlist.advertise_addr).toBe(TASK_PLACEHOLDERS.address);
  });

  test('three replicas: a replaced task is forgotten by the ring, and each rule is evaluated by one replica', () => {
    const { doc } = replicas(3);
    expect(doc.ingester.autoforget_unhealthy).toBe(true);
    expect(doc.ruler.enable_sharding).toBe(true);
  });

  test("three replicas: each replica's query-frontend and queriers use its own scheduler, never a dead replica's", () => {
    const own = `${TASK_PLACEHOLDERS.address}:${BACKENDS.loki.grpcPort}`;
    const { doc } = replicas(3);
    expect(doc.frontend).toEqual({ scheduler_address: own });
    expect(doc.frontend_worker).toEqual({ scheduler_address: own });
    expect(replicas(1).doc.frontend).toBeUndefined();
  });

  test('zone-aware with the task zone over 3 zones, not over 2', () => {
    const two = replicas(3, 2);
    expect(two.doc.common.ring.zone_awareness_enabled).toBeUndefined();
    expect(two.doc.common.ring.instance_availability_zone).toBeUndefined();
    expect(two.text).not.toContain(TASK_PLACEHOLDERS.availabilityZone);
    const three = replicas(3, 3).doc.common.ring;
    expect(three.zone_awareness_enabled).toBe(true);
    expect(three.instance_availability_zone).toBe(TASK_PLACEHOLDERS.availabilityZone);
  });

  test('three replicas still fit a standard parameter', () => {
    expect(Buffer.byteLength(replicas(3, 3).text, 'utf8')).toBeLessThanOrEqual(4096);
  });
});
