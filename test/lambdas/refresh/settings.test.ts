import { DEFAULT_MAX_CONCURRENCY, DEFAULT_MAX_ERRORS, loadRefreshSettings } from '../../../lambdas/refresh/settings';
import { CLUSTER_ARN, serviceArn, TEST_ENV } from './fake-aws';

describe('refresh settings', () => {
  test('the full environment contract', () => {
    expect(
      loadRefreshSettings({
        ...TEST_ENV,
        PARAMETER_PREFIX: '/lgtm/',
        MAX_CONCURRENCY: '25',
        MAX_ERRORS: '5%',
        MAX_CONFIG_BYTES: '4096',
        COMMAND_LOG_GROUP: '/lgtm/refresh',
      }),
    ).toEqual({
      parameterPrefix: '/lgtm',
      linuxDocumentName: 'lgtm-install-alloy-linux',
      windowsDocumentName: 'lgtm-install-alloy-windows',
      alloyVersion: '1.21.0',
      stopLegacyAgents: true,
      allowedTenants: new Set(['aws-rag-ec2', 'team-a']),
      maxConcurrency: '25',
      maxErrors: '5%',
      commandTimeoutSeconds: 600,
      commandLogGroup: '/lgtm/refresh',
      clusterArn: CLUSTER_ARN,
      services: new Map(['mimir', 'loki', 'tempo', 'grafana'].map((name) => [name, serviceArn(name)])),
      maxConfigBytes: 4096,
      eventBusName: 'lgtm',
      eventSource: 'lgtm-fleet',
      deadLetterQueueUrl: 'https://sqs.ap-northeast-2.amazonaws.com/123456789012/lgtm-refresh-dlq',
    });
  });

  test('defaults: 10% concurrency, 1 error, 600 s, 8192 bytes, no command log group', () => {
    const {
      MAX_CONCURRENCY: _concurrency,
      MAX_ERRORS: _errors,
      COMMAND_TIMEOUT_SECONDS: _timeout,
      MAX_CONFIG_BYTES: _bytes,
      COMMAND_LOG_GROUP: _logGroup,
      ...env
    } = TEST_ENV;
    const settings = loadRefreshSettings(env);
    expect([settings.maxConcurrency, settings.maxErrors]).toEqual(['10%', '1']);
    expect([DEFAULT_MAX_CONCURRENCY, DEFAULT_MAX_ERRORS]).toEqual(['10%', '1']);
    expect(settings.commandTimeoutSeconds).toBe(600);
    expect(settings.maxConfigBytes).toBe(8192);
    expect(settings.commandLogGroup).toBeUndefined();
  });

  test.each([
    [{ PARAMETER_PREFIX: 'lgtm' }, 'PARAMETER_PREFIX must start with "/", got "lgtm"'],
    [{ MAX_CONCURRENCY: '0' }, 'MAX_CONCURRENCY must be a count from 1 or a percentage 1-100%, got "0"'],
    [{ MAX_CONCURRENCY: '101%' }, 'MAX_CONCURRENCY must be a count from 1 or a percentage 1-100%, got "101%"'],
    [{ MAX_ERRORS: 'ten' }, 'MAX_ERRORS must be a count from 0 or a percentage 0-100%, got "ten"'],
    [{ COMMAND_TIMEOUT_SECONDS: '10' }, 'COMMAND_TIMEOUT_SECONDS must be an integer from 30 to 2592000, got "10"'],
    [{ ALLOWED_TENANTS: 'ok, not ok' }, 'ALLOWED_TENANTS has an invalid tenant ID "not ok"'],
    [{ CLUSTER_ARN: 'lgtm' }, 'CLUSTER_ARN must be an ECS cluster ARN, got "lgtm"'],
    [{ SERVICES: '{nope' }, /^environment variable SERVICES is not JSON/],
    [{ SERVICES: '["mimir"]' }, 'SERVICES must be a JSON object of service name → ECS service ARN'],
    [{ SERVICES: '{"Mimir":"x"}' }, 'SERVICES has an invalid service name "Mimir"'],
    [{ SERVICES: '{"mimir":"mimir"}' }, 'SERVICES: "mimir" must map to an ECS service ARN, got "mimir"'],
    [
      { SERVICES: JSON.stringify({ mimir: 'arn:aws:ecs:ap-northeast-2:123456789012:service/other/lgtm-mimir' }) },
      'SERVICES: "mimir" is not in the cluster of CLUSTER_ARN (lgtm)',
    ],
    [{ MAX_CONFIG_BYTES: '0' }, 'MAX_CONFIG_BYTES must be an integer from 1 to 65536, got "0"'],
    [{ EVENT_BUS_NAME: '' }, 'EVENT_BUS_NAME is missing or empty'],
  ])('%j is refused with a message naming the variable', (overrides, message) => {
    expect(() => loadRefreshSettings({ ...TEST_ENV, ...overrides })).toThrow(message);
  });

  test('an empty SERVICES object is allowed (no backend rollouts) and a short service ARN is accepted', () => {
    expect(loadRefreshSettings({ ...TEST_ENV, SERVICES: '{}' }).services.size).toBe(0);
    const short = 'arn:aws:ecs:ap-northeast-2:123456789012:service/lgtm-mimir';
    expect(loadRefreshSettings({ ...TEST_ENV, SERVICES: JSON.stringify({ mimir: short }) }).services.get('mimir')).toBe(short);
  });
});
