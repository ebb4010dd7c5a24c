import { Construct } from 'constructs';
import type { BackendService } from '../backend-service';
import { BACKENDS, BUCKET_PREFIXES } from '../render/catalog';
import { clusterPorts } from '../render/cluster';
import { LOKI_RULES_DIRECTORY } from '../render/loki';
import { type StatefulComponentProps, statefulBackend } from './common';

/** Loki's props; `configFile` is its rendered `loki.yaml` (see lib/render/loki.ts). */
export interface LokiProps extends StatefulComponentProps {}

/** Loki, single binary: logs for every tenant, chunks and TSDB index in S3, WAL flushed on shutdown. */
export class Loki extends Construct {
  public readonly backend: BackendService;

  constructor(scope: Construct, id: string, props: LokiProps) {
    super(scope, id);
    this.backend = statefulBackend(this, props, {
      serviceName: 'loki',
      ports: [BACKENDS.loki.httpPort, BACKENDS.loki.grpcPort],
      peerPorts: clusterPorts('loki'),
      bucketPrefixes: [BUCKET_PREFIXES.loki],
      // The ruler reads rule files from here (see renderLokiConfig) and refuses to start without it.
      dataDirectories: [LOKI_RULES_DIRECTORY],
    });
  }
}
