import { stringify } from 'yaml';
import { BACKENDS, BUCKET_PREFIXES, daysToHours, memcachedAddress, type RenderInput, s3Endpoint } from './catalog';

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
        metadata_cache: cache(),
        // Without a surviving WAL, blocks flushed at the last shutdown must be queryable at once.
        ...(ephemeral ? { ignore_blocks_within: '0s' } : {}),
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
    compactor: { data_dir: `${dataDir}/compactor` },
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
    },
  };

  return stringify(mimir, { lineWidth: 0 });
}
