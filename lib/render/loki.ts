import { stringify } from 'yaml';
import { BACKENDS, BUCKET_PREFIXES, daysToHours, memcachedAddress, type RenderInput } from './catalog';
import { type Cluster, clusterOf, TASK_PLACEHOLDERS } from './cluster';

/** First day of the TSDB/v13 schema period; changing it would orphan data already written. */
export const LOKI_SCHEMA_FROM = '2024-01-01';

/** Directory (under Loki's data dir) holding rule files for the ruler. */
export const LOKI_RULES_DIRECTORY = 'rules';

/**
 * Loki configuration for single-binary tasks: TSDB index and chunks in S3 under the Loki prefix,
 * retention enforced by the compactor, chunk and results caches in the shared memcached.
 *
 * One replica: the rings use the in-memory KV store, which is enough for one process, and interface
 * names are left at Loki's default, which picks every interface holding an RFC 1918 address (the
 * task ENI on Fargate awsvpc) and falls back to eth0/en0.
 *
 * Several replicas: see {@link lokiCluster}.
 */
export function renderLokiConfig(input: RenderInput): string {
  const { config, deploy } = input;
  const dataDir = BACKENDS.loki.dataDir;
  const memcachedClient = () => ({ memcached_client: { addresses: memcachedAddress(config) } });
  const cluster = clusterOf(input, 'loki');

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
      ...(cluster ? lokiCluster(cluster).common : {}),
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
      ...(cluster ? lokiCluster(cluster).ingester : {}),
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

  const extra = cluster ? lokiCluster(cluster) : undefined;
  const clustered = extra
    ? {
        ...loki,
        ruler: { ...loki.ruler, ...extra.ruler },
        frontend: extra.frontend,
        frontend_worker: extra.frontend_worker,
        memberlist: cluster?.memberlist,
      }
    : loki;
  return stringify(clustered, { lineWidth: 0 });
}

/**
 * What several Loki replicas change: every ring (ingester, distributor, compactor, scheduler, ruler,
 * index gateway) in memberlist through `common.ring`, replication factor 3, each replica known by
 * its task address (`common.instance_addr` also sets the query-frontend and memberlist addresses:
 * `pkg/loki/config_wrapper.go`, `applyInstanceConfigs`), dead ingesters forgotten once their
 * heartbeat times out (a replaced Fargate task never comes back under its old ID), and rules
 * sharded so that each is evaluated by one replica, not by all of them.
 */
function lokiCluster(cluster: Cluster) {
  return {
    common: {
      replication_factor: cluster.replicationFactor,
      instance_addr: TASK_PLACEHOLDERS.address,
      ring: {
        kvstore: { store: 'memberlist' },
        // The task address: unique among running tasks, and a task that reuses a dead one's address takes over its entry.
        instance_id: TASK_PLACEHOLDERS.address,
        ...(cluster.zoneAware ? { zone_awareness_enabled: true, instance_availability_zone: TASK_PLACEHOLDERS.availabilityZone } : {}),
      },
    },
    ingester: { autoforget_unhealthy: true },
    ruler: { enable_sharding: true },
    // Each replica's query-frontend and queriers use its own scheduler: a scheduler ring would keep
    // a killed replica's scheduler for 10 heartbeat timeouts (`pkg/util/ring/ringmanager.go`), and
    // queries sent to it hang until then.
    frontend: { scheduler_address: `${TASK_PLACEHOLDERS.address}:${BACKENDS.loki.grpcPort}` },
    frontend_worker: { scheduler_address: `${TASK_PLACEHOLDERS.address}:${BACKENDS.loki.grpcPort}` },
  };
}
