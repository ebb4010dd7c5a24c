import type { OutcomePlan } from '../../../lambdas/status/decide';
import { type InvocationResult, parseEvent } from '../../../lambdas/status/requests';
import { invocationEvent, testSettings } from './fake-aws';

/** Inputs of the pure steps (calls.ts, resolve.ts), for tests that call them directly. */

/** The samples' invocation with this status, as the parse step hands it on. */
export function invocationResult(status: string): InvocationResult {
  const parsed = parseEvent(invocationEvent(status), testSettings());
  if (parsed.kind !== 'result') throw new Error(`status ${status} parses as ${parsed.kind}, not a result`);
  return parsed.result;
}

/** A successful install to record: publish, then write the status tag. */
export const RECORD_PLAN: OutcomePlan = {
  action: 'install',
  outcome: 'success',
  publish: true,
  writeTags: [{ Key: 'lgtm:agent-status', Value: 'success' }],
  staleTags: [],
};

export const LIFECYCLE_PLAN = { groupName: 'web', hookName: 'lgtm-enroll', result: 'CONTINUE' } as const;
