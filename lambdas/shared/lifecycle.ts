import { errorMessage, errorName } from './aws';

/**
 * Auto Scaling launch lifecycle actions, as the handlers complete them.
 */

export type LifecycleResult = 'CONTINUE' | 'ABANDON';
export const LIFECYCLE_RESULTS: readonly LifecycleResult[] = ['CONTINUE', 'ABANDON'];

const NO_ACTIVE_LIFECYCLE_ACTION = /no active lifecycle action/i;

/**
 * CompleteLifecycleAction's answer for an action that is no longer waiting (already completed, or
 * timed out with the hook's default result): the work is done either way.
 */
export function isNoActiveLifecycleAction(error: unknown): boolean {
  return errorName(error) === 'ValidationError' && NO_ACTIVE_LIFECYCLE_ACTION.test(errorMessage(error));
}
