import { Construct } from 'constructs';
import type { BackendService } from '../backend-service';
import { BACKENDS, BUCKET_PREFIXES } from '../render/catalog';
import { clusterPorts } from '../render/cluster';
import { LOKI_RULES_DIRECTORY } from '../render/loki';
import { type StatefulComponentProps, statefulBackend } from './common';
import { forgetStoppedReplicas, type RingForget } from './ring-forget';

/** The Cloud Map name Loki registers under, in the props' namespace. */
const SERVICE_NAME = 'loki';

/** Loki's props; `configFile` is its rendered `loki.yaml` (see lib/render/loki.ts). */
export interface LokiProps extends StatefulComponentProps {}

/**
 * Loki, single binary: logs for every tenant, chunks and TSDB index in S3, WAL flushed on shutdown.
 * With several replicas, the ring entries of stopped tasks are forgotten by a function at once,
 * rather than by `autoforget_unhealthy` after the heartbeat timeout (which stays as the backstop).
 */
export class Loki extends Construct {
  public readonly backend: BackendService;
  /** Present with more than one replica. */
  public readonly ringForget?: RingForget;

  constructor(scope: Construct, id: string, props: LokiProps) {
    super(scope, id);
    this.backend = statefulBackend(this, props, {
      serviceName: SERVICE_NAME,
      ports: [BACKENDS.loki.httpPort, BACKENDS.loki.grpcPort],
      peerPorts: clusterPorts('loki'),
      bucketPrefixes: [BUCKET_PREFIXES.loki],
      // The ruler reads rule files from here (see renderLokiConfig) and refuses to start without it.
      dataDirectories: [LOKI_RULES_DIRECTORY],
    });
    // dskit's ring page, the same handler as Mimir's `/ingester/ring`.
    this.ringForget = forgetStoppedReplicas(this, this.backend.service, props, {
      backend: 'Loki',
      serviceName: SERVICE_NAME,
      httpPort: BACKENDS.loki.httpPort,
      path: '/ring',
    });
  }
}
