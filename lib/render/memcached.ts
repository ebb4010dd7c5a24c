import type { LgtmConfig } from '../config/schema';

/** Memory kept outside the item cache for connections, threads and the hash table: at least this much… */
export const MEMCACHED_MIN_OVERHEAD_MIB = 128;
/** …or this share of the task memory, whichever is larger. */
export const MEMCACHED_OVERHEAD_RATIO = 0.2;

/**
 * Largest cached item. Mimir's query-frontend results cache and Loki's results cache are
 * deployed upstream with `-I 5m` (chunk caches with 1-2m); one shared memcached needs the
 * largest of them.
 */
export const MEMCACHED_MAX_ITEM_SIZE = '5m';

/**
 * Connection limit. Mimir's four caches and Loki's two each keep a pool of idle connections
 * (Mimir's default pool is 100 per cache); upstream raises the 1024 default to 4096 for busy
 * caches, and an idle connection costs memcached only a few KiB.
 */
export const MEMCACHED_MAX_CONNECTIONS = 4096;

/** Item memory (`-m`, MiB) for a task: task memory minus max(128 MiB, 20 %). */
export function memcachedItemMemoryMiB(taskMemoryMiB: number): number {
  const overhead = Math.max(MEMCACHED_MIN_OVERHEAD_MIB, Math.ceil(taskMemoryMiB * MEMCACHED_OVERHEAD_RATIO));
  return taskMemoryMiB - overhead;
}

/** {@link memcachedArguments} for the configured task size. */
export function memcachedCommand(config: LgtmConfig): string[] {
  return memcachedArguments(config.services.memcached.memoryMiB);
}

/**
 * Arguments for the official memcached image in a task of `taskMemoryMiB`: its entrypoint
 * prepends `memcached` when the first argument starts with `-`.
 */
export function memcachedArguments(taskMemoryMiB: number): string[] {
  return ['-m', String(memcachedItemMemoryMiB(taskMemoryMiB)), '-c', String(MEMCACHED_MAX_CONNECTIONS), '-I', MEMCACHED_MAX_ITEM_SIZE];
}
