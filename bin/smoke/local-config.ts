/**
 * Turns a rendered backend config into one that runs on this machine, changing only what cannot
 * work off AWS: S3 becomes a directory, Cloud Map names become 127.0.0.1, listeners and ring
 * addresses become loopback, and the container's data directory becomes a local one. Every
 * change is returned as an {@link Override}, so the harness prints exactly what it did not test.
 */
import { parse, stringify } from 'yaml';
import { TASK_PLACEHOLDERS } from '../../lib/render/cluster';

export interface Override {
  /** Dotted key path in the config, e.g. `common.storage.backend`. */
  readonly path: string;
  /** The rendered value (`undefined` when the key is added). */
  readonly from: unknown;
  /** The value the local run uses (`undefined` when the key is removed). */
  readonly to: unknown;
}

/** Where a local run keeps what the task keeps on its data volume and what S3 would hold. */
export interface LocalDirs {
  /** Replaces the container's data directory. */
  readonly data: string;
  /** Stands in for the S3 bucket. */
  readonly bucket: string;
}

/** Where a local process listens and what it talks to. */
export interface LocalEndpoints {
  /** The memcached the local run points the caches at, or none (the caches are then removed). */
  readonly memcached?: string;
  /**
   * The loopback address this process binds and advertises (`127.0.0.<n>`: one per replica).
   * @default '127.0.0.1'
   */
  readonly address?: string;
  /** A replica of a cluster: its zone and the memberlist addresses it joins instead of the Cloud Map name. */
  readonly replica?: { readonly zone: string; readonly members: readonly string[] };
}

export interface LocalConfig {
  readonly text: string;
  readonly overrides: readonly Override[];
}

type Doc = Record<string, unknown>;

/** A config document being rewritten, recording each change. */
class Rewriter {
  readonly overrides: Override[] = [];
  constructor(readonly doc: Doc) {}

  get(path: string): unknown {
    let node: unknown = this.doc;
    for (const key of path.split('.')) {
      if (node === null || typeof node !== 'object') return undefined;
      node = (node as Doc)[key];
    }
    return node;
  }

  set(path: string, value: unknown): void {
    const keys = path.split('.');
    let node = this.doc;
    for (const key of keys.slice(0, -1)) {
      if (node[key] === undefined) node[key] = {};
      node = node[key] as Doc;
    }
    const last = keys[keys.length - 1];
    const from = node[last];
    if (JSON.stringify(from) === JSON.stringify(value)) return;
    if (value === undefined) delete node[last];
    else node[last] = value;
    this.overrides.push({ path, from, to: value });
  }

  /** Every string value under the document starting with `from` is moved under `to`. */
  movePaths(from: string, to: string): void {
    const walk = (node: unknown, path: string): void => {
      if (node === null || typeof node !== 'object') return;
      for (const [key, value] of Object.entries(node as Doc)) {
        const here = path ? `${path}.${key}` : key;
        if (typeof value === 'string' && (value === from || value.startsWith(`${from}/`))) {
          this.set(here, `${to}${value.slice(from.length)}`);
        } else {
          walk(value, here);
        }
      }
    };
    walk(this.doc, '');
  }

  /** Every string value holding `from` gets `to` in its place (the task values the init container writes on ECS). */
  replaceText(from: string, to: string): void {
    const walk = (node: unknown, path: string): void => {
      if (node === null || typeof node !== 'object') return;
      for (const [key, value] of Object.entries(node as Doc)) {
        const here = path ? `${path}.${key}` : key;
        if (typeof value === 'string' && value.includes(from)) this.set(here, value.replaceAll(from, to));
        else walk(value, here);
      }
    };
    walk(this.doc, '');
  }

  /**
   * A cluster replica: the task placeholders get this process's address and zone, and memberlist
   * joins the other local replicas by address instead of the Cloud Map name.
   */
  replica(address: string, replica: LocalEndpoints['replica']): void {
    this.replaceText(TASK_PLACEHOLDERS.address, address);
    if (this.get('memberlist') !== undefined) this.set('memberlist.bind_addr', [address]);
    if (!replica) return;
    this.replaceText(TASK_PLACEHOLDERS.availabilityZone, replica.zone);
    if (this.get('memberlist.join_members') !== undefined) this.set('memberlist.join_members', [...replica.members]);
  }

