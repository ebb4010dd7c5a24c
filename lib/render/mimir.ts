import { stringify } from 'yaml';
import { BACKENDS, BUCKET_PREFIXES, daysToHours, memcachedAddress, type RenderInput, s3Endpoint, stateOnFileSystem } from './catalog';
import { type Cluster, clusterOf, ringInstance, TASK_PLACEHOLDERS } from './cluster';

/**
 * With an ephemeral disk, samples of the last ~3 h (the TSDB head: 2 h block range, compacted at
 * 1.5×) exist after a restart only in the blocks the old task flushed on SIGTERM. The new task sees
 * them once the compactor has rewritten the bucket index and the store-gateway and querier have
 * re-read it, each on a 15 min default timer (Mimir 3.2: `pkg/compactor/blocks_cleaner.go`,
 * `pkg/storegateway/gateway.go`, `pkg/storage/tsdb/bucketindex/loader.go`); until then queries
 * silently miss those samples (blocks younger than 3 × `sync_interval` that no store-gateway loaded
 * are skipped, `pkg/querier/blocks_consistency_checker.go`), and the query-frontend would cache the
 * gap for `results_cache_ttl` (7 days) for any range older than `max_cache_freshness` (10 min).
 *
 * These settings bound that window to about 3 minutes after the replacement is ready, and keep
 * results covering the last 4 hours (head span + downtime + window, with margin) out of the
 * results cache, so no cached answer hides a flushed sample. `sync_interval` must stay below a
 * third of `ignore_deletion_mark_while_querying_delay` (50 min) — the one rule in
 * `pkg/storage/tsdb/config.go` (`BucketStoreConfig.Validate`) that constrains it.
 */
export const MIMIR_EPHEMERAL_VISIBILITY = {
  /** Compactor: rewrite the bucket index every minute (default 15m; it also runs once at start). */
  cleanupInterval: '1m',
  /** Store-gateway re-sync and querier bucket-index refresh (default 15m). */
  syncInterval: '1m',
  /** How long a bucket index read from memcached is trusted (default 5m). */
  bucketIndexContentTtl: '30s',
  /** How long the tenant list read from memcached is trusted (default 15m). */
  tenantsListTtl: '1m',
  /** Results newer than this are never cached (default 10m). */
  maxCacheFreshness: '4h',
} as const;

/**
 * Mimir configuration for one monolithic task (`-target=all`) in the classic architecture
 * (ingesters with a local WAL, no Kafka), storing blocks, rules and alertmanager state in S3
 * under separate prefixes and caching in the shared memcached.
 *
 * One replica: ring membership uses Mimir's default memberlist KV with no join members, a
 * one-node cluster. Interface names are left at Mimir's default, which picks every interface
 * holding an RFC 1918 address (the task ENI on Fargate awsvpc, whatever it is called) and falls
 * back to eth0/en0.
 *
 * Several replicas: see {@link mimirCluster}.
 */
