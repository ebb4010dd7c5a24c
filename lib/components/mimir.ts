import { Construct } from 'constructs';
import type { BackendService } from '../backend-service';
import { BACKENDS, BUCKET_PREFIXES } from '../render/catalog';
import { renderMimirConfig } from '../render/mimir';
import { type StatefulComponentProps, statefulBackend } from './common';

/** Mimir, monolithic (`-target=all`): metrics for every tenant, blocks flushed to S3 on shutdown. */
export class Mimir extends Construct {
  public readonly backend: BackendService;

  constructor(scope: Construct, id: string, props: StatefulComponentProps) {
    super(scope, id);
    this.backend = statefulBackend(this, props, {
      serviceName: 'mimir',
      configContent: renderMimirConfig({ config: props.config, deploy: props.deploy }),
      extraArgs: ['-target=all'],
      ports: [BACKENDS.mimir.httpPort, BACKENDS.mimir.grpcPort],
      bucketPrefixes: [BUCKET_PREFIXES.mimirBlocks, BUCKET_PREFIXES.mimirRuler, BUCKET_PREFIXES.mimirAlertmanager],
    });
  }
}
