import type { EnrollSettings } from './settings';

/** First retry delay after an error when the queue's visibility timeout is not given; doubles per receive. */
export const RETRY_BASE_SECONDS = 30;
/** Longest retry delay while waiting for SSM. */
export const RETRY_MAX_SECONDS = 300;

export interface RetryPlan {
  readonly delaySeconds: number;
  /** False when the queue's own visibility timeout already gives this delay. */
  readonly changeVisibility: boolean;
}

/**
 * Exponential backoff for a request from an envelope that met an error: base × 2^(receives − 1), where the base is the
 * queue's visibility timeout when known (so the first retry needs no call) and 30 s otherwise; at
 * most the configured maximum (or the queue's timeout, if longer); never past the deadline, so
 * the record comes back in time to be dead-lettered; at least one second.
 */
export function planRetry(
  receiveCount: number,
  remainingSeconds: number,
  settings: Pick<EnrollSettings, 'retryBaseSeconds' | 'retryMaxSeconds' | 'queueVisibilityTimeoutSeconds'>,
): RetryPlan {
  const queueTimeout = settings.queueVisibilityTimeoutSeconds;
  const base = queueTimeout ?? settings.retryBaseSeconds;
  const max = Math.max(settings.retryMaxSeconds, queueTimeout ?? 0);
  const exponent = Math.min(Math.max(receiveCount - 1, 0), 20);
  const backoff = Math.min(base * 2 ** exponent, max);
  const delaySeconds = Math.max(1, Math.min(backoff, Math.ceil(remainingSeconds)));
  return { delaySeconds, changeVisibility: delaySeconds !== queueTimeout };
}

/**
 * How many receives a waiting request takes to reach its deadline when every receive is a retry
 * ({@link planRetry}), counting the last one, at which the handler dead-letters it with its reason
 * and ends a waiting launch with `lifecycleFailureResult`. The queue's `maxReceiveCount` must be
 * above it, or SQS moves the message to the dead-letter queue first, with no reason and no
 * lifecycle result.
 */
export function receivesUntilDeadline(
  deadlineSeconds: number,
  settings: Pick<EnrollSettings, 'retryBaseSeconds' | 'retryMaxSeconds' | 'queueVisibilityTimeoutSeconds'>,
): number {
  let receives = 1;
  let remaining = deadlineSeconds;
  while (remaining > 0) {
    remaining -= planRetry(receives, remaining, settings).delaySeconds;
    receives++;
  }
  return receives;
}
