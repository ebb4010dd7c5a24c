/**
 * Client settings and error helpers shared by the handlers' AWS SDK v3 calls.
 */
import { isThrottlingError as isSdkThrottlingError } from '@smithy/core/retry';

/**
 * Retry settings for every SDK client: up to 5 attempts with adaptive retry, which adds
 * client-side rate limiting once the service starts throttling. What still fails after that
 * goes back to the queue rather than being retried here for longer.
 */
export const SDK_CLIENT_CONFIG = { maxAttempts: 5, retryMode: 'adaptive' } as const;

/**
 * Throttling codes of the services the handlers call that the SDK's classification lacks:
 * Parameter Store answers `TooManyUpdates` to a parameter updated faster than it allows.
 */
const MORE_THROTTLING_ERROR_NAMES: ReadonlySet<string> = new Set(['TooManyUpdates']);

/** The error code of an SDK error (its `name`), or the constructor name for anything else. */
export function errorName(error: unknown): string {
  if (error instanceof Error) return error.name;
  if (typeof error === 'object' && error !== null && 'name' in error && typeof error.name === 'string') return error.name;
  return typeof error;
}

export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

/**
 * Throttling as the SDK's retry strategy classifies it (HTTP 429, a modelled throttling error, or
 * one of the known codes such as `ThrottlingException`, `RequestLimitExceeded` and
 * `EC2ThrottledException`), plus {@link MORE_THROTTLING_ERROR_NAMES}.
 */
export function isThrottlingError(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  return isSdkThrottlingError(error as Parameters<typeof isSdkThrottlingError>[0]) || MORE_THROTTLING_ERROR_NAMES.has(errorName(error));
}

/** Splits `items` into consecutive chunks of at most `size` items. */
export function chunk<T>(items: readonly T[], size: number): T[][] {
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`chunk size must be a positive integer, got ${size}`);
  const chunks: T[][] = [];
  for (let start = 0; start < items.length; start += size) {
    chunks.push(items.slice(start, start + size));
  }
  return chunks;
}

/**
 * Splits `items` into consecutive batches of at most `maxItems` items and `maxBytes` bytes as
 * `sizeOf` counts them. An item larger than `maxBytes` on its own gets a batch of its own, for the
 * service to refuse.
 */
export function batchWithin<T>(items: readonly T[], maxItems: number, maxBytes: number, sizeOf: (item: T) => number): T[][] {
  const batches: T[][] = [];
  let batch: T[] = [];
  let bytes = 0;
  for (const item of items) {
    const size = sizeOf(item);
    if (batch.length > 0 && (batch.length === maxItems || bytes + size > maxBytes)) {
      batches.push(batch);
      batch = [];
      bytes = 0;
    }
    batch.push(item);
    bytes += size;
  }
  if (batch.length > 0) batches.push(batch);
  return batches;
}

export interface FailedChunk<T> {
  readonly items: readonly T[];
  readonly error: unknown;
}

/** What a batched look-up found, and the chunks whose call failed (after the SDK's retries). */
export interface LookupResult<K, V> {
  readonly found: Map<K, V>;
  readonly failed: FailedChunk<K>[];
}

/**
 * Runs a batched look-up chunk by chunk. A failed call costs only its chunk: the other chunks are
 * still looked up, and the failed one is returned for the caller to judge.
 */
export async function lookUpInChunks<K, V>(
  keys: readonly K[],
  size: number,
  lookUp: (items: K[]) => Promise<Iterable<readonly [K, V]>>,
): Promise<LookupResult<K, V>> {
  const found = new Map<K, V>();
  const failed: FailedChunk<K>[] = [];
  for (const items of chunk(keys, size)) {
    try {
      for (const [key, value] of await lookUp(items)) found.set(key, value);
    } catch (error) {
      failed.push({ items, error });
    }
  }
  return { found, failed };
}

/** Runs one AWS call of a multi-call step, naming it on the error it throws (see {@link operationOf}). */
export async function step<T>(operation: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw typeof error === 'object' && error !== null ? Object.assign(error, { operation }) : error;
  }
}

export function operationOf(error: unknown): string | undefined {
  const operation = typeof error === 'object' && error !== null ? (error as { operation?: unknown }).operation : undefined;
  return typeof operation === 'string' ? operation : undefined;
}
