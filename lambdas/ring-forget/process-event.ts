import type { Logger } from '@aws-lambda-powertools/logger';
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { FORGET_TIMEOUT_MS, forgetRequest, sendForget } from './forget';
import { parseEvent } from './requests';
import { type Resolution, type RingForgetResult, resolveForget, resolveMalformed, resolveWithoutAddress } from './resolve';
import type { RingForgetSettings } from './settings';

export { MalformedEventError, METRIC, RingForgetError, type RingForgetResult } from './resolve';

export interface RingForgetDependencies {
  readonly settings: RingForgetSettings;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /**
   * The HTTP client.
   * @default Node's fetch
   */
  readonly fetch?: typeof fetch;
  /**
   * How long the call to the ring page may take, in milliseconds.
   * @default FORGET_TIMEOUT_MS (10 s)
   */
  readonly timeoutMs?: number;
}

/**
 * Forgets the ring entry of one stopped Mimir or Loki task (one EventBridge event per task):
 * parse (requests.ts) → the Forget call (forget.ts) → resolve (resolve.ts: what is logged, counted,
 * returned or thrown).
 *
 * A task that stopped without a network address never joined the ring: logged and returned. A
 * malformed event, an error answer or no answer from the backend is logged and thrown, so the
 * asynchronous invocation's retries and its failure destination keep the event; forgetting again
 * is harmless (see forget.ts).
 */
export async function processEvent(event: unknown, deps: RingForgetDependencies): Promise<RingForgetResult> {
  return settle(await resolveEvent(event, deps), deps);
}

async function resolveEvent(event: unknown, deps: RingForgetDependencies): Promise<Resolution> {
  const parsed = parseEvent(event);
  if (parsed.kind === 'malformed') return resolveMalformed(parsed.detail, eventIdOf(event));
  const { task } = parsed;
  if (task.address === undefined) return resolveWithoutAddress(task);
  const request = forgetRequest(deps.settings.ringPageUrl, task.address);
  const outcome = await sendForget(request, deps.fetch ?? fetch, deps.timeoutMs ?? FORGET_TIMEOUT_MS);
  return resolveForget({ ...task, address: task.address }, request, outcome);
}

function settle(resolution: Resolution, { logger, metrics }: RingForgetDependencies): RingForgetResult {
  const { metric, log } = resolution.report;
  metrics.addMetric(metric, MetricUnit.Count, 1);
  logger[log.level](log.message, log.fields);
  if ('error' in resolution) throw resolution.error;
  return resolution.result;
}

function eventIdOf(event: unknown): string | undefined {
  const id = typeof event === 'object' && event !== null ? (event as Record<string, unknown>).id : undefined;
  return typeof id === 'string' ? id : undefined;
}
