import { Construct } from 'constructs';
import type { BackendService } from '../backend-service';
import { BACKENDS, BUCKET_PREFIXES } from '../render/catalog';
import { renderTempoConfig } from '../render/tempo';
import { type StatefulComponentProps, statefulBackend } from './common';

/**
 * Tempo 3.x, monolithic: traces for every tenant in S3, OTLP gRPC and HTTP receivers on all
 * interfaces. Its data volume is always EFS: on SIGTERM Tempo 3.0 keeps live traces only in its
 * WAL and uploads them when it starts again, so the WAL must reach the replacement task.
 */
export class Tempo extends Construct {
  public readonly backend: BackendService;

  constructor(scope: Construct, id: string, props: StatefulComponentProps) {
    super(scope, id);
    const spec = BACKENDS.tempo;
    this.backend = statefulBackend(this, props, {
      serviceName: 'tempo',
      configContent: renderTempoConfig({ config: props.config, deploy: props.deploy }),
      ports: [spec.httpPort, spec.grpcPort, spec.otlpGrpcPort, spec.otlpHttpPort],
      bucketPrefixes: [BUCKET_PREFIXES.tempo],
      durableData: true,
    });
  }
}
