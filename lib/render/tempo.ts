import { stringify } from 'yaml';
import { BACKENDS, BUCKET_PREFIXES, daysToHours, type RenderInput, s3Endpoint } from './catalog';

/**
 * Directory (under Tempo's data dir) of the live-store's WAL. On SIGTERM Tempo 3.0 writes live
 * traces only to this WAL ("abandoning WAL block completion on shutdown, will replay on
 * restart") and uploads them when it starts again, so this directory must survive a task
 * replacement: Tempo's data volume is durable whatever `storage.durability` says.
 */
export const TEMPO_LIVE_STORE_DIR = 'live-store';

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
    // No ring interface names: with target `all`, Tempo pins the live-store ring to 127.0.0.1
    // itself. No `max_block_duration`: Tempo 3's default (30 s) is what bounds the window in
    // which spans live only in the WAL; the 5m/30m values of older guides are Tempo 2 settings.
    live_store: {
      wal: { path: `${dataDir}/${TEMPO_LIVE_STORE_DIR}/traces` },
      shutdown_marker_dir: `${dataDir}/${TEMPO_LIVE_STORE_DIR}/shutdown-marker`,
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
