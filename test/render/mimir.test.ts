import { Aws, Lazy } from 'aws-cdk-lib';
import { parse } from 'yaml';
import { loadConfig } from '../../lib/config/load';
import { BUCKET_PREFIXES, MIMIR_STORAGE_PREFIX_PATTERN, type RenderInput } from '../../lib/render/catalog';
import { TASK_PLACEHOLDERS } from '../../lib/render/cluster';
import { MIMIR_EPHEMERAL_VISIBILITY, renderMimirConfig } from '../../lib/render/mimir';

const DEPLOY = {
  region: 'ap-northeast-2',
  bucketName: 'lgtmfleet-databucket-1a2b3c4d5e6f-123456789012',
  urlSuffix: 'amazonaws.com',
  availabilityZones: 2,
};

function render(values: Record<string, unknown> = {}, deploy = DEPLOY) {
  const input: RenderInput = { config: loadConfig([{ origin: 'test', values }]), deploy };
  const text = renderMimirConfig(input);
  // biome-ignore lint/suspicious/noExplicitAny: parsed YAML is navigated freely in assertions
  return { text, doc: parse(text) as any };
}

describe('renderMimirConfig', () => {
  test('runs monolithic, classic architecture, multi-tenant with federation', () => {
    const { doc } = render();
    expect(doc.target).toBe('all');
    expect(doc.multitenancy_enabled).toBe(true);
    expect(doc.ingest_storage).toEqual({ enabled: false });
    expect(doc.tenant_federation).toEqual({ enabled: true });
  });

  test('listens on the catalog ports', () => {
    const { doc } = render();
    expect(doc.server).toEqual({ http_listen_port: 8080, grpc_listen_port: 9095 });
  });

  test('stores everything in the data bucket through the task role, with the regional endpoint', () => {
    const { doc } = render();
    expect(doc.common.storage.backend).toBe('s3');
    expect(doc.common.storage.s3).toEqual({
      endpoint: 's3.ap-northeast-2.amazonaws.com',
      region: 'ap-northeast-2',
      bucket_name: DEPLOY.bucketName,
      dualstack_enabled: false,
    });
    expect(JSON.stringify(doc)).not.toMatch(/access_key|secret_access_key|secret_key/);
  });

  test('gives blocks, ruler and alertmanager storage three distinct prefixes from the catalog', () => {
    const { doc } = render();
    const prefixes = [doc.blocks_storage.storage_prefix, doc.ruler_storage.storage_prefix, doc.alertmanager_storage.storage_prefix];
    expect(prefixes).toEqual([BUCKET_PREFIXES.mimirBlocks, BUCKET_PREFIXES.mimirRuler, BUCKET_PREFIXES.mimirAlertmanager]);
    expect(new Set(prefixes).size).toBe(3);
  });

  test('uses storage prefixes Mimir accepts: letters and digits only, none the start of another', () => {
    const { doc } = render();
    const prefixes: string[] = [
      doc.blocks_storage.storage_prefix,
      doc.ruler_storage.storage_prefix,
      doc.alertmanager_storage.storage_prefix,
    ];
    // The pattern of Mimir's own bucket-config validation; `mimir/blocks` stops Mimir at start.
    expect(MIMIR_STORAGE_PREFIX_PATTERN.source).toBe('^[\\da-zA-Z]+$');
    for (const prefix of prefixes) expect(prefix).toMatch(/^[\da-zA-Z]+$/);
    const all = Object.values(BUCKET_PREFIXES);
    for (const a of all) for (const b of all) if (a !== b) expect(b.startsWith(a)).toBe(false);
  });

  test('flushes the head on shutdown and keeps every local path under the data directory', () => {
    const { doc } = render();
    expect(doc.blocks_storage.tsdb.flush_blocks_on_shutdown).toBe(true);
    const paths = [
      doc.blocks_storage.tsdb.dir,
      doc.blocks_storage.bucket_store.sync_dir,
      doc.compactor.data_dir,
      doc.ruler.rule_path,
      doc.alertmanager.data_dir,
      doc.activity_tracker.filepath,
    ];
    for (const path of paths) expect(path).toMatch(/^\/data\//);
    expect(new Set(paths).size).toBe(paths.length);
  });

  test('uses replication factor 1 on every replicated ring and unregisters the ingester on shutdown', () => {
    const { doc } = render();
    expect(doc.ingester.ring.replication_factor).toBe(1);
    expect(doc.ingester.ring.unregister_on_shutdown).toBe(true);
    expect(doc.store_gateway.sharding_ring.replication_factor).toBe(1);
    expect(doc.alertmanager.sharding_ring.replication_factor).toBe(1);
  });

  test('sends the index, chunks, metadata and results caches to memcached', () => {
    const { doc } = render();
    const caches = [
      doc.blocks_storage.bucket_store.index_cache,
      doc.blocks_storage.bucket_store.chunks_cache,
      doc.blocks_storage.bucket_store.metadata_cache,
      doc.frontend.results_cache,
    ];
    for (const cache of caches) {
      expect(cache).toMatchObject({ backend: 'memcached', memcached: { addresses: 'dns+memcached.lgtm.internal:11211' } });
    }
    expect(doc.frontend.cache_results).toBe(true);
  });

  test('follows the namespace into the memcached address', () => {
    const { doc } = render({ network: { namespaceName: 'obs.example.internal' } });
    expect(doc.frontend.results_cache.memcached.addresses).toBe('dns+memcached.obs.example.internal:11211');
  });

  test('keeps metrics 365 days by default and follows a custom retention', () => {
    expect(render().doc.limits.compactor_blocks_retention_period).toBe('8760h');
    expect(render({ retention: { metricsDays: 30 } }).doc.limits.compactor_blocks_retention_period).toBe('720h');
  });

  test('with an ephemeral disk, queries the store for recent data and loads fresh blocks at once', () => {
    const { doc } = render({ storage: { durability: 'ephemeral' } });
    expect(doc.querier.query_store_after).toBe('0s');
    expect(doc.blocks_storage.bucket_store.ignore_blocks_within).toBe('0s');
  });

  test('with EFS, keeps the upstream query-store-after and ignore-blocks-within defaults', () => {
    const { doc } = render({ storage: { durability: 'efs' } });
    expect(doc.querier?.query_store_after).toBeUndefined();
    expect(doc.blocks_storage.bucket_store.ignore_blocks_within).toBeUndefined();
    expect(doc.blocks_storage.tsdb.flush_blocks_on_shutdown).toBe(true);
    // The WAL survives: recent samples come back from the ingester, so upstream's timers stay.
    expect(doc.blocks_storage.bucket_store.sync_interval).toBeUndefined();
    expect(doc.compactor.cleanup_interval).toBeUndefined();
    expect(doc.limits.max_cache_freshness).toBeUndefined();
  });

  describe('with an ephemeral disk, a sample written before a restart is queryable right after it', () => {
    const minutes = (value: string): number => {
      const match = /^(\d+)(s|m|h)$/.exec(value);
      if (!match) throw new Error(`not a simple duration: ${value}`);
      return Number(match[1]) * { s: 1 / 60, m: 1, h: 60 }[match[2] as 's' | 'm' | 'h'];
    };
    const { doc } = render({ storage: { durability: 'ephemeral' } });
    const store = doc.blocks_storage.bucket_store;
    const sync = minutes(store.sync_interval);
    const cleanup = minutes(doc.compactor.cleanup_interval);
    const indexTtl = minutes(store.metadata_cache.bucket_index_content_ttl);
    // Worst case after the replacement is ready: the next index rewrite, a cached stale index, then
    // the store-gateway's or querier's next refresh (±20 % jitter).
    const window = cleanup * 1.1 + indexTtl + sync * 1.2;

    test('flushed blocks become visible within 5 minutes (upstream defaults: 15 min timers, 5 min index cache, about 40 min)', () => {
      expect(window).toBeLessThanOrEqual(5);
      expect(store.metadata_cache.tenants_list_ttl).toBe(MIMIR_EPHEMERAL_VISIBILITY.tenantsListTtl);
    });

    test('no cached query result can hide them: the head span (3 h) plus the window is never cached', () => {
      const headSpan = 180;
      expect(minutes(doc.limits.max_cache_freshness)).toBeGreaterThanOrEqual(headSpan + window + 30);
      // The results cache itself stays on for older ranges.
      expect(doc.frontend.cache_results).toBe(true);
    });

    test("respects Mimir's rule: 3 × sync_interval below ignore_deletion_mark_while_querying_delay (50m)", () => {
      expect(3 * sync).toBeLessThan(50);
    });
  });

  test('sends S3 traffic to the regional IPv4 endpoint the gateway endpoint routes, not the dual-stack one', () => {
    for (const durability of ['ephemeral', 'efs']) {
      expect(render({ storage: { durability } }).doc.common.storage.s3.dualstack_enabled).toBe(false);
    }
  });

  test('emits CDK token strings for region and bucket verbatim', () => {
    const BUCKET_TOKEN = Lazy.string({ produce: () => 'generated-bucket' });
    const { doc } = render({}, { region: Aws.REGION, bucketName: BUCKET_TOKEN, urlSuffix: Aws.URL_SUFFIX, availabilityZones: 2 });
    expect(doc.common.storage.s3.region).toBe(Aws.REGION);
    expect(doc.common.storage.s3.endpoint).toBe(`s3.${Aws.REGION}.${Aws.URL_SUFFIX}`);
    expect(doc.common.storage.s3.bucket_name).toBe(BUCKET_TOKEN);
  });

  test('fits a standard Parameter Store parameter and carries no comments', () => {
    const { text } = render();
    expect(Buffer.byteLength(text, 'utf8')).toBeLessThanOrEqual(4096);
    expect(text).not.toMatch(/^\s*#/m);
  });
});

describe('renderMimirConfig with replicas', () => {
  const replicas = (count: number, availabilityZones = 2) =>
    render({ services: { mimir: { replicas: count } } }, { ...DEPLOY, availabilityZones });
  const address = TASK_PLACEHOLDERS.address;

  test('one replica: a one-member ring with nothing to join and no task placeholder', () => {
    const { text, doc } = replicas(1);
    expect(doc.memberlist).toBeUndefined();
    expect(doc.ingester.ring.replication_factor).toBe(1);
    expect(doc.store_gateway.sharding_ring.replication_factor).toBe(1);
    expect(doc.ingester.ring.instance_addr).toBeUndefined();
    expect(doc.distributor).toBeUndefined();
    expect(doc.frontend.address).toBeUndefined();
    for (const placeholder of Object.values(TASK_PLACEHOLDERS)) expect(text).not.toContain(placeholder);
  });

  test('three replicas: memberlist joins through the Cloud Map name under its own label', () => {
    const { doc } = replicas(3);
    expect(doc.memberlist.join_members).toEqual(['dns+mimir.lgtm.internal:7946']);
    expect(doc.memberlist.advertise_addr).toBe(address);
    // Distinct from the other backends' labels (test/render/cluster.test.ts).
    expect(doc.memberlist.cluster_label).toMatch(/\S/);
    expect(doc.memberlist.rejoin_interval).toBeDefined();
  });

  test('three replicas: ingesters and store-gateways keep 3 copies', () => {
    const { doc } = replicas(3);
    expect(doc.ingester.ring.replication_factor).toBe(3);
    expect(doc.store_gateway.sharding_ring.replication_factor).toBe(3);
    expect(doc.ingester.ring.unregister_on_shutdown).toBe(true);
  });

  test('three replicas: every ring another replica dials, and the query-frontend, carry the task address as address and ID', () => {
    const { doc } = replicas(3);
    const rings = {
      ingester: doc.ingester.ring,
      distributor: doc.distributor.ring,
      store_gateway: doc.store_gateway.sharding_ring,
      compactor: doc.compactor.sharding_ring,
      ruler: doc.ruler.ring,
    };
    for (const [name, ring] of Object.entries(rings)) {
      expect({ name, instance_addr: ring.instance_addr, instance_id: ring.instance_id }).toEqual({
        name,
        instance_addr: address,
        instance_id: address,
      });
    }
    expect(doc.frontend.address).toBe(address);
  });

  test('zone-aware ingester and store-gateway rings with the task zone over 3 zones, not over 2', () => {
    const two = replicas(3, 2);
    expect(two.text).not.toContain(TASK_PLACEHOLDERS.availabilityZone);
    expect(two.doc.ingester.ring.zone_awareness_enabled).toBeUndefined();
    const three = replicas(3, 3).doc;
    for (const ring of [three.ingester.ring, three.store_gateway.sharding_ring]) {
      expect(ring.zone_awareness_enabled).toBe(true);
      expect(ring.instance_availability_zone).toBe(TASK_PLACEHOLDERS.availabilityZone);
    }
  });

  test('three replicas still fit a standard parameter', () => {
    expect(Buffer.byteLength(replicas(3, 3).text, 'utf8')).toBeLessThanOrEqual(4096);
  });
});
