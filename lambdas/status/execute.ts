import type { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { CreateTagsCommand, DeleteTagsCommand, type EC2Client, type Tag } from '@aws-sdk/client-ec2';
import type { EventBridgeClient, PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import type { SSMClient } from '@aws-sdk/client-ssm';
import { errorName } from '../shared/aws';
import { putEvents } from '../shared/bus';
import { completeLifecycleAction, type LifecycleCompletion } from '../shared/lifecycle';
import type { StatusCall } from './calls';
import type { LifecyclePlan } from './decide';

/**
 * The execute step: makes the calls calls.ts lists and returns what each one found. A failed call
 * (after the SDK's retries) becomes data naming the step; the caller logs it and throws the error,
 * so the asynchronous invocation is retried.
 */

export interface StatusClients {
  readonly ec2: EC2Client;
  readonly ssm: SSMClient;
  readonly eventBridge: EventBridgeClient;
  readonly autoScaling: AutoScalingClient;
}

/** Every call the handler makes: the two look-ups, then those of calls.ts. */
export type Step = 'list-commands' | 'describe-instances' | StatusCall['step'];

export interface StepFailure {
  readonly step: Step;
  readonly error: unknown;
}

export type Attempt<T> = { readonly ok: true; readonly value: T } | ({ readonly ok: false } & StepFailure);

export async function attempt<T>(step: Step, call: () => Promise<T>): Promise<Attempt<T>> {
  try {
    return { ok: true, value: await call() };
  } catch (error) {
    return { ok: false, step, error };
  }
}

export type CallOutcome =
  | { readonly step: 'put-events' }
  /** `instanceFound` false: EC2 no longer knows the instance. */
  | { readonly step: 'create-tags'; readonly instanceFound: boolean }
  | { readonly step: 'delete-tags'; readonly instanceFound: boolean }
  | { readonly step: 'complete-lifecycle-action'; readonly lifecycle: LifecyclePlan; readonly completion: LifecycleCompletion };

export interface Execution {
  /** The calls made, in order. */
  readonly done: readonly CallOutcome[];
  /** The call that failed; the calls after it were not made. */
  readonly failure?: StepFailure;
}

/** Makes the calls in order; stops at the first failure, or when CreateTags finds the instance gone (nothing left to complete or untag). */
export async function executeCalls(calls: readonly StatusCall[], instanceId: string, clients: StatusClients): Promise<Execution> {
  const done: CallOutcome[] = [];
  for (const call of calls) {
    const made = await attempt(call.step, () => executeCall(call, instanceId, clients));
    if (!made.ok) return { done, failure: { step: made.step, error: made.error } };
    done.push(made.value);
    if (made.value.step === 'create-tags' && !made.value.instanceFound) break;
  }
  return { done };
}

async function executeCall(call: StatusCall, instanceId: string, clients: StatusClients): Promise<CallOutcome> {
  switch (call.step) {
    case 'put-events':
      await publish(clients.eventBridge, call.entry);
      return { step: call.step };
    case 'create-tags':
      return {
        step: call.step,
        instanceFound: await onInstance(() => clients.ec2.send(new CreateTagsCommand(tagsInput(instanceId, call.tags)))),
      };
    case 'complete-lifecycle-action': {
      // An action no longer waiting (completed by an earlier delivery, or timed out) counts as done.
      const completion = await completeLifecycleAction(clients.autoScaling, { ...call.lifecycle, instanceId });
      return { step: call.step, lifecycle: call.lifecycle, completion };
    }
    case 'delete-tags':
      return {
        step: call.step,
        instanceFound: await onInstance(() => clients.ec2.send(new DeleteTagsCommand(tagsInput(instanceId, call.tags)))),
      };
  }
}

function tagsInput(instanceId: string, tags: readonly Tag[]): { Resources: string[]; Tags: Tag[] } {
  return { Resources: [instanceId], Tags: [...tags] };
}

/** One entry; a rejected entry is thrown like a failed call, so the event is retried. */
async function publish(eventBridge: EventBridgeClient, entry: PutEventsRequestEntry): Promise<void> {
  const [unpublished] = await putEvents(eventBridge, [entry], { attempts: 1 });
  if (unpublished === undefined) return;
  if (unpublished.error !== undefined) throw unpublished.error;
  throw Object.assign(new Error(`PutEvents rejected the entry: ${unpublished.errorMessage}`), { name: unpublished.errorCode });
}

/** Runs a call on the instance; false when the instance no longer exists, any other error thrown. */
async function onInstance(call: () => Promise<unknown>): Promise<boolean> {
  try {
    await call();
    return true;
  } catch (error) {
    if (errorName(error) === 'InvalidInstanceID.NotFound') return false;
    throw error;
  }
}
