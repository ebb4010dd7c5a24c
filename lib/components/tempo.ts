import type * as efs from 'aws-cdk-lib/aws-efs';
import { Construct } from 'constructs';
import type { BackendService } from '../backend-service';
import { BACKENDS, BUCKET_PREFIXES } from '../render/catalog';
import { type StatefulComponentProps, statefulBackend } from './common';

/** Tempo's props; `configFile` is its rendered `tempo.yaml` (see lib/render/tempo.ts). */
export interface TempoProps extends StatefulComponentProps {
  /** Holds the WAL, whatever the durability of the other backends (see {@link Tempo}). */
  readonly fileSystem: efs.IFileSystem;
}

/**
 * Tempo 3.x, monolithic: traces for every tenant in S3, OTLP gRPC and HTTP receivers on all
 * interfaces. Its data volume is always EFS: on SIGTERM Tempo 3.0 keeps live traces only in its
 * WAL and uploads them when it starts again, so the WAL must reach the replacement task.
 */
export class Tempo extends Construct {
  public readonly backend: BackendService;

  constructor(scope: Construct, id: string, props: TempoProps) {
    super(scope, id);
    const spec = BACKENDS.tempo;
    this.backend = statefulBackend(this, props, {
      serviceName: 'tempo',
      ports: [spec.httpPort, spec.grpcPort, spec.otlpGrpcPort, spec.otlpHttpPort],
      bucketPrefixes: [BUCKET_PREFIXES.tempo],
    });
  }
}
