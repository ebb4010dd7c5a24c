import { Duration } from 'aws-cdk-lib/core';
import { Construct } from 'constructs';
import { BackendService } from '../backend-service';
import { BACKENDS } from '../render/catalog';
import { memcachedArguments } from '../render/memcached';
import { type ComponentProps, serviceBasics } from './common';

/** memcached's props; its item memory follows `size` (see lib/render/memcached.ts). */
export interface MemcachedProps extends ComponentProps {
  /**
   * Cache nodes. Clients resolve every node's address from the Cloud Map name and spread keys over
   * them, so a node's restart empties only its share of the cache.
   * @default 1
   */
  readonly replicas?: number;
}

/** memcached shared by Mimir and Loki for index, chunk, metadata and query-result caches. */
export class Memcached extends Construct {
  public readonly backend: BackendService;

  constructor(scope: Construct, id: string, props: MemcachedProps) {
    super(scope, id);
    const port = BACKENDS.memcached.port;
    this.backend = new BackendService(this, 'Backend', {
      ...serviceBasics(props),
      serviceName: 'memcached',
      command: memcachedArguments(props.size.memoryMiB),
      ports: [port],
      replicas: props.replicas,
      // A cache: a fresh task may start before the old one stops.
      deployment: 'rolling',
      // The Debian-based image has bash: a real `stats` round trip proves the server answers.
      healthCheck: {
        command: [
          'CMD-SHELL',
          `bash -c 'exec 3<>/dev/tcp/127.0.0.1/${port} && printf "stats\\r\\nquit\\r\\n" >&3 && grep -q "STAT uptime" <&3'`,
        ],
        interval: Duration.seconds(15),
        timeout: Duration.seconds(5),
        retries: 3,
        startPeriod: Duration.seconds(10),
      },
    });
  }
}