export function renderMimirConfig(input: RenderInput): string {
  const { config, deploy } = input;
  const dataDir = BACKENDS.mimir.dataDir;
  const ephemeral = !stateOnFileSystem(config, 'mimir');
  const cache = () => ({ backend: 'memcached', memcached: { addresses: memcachedAddress(config) } });
  const visibility = MIMIR_EPHEMERAL_VISIBILITY;
  const cluster = clusterOf(input, 'mimir');

  const mimir = {
    target: 'all',
    multitenancy_enabled: true,
    server: {
      http_listen_port: BACKENDS.mimir.httpPort,
      grpc_listen_port: BACKENDS.mimir.grpcPort,
    },
    // Classic architecture: explicit so that an image bump cannot silently switch to Kafka ingest.
    ingest_storage: { enabled: false },
    common: {
      storage: {
        backend: 's3',
        // No keys: the S3 client picks up the task role.
        s3: {
          endpoint: s3Endpoint(deploy),
          region: deploy.region,
          bucket_name: deploy.bucketName,
          // Regional IPv4 endpoint, the one the VPC's S3 gateway endpoint routes (Mimir defaults to dual-stack).
          dualstack_enabled: false,
        },
      },
    },
    blocks_storage: {
      storage_prefix: BUCKET_PREFIXES.mimirBlocks,
      tsdb: {
        dir: `${dataDir}/tsdb`,
        // Ships the in-memory head on SIGTERM, so a planned stop loses nothing even on an ephemeral disk.
        flush_blocks_on_shutdown: true,
      },
      bucket_store: {
        sync_dir: `${dataDir}/tsdb-sync`,
        index_cache: cache(),
        chunks_cache: cache(),
        metadata_cache: {
          ...cache(),
          ...(ephemeral ? { bucket_index_content_ttl: visibility.bucketIndexContentTtl, tenants_list_ttl: visibility.tenantsListTtl } : {}),
        },
        // Without a surviving WAL, blocks flushed at the last shutdown must be queryable at once.
        ...(ephemeral ? { ignore_blocks_within: '0s', sync_interval: visibility.syncInterval } : {}),
      },
    },
    ruler_storage: { storage_prefix: BUCKET_PREFIXES.mimirRuler },
    alertmanager_storage: { storage_prefix: BUCKET_PREFIXES.mimirAlertmanager },
    ingester: {
      ring: {
        replication_factor: 1,
        // A Fargate task gets a new hostname (ring ID) on every start: leave no stale entry behind.
        unregister_on_shutdown: true,
      },
    },
    store_gateway: { sharding_ring: { replication_factor: 1 } },
    alertmanager: {
      data_dir: `${dataDir}/alertmanager`,
      sharding_ring: { replication_factor: 1 },
    },
    compactor: {
      data_dir: `${dataDir}/compactor`,
      ...(ephemeral ? { cleanup_interval: visibility.cleanupInterval } : {}),
    },
    ruler: { rule_path: `${dataDir}/ruler` },
    activity_tracker: { filepath: `${dataDir}/metrics-activity.log` },
    frontend: {
      cache_results: true,
      results_cache: cache(),
    },
    ...(ephemeral ? { querier: { query_store_after: '0s' } } : {}),
    tenant_federation: { enabled: true },
    // No anonymous usage reports leave the VPC.
    usage_stats: { enabled: false },
    limits: {
      compactor_blocks_retention_period: daysToHours(config.retention.metricsDays),
      ...(ephemeral ? { max_cache_freshness: visibility.maxCacheFreshness } : {}),
    },
  };

  // Written out in full: the rings share one settings object, which YAML would otherwise alias (&a1/*a1).
  return stringify(cluster ? mimirCluster(mimir, cluster) : mimir, { lineWidth: 0, aliasDuplicateObjects: false });
}

/**
 * What several Mimir replicas change (keys checked against Mimir 3.2's ring configs and dskit):
 * - memberlist joins the other replicas through Cloud Map (see lib/render/cluster.ts);
 * - the ingester and store-gateway rings keep 3 copies (`replication_factor`), zone-aware when the
 *   deployment spans at least 3 zones;
 * - every ring another replica dials (ingester, store-gateway, ruler; distributor and compactor
 *   too, for the ring pages) and the query-frontend carry the task's own address, and use it as
 *   their instance ID, so a task that reuses a dead one's address takes over its entry. The
 *   querier ring (informational, experimental in 3.x) keeps Mimir's interface detection.
 * Dead distributor, store-gateway, compactor and ruler entries are forgotten by Mimir itself; the
 * ingester ring has no such option (grafana/mimir#2869): a task that stops cleanly unregisters
 * (`unregister_on_shutdown`), one that is killed leaves its entry until the ring-forget function,
 * invoked by the task's STOPPED event, forgets it through the ring page's Forget action
 * (lib/components/ring-forget.ts; docs/scaling.md). A new ingester becomes ready regardless
 * (`readiness_check_ring_health` is off by default in Mimir).
 */
function mimirCluster<T extends Record<string, unknown>>(
  mimir: T & { ingester: { ring: object }; store_gateway: { sharding_ring: object }; compactor: object; ruler: object },
  cluster: Cluster,
) {
  const address = TASK_PLACEHOLDERS.address;
  const ring = { instance_addr: address, instance_id: address };
  const replicated = { ...ringInstance(cluster), instance_id: address, replication_factor: cluster.replicationFactor };
  return {
    ...mimir,
    memberlist: cluster.memberlist,
    ingester: { ...mimir.ingester, ring: { ...mimir.ingester.ring, ...replicated } },
    distributor: { ring },
    store_gateway: { ...mimir.store_gateway, sharding_ring: { ...mimir.store_gateway.sharding_ring, ...replicated } },
    compactor: { ...mimir.compactor, sharding_ring: ring },
    ruler: { ...mimir.ruler, ring },
    frontend: { ...(mimir.frontend as object), address },
  };
}
