import { loadEnrollSettings } from '../lambdas/enroll/settings';
import { loadReconcileSettings } from '../lambdas/reconcile/settings';
import { loadRefreshSettings } from '../lambdas/refresh/settings';
import { loadRingForgetSettings } from '../lambdas/ring-forget/settings';
import {
  agentCredentialSecretName,
  agentCredentialSecretPrefixOf,
  agentParameterName,
  ENROLL_VARIABLES,
  type EnvironmentInput,
  OPTIONAL_VARIABLES,
  PARAMETER_VALUE_MAX_BYTES,
  RECONCILE_VARIABLES,
  REFRESH_VARIABLES,
  RING_FORGET_VARIABLES,
  STATUS_VARIABLES,
  serviceParameterName,
} from '../lambdas/shared/contract';
import { requireString } from '../lambdas/shared/env';
import { loadStatusSettings } from '../lambdas/status/settings';
import { credentialName } from '../lib/components/gateway';
import { backendParameterName, agentParameterName as configAgentParameterName, parameterPrefix, serviceUrl } from '../lib/render/catalog';
import { synthStack, testConfig } from './helpers';
import { TEST_ENV as ENROLL_TEST_ENV } from './lambdas/enroll/fake-aws';
import { TEST_ENV as RECONCILE_TEST_ENV } from './lambdas/reconcile/fake-fleet';
import { TEST_ENV as REFRESH_TEST_ENV, serviceArn } from './lambdas/refresh/fake-aws';
import { TEST_ENV as RING_FORGET_TEST_ENV } from './lambdas/ring-forget/fake-ring-page';
import { TEST_ENV as STATUS_TEST_ENV } from './lambdas/status/fake-aws';
import {
  COMMON_VARIABLES,
  everyFunctionVariables,
  FUNCTION_SERVICE_NAMES,
  functionVariables,
  harnessEnvironment,
} from './support/function-environment';

/**
 * The contract between lib/ and lambdas/ (lambdas/shared/contract.ts), held against the
 * synthesized template: each function gets exactly its listed variables, and its settings loader
 * accepts what the stack sets and reads back the config's values.
 */

const CONFIG = {
  enrollment: { scope: { tagKey: 'lgtm:observe', values: ['yes', 'prod'] }, deadlineMinutes: 720 },
  tenants: { ec2Default: 'team-a', allowed: ['aws-rag-ec2', 'aws-rag-cloudwatch', 'aws-rag-rds', 'team-a'] },
  // Mimir and Loki replicas bring a ring-forget function each; a namespace of its own shows where their URLs come from.
  services: { mimir: { replicas: 3 }, loki: { replicas: 3 } },
  network: { namespaceName: 'observability.internal' },
};
const config = testConfig(CONFIG);
const { template } = synthStack(CONFIG);
const resources = template.toJSON().Resources as Record<string, { Type?: string }>;

/** Variables set only when their feature is on: none of them without its switch. */
const optional: readonly string[] = OPTIONAL_VARIABLES;

function environmentOf(
  name: keyof typeof FUNCTION_SERVICE_NAMES,
  harness: Record<string, string>,
  from: Record<string, { Type?: string }> = resources,
): Record<string, string> {
  const variables = functionVariables(from, FUNCTION_SERVICE_NAMES[name]);
  if (variables === undefined) throw new Error(`no ${name} function in the template`);
  return harnessEnvironment(variables, harness, serviceArn);
}

describe.each([
  ['enroll', ENROLL_VARIABLES],
  ['status', STATUS_VARIABLES],
  ['reconcile', RECONCILE_VARIABLES],
  ['refresh', REFRESH_VARIABLES],
  ['ring-forget', RING_FORGET_VARIABLES],
] as const)('the %s function', (name, variables) => {
  test('gets exactly the variables of its contract (each of its functions), the optional ones too', () => {
    const sets = everyFunctionVariables(resources, FUNCTION_SERVICE_NAMES[name]).map((found) => Object.keys(found).sort());
    expect(sets).toEqual(Array(name === 'ring-forget' ? 2 : 1).fill([...variables, ...COMMON_VARIABLES].sort()));
  });
});

