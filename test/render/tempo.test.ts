import { Aws, Lazy } from 'aws-cdk-lib';
import { parse } from 'yaml';
import { loadConfig } from '../../lib/config/load';
import { BUCKET_PREFIXES, type RenderInput } from '../../lib/render/catalog';
import { renderTempoConfig, TEMPO_LIVE_STORE_DIR } from '../../lib/render/tempo';

const DEPLOY = {
  region: 'us-west-2',
  bucketName: 'lgtmfleet-databucket-1a2b3c4d5e6f-123456789012',
  urlSuffix: 'amazonaws.com',
  availabilityZones: 2,
};

function render(values: Record<string, unknown> = {}, deploy = DEPLOY) {
  const input: RenderInput = { config: loadConfig([{ origin: 'test', values }]), deploy };
  const text = renderTempoConfig(input);
  // biome-ignore lint/suspicious/noExplicitAny: parsed YAML is navigated freely in assertions
  return { text, doc: parse(text) as any };
}

describe('renderTempoConfig', () => {
  test('runs monolithic without Kafka or Tempo 2 blocks, multi-tenant, streaming over HTTP', () => {
    const { doc } = render();
    expect(doc.target).toBe('all');
    expect(doc.multitenancy_enabled).toBe(true);
    expect(doc.stream_over_http_enabled).toBe(true);
    for (const removed of ['ingest', 'block_builder', 'ingester', 'ingester_client', 'compactor', 'metrics_generator_client']) {
      expect(doc).not.toHaveProperty(removed);
    }
    // Metrics-generator stays off: it is only started when configured.
    expect(doc).not.toHaveProperty('metrics_generator');
  });

  test('listens on the catalog ports and binds the OTLP receivers to all interfaces', () => {
    const { doc } = render();
    expect(doc.server).toEqual({ http_listen_port: 3200, grpc_listen_port: 9097 });
    expect(doc.distributor.receivers.otlp.protocols).toEqual({
      grpc: { endpoint: '0.0.0.0:4317' },
      http: { endpoint: '0.0.0.0:4318' },
    });
  });

  test('stores traces in the data bucket through the task role, under the Tempo prefix', () => {
    const { doc } = render();
    expect(doc.storage.trace.backend).toBe('s3');
    expect(doc.storage.trace.s3).toEqual({
      bucket: DEPLOY.bucketName,
      endpoint: 's3.us-west-2.amazonaws.com',
      region: 'us-west-2',
      prefix: BUCKET_PREFIXES.tempo,
    });
    expect(JSON.stringify(doc)).not.toMatch(/access_key|secret_key/);
  });

  test('keeps the live-store WAL and the trace WAL under the data directory', () => {
    const { doc } = render();
    expect(doc.live_store.wal.path).toBe('/var/tempo/live-store/traces');
    expect(doc.live_store.shutdown_marker_dir).toMatch(/^\/var\/tempo\//);
    expect(doc.storage.trace.wal.path).toBe('/var/tempo/wal');
  });

  test('sets no live-store ring interface names: target all pins that ring to 127.0.0.1', () => {
    for (const durability of ['ephemeral', 'efs']) expect(render({ storage: { durability } }).doc.live_store.ring).toBeUndefined();
  });

  test('keeps the live-store WAL and shutdown marker under the directory the durable volume holds', () => {
    const { doc } = render();
    expect(doc.live_store.wal.path).toBe(`/var/tempo/${TEMPO_LIVE_STORE_DIR}/traces`);
    expect(doc.live_store.shutdown_marker_dir).toBe(`/var/tempo/${TEMPO_LIVE_STORE_DIR}/shutdown-marker`);
  });

  test('applies trace retention in the backend worker and scheduler: 14 days by default, custom flows through', () => {
    const { doc } = render();
    expect(doc.backend_worker.compaction.block_retention).toBe('336h');
    expect(doc.backend_scheduler.provider.compaction.compaction.block_retention).toBe('336h');
    const custom = render({ retention: { tracesDays: 30 } }).doc;
    expect(custom.backend_worker.compaction.block_retention).toBe('720h');
    expect(custom.backend_scheduler.provider.compaction.compaction.block_retention).toBe('720h');
  });

  test("keeps Tempo 3's 30 s live-store block duration in every mode (a Tempo 2-era 5m would widen the WAL-only window)", () => {
    for (const durability of ['ephemeral', 'efs']) {
      expect(render({ storage: { durability } }).doc.live_store.max_block_duration).toBeUndefined();
    }
  });

  test('emits CDK token strings for region and bucket verbatim', () => {
    const BUCKET_TOKEN = Lazy.string({ produce: () => 'generated-bucket' });
    const { doc } = render({}, { region: Aws.REGION, bucketName: BUCKET_TOKEN, urlSuffix: Aws.URL_SUFFIX, availabilityZones: 2 });
    expect(doc.storage.trace.s3.region).toBe(Aws.REGION);
    expect(doc.storage.trace.s3.endpoint).toBe(`s3.${Aws.REGION}.${Aws.URL_SUFFIX}`);
    expect(doc.storage.trace.s3.bucket).toBe(BUCKET_TOKEN);
  });

  test('fits a standard Parameter Store parameter and carries no comments', () => {
    const { text } = render();
    expect(Buffer.byteLength(text, 'utf8')).toBeLessThanOrEqual(4096);
    expect(text).not.toMatch(/^\s*#/m);
  });
});
