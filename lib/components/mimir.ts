import { Construct } from 'constructs';
import type { BackendService } from '../backend-service';
import { BACKENDS, BUCKET_PREFIXES } from '../render/catalog';
import { type StatefulComponentProps, statefulBackend } from './common';

/** Mimir's props; `configFile` is its rendered `mimir.yaml` (see lib/render/mimir.ts). */
export interface MimirProps extends StatefulComponentProps {}

/** Mimir, monolithic (`-target=all`): metrics for every tenant, blocks flushed to S3 on shutdown. */
export class Mimir extends Construct {
  public readonly backend: BackendService;

  constructor(scope: Construct, id: string, props: MimirProps) {
    super(scope, id);
    this.backend = statefulBackend(this, props, {
      serviceName: 'mimir',
      extraArgs: ['-target=all'],
      ports: [BACKENDS.mimir.httpPort, BACKENDS.mimir.grpcPort],
      bucketPrefixes: [BUCKET_PREFIXES.mimirBlocks, BUCKET_PREFIXES.mimirRuler, BUCKET_PREFIXES.mimirAlertmanager],
    });
  }
}