describe('with ingest.tenantBinding (the default)', () => {
  const prefix = agentCredentialSecretPrefixOf(config.stackName);

  test('the enroll and refresh loaders read the prefix of the secrets the gateway creates', () => {
    const enroll = loadEnrollSettings(environmentOf('enroll', ENROLL_TEST_ENV));
    const refresh = loadRefreshSettings(environmentOf('refresh', REFRESH_TEST_ENV));
    expect(enroll.agentCredentialSecretPrefix).toBe(`${config.stackName}/agent-credential/`);
    expect(refresh.agentCredentialSecretPrefix).toBe(prefix);
    const secretNames = Object.values(template.findResources('AWS::SecretsManager::Secret')).map(
      (resource) => (resource as { Properties: { Name?: unknown } }).Properties.Name,
    );
    for (const tenant of config.tenants.allowed) {
      expect(agentCredentialSecretName(prefix, tenant)).toBe(credentialName(config.stackName, tenant, 'agent'));
      expect(secretNames).toContain(agentCredentialSecretName(prefix, tenant));
    }
  });
});

describe("with ingest.tenantBinding 'off'", () => {
  const unbound = synthStack({ ...CONFIG, ingest: { tenantBinding: 'off' } }).template;
  const unboundResources = unbound.toJSON().Resources as Record<string, { Type?: string }>;

  test.each([
    ['enroll', ENROLL_VARIABLES],
    ['refresh', REFRESH_VARIABLES],
  ] as const)('the %s function gets the variables of its contract but the optional ones', (name, variables) => {
    const found = everyFunctionVariables(unboundResources, FUNCTION_SERVICE_NAMES[name]).map((set) => Object.keys(set).sort());
    const always = variables.filter((variable) => !optional.includes(variable));
    expect(found).toEqual([[...always, ...COMMON_VARIABLES].sort()]);
  });

  test('the loaders read no prefix: configs are sent as stored', () => {
    expect(loadEnrollSettings(environmentOf('enroll', ENROLL_TEST_ENV, unboundResources)).agentCredentialSecretPrefix).toBeUndefined();
    expect(loadRefreshSettings(environmentOf('refresh', REFRESH_TEST_ENV, unboundResources)).agentCredentialSecretPrefix).toBeUndefined();
  });
});

