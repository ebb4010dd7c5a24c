import { stringify } from 'yaml';
import { BACKENDS, BUCKET_PREFIXES, daysToHours, memcachedAddress, type RenderInput, s3Endpoint } from './catalog';

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
 * Ring membership uses Mimir's default memberlist KV with no join members: a one-node cluster
 * that needs nothing else today and lets more replicas join later. Interface names are left at
 * Mimir's default, which picks every interface holding an RFC 1918 address (the task ENI on
 * Fargate awsvpc, whatever it is called) and falls back to eth0/en0.
 */
export function renderMimirConfig(input: RenderInput): string {
  const { config, deploy } = input;
  const dataDir = BACKENDS.mimir.dataDir;
  const ephemeral = config.storage.durability === 'ephemeral';
  const cache = () => ({ backend: 'memcached', memcached: { addresses: memcachedAddress(config) } });
  const visibility = MIMIR_EPHEMERAL_VISIBILITY;

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

  return stringify(mimir, { lineWidth: 0 });
}
