import { Construct } from 'constructs';
import type { BackendService } from '../backend-service';
import { BACKENDS, BUCKET_PREFIXES } from '../render/catalog';
import { clusterPorts } from '../render/cluster';
import { type StatefulComponentProps, statefulBackend } from './common';
import { forgetStoppedReplicas, type RingForget } from './ring-forget';

/** The Cloud Map name Mimir registers under, in the props' namespace. */
const SERVICE_NAME = 'mimir';

/** Mimir's props; `configFile` is its rendered `mimir.yaml` (see lib/render/mimir.ts). */
export interface MimirProps extends StatefulComponentProps {}

/**
 * Mimir, monolithic (`-target=all`): metrics for every tenant, blocks flushed to S3 on shutdown.
 * With several replicas, the ingester ring entries of stopped tasks are forgotten by a function.
 */
export class Mimir extends Construct {
  public readonly backend: BackendService;
  /** Present with more than one replica. */
  public readonly ringForget?: RingForget;

  constructor(scope: Construct, id: string, props: MimirProps) {
    super(scope, id);
    this.backend = statefulBackend(this, props, {
      serviceName: SERVICE_NAME,
      extraArgs: ['-target=all'],
      ports: [BACKENDS.mimir.httpPort, BACKENDS.mimir.grpcPort],
      peerPorts: clusterPorts('mimir'),
      bucketPrefixes: [BUCKET_PREFIXES.mimirBlocks, BUCKET_PREFIXES.mimirRuler, BUCKET_PREFIXES.mimirAlertmanager],
    });
    this.ringForget = forgetStoppedReplicas(this, this.backend.service, props, {
      backend: 'Mimir',
      serviceName: SERVICE_NAME,
      httpPort: BACKENDS.mimir.httpPort,
      path: '/ingester/ring',
    });
  }
}
