import { stringify } from 'yaml';
import { BACKENDS, BUCKET_PREFIXES, daysToHours, type RenderInput, s3Endpoint } from './catalog';

/**
 * Network interfaces the live-store ring may take its address from. Unlike Mimir and Loki,
 * Tempo's ring defaults to `[eth0, en0]` without looking for private interfaces; listing both
 * eth0 and eth1 covers the names the awsvpc task ENI gets (names that do not exist are skipped).
 */
export const TEMPO_RING_INTERFACES = ['eth0', 'eth1'] as const;

/**
 * Live-store block length with an ephemeral disk. Tempo 3 monolithic flushes only completed
 * blocks to S3 and, on shutdown, merely cuts live traces into the local WAL: with a disk that
 * does not survive the task, a shorter block bounds what a restart can lose (default 30m).
 */
export const TEMPO_EPHEMERAL_MAX_BLOCK_DURATION = '5m';

/**
 * Tempo 3 configuration for one monolithic task (`-target=all`): no Kafka (the distributor hands
 * spans to the in-process live-store, which flushes complete blocks to S3), compaction and
 * retention by the in-process backend scheduler and worker, metrics-generator left unconfigured
 * (off).
 */
export function renderTempoConfig(input: RenderInput): string {
  const { config, deploy } = input;
  const dataDir = BACKENDS.tempo.dataDir;
  const retention = daysToHours(config.retention.tracesDays);
  const ephemeral = config.storage.durability === 'ephemeral';

  const tempo = {
    target: 'all',
    multitenancy_enabled: true,
    usage_report: { reporting_enabled: false },
    stream_over_http_enabled: true,
    server: {
      http_listen_port: BACKENDS.tempo.httpPort,
      grpc_listen_port: BACKENDS.tempo.grpcPort,
    },
    distributor: {
      receivers: {
        otlp: {
          protocols: {
            // Tempo binds the OTLP receivers to localhost unless told otherwise.
            grpc: { endpoint: `0.0.0.0:${BACKENDS.tempo.otlpGrpcPort}` },
            http: { endpoint: `0.0.0.0:${BACKENDS.tempo.otlpHttpPort}` },
          },
        },
      },
    },
    live_store: {
      ring: { instance_interface_names: [...TEMPO_RING_INTERFACES] },
      wal: { path: `${dataDir}/live-store/traces` },
      shutdown_marker_dir: `${dataDir}/live-store/shutdown-marker`,
      ...(ephemeral ? { max_block_duration: TEMPO_EPHEMERAL_MAX_BLOCK_DURATION } : {}),
    },
    // Retention jobs run in the backend worker with its compaction settings; the scheduler's
    // compaction provider gets the same value so that both views agree.
    backend_scheduler: {
      provider: { compaction: { compaction: { block_retention: retention } } },
    },
    backend_worker: {
      compaction: { block_retention: retention },
    },
    storage: {
      trace: {
        backend: 's3',
        // No keys: the S3 client picks up the task role.
        s3: {
          bucket: deploy.bucketName,
          endpoint: s3Endpoint(deploy),
          region: deploy.region,
          prefix: BUCKET_PREFIXES.tempo,
        },
        wal: { path: `${dataDir}/wal` },
      },
    },
  };

  return stringify(tempo, { lineWidth: 0 });
}
