import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';

/**
 * Module-level singletons shared by a handler's code. The service name, metrics namespace and
 * log level come from POWERTOOLS_SERVICE_NAME, POWERTOOLS_METRICS_NAMESPACE and
 * POWERTOOLS_LOG_LEVEL, which Powertools reads itself.
 */
export const logger = new Logger();
export const metrics = new Metrics();

export { Logger, Metrics, MetricUnit };
