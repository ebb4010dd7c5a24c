import { lambdaHandler } from '../shared/handler';
import { logger, metrics } from '../shared/powertools';
import { processEvent, type RingForgetDependencies, type RingForgetResult } from './process-event';
import { loadRingForgetSettings } from './settings';

/**
 * Ring-forget handler: invoked asynchronously by EventBridge with one ECS task state change of a
 * Mimir or Loki task that stopped; removes that task's entry from the backend's ring at once. Mimir
 * does not do it itself for a task that was killed (grafana/mimir#2869); Loki does only after the
 * heartbeat timeout. Calls the backend only: no AWS SDK client.
 */

const dependencies: RingForgetDependencies = {
  settings: loadRingForgetSettings(process.env),
  logger,
  metrics,
};

// The event is typed unknown on purpose: it is parsed with a schema before use.
export const handler = lambdaHandler((event: unknown): Promise<RingForgetResult> => processEvent(event, dependencies));