  /** Every memcached address (`dns+<cloud map name>:port`) points at the local memcached, or its cache is removed. */
  memcached(cachePaths: readonly string[], endpoints: LocalEndpoints, addressKey: string): void {
    for (const cache of cachePaths) {
      if (this.get(cache) === undefined) continue;
      if (endpoints.memcached) this.set(`${cache}.${addressKey}`, `dns+${endpoints.memcached}`);
      else this.set(cache, undefined);
    }
  }

  text(): LocalConfig {
    return { text: stringify(this.doc, { lineWidth: 0 }), overrides: this.overrides };
  }
}

/** A rewriter of `rendered` with the data directory moved and the HTTP and gRPC servers on `address`. */
function rewriter(rendered: string, dataDir: string, dirs: LocalDirs, endpoints: LocalEndpoints = {}): Rewriter {
  const r = new Rewriter(parse(rendered) as Doc);
  const address = endpoints.address ?? '127.0.0.1';
  r.movePaths(dataDir, dirs.data);
  r.set('server.http_listen_address', address);
  r.set('server.grpc_listen_address', address);
  r.replica(address, endpoints.replica);
  return r;
}

/** Loki: filesystem object store, loopback listeners and ring address, local data dir, local memcached. */
export function localLokiConfig(rendered: string, dataDir: string, dirs: LocalDirs, endpoints: LocalEndpoints): LocalConfig {
  const r = rewriter(rendered, dataDir, dirs, endpoints);
  r.set('common.instance_addr', endpoints.address ?? '127.0.0.1');
  r.set('common.storage.s3', undefined);
  r.set('common.storage.filesystem', { chunks_directory: `${dirs.bucket}/chunks`, rules_directory: `${dirs.bucket}/rules` });
  const schemas = r.get('schema_config.configs') as Doc[];
  schemas.forEach((_, i) => {
    r.set(`schema_config.configs.${i}.object_store`, 'filesystem');
  });
  if (r.get('compactor.delete_request_store') !== undefined) r.set('compactor.delete_request_store', 'filesystem');
  r.memcached(
    ['chunk_store_config.chunk_cache_config.memcached_client', 'query_range.results_cache.cache.memcached_client'],
    endpoints,
    'addresses',
  );
  if (!endpoints.memcached) {
    r.set('chunk_store_config', undefined);
    r.set('query_range.results_cache', undefined);
  }
  return r.text();
}

/** Tempo: local trace backend, loopback listeners and receivers, local data dir. */
export function localTempoConfig(rendered: string, dataDir: string, dirs: LocalDirs): LocalConfig {
  const r = rewriter(rendered, dataDir, dirs);
  for (const protocol of ['grpc', 'http']) {
    const path = `distributor.receivers.otlp.protocols.${protocol}.endpoint`;
    const endpoint = r.get(path);
    if (typeof endpoint === 'string') r.set(path, endpoint.replace(/^0\.0\.0\.0:/, '127.0.0.1:'));
  }
  r.set('memberlist.bind_addr', ['127.0.0.1']);
  r.set('storage.trace.backend', 'local');
  r.set('storage.trace.s3', undefined);
  r.set('storage.trace.local', { path: dirs.bucket });
  return r.text();
}

/** Mimir: filesystem object store, loopback listeners and ring addresses, local data dir, local memcached. */
export function localMimirConfig(rendered: string, dataDir: string, dirs: LocalDirs, endpoints: LocalEndpoints): LocalConfig {
  const r = rewriter(rendered, dataDir, dirs, endpoints);
  const address = endpoints.address ?? '127.0.0.1';
  r.set('common.storage.backend', 'filesystem');
  r.set('common.storage.s3', undefined);
  r.set('common.storage.filesystem', { dir: dirs.bucket });
  r.set('memberlist.bind_addr', [address]);
  for (const ring of [
    'ingester.ring',
    'distributor.ring',
    'store_gateway.sharding_ring',
    'compactor.sharding_ring',
    'ruler.ring',
    'query_scheduler.ring',
  ]) {
    r.set(`${ring}.instance_addr`, address);
  }
  r.set('frontend.address', address);
  r.memcached(
    [
      'blocks_storage.bucket_store.index_cache',
      'blocks_storage.bucket_store.chunks_cache',
      'blocks_storage.bucket_store.metadata_cache',
      'frontend.results_cache',
    ],
    endpoints,
    'memcached.addresses',
  );
  if (!endpoints.memcached) r.set('frontend.cache_results', false);
  return r.text();
}
