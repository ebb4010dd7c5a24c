/**
 * A function's environment as the synthesized template gives it, made loadable outside AWS:
 * literal values stay as synthesized, and CloudFormation references (table, queue, document,
 * cluster and bus names) take the test harness's value for the same variable. Used by the
 * contract test and by the refresh bench, so both run a handler with the settings the stack sets.
 */

interface TemplateResource {
  readonly Type?: string;
  readonly Properties?: { readonly Environment?: { readonly Variables?: Record<string, unknown> } };
}

/** Powertools' service name of each function, as lib/ sets it (POWERTOOLS_SERVICE_NAME). */
export const FUNCTION_SERVICE_NAMES = {
  enroll: 'lgtm-fleet-enroll',
  status: 'lgtm-fleet-status',
  reconcile: 'lgtm-fleet-reconcile',
  refresh: 'lgtm-fleet-refresh',
  // Only with `services.mimir.replicas` or `services.loki.replicas` above 1: one function for each.
  'ring-forget': 'lgtm-fleet-ring-forget',
} as const;

/** The variables every function gets from lib/lgtm-function.ts, beside its own. */
export const COMMON_VARIABLES: readonly string[] = ['NODE_OPTIONS', 'POWERTOOLS_SERVICE_NAME', 'POWERTOOLS_METRICS_NAMESPACE'];

/** The environment variables of the first function named `serviceName` in a template's resources; undefined when there is none. */
export function functionVariables(
  resources: Readonly<Record<string, TemplateResource>>,
  serviceName: string,
): Record<string, unknown> | undefined {
  return everyFunctionVariables(resources, serviceName)[0];
}

/** The environment variables of every function named `serviceName` (ring-forget has one per replicated backend), in template order. */
export function everyFunctionVariables(
  resources: Readonly<Record<string, TemplateResource>>,
  serviceName: string,
): Record<string, unknown>[] {
  return Object.values(resources).flatMap((resource) => {
    const variables = resource.Properties?.Environment?.Variables;
    return resource.Type === 'AWS::Lambda::Function' && variables?.POWERTOOLS_SERVICE_NAME === serviceName ? [variables] : [];
  });
}

/**
 * Literal values as synthesized; a reference takes `harness[name]` (or a placeholder naming the
 * variable). SERVICES, a JSON object joined around service references, keeps the stack's service
 * names, each mapped to `serviceArn(name)`.
 */
export function harnessEnvironment(
  variables: Readonly<Record<string, unknown>>,
  harness: Readonly<Record<string, string>>,
  serviceArn: (service: string) => string = (service) => `arn:aws:ecs:us-east-1:123456789012:service/lgtm/${service}`,
): Record<string, string> {
  const environment: Record<string, string> = {};
  for (const [name, value] of Object.entries(variables)) {
    if (typeof value === 'string') environment[name] = value;
    else if (name === 'SERVICES') {
      const services = Object.keys(JSON.parse(flatten(value)) as Record<string, unknown>);
      environment[name] = JSON.stringify(Object.fromEntries(services.map((service) => [service, serviceArn(service)])));
    } else environment[name] = harness[name] ?? `dummy-${name.toLowerCase()}`;
  }
  return environment;
}

/** A CloudFormation value as text: `Fn::Join` joined, any other intrinsic a placeholder. */
function flatten(value: unknown): string {
  if (typeof value === 'string') return value;
  const join = (value as { 'Fn::Join'?: [string, unknown[]] } | null)?.['Fn::Join'];
  return join ? join[1].map(flatten).join(join[0]) : 'reference';
}
