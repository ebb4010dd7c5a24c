import { type AutoScalingClient, CompleteLifecycleActionCommand } from '@aws-sdk/client-auto-scaling';
import { errorMessage, errorName } from './aws';

/**
 * Auto Scaling launch lifecycle actions, as the handlers complete them.
 */

export type LifecycleResult = 'CONTINUE' | 'ABANDON';
export const LIFECYCLE_RESULTS: readonly LifecycleResult[] = ['CONTINUE', 'ABANDON'];

/** A launch held by a lifecycle hook, and how to release it. */
export interface LifecycleAction {
  readonly groupName: string;
  readonly hookName: string;
  readonly instanceId: string;
  readonly result: LifecycleResult;
}

export type LifecycleCompletion =
  | { readonly completed: true }
  /** No action was waiting any more; `detail` is Auto Scaling's message. */
  | { readonly completed: false; readonly detail: string };

const NO_ACTIVE_LIFECYCLE_ACTION = /no active lifecycle action/i;

/**
 * CompleteLifecycleAction's answer for an action that is no longer waiting (already completed, or
 * timed out with the hook's default result): the work is done either way.
 */
export function isNoActiveLifecycleAction(error: unknown): boolean {
  return errorName(error) === 'ValidationError' && NO_ACTIVE_LIFECYCLE_ACTION.test(errorMessage(error));
}

/**
 * Completes the action. An action that is no longer waiting (see {@link isNoActiveLifecycleAction})
 * is reported, not thrown, so a duplicate delivery or the other handler having completed it first
 * counts as done; any other error (after the SDK's retries) is thrown.
 */
export async function completeLifecycleAction(autoScaling: AutoScalingClient, action: LifecycleAction): Promise<LifecycleCompletion> {
  try {
    await autoScaling.send(
      new CompleteLifecycleActionCommand({
        AutoScalingGroupName: action.groupName,
        LifecycleHookName: action.hookName,
        InstanceId: action.instanceId,
        LifecycleActionResult: action.result,
      }),
    );
    return { completed: true };
  } catch (error) {
    if (isNoActiveLifecycleAction(error)) return { completed: false, detail: errorMessage(error) };
    throw error;
  }
}