describe('each settings loader reads the environment the stack sets', () => {
  test('enroll', () => {
    const settings = loadEnrollSettings(environmentOf('enroll', ENROLL_TEST_ENV));
    expect(settings.parameterPrefix).toBe(parameterPrefix(config));
    expect([...settings.allowedTenants]).toEqual(config.tenants.allowed);
    expect(settings.defaultTenant).toBe('team-a');
    expect(settings.scope).toEqual({ tagKey: 'lgtm:observe', values: new Set(['yes', 'prod']) });
    expect(settings.tenantTagKey).toBe(config.tags.tenant);
    expect(settings.optOutTagKey).toBe(config.tags.optOut);
    expect(settings.alloyVersion).toBe(config.agent.alloyVersion);
    expect(settings.stopLegacyAgents).toBe(config.enrollment.stopLegacyAgents);
    expect(settings.enrollDeadlineSeconds).toBe(720 * 60);
    expect(settings.lifecycleFailureResult).toBe(config.enrollment.lifecycleFailureResult);
    expect(settings.commandLogGroup).toBeUndefined();
    expect(settings.queueVisibilityTimeoutSeconds).toBeGreaterThan(0);
  });

  test('status', () => {
    const settings = loadStatusSettings(environmentOf('status', STATUS_TEST_ENV));
    const enroll = loadEnrollSettings(environmentOf('enroll', ENROLL_TEST_ENV));
    expect(settings.statusTagKey).toBe(enroll.statusTagKey);
    expect(settings.eventSource).toBe(enroll.eventSource);
    expect(settings.lifecycleFailureResult).toBe(config.enrollment.lifecycleFailureResult);
  });

  test('reconcile agrees with enroll on every rule they share', () => {
    const settings = loadReconcileSettings(environmentOf('reconcile', RECONCILE_TEST_ENV));
    const enroll = loadEnrollSettings(environmentOf('enroll', ENROLL_TEST_ENV));
    expect(settings.tenantTagKey).toBe(enroll.tenantTagKey);
    expect(settings.optOutTagKey).toBe(enroll.optOutTagKey);
    expect(settings.statusTagKey).toBe(enroll.statusTagKey);
    expect(settings.scope).toEqual(enroll.scope);
    expect(settings.defaultTenant).toBe(enroll.defaultTenant);
    expect(settings.allowedTenants).toEqual(enroll.allowedTenants);
    expect(settings.alloyVersion).toBe(enroll.alloyVersion);
    expect(settings.eventSource).toBe(enroll.eventSource);
    // A pending status counts as in flight for the same time on both sides.
    expect(settings.commandTimeoutSeconds).toBe(enroll.commandTimeoutSeconds);
  });

  test('refresh', () => {
    const settings = loadRefreshSettings(environmentOf('refresh', REFRESH_TEST_ENV));
    expect(settings.parameterPrefix).toBe(parameterPrefix(config));
    expect([...settings.allowedTenants]).toEqual(config.tenants.allowed);
    expect(settings.maxConcurrency).toBe(config.refresh.maxConcurrency);
    expect(settings.maxErrors).toBe(config.refresh.maxErrors);
    expect(settings.maxConfigBytes).toBe(PARAMETER_VALUE_MAX_BYTES);
    expect([...settings.services.keys()].sort()).toEqual(['collector', 'gateway', 'grafana', 'loki', 'mimir', 'tempo']);
  });

  test('ring-forget calls Mimir’s and Loki’s ring pages where the other services reach them', () => {
    const pages = everyFunctionVariables(resources, FUNCTION_SERVICE_NAMES['ring-forget']).map(
      (variables) => loadRingForgetSettings(harnessEnvironment(variables, RING_FORGET_TEST_ENV, serviceArn)).ringPageUrl,
    );
    expect(pages).toEqual([`${serviceUrl(config, 'mimir')}/ingester/ring`, `${serviceUrl(config, 'loki')}/ring`]);
    expect(pages).toEqual(['http://mimir.observability.internal:8080/ingester/ring', 'http://loki.observability.internal:3100/ring']);
  });
});

describe('the Parameter Store naming scheme', () => {
  test('the stack and the functions name a parameter the same way', () => {
    const prefix = parameterPrefix(config);
    expect(configAgentParameterName(config, 'team-a', 'windows')).toBe(agentParameterName(prefix, 'team-a', 'windows'));
    expect(backendParameterName(config, 'mimir')).toBe(serviceParameterName(prefix, 'mimir'));
    expect(serviceParameterName(prefix, 'grafana', 'dashboards')).toBe(`${prefix}/config/grafana/dashboards`);
  });

  test('every agent parameter the stack creates is one the functions name', () => {
    const names = Object.values(template.findResources('AWS::SSM::Parameter')).map(
      (resource) => (resource as { Properties: { Name?: unknown } }).Properties.Name,
    );
    for (const tenant of config.tenants.allowed) {
      for (const platform of ['linux', 'windows'] as const) {
        expect(names).toContain(agentParameterName(parameterPrefix(config), tenant, platform));
      }
    }
  });
});

test('a loader cannot read a variable outside its contract (checked by the type-check)', () => {
  const env: EnvironmentInput<typeof STATUS_VARIABLES> = { STATUS_TAG_KEY: 'status' };
  // @ts-expect-error QUEUE_URL is not a variable of the status function
  expect(() => requireString(env, 'QUEUE_URL')).toThrow('QUEUE_URL');
  expect(requireString(env, 'STATUS_TAG_KEY')).toBe('status');
});
