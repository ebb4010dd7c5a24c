import { stringify } from 'yaml';
import { BACKENDS, BUCKET_PREFIXES, daysToHours, memcachedAddress, type RenderInput } from './catalog';

/** First day of the TSDB/v13 schema period; changing it would orphan data already written. */
export const LOKI_SCHEMA_FROM = '2024-01-01';

/** Directory (under Loki's data dir) holding rule files for the ruler. */
export const LOKI_RULES_DIRECTORY = 'rules';

/**
 * Loki configuration for one single-binary task: TSDB index and chunks in S3 under the Loki
 * prefix, retention enforced by the compactor, chunk and results caches in the shared memcached.
 *
 * The rings use the in-memory KV store, which is enough for one process. Interface names are
 * left at Loki's default, which picks every interface holding an RFC 1918 address (the task ENI
 * on Fargate awsvpc) and falls back to eth0/en0.
 */
export function renderLokiConfig(input: RenderInput): string {
  const { config, deploy } = input;
  const dataDir = BACKENDS.loki.dataDir;
  const memcachedClient = () => ({ memcached_client: { addresses: memcachedAddress(config) } });

  const loki = {
    // Rule files on local disk: ruler storage in the bucket would sit outside the loki/ prefix the task role is limited to.
    ruler: {
      storage: { type: 'local', local: { directory: `${BACKENDS.loki.dataDir}/${LOKI_RULES_DIRECTORY}` } },
      rule_path: `${BACKENDS.loki.dataDir}/ruler-scratch`,
    },
    auth_enabled: true,
    analytics: { reporting_enabled: false },
    server: {
      http_listen_port: BACKENDS.loki.httpPort,
      grpc_listen_port: BACKENDS.loki.grpcPort,
    },
    common: {
      path_prefix: dataDir,
      replication_factor: 1,
      ring: { kvstore: { store: 'inmemory' } },
      storage: {
        // No keys and no endpoint: the AWS SDK resolves both from the task role and region.
        s3: { region: deploy.region, bucketnames: deploy.bucketName },
      },
    },
    schema_config: {
      configs: [
        {
          from: LOKI_SCHEMA_FROM,
          store: 'tsdb',
          object_store: 's3',
          schema: 'v13',
          index: { prefix: 'index_', period: '24h' },
        },
      ],
    },
    storage_config: {
      // Prepended verbatim to every object key, hence the trailing slash.
      object_prefix: `${BUCKET_PREFIXES.loki}/`,
      tsdb_shipper: {
        active_index_directory: `${dataDir}/tsdb-index`,
        cache_location: `${dataDir}/tsdb-cache`,
      },
    },
    ingester: {
      wal: {
        enabled: true,
        dir: `${dataDir}/wal`,
        flush_on_shutdown: true,
      },
    },
    querier: { multi_tenant_queries_enabled: true },
    compactor: {
      working_directory: `${dataDir}/compactor`,
      retention_enabled: true,
      delete_request_store: 's3',
    },
    limits_config: {
      retention_period: daysToHours(config.retention.logsDays),
    },
    chunk_store_config: { chunk_cache_config: memcachedClient() },
    query_range: {
      cache_results: true,
      results_cache: { cache: memcachedClient() },
    },
  };

  return stringify(loki, { lineWidth: 0 });
}
